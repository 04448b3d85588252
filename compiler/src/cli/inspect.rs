//! `ingot inspect`: what the compiler made of a model — op histograms before
//! and after the pipeline, each pass run's statistics, the fused kernels and
//! the runtime kernel chosen for each, the compiled plan's steps, the memory
//! plan's sizes and the weights — as text, or one JSON object with `--json`;
//! `--dot`/`--svg` draw the optimized graph (`draw.rs`, `svg.rs`).
//!
//! Everything reported comes from one real `compile` of the model, so the
//! numbers are the ones `ingot run` would use. `--after PASS` compiles the
//! graph as it stands after the first run of PASS (`stop_after` counts pass
//! runs, so a probe run of the full pipeline finds that count first).
//! Sizes need numbers for the symbolic dims: `--dim` binds them, and every
//! input dim left unbound counts as 1, which the report says.

use super::optimize::load_model;
use super::{draw, inputs, svg, verified, CliError};
use ingot_compiler::cpu::{compile, CompileOptions, CompiledModel};
use ingot_ir::{Dim, Graph, Node, Op};
use ingot_passes::memory_plan::{plan_memory_partial, Bindings};
use ingot_passes::{optimize, PipelineOptions};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;
use std::path::Path;

/// What `ingot inspect` was asked to do.
pub struct Request<'a> {
    pub file: &'a Path,
    pub json: bool,
    pub svg: Option<&'a Path>,
    pub dot: Option<&'a Path>,
    pub after: Option<String>,
    pub dims: Vec<(String, i64)>,
}

/// The report; its JSON form is the `--json` output.
#[derive(Serialize)]
struct Inspection {
    model: String,
    graph: String,
    /// The pass given to `--after`, if any.
    stop_after: Option<String>,
    /// Values of the symbolic input dims used for sizes.
    dims: BTreeMap<String, i64>,
    /// The dims among those that were not given and count as 1.
    defaulted_dims: Vec<String>,
    ops_before: Histogram,
    ops_after: Histogram,
    passes: Vec<PassRow>,
    fused: Vec<FusedKernel>,
    steps: Vec<StepRow>,
    native_steps: usize,
    interpreter_steps: usize,
    /// Native kernels that failed to build, with why.
    rejected: Vec<String>,
    memory: Memory,
    weights: Weights,
}

#[derive(Serialize)]
struct Histogram {
    /// Top-level nodes, constants included.
    nodes: usize,
    ops: BTreeMap<String, usize>,
}

#[derive(Serialize)]
struct PassRow {
    pass: String,
    changed: bool,
    nodes_before: usize,
    nodes_after: usize,
    fused: usize,
    time_ms: f64,
}

#[derive(Serialize)]
struct FusedKernel {
    /// `n12`: the node, as step labels name it.
    node: String,
    /// The first result's name (`%h`), if it has one.
    value: Option<String>,
    kind: String,
    /// The body's ops in schedule order, constants left out.
    body: Vec<String>,
    #[serde(rename = "type")]
    ty: String,
    /// The runtime kernel the CPU backend chose (`Step::describe`).
    kernel: String,
    native: bool,
}

#[derive(Serialize)]
struct StepRow {
    label: String,
    kernel: String,
    native: bool,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Memory {
    Planned {
        arena_bytes: usize,
        lower_bound: usize,
        sum_bytes: usize,
        buffers: usize,
        in_place: usize,
        /// Values of data-dependent size, held outside the arena.
        dynamic: usize,
    },
    Unavailable {
        error: String,
    },
}

#[derive(Serialize)]
struct Weights {
    constants: usize,
    bytes: usize,
}

/// The kernel a node runs on, keyed by node.
pub(super) struct StepInfo {
    pub kernel: String,
    pub native: bool,
}

pub fn run(r: Request) -> Result<(), CliError> {
    if super::model::is_artifact(r.file) {
        return inspect_artifact(&r);
    }
    let g = load_model(r.file)?;
    verified(r.file, &g)?;
    let stop_after = match &r.after {
        Some(pass) => Some(runs_through_first(r.file, &g, pass)?),
        None => None,
    };
    let opts = CompileOptions {
        threads: 1,
        pipeline: PipelineOptions {
            stop_after,
            ..Default::default()
        },
        ..Default::default()
    };
    let model = compile(&g, &opts).map_err(|e| {
        CliError::user(
            format!("{}: {e}", r.file.display()),
            "`ingot optimize --stats` shows where the pipeline stops; `--after PASS` inspects an earlier graph",
        )
    })?;
    if let Some(pass) = &r.after {
        let last = model.report().pipeline.stats.last().map(|s| s.pass);
        if last != Some(pass.as_str()) {
            return Err(CliError::Internal(format!(
                "--after {pass}: the pipeline stopped after {last:?}; it ran differently twice"
            )));
        }
    }
    let (dims, defaulted) = bind_all(&g, &r.dims)?;
    let steps = steps_by_node(&model);
    let report = inspect(&r, &g, &model, &steps, dims, defaulted);
    if let Some(path) = r.dot {
        write_file(path, &draw::dot(model.graph(), &steps))?;
    }
    if let Some(path) = r.svg {
        write_file(path, &svg::svg(model.graph(), &steps))?;
    }
    if r.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| CliError::Internal(format!("writing JSON: {e}")))?;
        println!("{text}");
    } else {
        print!("{}", text(&report));
    }
    Ok(())
}

