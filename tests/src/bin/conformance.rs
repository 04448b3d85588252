//! ONNX node-test conformance runner.
//!
//! `conformance <suite-dir> [--backend interp|cpu] [--json report.json]
//! [--filter substr] [--timeout secs] [--max-elems n] [--floor file]`
//!
//! Runs every case folder under `<suite-dir>` (`model.onnx` plus
//! `test_data_set_*/{input,output}_k.pb`, as `scripts/gen_onnx_node_tests.py`
//! writes them): import, run on the backend, compare with rtol 1e-3 and
//! atol 1e-7 as ONNX's own runner (NaN matches NaN). Prints pass / fail /
//! unsupported / panic per op and in total, and the "core" subset: cases whose
//! declared inputs and outputs are all f32/i64/i32/bool tensors and whose ops
//! are all in the default domain.
//!
//! Each case runs on its own thread inside `catch_unwind`, so a bug fails one
//! case (counted as a panic, which is always a bug) and a hang times out.
//! With `--floor FILE` the exit status is 1 when a pass count drops below the
//! floor recorded there (`total_pass N` / `core_pass N` lines).

use ingot_compiler::onnx::{self, proto};
use ingot_ir::Tensor;
use serde_json::json;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const RTOL: f64 = 1e-3;
const ATOL: f64 = 1e-7;

#[derive(Clone, Debug, PartialEq)]
enum Status {
    Pass,
    Fail(String),
    Unsupported(String),
    Panic(String),
    Timeout,
    Skipped(String),
}

impl Status {
    fn key(&self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail(_) => "fail",
            Status::Unsupported(_) => "unsupported",
            Status::Panic(_) => "panic",
            Status::Timeout => "timeout",
            Status::Skipped(_) => "skipped",
        }
    }
    fn reason(&self) -> Option<&str> {
        match self {
            Status::Fail(r) | Status::Unsupported(r) | Status::Panic(r) | Status::Skipped(r) => {
                Some(r)
            }
            _ => None,
        }
    }
}

struct Options {
    suite: PathBuf,
    backend: String,
    json: Option<PathBuf>,
    filter: Option<String>,
    timeout: Duration,
    max_elems: usize,
    floor: Option<PathBuf>,
}

fn parse_args() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let mut o = Options {
        suite: PathBuf::new(),
        backend: "interp".into(),
        json: None,
        filter: None,
        timeout: Duration::from_secs(60),
        max_elems: 50_000_000,
        floor: None,
    };
    let mut suite = None;
    while let Some(a) = args.next() {
        let mut val = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--backend" => o.backend = val("--backend")?,
            "--json" => o.json = Some(val("--json")?.into()),
            "--filter" => o.filter = Some(val("--filter")?),
            "--timeout" => {
                let s = val("--timeout")?;
                o.timeout =
                    Duration::from_secs_f64(s.parse().map_err(|_| format!("bad --timeout {s}"))?);
            }
            "--max-elems" => {
                let s = val("--max-elems")?;
                o.max_elems = s.parse().map_err(|_| format!("bad --max-elems {s}"))?;
            }
            "--floor" => o.floor = Some(val("--floor")?.into()),
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s => suite = Some(PathBuf::from(s)),
        }
    }
    o.suite = suite.ok_or("missing <suite-dir>")?;
    if o.backend != "interp" && o.backend != "cpu" {
        return Err(format!("unknown backend `{}` (interp or cpu)", o.backend));
    }
    Ok(o)
}

/// What the model declares, read before import (for per-op and core stats).
struct CaseInfo {
    ops: Vec<String>,
    core: bool,
}

