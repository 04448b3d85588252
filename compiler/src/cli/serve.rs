//! `ingot bench-serve MODEL.onnx --threads N`: compile one ONNX model, then
//! time it on request from `bench/bench.py` over stdin/stdout, so that Ingot
//! and ONNX Runtime are measured in the same time window, alternating.
//!
//! Protocol (full spec: bench/PROTOCOL.md): after compiling, print one JSON
//! line `{"compile_ms":..,...}` (or `{"error":..}` and exit 1); then read one
//! command per line — `load PATH`, `run ITERS`, `out PATH`, `quit` — and
//! answer each with exactly one JSON line on stdout, flushed. A failed command
//! answers `{"error":"..."}` and leaves the state as it was. End of input is
//! `quit`. Nothing else is written to stdout; logs go to stderr.
//!
//! Tensor files are "tensor bundles": an ASCII header
//! (`ingot-tensors v1 COUNT`, then `NAME DTYPE RANK D0 .. Dk` per tensor)
//! followed by each tensor's raw little-endian row-major bytes, in order.
//! Inputs bind to the model's inputs by position.
//!
//! Guarantees: a malformed bundle or command is an error line, never a panic;
//! nothing is allocated beyond what the bundle's length justifies. Timing is
//! wall time around one `run` call per iteration, including dropping its
//! outputs (as Python's `sess.run` frees its result inside the same window).
//!
//! Lives in compiler/src/cli/ (moved from bench/serve.rs). The compile API is
//! named in [`compile`] only.

use super::CliError;
use ingot_ir::{DType, Graph, Tensor};
use std::io::{BufRead, Write};
use std::path::Path;
use std::time::Instant;

/// A compiled model as the protocol sees it: inputs in, outputs out.
pub type RunFn = Box<dyn Fn(&[Tensor]) -> Result<Vec<Tensor>, String>>;

/// The one call into the compile API: the runnable model, and extra
/// `"key":value` members for the first line (where compile time went, and
/// which steps run on the interpreter instead of native code).
fn compile(g: &Graph, threads: usize) -> Result<(RunFn, String), String> {
    let opts = ingot_compiler::cpu::CompileOptions {
        threads,
        ..Default::default()
    };
    let model = ingot_compiler::cpu::compile(g, &opts).map_err(|e| e.to_string())?;
    let r = model.report();
    let s = &r.lower_stats;
    let fallback: Vec<String> = s
        .fallback
        .iter()
        .map(|(op, n)| json_str(&format!("{op}:{n}")))
        .collect();
    let extra = format!(
        "\"passes_ms\":{:.3},\"plan_ms\":{:.3},\"lower_ms\":{:.3},\"steps\":{},\"native_steps\":{},\"fallback\":[{}]",
        r.passes.as_secs_f64() * 1e3,
        r.plan.as_secs_f64() * 1e3,
        r.lower.as_secs_f64() * 1e3,
        s.steps,
        s.native,
        fallback.join(",")
    );
    let run: RunFn = Box::new(move |ins: &[Tensor]| model.run(ins).map_err(|e| e.to_string()));
    Ok((run, extra))
}

/// Run the server on stdin/stdout.
pub fn main(model: &Path, threads: usize) -> Result<(), CliError> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let fail = |out: &mut dyn Write, msg: String| {
        let _ = writeln!(out, "{{\"error\":{}}}", json_str(&msg));
        let _ = out.flush();
        CliError::user(
            msg,
            "see bench/PROTOCOL.md; `ingot optimize MODEL` shows the graph",
        )
    };
    if threads == 0 {
        return Err(fail(&mut out, "--threads must be at least 1".into()));
    }
    let t0 = Instant::now();
    let g = ingot_compiler::onnx::import_onnx(model)
        .map_err(|e| fail(&mut out, format!("{}: {e}", model.display())))?;
    let import_ms = ms(t0);
    let (run, extra) = compile(&g, threads).map_err(|e| fail(&mut out, format!("compile: {e}")))?;
    let compile_ms = ms(t0);
    let types: Vec<String> = g
        .inputs()
        .iter()
        .map(|&v| json_str(&g.ty(v).to_string()))
        .collect();
    let hello = format!(
        "{{\"compile_ms\":{compile_ms:.3},\"import_ms\":{import_ms:.3},{extra},\"threads\":{threads},\"inputs\":[{}]}}",
        types.join(",")
    );
    if writeln!(out, "{hello}").and_then(|()| out.flush()).is_err() {
        return Ok(()); // The harness went away; nothing to report to.
    }
    let mut server = Server::new(&g, run);
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let Some(reply) = server.command(&line) else {
            continue;
        };
        if writeln!(out, "{reply}").and_then(|()| out.flush()).is_err() || server.done {
            break;
        }
    }
    Ok(())
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