/// An `.ingot` artifact's report: what it was compiled for, its
/// signature, the plan's steps with their kernels, the weights. (No passes
/// run when an artifact loads, so there is no pipeline to show.)
#[derive(Serialize)]
struct ArtifactInspection {
    model: String,
    compiler: String,
    cpu: String,
    features: Vec<String>,
    inputs: Vec<(String, String)>,
    outputs: Vec<(String, String)>,
    steps: Vec<StepRow>,
    native_steps: usize,
    interpreter_steps: usize,
    functions: usize,
    weights: Weights,
}

fn inspect_artifact(r: &Request) -> Result<(), CliError> {
    if r.after.is_some() || r.svg.is_some() || r.dot.is_some() {
        return Err(CliError::user(
            format!(
                "{}: --after, --svg and --dot need the source model (an artifact holds the compiled plan, not the graph)",
                r.file.display()
            ),
            "inspect the ONNX or IR file the artifact was compiled from",
        ));
    }
    let a = ingot_compiler::artifact::load(r.file, 1).map_err(|e| {
        CliError::user(
            format!("{}: {e}", r.file.display()),
            "recompile the model with `ingot compile MODEL -o OUT.ingot`",
        )
    })?;
    let program = a.model.program();
    let (steps, native) = step_rows(program);
    let report = ArtifactInspection {
        model: r.file.display().to_string(),
        compiler: a.meta.compiler.clone(),
        cpu: a.meta.cpu.name().to_string(),
        features: a.meta.features.clone(),
        inputs: a.meta.inputs.clone(),
        outputs: a.meta.outputs.clone(),
        native_steps: native,
        interpreter_steps: steps.len() - native,
        steps,
        functions: a.functions,
        weights: Weights {
            constants: program.consts.len(),
            bytes: a.weight_bytes,
        },
    };
    if r.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| CliError::Internal(format!("writing JSON: {e}")))?;
        println!("{text}");
        return Ok(());
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        "artifact {} (graph @{}), written by {}, code for {} ({} generated functions)",
        report.model, a.meta.model, report.compiler, report.cpu, report.functions
    );
    for (what, list) in [("input ", &report.inputs), ("output", &report.outputs)] {
        for (name, ty) in list {
            let _ = writeln!(s, "  {what} %{name}: {ty}");
        }
    }
    let _ = writeln!(
        s,
        "\nplan: {} steps, {} native, {} on the interpreter",
        report.steps.len(),
        report.native_steps,
        report.interpreter_steps
    );
    write_steps(&mut s, &report.steps);
    let _ = writeln!(
        s,
        "\nweights: {} in {} constants",
        bytes(report.weights.bytes),
        report.weights.constants
    );
    print!("{s}");
    Ok(())
}

/// The plan's steps as report rows, and how many are native.
fn step_rows(program: &ingot_runtime::Program) -> (Vec<StepRow>, usize) {
    let rows: Vec<StepRow> = program
        .steps
        .iter()
        .map(|s| StepRow {
            label: s.label.clone(),
            kernel: s.describe(),
            native: !s.is_fallback(),
        })
        .collect();
    let native = rows.iter().filter(|s| s.native).count();
    (rows, native)
}

fn write_steps(s: &mut String, steps: &[StepRow]) {
    for (i, st) in steps.iter().enumerate() {
        let _ = writeln!(
            s,
            "  {i:>4}  {:<6} {}  [{}]",
            if st.native { "native" } else { "interp" },
            st.label,
            st.kernel
        );
    }
}

/// How many pass runs `stop_after` must allow to end just after the first
/// run of `pass`, from a probe run of the whole pipeline on a copy.
fn runs_through_first(path: &Path, g: &Graph, pass: &str) -> Result<usize, CliError> {
    let mut probe = g.clone();
    let report = optimize(&mut probe, &PipelineOptions::default()).map_err(|e| {
        CliError::user(
            format!("{}: pass `{}`: {}", path.display(), e.pass, e.msg),
            "`ingot optimize --stats` shows where the pipeline stops",
        )
    })?;
    if let Some(i) = report.stats.iter().position(|s| s.pass == pass) {
        return Ok(i + 1);
    }
    let mut names: Vec<&str> = vec![];
    for s in &report.stats {
        if !names.contains(&s.pass) {
            names.push(s.pass);
        }
    }
    Err(CliError::user(
        format!("--after {pass}: no pass of that name runs in the pipeline"),
        format!("passes, in pipeline order: {}", names.join(", ")),
    ))
}