fn case_info(bytes: &[u8]) -> CaseInfo {
    let Ok(m) = onnx::decode_model(bytes) else {
        return CaseInfo {
            ops: vec!["<malformed>".into()],
            core: false,
        };
    };
    let Some(g) = m.graph.as_ref() else {
        return CaseInfo {
            ops: vec![],
            core: false,
        };
    };
    let mut ops: Vec<String> = g
        .node
        .iter()
        .map(|n| {
            let d = n.domain.as_deref().unwrap_or("");
            let t = n.op_type.clone().unwrap_or_default();
            if d.is_empty() || d == "ai.onnx" {
                t
            } else {
                format!("{d}::{t}")
            }
        })
        .collect();
    ops.sort();
    ops.dedup();
    fn all_default(g: &proto::GraphProto) -> bool {
        g.node.iter().all(|n| {
            matches!(n.domain.as_deref(), None | Some("") | Some("ai.onnx"))
                && n.attribute
                    .iter()
                    .flat_map(|a| a.g.iter().chain(a.graphs.iter()))
                    .all(all_default)
        })
    }
    let core_type = |vi: &proto::ValueInfoProto| {
        use proto::tensor_proto::DataType as D;
        match vi.r#type.as_ref().and_then(|t| t.value.as_ref()) {
            Some(proto::type_proto::Value::TensorType(t)) => matches!(
                t.elem_type.and_then(|c| D::try_from(c).ok()),
                Some(D::Float | D::Int64 | D::Int32 | D::Bool)
            ),
            _ => false,
        }
    };
    let core = all_default(g) && g.input.iter().chain(&g.output).all(core_type);
    CaseInfo { ops, core }
}

fn read_pb(path: &Path) -> Result<Tensor, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    onnx::read_tensor_pb(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn numbered(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v = vec![];
    for k in 0.. {
        let p = dir.join(format!("{prefix}_{k}.pb"));
        if !p.exists() {
            break;
        }
        v.push(p);
    }
    v
}

/// Compare one output: dtype, shape, then values within tolerance.
fn compare(k: usize, got: &Tensor, want: &Tensor) -> Result<(), String> {
    if got.dtype() != want.dtype() || got.shape() != want.shape() {
        return Err(format!(
            "output {k}: got {}{:?}, expected {}{:?}",
            got.dtype(),
            got.shape(),
            want.dtype(),
            want.shape()
        ));
    }
    let (g, w) = (got.to_f64s(), want.to_f64s());
    let mut bad = 0usize;
    let mut first = None;
    for (i, (&a, &b)) in g.iter().zip(&w).enumerate() {
        let ok = if a.is_nan() || b.is_nan() {
            a.is_nan() && b.is_nan()
        } else if a.is_infinite() || b.is_infinite() {
            a == b
        } else {
            (a - b).abs() <= ATOL + RTOL * b.abs()
        };
        if !ok {
            bad += 1;
            first.get_or_insert((i, a, b));
        }
    }
    match first {
        None => Ok(()),
        Some((i, a, b)) => Err(format!(
            "output {k}: {bad} of {} elements differ; first at {i}: got {a}, expected {b}",
            g.len()
        )),
    }
}

/// Graph inputs that look like shape parameters (integer, rank ≤ 1) or
/// scalar mode flags (a bool or f32 scalar, e.g. Dropout's training_mode and
/// ratio): the ones worth freezing when the IR needs them as constants (ONNX
/// node tests feed `axes`, `pads`, `split` sizes as runtime inputs).
fn freezable(model: &proto::ModelProto) -> Vec<(usize, String)> {
    use proto::tensor_proto::DataType as D;
    let Some(g) = &model.graph else { return vec![] };
    let inits: Vec<&str> = g
        .initializer
        .iter()
        .filter_map(|t| t.name.as_deref())
        .collect();
    g.input
        .iter()
        .filter(|vi| !inits.contains(&vi.name.as_deref().unwrap_or("")))
        .enumerate()
        .filter_map(|(k, vi)| match vi.r#type.as_ref()?.value.as_ref()? {
            proto::type_proto::Value::TensorType(t)
                if match t.elem_type.and_then(|c| D::try_from(c).ok()) {
                    Some(D::Int64 | D::Int32) => t.shape.as_ref().is_some_and(|s| s.dim.len() <= 1),
                    Some(D::Bool | D::Float) => t.shape.as_ref().is_some_and(|s| s.dim.is_empty()),
                    _ => false,
                } =>
            {
                Some((k, vi.name.clone().unwrap_or_default()))
            }
            _ => None,
        })
        .collect()
}

