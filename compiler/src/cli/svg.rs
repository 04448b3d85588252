//! The SVG picture of `ingot inspect --svg`, laid out here without Graphviz.
//!
//! The layout is layered (after Sugiyama): a node's layer is the longest
//! path to it from the inputs; an edge spanning several layers passes
//! through one dummy point per layer, shared by all edges from the same
//! vertex, so a value used far below runs down one line; each layer is
//! ordered by the mean position of its predecessors, and a node sits
//! centred under its real (non-dummy) predecessors where there is room.
//! Output: one `<g class="kernel" data-kind=...>` per non-constant node,
//! one `<g class="value">` per graph input and output, a `<title>` tooltip
//! on each, and a legend. What is drawn and how it is labelled is in
//! `draw.rs`.

use super::draw::{colour, label, skeleton, value_name, Label, Skeleton, Vx, KINDS};
use super::inspect::StepInfo;
use ingot_ir::{Graph, Node};
use std::collections::HashMap;
use std::fmt::Write;

// Geometry of the SVG, in pixels.
const CHAR_W: f64 = 6.6;
const BOX_H: f64 = 34.0;
const ROW: f64 = 74.0;
const GAP: f64 = 22.0;
const DUMMY_GAP: f64 = 10.0;
const MARGIN: f64 = 24.0;
const TOP: f64 = 56.0;
const LEGEND_W: f64 = 290.0;
const MAX_CHARS: usize = 34;

/// Text cut to `MAX_CHARS` characters.
fn clip(s: &str) -> String {
    if s.chars().count() <= MAX_CHARS {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(MAX_CHARS - 1).collect();
        t.push('…');
        t
    }
}

/// Escape for XML text and attributes; drop characters XML 1.0 forbids.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\n' | '\t' => o.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => o.push(c),
        }
    }
    o
}

/// A laid-out vertex: centre x, layer, width.
#[derive(Clone, Copy)]
struct Place {
    layer: usize,
    x: f64,
    w: f64,
}