/// Values for every symbolic dim of the inputs: those given, and 1 for the
/// rest (returned second, so the report can say so).
fn bind_all(
    g: &Graph,
    given: &[(String, i64)],
) -> Result<(BTreeMap<String, i64>, Vec<String>), CliError> {
    let sig = inputs::graph_inputs(g);
    let mut dims = inputs::bind_dims(&sig, given)?;
    let used: BTreeSet<String> = sig
        .iter()
        .flat_map(|(_, t)| t.shape.iter().flat_map(Dim::vars))
        .map(|s| s.to_string())
        .collect();
    let mut defaulted = vec![];
    for name in used {
        if !dims.contains_key(&name) {
            dims.insert(name.clone(), 1);
            defaulted.push(name);
        }
    }
    Ok((dims, defaulted))
}

/// Each lowered node's step. Lowering labels a step `n7 \`op\` ...` after
/// its node; matching on that stays right if lowering ever skips a node.
fn steps_by_node(model: &CompiledModel) -> HashMap<Node, StepInfo> {
    let by_label: HashMap<&str, usize> = model
        .runtime()
        .program()
        .steps
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.label.split(' ').next().map(|n| (n, i)))
        .collect();
    let steps = &model.runtime().program().steps;
    let g = model.graph();
    g.order()
        .iter()
        .filter_map(|&n| {
            let s = &steps[*by_label.get(n.to_string().as_str())?];
            Some((
                n,
                StepInfo {
                    kernel: s.describe(),
                    native: !s.is_fallback(),
                },
            ))
        })
        .collect()
}

fn histogram(g: &Graph) -> Histogram {
    let mut ops = BTreeMap::new();
    for &n in g.order() {
        *ops.entry(g.node(n).op.name().to_string()).or_default() += 1;
    }
    Histogram {
        nodes: g.order().len(),
        ops,
    }
}

fn inspect(
    r: &Request,
    before: &Graph,
    model: &CompiledModel,
    steps: &HashMap<Node, StepInfo>,
    dims: BTreeMap<String, i64>,
    defaulted_dims: Vec<String>,
) -> Inspection {
    let g = model.graph();
    let rep = model.report();
    let fused = g
        .order()
        .iter()
        .filter_map(|&n| {
            let Op::Fused { kind, body } = &g.node(n).op else {
                return None;
            };
            let out = g.node(n).outputs.first().copied();
            let step = steps.get(&n);
            Some(FusedKernel {
                node: n.to_string(),
                value: out.and_then(|v| g.name_of(v)).map(|s| format!("%{s}")),
                kind: kind.clone(),
                body: body_ops(body),
                ty: out.map(|v| g.ty(v).to_string()).unwrap_or_default(),
                kernel: step.map_or_else(|| "-".into(), |s| s.kernel.clone()),
                native: step.is_some_and(|s| s.native),
            })
        })
        .collect();
    let program = model.runtime().program();
    let (step_rows, native_steps) = step_rows(program);
    let plan = plan_memory_partial(g);
    let bindings: Bindings = dims.iter().map(|(k, &v)| (k.clone(), v)).collect();
    let memory = match plan.report(&bindings) {
        Ok(m) => Memory::Planned {
            arena_bytes: m.arena_bytes,
            lower_bound: m.lower_bound,
            sum_bytes: m.sum_bytes,
            buffers: m.buffers,
            in_place: m.in_place,
            dynamic: plan.dynamic.len(),
        },
        Err(error) => Memory::Unavailable { error },
    };
    let consts = &model.parts().consts;
    Inspection {
        model: r.file.display().to_string(),
        graph: g.name.clone(),
        stop_after: r.after.clone(),
        dims,
        defaulted_dims,
        ops_before: histogram(before),
        ops_after: histogram(g),
        passes: rep
            .pipeline
            .stats
            .iter()
            .map(|s| PassRow {
                pass: s.pass.to_string(),
                changed: s.changed,
                nodes_before: s.nodes_before,
                nodes_after: s.nodes_after,
                fused: s.fused,
                time_ms: s.time.as_secs_f64() * 1e3,
            })
            .collect(),
        fused,
        interpreter_steps: step_rows.len() - native_steps,
        native_steps,
        steps: step_rows,
        rejected: rep.lower_stats.rejected.clone(),
        memory,
        weights: Weights {
            constants: consts.len(),
            bytes: consts.iter().map(|t| t.bytes().len()).sum(),
        },
    }
}