/// Import, run every data set, compare. The second result names the graph
/// inputs that had to be frozen to their test values.
fn run_case(dir: &Path, max_elems: usize, backend: &str) -> (Status, Vec<String>) {
    let model_path = dir.join("model.onnx");
    let first = onnx::import_onnx(&model_path);
    let retry = match &first {
        Ok(_) => vec![],
        Err(e) if e.is_unsupported() => return (Status::Unsupported(e.to_string()), vec![]),
        Err(_) => std::fs::read(&model_path)
            .ok()
            .and_then(|b| onnx::decode_model(&b).ok())
            .map(|m| freezable(&m))
            .unwrap_or_default(),
    };
    if let Err(e) = &first {
        if retry.is_empty() {
            return (Status::Fail(format!("import: {e}")), vec![]);
        }
    }
    let mut sets: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("test_data_set_"))
                })
                .collect()
        })
        .unwrap_or_default();
    sets.sort();
    if sets.is_empty() {
        return (Status::Skipped("no test_data_set_*".into()), vec![]);
    }
    let frozen: Vec<String> = retry.iter().map(|(_, n)| n.clone()).collect();
    for set in sets {
        let load = |prefix| -> Result<Vec<Tensor>, String> {
            numbered(&set, prefix).iter().map(|p| read_pb(p)).collect()
        };
        let (mut inputs, expected) = match (load("input"), load("output")) {
            (Ok(i), Ok(o)) => (i, o),
            (Err(e), _) | (_, Err(e)) => {
                return (Status::Unsupported(format!("test data: {e}")), frozen)
            }
        };
        let elems: usize = inputs.iter().chain(&expected).map(Tensor::numel).sum();
        if elems > max_elems {
            return (
                Status::Skipped(format!("{elems} elements exceed --max-elems")),
                frozen,
            );
        }
        let graph = match &first {
            Ok(g) => g.clone(),
            Err(_) => {
                let mut opts = onnx::ImportOptions::default();
                for (k, name) in &retry {
                    if let Some(t) = inputs.get(*k) {
                        opts.frozen_inputs.insert(name.clone(), t.clone());
                    }
                }
                match onnx::import_onnx_with(&model_path, &opts) {
                    Ok(g) => {
                        let keep: Vec<Tensor> = inputs
                            .iter()
                            .enumerate()
                            .filter(|(k, _)| !retry.iter().any(|(r, _)| r == k))
                            .map(|(_, t)| t.clone())
                            .collect();
                        inputs = keep;
                        g
                    }
                    Err(e) if e.is_unsupported() => {
                        return (Status::Unsupported(e.to_string()), frozen)
                    }
                    Err(e) => {
                        return (Status::Fail(format!("import (inputs frozen): {e}")), frozen)
                    }
                }
            }
        };
        let fail = |s: String| {
            (
                Status::Fail(s),
                if first.is_ok() {
                    vec![]
                } else {
                    frozen.clone()
                },
            )
        };
        if inputs.len() != graph.inputs().len() {
            return fail(format!(
                "the data set has {} inputs, the imported graph {}",
                inputs.len(),
                graph.inputs().len()
            ));
        }
        let outs = match run_on(backend, &graph, &inputs) {
            Ok(o) => o,
            Err(e) => return fail(format!("run: {e}")),
        };
        if outs.len() != expected.len() {
            return fail(format!(
                "{} outputs, expected {}",
                outs.len(),
                expected.len()
            ));
        }
        for (k, (g, w)) in outs.iter().zip(&expected).enumerate() {
            if let Err(e) = compare(k, g, w) {
                return fail(e);
            }
        }
    }
    (Status::Pass, if first.is_ok() { vec![] } else { frozen })
}