/// The command loop's state: the model, its input types and loaded inputs.
pub struct Server<'g> {
    g: &'g Graph,
    run: RunFn,
    inputs: Option<Vec<Tensor>>,
    pub done: bool,
}

impl<'g> Server<'g> {
    pub fn new(g: &'g Graph, run: RunFn) -> Server<'g> {
        Server {
            g,
            run,
            inputs: None,
            done: false,
        }
    }

    /// Answer one command line; `None` for a blank line (no answer).
    pub fn command(&mut self, line: &str) -> Option<String> {
        let line = line.trim();
        if line.is_empty() {
            return None;
        }
        let (cmd, arg) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let arg = arg.trim();
        let r = match cmd {
            "load" => self.load(arg),
            "run" => self.run(arg),
            "out" => self.out(arg),
            "quit" => {
                self.done = true;
                Ok("{\"ok\":true}".into())
            }
            _ => Err(format!(
                "unknown command `{cmd}`; commands: load PATH, run ITERS, out PATH, quit"
            )),
        };
        Some(r.unwrap_or_else(|e| format!("{{\"error\":{}}}", json_str(&e))))
    }

    fn load(&mut self, path: &str) -> Result<String, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("load {path}: {e}"))?;
        let named = read_bundle(&bytes).map_err(|e| format!("load {path}: {e}"))?;
        let want = self.g.inputs();
        if named.len() != want.len() {
            return Err(format!(
                "load {path}: {} tensors for a model with {} inputs",
                named.len(),
                want.len()
            ));
        }
        for (i, ((name, t), &v)) in named.iter().zip(want).enumerate() {
            let ty = self.g.ty(v);
            let dims_ok = ty.shape.len() == t.rank()
                && ty.shape.iter().zip(t.shape()).all(|(d, &n)| {
                    d.eval(&|_| None)
                        .is_none_or(|k| usize::try_from(k) == Ok(n))
                });
            if ty.dtype != t.dtype() || !dims_ok {
                return Err(format!(
                    "load {path}: tensor {i} `{name}` is {}{:?} but model input {i} is {ty}",
                    t.dtype().name(),
                    t.shape()
                ));
            }
            if let Some(gn) = self.g.name_of(v).filter(|gn| gn != name) {
                // Binding is by position; a differing name is worth a note,
                // not an error (the importer may rename, e.g. `0` -> `v0`).
                eprintln!("bench-serve: input {i} is `{name}` in {path} but `{gn}` in the model");
            }
        }
        let n = named.len();
        self.inputs = Some(named.into_iter().map(|(_, t)| t).collect());
        Ok(format!("{{\"ok\":true,\"inputs\":{n}}}"))
    }

    fn loaded(&self) -> Result<&[Tensor], String> {
        self.inputs
            .as_deref()
            .ok_or_else(|| "no inputs: send `load PATH` first".to_string())
    }

    fn run(&self, arg: &str) -> Result<String, String> {
        let iters: usize = arg
            .parse()
            .ok()
            .filter(|&n| (1..=1_000_000).contains(&n))
            .ok_or_else(|| format!("run: `{arg}` is not an iteration count in 1..=1000000"))?;
        let ins = self.loaded()?;
        let mut times = Vec::with_capacity(iters);
        for _ in 0..iters {
            let t0 = Instant::now();
            drop((self.run)(ins).map_err(|e| format!("run: {e}"))?);
            times.push(ms(t0));
        }
        let list: Vec<String> = times.iter().map(|t| format!("{t:.4}")).collect();
        Ok(format!("{{\"times_ms\":[{}]}}", list.join(",")))
    }

    fn out(&self, path: &str) -> Result<String, String> {
        let outs = (self.run)(self.loaded()?).map_err(|e| format!("out: {e}"))?;
        let named: Vec<(String, &Tensor)> = outs
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let name = self.g.outputs().get(i).and_then(|&v| self.g.name_of(v));
                (bundle_name(name, i), t)
            })
            .collect();
        std::fs::write(path, write_bundle(&named)).map_err(|e| format!("out {path}: {e}"))?;
        Ok(format!("{{\"ok\":true,\"outputs\":{}}}", outs.len()))
    }
}

/// A name valid in a bundle header: printable ASCII without spaces.
fn bundle_name(name: Option<&str>, i: usize) -> String {
    match name {
        Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic()) => n.to_string(),
        _ => format!("output{i}"),
    }
}