/// A fused body's ops in order; its constants (GELU's 0.5) are noise here.
pub(super) fn body_ops(body: &Graph) -> Vec<String> {
    body.order()
        .iter()
        .map(|&n| &body.node(n).op)
        .filter(|op| !matches!(op, Op::Const { .. }))
        .map(|op| op.name().to_string())
        .collect()
}

fn write_file(path: &Path, text: &str) -> Result<(), CliError> {
    std::fs::write(path, text).map_err(|e| {
        CliError::user(
            format!("cannot write {}: {e}", path.display()),
            "check that the directory exists and is writable",
        )
    })
}

/// `1.5 MiB (1572864 B)`, or `96 B`.
fn bytes(n: usize) -> String {
    let units = ["KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut unit = None;
    for u in units {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = Some(u);
    }
    match unit {
        Some(u) => format!("{v:.1} {u} ({n} B)"),
        None => format!("{n} B"),
    }
}

fn ops_line(h: &Histogram) -> String {
    let mut rows: Vec<(&String, &usize)> = h.ops.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let list: Vec<String> = rows.iter().map(|(op, n)| format!("{op} {n}")).collect();
    format!("{} nodes: {}", h.nodes, list.join(", "))
}

/// The human-readable report.
fn text(r: &Inspection) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "model {} (graph @{})", r.model, r.graph);
    if let Some(p) = &r.stop_after {
        let _ = writeln!(s, "stopped after the first run of `{p}`");
    }
    if !r.dims.is_empty() {
        let list: Vec<String> = r.dims.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = write!(s, "dims for sizes: {}", list.join(", "));
        if !r.defaulted_dims.is_empty() {
            let _ = write!(
                s,
                " ({} not given: defaulted to 1; set with --dim NAME=N)",
                r.defaulted_dims.join(", ")
            );
        }
        s.push('\n');
    }
    let _ = writeln!(s, "\nops before: {}", ops_line(&r.ops_before));
    let _ = writeln!(s, "ops after:  {}", ops_line(&r.ops_after));

    let total: f64 = r.passes.iter().map(|p| p.time_ms).sum();
    let _ = writeln!(s, "\npasses ({} runs, {total:.2} ms):", r.passes.len());
    let _ = writeln!(
        s,
        "  {:>3}  {:<17} {:>6} {:>6} {:>5} {:>9}",
        "run", "pass", "before", "after", "fused", "time"
    );
    for (i, p) in r.passes.iter().enumerate() {
        let _ = writeln!(
            s,
            "  {:>3}  {:<17} {:>6} {:>6} {:>5} {:>7.3}ms{}",
            i + 1,
            p.pass,
            p.nodes_before,
            p.nodes_after,
            p.fused,
            p.time_ms,
            if p.changed { "" } else { "  (no change)" }
        );
    }

    let _ = writeln!(s, "\nfused kernels ({}):", r.fused.len());
    for f in &r.fused {
        let name = f.value.as_deref().unwrap_or("");
        let _ = writeln!(
            s,
            "  {} {name} {}: {} -> {}",
            f.node,
            f.kind,
            f.body.join(" + "),
            f.ty
        );
        let how = if f.native { "" } else { " (interpreter)" };
        let _ = writeln!(s, "      kernel: {}{how}", f.kernel);
    }

    let _ = writeln!(
        s,
        "\nplan: {} steps, {} native, {} on the interpreter",
        r.steps.len(),
        r.native_steps,
        r.interpreter_steps
    );
    write_steps(&mut s, &r.steps);
    for why in &r.rejected {
        let _ = writeln!(s, "  fell back: {why}");
    }

    match &r.memory {
        Memory::Planned {
            arena_bytes,
            lower_bound,
            sum_bytes,
            buffers,
            in_place,
            dynamic,
        } => {
            let _ = writeln!(s, "\nmemory plan:");
            let _ = writeln!(s, "  arena                   {}", bytes(*arena_bytes));
            let _ = writeln!(s, "  live-bytes lower bound  {}", bytes(*lower_bound));
            let _ = writeln!(s, "  sum of intermediates    {}", bytes(*sum_bytes));
            let _ = writeln!(
                s,
                "  {buffers} buffers, {in_place} in place, {dynamic} outside the arena (data-dependent size, or results nothing reads)"
            );
        }
        Memory::Unavailable { error } => {
            let _ = writeln!(s, "\nmemory plan: no sizes ({error})");
        }
    }
    let _ = writeln!(
        s,
        "\nweights: {} in {} constants",
        bytes(r.weights.bytes),
        r.weights.constants
    );
    s
}