/// Run `graph` on the chosen backend: the reference interpreter, or the
/// CPU backend (full pipeline, one thread).
fn run_on(
    backend: &str,
    graph: &ingot_ir::Graph,
    inputs: &[Tensor],
) -> Result<Vec<Tensor>, String> {
    match backend {
        "cpu" => {
            let opts = ingot_compiler::cpu::CompileOptions {
                threads: 1,
                ..Default::default()
            };
            let model = ingot_compiler::cpu::compile(graph, &opts).map_err(|e| e.to_string())?;
            model.run(inputs).map_err(|e| e.to_string())
        }
        _ => ingot_ir::interp::run(graph, inputs).map_err(|e| e.to_string()),
    }
}

std::thread_local! {
    static PANIC_AT: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Run one case on its own thread with a timeout; panics are caught.
fn guarded(dir: &Path, o: &Options) -> (Status, Vec<String>) {
    let (tx, rx) = mpsc::channel();
    let dir = dir.to_path_buf();
    let max = o.max_elems;
    let backend = o.backend.clone();
    let spawned = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || {
            let r = catch_unwind(AssertUnwindSafe(|| run_case(&dir, max, &backend)));
            let st = r.unwrap_or_else(|p| {
                let msg = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic".into());
                let at = PANIC_AT.with(|a| a.borrow_mut().take()).unwrap_or_default();
                (Status::Panic(format!("{msg}{at}")), vec![])
            });
            let _ = tx.send(st);
        });
    if let Err(e) = spawned {
        return (
            Status::Skipped(format!("cannot spawn a thread: {e}")),
            vec![],
        );
    }
    match rx.recv_timeout(o.timeout) {
        Ok(s) => s,
        // The thread keeps running detached; the run goes on.
        Err(mpsc::RecvTimeoutError::Timeout) => (Status::Timeout, vec![]),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            (Status::Panic("case thread died".into()), vec![])
        }
    }
}

#[derive(Default, Clone, Copy)]
struct Counts {
    total: usize,
    pass: usize,
    fail: usize,
    unsupported: usize,
    panic: usize,
    timeout: usize,
    skipped: usize,
}

impl Counts {
    fn add(&mut self, s: &Status) {
        self.total += 1;
        match s {
            Status::Pass => self.pass += 1,
            Status::Fail(_) => self.fail += 1,
            Status::Unsupported(_) => self.unsupported += 1,
            Status::Panic(_) => self.panic += 1,
            Status::Timeout => self.timeout += 1,
            Status::Skipped(_) => self.skipped += 1,
        }
    }
    fn json(&self) -> serde_json::Value {
        json!({"total": self.total, "pass": self.pass, "fail": self.fail,
            "unsupported": self.unsupported, "panic": self.panic,
            "timeout": self.timeout, "skipped": self.skipped})
    }
}

fn read_floor(path: &Path) -> Result<(usize, usize), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (mut total, mut core) = (0, 0);
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut it = line.split_whitespace();
        match (it.next(), it.next().and_then(|n| n.parse().ok())) {
            (Some("total_pass"), Some(n)) => total = n,
            (Some("core_pass"), Some(n)) => core = n,
            (None, _) => {}
            _ => return Err(format!("{}: cannot read line {line:?}", path.display())),
        }
    }
    Ok((total, core))
}