/// Layered layout of `sk` (dummies appended to `sk.vx`), given each
/// vertex's box width.
fn layout(sk: &mut Skeleton, widths: &[f64]) -> Vec<Place> {
    let n0 = sk.vx.len();
    let mut layer = vec![0usize; n0];
    for i in 0..n0 {
        layer[i] = match sk.vx[i] {
            Vx::Input(_) => 0,
            _ => 1 + sk.preds[i].iter().map(|&p| layer[p]).max().unwrap_or(0),
        };
    }
    // Outputs on one bottom row.
    let bottom = (0..n0)
        .filter(|&i| !matches!(sk.vx[i], Vx::Output(_)))
        .map(|i| layer[i])
        .max()
        .unwrap_or(0)
        + 1;
    for (l, v) in layer.iter_mut().zip(&sk.vx) {
        if matches!(v, Vx::Output(_)) {
            *l = bottom;
        }
    }
    // One chain of dummies per source vertex, down to the layer above its
    // lowest long edge's target; edges then start from the chain.
    let mut chain: HashMap<(usize, usize), usize> = HashMap::new();
    let mut place: Vec<Place> = (0..n0)
        .map(|i| Place {
            layer: layer[i],
            x: 0.0,
            w: widths[i],
        })
        .collect();
    for t in 0..n0 {
        for k in 0..sk.preds[t].len() {
            let s = sk.preds[t][k];
            if layer[t] <= layer[s] + 1 {
                continue;
            }
            let mut prev = s;
            for l in layer[s] + 1..layer[t] {
                prev = *chain.entry((s, l)).or_insert_with(|| {
                    sk.vx.push(Vx::Dummy);
                    sk.preds.push(vec![prev]);
                    place.push(Place {
                        layer: l,
                        x: 0.0,
                        w: 0.0,
                    });
                    sk.vx.len() - 1
                });
            }
            sk.preds[t][k] = prev;
        }
    }
    let layers = bottom + 1;
    let mut rows: Vec<Vec<usize>> = vec![vec![]; layers];
    for (i, p) in place.iter().enumerate() {
        rows[p.layer].push(i);
    }
    for row in &rows {
        // Order by the mean x of the predecessors (barycentre), real
        // vertices before dummies, then schedule order.
        let mut keyed: Vec<(f64, bool, usize)> = row
            .iter()
            .map(|&i| {
                let ps = &sk.preds[i];
                let bary = if ps.is_empty() {
                    f64::NEG_INFINITY
                } else {
                    ps.iter().map(|&p| place[p].x).sum::<f64>() / ps.len() as f64
                };
                (bary, matches!(sk.vx[i], Vx::Dummy), i)
            })
            .collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        // Want each vertex centred under its real predecessors (a long edge
        // passing by should not pull a chain sideways); push right to make
        // room, then shift the row back by the real vertices' mean
        // displacement.
        let mut right = f64::NEG_INFINITY;
        let mut prev_dummy = true;
        let (mut moved, mut real) = (0.0, 0usize);
        for &(_, dummy, i) in &keyed {
            let gap = if dummy || prev_dummy { DUMMY_GAP } else { GAP };
            let min = right + gap + place[i].w / 2.0;
            let x = match wanted(sk, &place, i) {
                Some(want) => {
                    if !dummy {
                        moved += want.max(min) - want;
                        real += 1;
                    }
                    want.max(min)
                }
                None if min.is_finite() => min,
                None => place[i].w / 2.0,
            };
            place[i].x = x;
            right = x + place[i].w / 2.0;
            prev_dummy = dummy;
        }
        if real > 0 {
            let shift = moved / real as f64;
            for &(_, _, i) in &keyed {
                place[i].x -= shift;
            }
        }
    }
    let left = place
        .iter()
        .map(|p| p.x - p.w / 2.0)
        .fold(f64::INFINITY, f64::min);
    for p in &mut place {
        p.x += MARGIN - left;
    }
    place
}