const MAGIC: &str = "ingot-tensors v1";

/// Parse a tensor bundle into (name, tensor) pairs, in file order.
pub fn read_bundle(bytes: &[u8]) -> Result<Vec<(String, Tensor)>, String> {
    let mut pos = 0;
    let head = next_line(bytes, &mut pos)?;
    let count = head
        .strip_prefix(MAGIC)
        .and_then(|c| c.trim().parse::<usize>().ok())
        .ok_or_else(|| format!("not a tensor bundle: header `{head}` is not `{MAGIC} COUNT`"))?;
    let mut specs = Vec::new();
    for i in 0..count {
        // Each header line costs at least one byte, so a lying COUNT fails
        // here before it can make us allocate.
        let l = next_line(bytes, &mut pos)?;
        let toks: Vec<&str> = l.split_ascii_whitespace().collect();
        let bad = || format!("tensor line {i} `{l}` is not `NAME DTYPE RANK D0 .. Dk`");
        if toks.len() < 3 {
            return Err(bad());
        }
        let (name, dt, rank, dims) = (toks[0], toks[1], toks[2], &toks[3..]);
        let dtype = DType::from_name(dt)
            .ok_or_else(|| format!("tensor {i} `{name}`: unknown dtype `{dt}`"))?;
        if rank.parse::<usize>().ok() != Some(dims.len()) {
            return Err(bad());
        }
        let shape = dims
            .iter()
            .map(|d| d.parse::<usize>().map_err(|_| bad()))
            .collect::<Result<Vec<_>, _>>()?;
        specs.push((name.to_string(), dtype, shape));
    }
    let mut out = Vec::with_capacity(specs.len());
    for (name, dtype, shape) in specs {
        let len = shape
            .iter()
            .try_fold(dtype.size(), |a, &d| a.checked_mul(d))
            .filter(|&n| n <= bytes.len() - pos)
            .ok_or_else(|| {
                format!(
                    "tensor `{name}` {}{shape:?}: the file is too short for its data",
                    dtype.name()
                )
            })?;
        let t = Tensor::from_bytes(dtype, &shape, &bytes[pos..pos + len])
            .map_err(|e| format!("tensor `{name}`: {e}"))?;
        pos += len;
        out.push((name, t));
    }
    if pos != bytes.len() {
        return Err(format!("{} bytes after the last tensor", bytes.len() - pos));
    }
    Ok(out)
}

/// The next `\n`-terminated ASCII line of a bundle header.
fn next_line<'a>(bytes: &'a [u8], pos: &mut usize) -> Result<&'a str, String> {
    let rest = &bytes[*pos..];
    let end = rest
        .iter()
        .position(|&b| b == b'\n')
        .ok_or("the header ends early")?;
    *pos += end + 1;
    std::str::from_utf8(&rest[..end])
        .ok()
        .filter(|s| s.is_ascii())
        .ok_or_else(|| "the header is not ASCII".to_string())
}

/// Serialize (name, tensor) pairs as a bundle. Names must be printable ASCII
/// without spaces (see [`bundle_name`]).
pub fn write_bundle(named: &[(String, &Tensor)]) -> Vec<u8> {
    let mut head = format!("{MAGIC} {}\n", named.len());
    for (name, t) in named {
        head += &format!("{name} {} {}", t.dtype().name(), t.rank());
        for d in t.shape() {
            head += &format!(" {d}");
        }
        head.push('\n');
    }
    let mut bytes = head.into_bytes();
    for (_, t) in named {
        bytes.extend_from_slice(t.bytes());
    }
    bytes
}