fn main() {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}\nusage: conformance <suite-dir> [--backend interp|cpu] [--json report.json] [--filter substr] [--timeout secs] [--max-elems n] [--floor file]");
            std::process::exit(2);
        }
    };
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        PANIC_AT.with(|a| *a.borrow_mut() = Some(at));
    }));
    let mut cases: Vec<PathBuf> = match std::fs::read_dir(&o.suite) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("model.onnx").is_file())
            .filter(|p| {
                o.filter.as_ref().is_none_or(|f| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.contains(f.as_str()))
                })
            })
            .collect(),
        Err(e) => {
            eprintln!("cannot read {}: {e}", o.suite.display());
            std::process::exit(2);
        }
    };
    cases.sort();
    let started = Instant::now();
    let (mut all, mut core) = (Counts::default(), Counts::default());
    let mut per_op: BTreeMap<String, Counts> = BTreeMap::new();
    let mut report = vec![];
    let mut frozen_pass = 0usize;
    for dir in &cases {
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        let info = std::fs::read(dir.join("model.onnx"))
            .map(|b| case_info(&b))
            .unwrap_or(CaseInfo {
                ops: vec![],
                core: false,
            });
        let t0 = Instant::now();
        let (st, frozen) = guarded(dir, &o);
        all.add(&st);
        if st == Status::Pass && !frozen.is_empty() {
            frozen_pass += 1;
        }
        if info.core {
            core.add(&st);
        }
        for op in &info.ops {
            per_op.entry(op.clone()).or_default().add(&st);
        }
        if !matches!(st, Status::Pass) {
            let r = st.reason().unwrap_or("");
            let short: String = r.lines().next().unwrap_or("").chars().take(200).collect();
            println!("{:<11} {name}: {short}", st.key().to_uppercase());
        }
        report.push(json!({"case": name, "status": st.key(), "reason": st.reason(),
            "core": info.core, "ops": info.ops, "frozen_inputs": frozen, "ms": t0.elapsed().as_millis() as u64}));
    }
    println!(
        "\n{:<32} {:>5} {:>5} {:>5} {:>5} {:>5}",
        "op", "pass", "fail", "unsup", "panic", "other"
    );
    for (op, c) in &per_op {
        println!(
            "{op:<32} {:>5} {:>5} {:>5} {:>5} {:>5}",
            c.pass,
            c.fail,
            c.unsupported,
            c.panic,
            c.timeout + c.skipped
        );
    }
    let line = |what: &str, c: &Counts| {
        println!(
            "{what}: {} cases: {} pass, {} fail, {} unsupported, {} panic, {} timeout, {} skipped",
            c.total, c.pass, c.fail, c.unsupported, c.panic, c.timeout, c.skipped
        )
    };
    println!();
    line("total", &all);
    line("core ", &core);
    println!("{frozen_pass} passing case(s) needed shape-like inputs frozen to their test values");
    println!(
        "backend {} in {:.1}s",
        o.backend,
        started.elapsed().as_secs_f64()
    );
    if let Some(p) = &o.json {
        let doc = json!({
            "suite": o.suite.display().to_string(), "backend": o.backend,
            "rtol": RTOL, "atol": ATOL,
            "total": all.json(), "core": core.json(), "frozen_pass": frozen_pass,
            "per_op": per_op.iter().map(|(k, c)| (k.clone(), c.json())).collect::<serde_json::Map<_, _>>(),
            "cases": report,
        });
        let text = serde_json::to_string_pretty(&doc).expect("JSON of plain values");
        if let Err(e) = std::fs::write(p, text) {
            eprintln!("cannot write {}: {e}", p.display());
            std::process::exit(2);
        }
    }
    let mut code = 0;
    if all.panic > 0 {
        eprintln!("{} case(s) panicked: these are bugs", all.panic);
    }
    if let Some(f) = &o.floor {
        match read_floor(f) {
            Ok((t, c)) => {
                if all.pass < t || core.pass < c {
                    eprintln!(
                        "below the floor in {}: total {} < {t} or core {} < {c}",
                        f.display(),
                        all.pass,
                        core.pass
                    );
                    code = 1;
                }
            }
            Err(e) => {
                eprintln!("{e}");
                code = 2;
            }
        }
    }
    std::process::exit(code);
}