/// Where vertex `i` would like to be: the mean x of its real predecessors,
/// or of its dummy ones when it has no others.
fn wanted(sk: &Skeleton, place: &[Place], i: usize) -> Option<f64> {
    let ps = &sk.preds[i];
    let real: Vec<f64> = ps
        .iter()
        .filter(|&&p| !matches!(sk.vx[p], Vx::Dummy))
        .map(|&p| place[p].x)
        .collect();
    let xs = if real.is_empty() {
        ps.iter().map(|&p| place[p].x).collect()
    } else {
        real
    };
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

fn row_y(layer: usize) -> f64 {
    TOP + layer as f64 * ROW
}

/// An SVG picture of `g`.
pub(super) fn svg(g: &Graph, steps: &HashMap<Node, StepInfo>) -> String {
    let mut sk = skeleton(g);
    let labels: Vec<Option<Label>> = sk
        .vx
        .iter()
        .map(|v| match *v {
            Vx::Node(n) => Some(label(g, n, steps)),
            _ => None,
        })
        .collect();
    let value_of = |v: Vx| match v {
        Vx::Input(k) => Some(g.inputs()[k]),
        Vx::Output(k) => Some(g.outputs()[k]),
        _ => None,
    };
    let texts: Vec<(String, String)> = sk
        .vx
        .iter()
        .zip(&labels)
        .map(|(&v, l)| match (l, value_of(v)) {
            (Some(l), _) => (clip(&l.title), clip(&l.ty)),
            (None, Some(val)) => (clip(&value_name(g, val)), clip(&g.ty(val).to_string())),
            (None, None) => (String::new(), String::new()),
        })
        .collect();
    let widths: Vec<f64> = texts
        .iter()
        .map(|(a, b)| (a.chars().count().max(b.chars().count()) as f64 * CHAR_W + 16.0).max(64.0))
        .collect();
    let place = layout(&mut sk, &widths);
    let layers = place.iter().map(|p| p.layer).max().unwrap_or(0) + 1;
    let graph_w = place.iter().map(|p| p.x + p.w / 2.0).fold(0.0, f64::max) + MARGIN;
    let width = graph_w + LEGEND_W;
    let height = (row_y(layers) - ROW + BOX_H + MARGIN).max(TOP + 300.0);

    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="monospace" font-size="11">
<defs><marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#555"/></marker></defs>
<rect width="100%" height="100%" fill="white"/>"##
    );
    let kernels = labels.iter().flatten().count();
    let interp = labels
        .iter()
        .flatten()
        .filter(|l| l.kind == "interpreter")
        .count();
    let _ = writeln!(
        s,
        r#"<text x="{MARGIN}" y="24" font-size="14" font-weight="bold">@{} — {kernels} kernels, {interp} on the interpreter</text>"#,
        esc(&g.name)
    );

    // Edges first, under the boxes. Each ends on its own spot along the
    // target's top edge, ordered by where it comes from.
    s.push_str("<g class=\"edges\" fill=\"none\" stroke=\"#555\" stroke-width=\"1.2\">\n");
    for (t, ps) in sk.preds.iter().enumerate() {
        if matches!(sk.vx[t], Vx::Dummy) {
            continue;
        }
        let mut order: Vec<usize> = (0..ps.len()).collect();
        order.sort_by(|&a, &b| place[ps[a]].x.total_cmp(&place[ps[b]].x));
        for (slot, &k) in order.iter().enumerate() {
            let spread = (place[t].w / (ps.len() + 1) as f64).min(14.0);
            let end_x = place[t].x + (slot as f64 - (ps.len() - 1) as f64 / 2.0) * spread;
            let _ = writeln!(
                s,
                r#"<path d="{}" marker-end="url(#arrow)"/>"#,
                edge_path(&sk, &place, ps[k], end_x, row_y(place[t].layer))
            );
        }
    }
    s.push_str("</g>\n");

    // Dummies come after the drawn vertices, which `texts` covers.
    for (i, &v) in sk.vx.iter().enumerate().take(texts.len()) {
        let p = place[i];
        let (x, y) = (p.x - p.w / 2.0, row_y(p.layer));
        let (line1, line2) = &texts[i];
        match (v, &labels[i]) {
            (Vx::Node(n), Some(l)) => {
                let fused = l
                    .fused
                    .as_deref()
                    .map_or(String::new(), |k| format!(r#" data-fused="{}""#, esc(k)));
                let (stroke, dash) = match (l.kind, l.fused.is_some()) {
                    ("interpreter", _) => (
                        r##"stroke="#9d0208" stroke-width="1.5""##,
                        r#" stroke-dasharray="4 2""#,
                    ),
                    (_, true) => (r##"stroke="#222" stroke-width="2.6""##, ""),
                    _ => (r##"stroke="#444" stroke-width="1""##, ""),
                };
                let _ = writeln!(
                    s,
                    r##"<g class="kernel" data-kind="{}" data-node="{n}"{fused}><title>{}</title><rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{BOX_H}" rx="5" fill="{}" {stroke}{dash}/><text x="{:.1}" y="{:.1}" text-anchor="middle" font-weight="bold">{}</text><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#333">{}</text></g>"##,
                    l.kind,
                    esc(&l.tip),
                    p.w,
                    colour(l.kind),
                    p.x,
                    y + 14.0,
                    esc(line1),
                    p.x,
                    y + 28.0,
                    esc(line2),
                );
            }
            (Vx::Input(_) | Vx::Output(_), _) => {
                let role = if matches!(v, Vx::Input(_)) {
                    "input"
                } else {
                    "output"
                };
                let _ = writeln!(
                    s,
                    r##"<g class="value" data-role="{role}"><title>graph {role} {}</title><rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{BOX_H}" rx="17" fill="white" stroke="#444"/><text x="{:.1}" y="{:.1}" text-anchor="middle" font-weight="bold">{}</text><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#333">{}</text></g>"##,
                    esc(line1),
                    p.w,
                    p.x,
                    y + 14.0,
                    esc(line1),
                    p.x,
                    y + 28.0,
                    esc(line2),
                );
            }
            _ => {}
        }
    }
    legend(&mut s, graph_w);
    s.push_str("</svg>\n");
    s
}

/// The path of the edge from vertex `from` (following its dummy chain up to
/// the real source) to the point (`end_x`, `end_y`).
fn edge_path(sk: &Skeleton, place: &[Place], from: usize, end_x: f64, end_y: f64) -> String {
    // Walk the dummy chain up to the real source.
    let mut chain = vec![from];
    while let Vx::Dummy = sk.vx[*chain.last().expect("non-empty")] {
        let up = sk.preds[*chain.last().expect("non-empty")][0];
        chain.push(up);
    }
    chain.reverse();
    let src = place[chain[0]];
    let mut d = format!("M{:.1},{:.1}", src.x, row_y(src.layer) + BOX_H);
    let mut at = (src.x, row_y(src.layer) + BOX_H);
    for &i in &chain[1..] {
        let p = place[i];
        let y = row_y(p.layer);
        curve(&mut d, at, (p.x, y));
        let _ = write!(d, " L{:.1},{:.1}", p.x, y + BOX_H);
        at = (p.x, y + BOX_H);
    }
    curve(&mut d, at, (end_x, end_y));
    d
}

/// A cubic from `from` to `to` that leaves and arrives vertically.
fn curve(d: &mut String, from: (f64, f64), to: (f64, f64)) {
    let mid = (from.1 + to.1) / 2.0;
    let _ = write!(
        d,
        " C{:.1},{mid:.1} {:.1},{mid:.1} {:.1},{:.1}",
        from.0, to.0, to.0, to.1
    );
}

fn legend(s: &mut String, x0: f64) {
    let x = x0 + 10.0;
    let _ = writeln!(
        s,
        r##"<g class="legend"><text x="{x:.1}" y="{:.1}" font-weight="bold">kernel kinds</text>"##,
        TOP + 4.0
    );
    for (i, (kind, fill, text)) in KINDS.iter().enumerate() {
        let y = TOP + 14.0 + i as f64 * 20.0;
        let dash = if *kind == "interpreter" {
            r#" stroke-dasharray="4 2""#
        } else {
            ""
        };
        let _ = writeln!(
            s,
            r##"<rect x="{x:.1}" y="{y:.1}" width="22" height="14" rx="3" fill="{fill}" stroke="#444"{dash}/><text x="{:.1}" y="{:.1}">{}</text>"##,
            x + 30.0,
            y + 11.0,
            esc(text)
        );
    }
    let y = TOP + 14.0 + KINDS.len() as f64 * 20.0;
    let _ = writeln!(
        s,
        r##"<rect x="{x:.1}" y="{y:.1}" width="22" height="14" rx="3" fill="white" stroke="#222" stroke-width="2.6"/><text x="{:.1}" y="{:.1}">fused kernel (ops joined by +)</text>"##,
        x + 30.0,
        y + 11.0
    );
    let y = y + 20.0;
    let _ = writeln!(
        s,
        r##"<rect x="{x:.1}" y="{y:.1}" width="22" height="14" rx="7" fill="white" stroke="#444"/><text x="{:.1}" y="{:.1}">graph input / output</text>"##,
        x + 30.0,
        y + 11.0
    );
    let _ = writeln!(
        s,
        r##"<text x="{x:.1}" y="{:.1}" fill="#555">constants are not drawn;</text><text x="{x:.1}" y="{:.1}" fill="#555">hover a box for details</text></g>"##,
        y + 36.0,
        y + 50.0
    );
}