/// A JSON string literal.
fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t_f32(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_slice(shape, v).unwrap()
    }

    /// The exact bytes bench/tensors.py writes for these tensors: pins the
    /// format to the spec in bench/PROTOCOL.md.
    #[test]
    fn bundle_bytes_match_the_spec() {
        let x = t_f32(&[2, 1], &[1.0, -2.0]);
        let s = Tensor::from_slice::<i64>(&[], &[7]).unwrap();
        let b = write_bundle(&[("x".into(), &x), ("n.1".into(), &s)]);
        let mut want = b"ingot-tensors v1 2\nx f32 2 2 1\nn.1 i64 0\n".to_vec();
        want.extend_from_slice(&1.0f32.to_le_bytes());
        want.extend_from_slice(&(-2.0f32).to_le_bytes());
        want.extend_from_slice(&7i64.to_le_bytes());
        assert_eq!(b, want);
        let back = read_bundle(&b).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!((back[0].0.as_str(), &back[0].1), ("x", &x));
        assert_eq!((back[1].0.as_str(), &back[1].1), ("n.1", &s));
    }

    #[test]
    fn bad_bundles_are_errors() {
        let ok = write_bundle(&[("x".into(), &t_f32(&[2], &[1.0, 2.0]))]);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (ok[..ok.len() - 1].to_vec(), "too short"),
            ([ok.as_slice(), &[0]].concat(), "after the last tensor"),
            (b"ingot-tensors v2 1\n".to_vec(), "not a tensor bundle"),
            (b"ingot-tensors v1 1000000000000\n".to_vec(), "ends early"),
            (
                b"ingot-tensors v1 1\nx f33 1 1\n\0\0\0\0".to_vec(),
                "unknown dtype",
            ),
            (
                b"ingot-tensors v1 1\nx f32 2 1\n\0\0\0\0".to_vec(),
                "is not `NAME",
            ),
            (b"ingot-tensors v1 1\nx f32\n".to_vec(), "is not `NAME"),
            (b"ingot-tensors v1 1\nx f32 1 -1\n".to_vec(), "is not `NAME"),
            (
                b"ingot-tensors v1 1\nx f32 2 4611686018427387904 4\n".to_vec(),
                "too short",
            ),
            (b"ingot-tensors v1 1\nx\xff f32 0\n".to_vec(), "not ASCII"),
        ];
        for (bytes, want) in cases {
            let e = read_bundle(&bytes).expect_err(want);
            assert!(e.contains(want), "expected `{want}` in `{e}`");
        }
    }

    #[test]
    fn json_strings_escape() {
        assert_eq!(json_str("a\"b\\c\nd\u{1}é"), "\"a\\\"b\\\\c\\nd\\u0001é\"");
    }

    fn temp(name: &str) -> String {
        let p = std::env::temp_dir().join(format!("ingot-serve-{}-{name}", std::process::id()));
        p.to_string_lossy().into_owned()
    }

    /// The command loop on a two-op graph run by the reference interpreter.
    #[test]
    fn command_loop() {
        let g = ingot_ir::text::parse(
            "graph @f(%x: f32[2]) -> f32[2] {\n  %0 = add %x, %x : f32[2]\n  return %0\n}\n",
        )
        .unwrap();
        let g2 = g.clone();
        let run: RunFn =
            Box::new(move |ins| ingot_ir::interp::run(&g2, ins).map_err(|e| e.to_string()));
        let mut s = Server::new(&g, run);
        let err = |r: Option<String>| r.unwrap().starts_with("{\"error\":");
        assert_eq!(s.command("   "), None);
        assert!(err(s.command("run 2")), "run before load");
        assert!(err(s.command("frobnicate")));
        let (good, bad) = (temp("good"), temp("bad"));
        let x = t_f32(&[2], &[1.5, -3.0]);
        std::fs::write(&good, write_bundle(&[("x".into(), &x)])).unwrap();
        let y = t_f32(&[3], &[0.0; 3]);
        std::fs::write(&bad, write_bundle(&[("x".into(), &y)])).unwrap();
        assert!(err(s.command(&format!("load {bad}"))), "wrong shape");
        assert!(err(s.command("load /nonexistent/in.tensors")));
        assert_eq!(
            s.command(&format!("load {good}")).unwrap(),
            "{\"ok\":true,\"inputs\":1}"
        );
        for arg in ["0", "x", "-1", ""] {
            assert!(err(s.command(&format!("run {arg}"))), "run {arg}");
        }
        let r = s.command("run 3").unwrap();
        let list = r
            .strip_prefix("{\"times_ms\":[")
            .and_then(|r| r.strip_suffix("]}"));
        let times: Vec<f64> = list
            .unwrap()
            .split(',')
            .map(|t| t.parse().unwrap())
            .collect();
        assert_eq!(times.len(), 3);
        assert!(times.iter().all(|&t| t >= 0.0));
        let o = temp("out");
        assert_eq!(
            s.command(&format!("out {o}")).unwrap(),
            "{\"ok\":true,\"outputs\":1}"
        );
        let back = read_bundle(&std::fs::read(&o).unwrap()).unwrap();
        assert_eq!(back[0].1, t_f32(&[2], &[3.0, -6.0]));
        assert!(!s.done);
        assert_eq!(s.command("quit").unwrap(), "{\"ok\":true}");
        assert!(s.done);
        for p in [good, bad, o] {
            let _ = std::fs::remove_file(p);
        }
    }
}
