//! The `ingot` command line: `run`, `print` and `verify` for text-format IR
//! files.
//!
//! Exit codes: 0 success; 1 a user error (a bad file, flag or graph), shown
//! as one `error:` line with the cause and one `hint:` line with a fix; 2 an
//! internal error (a bug in Ingot: a panic, or the interpreter disagreeing
//! with a graph the verifier accepted). Command-line usage errors from clap
//! are user errors too, so they also exit 1.

mod bench;
mod bisect;
mod compile;
mod draw;
mod inputs;
mod inspect;
mod irapi;
mod model;
mod optimize;
mod quantize;
mod report;
mod serve;
mod svg;
mod tensor_io;

use clap::{Parser, Subcommand};
use ingot_ir::{Graph, InterpError};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "ingot",
    version,
    about = "Ingot: a static-graph ML compiler: ONNX or text IR in, optimized native CPU code out.",
    after_help = "Examples:\n  ingot run examples/classifier.onnx --dim batch=2\n  ingot compile examples/classifier.onnx -o classifier.ingot && ingot run classifier.ingot --dim batch=2\n  ingot bench examples/classifier.onnx --batch 8 --json\n  ingot inspect examples/classifier.onnx --svg graph.svg\n  ingot bisect examples/classifier.onnx --dim batch=2\n\nExit codes: 0 ok, 1 a problem with the input (with a hint), 2 a bug in ingot.\nGuide: docs/user-guide.md"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run a model (text IR or ONNX, compiled for the CPU; or an `.ingot`
    /// artifact) on inputs from files or seeded random values; write each
    /// output as `.npy`, or print a summary (type, shape, min/max/mean,
    /// first values).
    #[command(
        after_help = "Examples:\n  ingot run examples/mlp.ir --dim batch=2 --seed 7\n  \
        ingot run model.onnx --input x=image.npy --output-dir out/\n  \
        ingot run model.ingot --input x=input_0.pb\n\n\
        Without --input, inputs are random: floats in [-1, 1), integers in [0, 10),\n\
        booleans fair. With --input, every input must be given (.npy or ONNX .pb)."
    )]
    Run {
        /// A text-format IR file, an `.onnx` model, or an `.ingot` artifact.
        file: PathBuf,
        /// An input from a file, `NAME=FILE.npy` or `NAME=FILE.pb`
        /// (repeat for each input).
        #[arg(long = "input", value_name = "NAME=FILE", value_parser = model::parse_input)]
        inputs: Vec<(String, PathBuf)>,
        /// Write each output to DIR/<name>.npy instead of printing it.
        #[arg(long = "output-dir", value_name = "DIR")]
        output_dir: Option<PathBuf>,
        /// The value of a symbolic dim of random inputs, e.g. `--dim batch=2`
        /// (repeat for several).
        #[arg(long = "dim", value_name = "NAME=N", value_parser = inputs::parse_dim)]
        dims: Vec<(String, i64)>,
        /// Seed for the random inputs (same seed, same inputs).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// How many leading values of each output to print.
        #[arg(long, default_value_t = 8)]
        show: usize,
        /// `cpu`: compile (passes, memory plan, native code) and run;
        /// `interp`: the reference interpreter on the graph as written.
        #[arg(long, default_value = "cpu", value_parser = ["cpu", "interp"])]
        backend: String,
        /// The device: `cpu` (`cuda` is not in this build yet).
        #[arg(long, default_value = "cpu", value_parser = ["cpu", "cuda"])]
        target: String,
        /// Worker threads for the CPU backend (0 = one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
    /// Compile a model (ONNX or text IR) into an `.ingot` artifact: the
    /// plan, machine code for a named CPU level, and the weights, in one
    /// file that `ingot run` (or any program linking ingot-runtime) loads
    /// without compiling.
    #[command(
        after_help = "Examples:\n  ingot compile model.onnx -o model.ingot\n  ingot run model.ingot\n  ingot compile model.onnx --emit obj -o model.o   # also writes model.h\n\n\
        --cpu x86-64-v3 (default) runs on AVX2+FMA CPUs (Haswell, Zen 1 and later);\n\
        x86-64-v4 needs AVX-512; host targets exactly this machine."
    )]
    Compile {
        /// An `.onnx` model or a text-format IR file.
        file: PathBuf,
        /// The artifact to write.
        #[arg(short = 'o', long = "output", value_name = "OUT.ingot")]
        out: PathBuf,
        /// The CPU level the generated code targets.
        #[arg(long, default_value = "x86-64-v3", value_parser = compile::parse_cpu)]
        cpu: ingot_compiler::cpu::CpuLevel,
        /// `ingot`: an artifact file; `obj`: a relocatable object for C (OUT,
        /// e.g. model.o) and its header (OUT with `.h`), linked with
        /// libingot_capi.a (see examples/c/).
        #[arg(long, default_value = "ingot", value_parser = ["ingot", "obj"])]
        emit: String,
        /// The device: `cpu` (`cuda` is not in this build yet).
        #[arg(long, default_value = "cpu", value_parser = ["cpu", "cuda"])]
        target: String,
        /// Arithmetic precision: `fp32` (reduced precisions are not in this
        /// build yet).
        #[arg(long, default_value = "fp32", value_parser = ["fp32", "fp16", "bf16", "int8"])]
        precision: String,
    },
    /// Quantize a model to INT8: calibrate it on sample inputs (or reuse a
    /// saved table), rewrite it to QuantizeLinear/DequantizeLinear form
    /// (onnxruntime's QDQ layout), print each layer's sensitivity, and
    /// write an `.ingot` artifact or the quantized IR text.
    #[command(
        after_help = "Examples:\n  ingot quantize examples/digits/digits_cnn.onnx --calib examples/digits/calib -o digits.int8.ingot\n  \
        ingot quantize model.onnx --calib calib/ --method entropy --save-table model.calib.json -o model.int8.ingot\n  \
        ingot quantize model.onnx --table model.calib.json --method mse -o model.int8.ir\n\n\
        --calib DIR: every .npy file in DIR (sorted by name) is one sample of a single-input\n\
        model; for several inputs, DIR/<input name>/ holds each input's files, and the k-th\n\
        files together make sample k. The samples also measure each layer's output SQNR\n\
        (dB, against the f32 model); --accuracy-budget DB keeps the most sensitive layers\n\
        in f32 until the whole model's SQNR is at least DB. Guide: docs/user-guide.md"
    )]
    Quantize {
        /// An `.onnx` model or a text-format IR file (f32).
        file: PathBuf,
        /// A folder of calibration samples (.npy).
        #[arg(long, value_name = "DIR")]
        calib: Option<PathBuf>,
        /// How each activation's range is chosen from its calibration
        /// statistics.
        #[arg(long, default_value = "minmax", value_parser = ["minmax", "percentile", "entropy", "mse"])]
        method: String,
        /// For --method percentile: the percentile of values kept (each
        /// tail loses 100 - P percent).
        #[arg(long, default_value_t = 99.999, value_name = "P")]
        percentile: f64,
        /// For --method percentile: one threshold on |x| for both signs.
        #[arg(long)]
        symmetric: bool,
        /// The minimum output SQNR in dB against the f32 model; layers go
        /// back to f32, most sensitive first, until it holds (needs --calib).
        #[arg(long = "accuracy-budget", value_name = "DB")]
        accuracy_budget: Option<f64>,
        /// Reuse a calibration table (from --save-table) instead of
        /// calibrating.
        #[arg(long, value_name = "FILE")]
        table: Option<PathBuf>,
        /// Save the calibration table (JSON) for later runs.
        #[arg(long = "save-table", value_name = "FILE")]
        save_table: Option<PathBuf>,
        /// One weight scale per tensor instead of per output channel.
        #[arg(long = "per-tensor")]
        per_tensor: bool,
        /// Keep ReLUs after quantized layers (by default they are dropped
        /// when QuantizeLinear's saturation does their work).
        #[arg(long = "keep-relu")]
        keep_relu: bool,
        /// OUT.ingot: an artifact; OUT.ir: the quantized graph as IR text.
        #[arg(short = 'o', long = "output", value_name = "OUT")]
        out: PathBuf,
        /// The CPU level an artifact's code targets.
        #[arg(long, default_value = "x86-64-v3", value_parser = compile::parse_cpu)]
        cpu: ingot_compiler::cpu::CpuLevel,
        /// Worker threads for the calibration runs (0 = one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
    /// Parse a graph and print it back in the canonical text format.
    #[command(after_help = "Example:\n  ingot print examples/mlp.ir --inline-all")]
    Print {
        /// A text-format IR file.
        file: PathBuf,
        /// Write every constant's values (by default large ones print as
        /// `@name` references, and the output does not parse on its own).
        #[arg(long)]
        inline_all: bool,
    },
    /// Run the optimization pipeline on a text-IR file or an ONNX model and
    /// print the optimized graph (dumps and statistics go to stderr).
    #[command(
        after_help = "Examples:\n  ingot optimize examples/mlp.ir --stats\n          ingot optimize model.onnx --dump-after cse --stop-after 3\n\n        To find a bad rewrite: raise --stop-after until the output goes wrong, then\n        --dump-before/--dump-after that pass. Pass names: shape-infer, simplify,\n        shape-consts, const-fold, cse, dce, fold-bn, fold-affine, fuse-reduce,\n        fuse-contraction, fuse-elementwise."
    )]
    Optimize {
        /// A text-format IR file or an `.onnx` model.
        file: PathBuf,
        /// Print the graph before each run of this pass (repeatable).
        #[arg(long = "dump-before", value_name = "PASS")]
        dump_before: Vec<String>,
        /// Print the graph after each run of this pass (repeatable).
        #[arg(long = "dump-after", value_name = "PASS")]
        dump_after: Vec<String>,
        /// Stop after this many pass runs.
        #[arg(long = "stop-after", value_name = "N")]
        stop_after: Option<usize>,
        /// Print per-pass statistics (node counts, time).
        #[arg(long)]
        stats: bool,
        /// Write every constant's values instead of `@name` references.
        #[arg(long)]
        inline_all: bool,
    },
    /// Time a model (ONNX or text IR, compiled for the CPU; or an `.ingot`
    /// artifact) on seeded random inputs or files: compile/load time,
    /// native vs interpreter steps, p50/p90/p99 latency, throughput, peak
    /// memory, and the slowest steps with --profile.
    #[command(
        after_help = "Examples:\n  ingot bench model.onnx --threads 1 --iters 50\n  ingot bench examples/mlp.ir --batch 64 --profile 10 --check\n  ingot bench model.ingot --json"
    )]
    Bench {
        /// An `.onnx` model, a text-format IR file, or an `.ingot` artifact.
        file: PathBuf,
        /// An input from a file, `NAME=FILE.npy` or `.pb` (repeat for each
        /// input; without any, inputs are seeded random values).
        #[arg(long = "input", value_name = "NAME=FILE", value_parser = model::parse_input)]
        inputs: Vec<(String, PathBuf)>,
        /// The value of a symbolic input dim, e.g. `--dim batch=8` (repeatable).
        #[arg(long = "dim", value_name = "NAME=N", value_parser = inputs::parse_dim)]
        dims: Vec<(String, i64)>,
        /// Batch size: binds the symbolic leading dim of every input to N
        /// (and is the throughput's samples per run).
        #[arg(long, value_name = "N")]
        batch: Option<i64>,
        /// Seed for the random inputs.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Worker threads per run (0 = one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// The device: `cpu` (`cuda` is not in this build yet).
        #[arg(long, default_value = "cpu", value_parser = ["cpu", "cuda"])]
        target: String,
        /// Timed runs.
        #[arg(long, default_value_t = 20)]
        iters: usize,
        /// Untimed runs first.
        #[arg(long, default_value_t = 3)]
        warmup: usize,
        /// Print the N slowest steps of one profiled run.
        #[arg(long, default_value_t = 0, value_name = "N")]
        profile: usize,
        /// Also run the optimized graph on the reference interpreter and
        /// print the largest difference.
        #[arg(long)]
        check: bool,
        /// Print one JSON object (compile_ms, median_ms, p90_ms, p99_ms,
        /// throughput_per_s, peak_rss_bytes, arena_bytes, ...) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Find where outputs go wrong: run the model after each pass of the
    /// pipeline on the reference interpreter and name the first pass (and
    /// node) whose outputs diverge from the unoptimized model's; then the
    /// first compiled step that differs from the interpreter.
    #[command(
        after_help = "Examples:\n  ingot bisect model.onnx\n  ingot bisect model.onnx --input x=image.npy --rtol 1e-3\n\n\
        Floats agree when |a - b| <= atol + rtol * |b|; other types must be equal."
    )]
    Bisect {
        /// An `.onnx` model or a text-format IR file.
        file: PathBuf,
        /// An input from a file, `NAME=FILE.npy` or `.pb` (repeat for each input).
        #[arg(long = "input", value_name = "NAME=FILE", value_parser = model::parse_input)]
        inputs: Vec<(String, PathBuf)>,
        /// The value of a symbolic dim of random inputs, e.g. `--dim batch=2`.
        #[arg(long = "dim", value_name = "NAME=N", value_parser = inputs::parse_dim)]
        dims: Vec<(String, i64)>,
        /// Seed for the random inputs.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Relative tolerance for floats.
        #[arg(long, default_value_t = 1e-4)]
        rtol: f64,
        /// Absolute tolerance for floats.
        #[arg(long, default_value_t = 1e-5)]
        atol: f64,
    },
    /// Show what the compiler makes of a model (ONNX or text IR): op
    /// histograms before and after optimization, each pass's statistics,
    /// the fused kernels and the runtime kernel chosen for each, the plan's
    /// steps, the memory plan, and the weights; optionally draw the
    /// optimized graph. For an `.ingot` artifact: its target, signature,
    /// plan steps and weights.
    #[command(
        after_help = "Examples:\n  ingot inspect examples/mlp.ir --dim batch=8\n  ingot inspect model.onnx --json --svg model.svg --dot model.dot\n  ingot inspect model.onnx --after simplify\n  ingot inspect model.int8.ingot\n\n\
        Symbolic input dims not given with --dim count as 1 for sizes. Pass names for\n\
        --after: shape-infer, fuse-qdq, simplify, shape-consts, const-fold, cse, dce, fold-bn,\n\
        fold-affine, fuse-reduce, fuse-contraction, fuse-elementwise."
    )]
    Inspect {
        /// An `.onnx` model, a text-format IR file or an `.ingot` artifact.
        file: PathBuf,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Write an SVG picture of the optimized graph to FILE.
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
        /// Write the optimized graph as Graphviz DOT to FILE.
        #[arg(long, value_name = "FILE")]
        dot: Option<PathBuf>,
        /// Stop the pipeline after the first run of this pass and inspect
        /// the graph at that point.
        #[arg(long, value_name = "PASS")]
        after: Option<String>,
        /// The value of a symbolic input dim for sizes, e.g. `--dim batch=8`
        /// (repeatable).
        #[arg(long = "dim", value_name = "NAME=N", value_parser = inputs::parse_dim)]
        dims: Vec<(String, i64)>,
    },
    /// Check a graph's invariants (SSA, schedule order, types against shape
    /// inference) and print every error found.
    #[command(after_help = "Example:\n  ingot verify examples/mlp.ir")]
    Verify {
        /// A text-format IR file.
        file: PathBuf,
    },
    /// Compile an ONNX model and time it on request over stdin/stdout, for
    /// bench/bench.py (protocol: bench/PROTOCOL.md).
    #[command(hide = true)]
    BenchServe {
        /// An `.onnx` model.
        model: PathBuf,
        /// Worker threads for the compiled model.
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
}

/// Why a command failed; decides the exit code.
#[derive(Debug)]
pub enum CliError {
    /// The user can fix it: exit 1.
    User { msg: String, hint: String },
    /// A bug in Ingot: exit 2.
    Internal(String),
}

impl CliError {
    pub fn user(msg: impl Into<String>, hint: impl Into<String>) -> CliError {
        CliError::User {
            msg: msg.into(),
            hint: hint.into(),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::User { msg, hint } => write!(f, "error: {msg}\nhint: {hint}"),
            CliError::Internal(msg) => write!(
                f,
                "internal error: {msg}\nhint: this is a bug in ingot; please report it with the input file"
            ),
        }
    }
}

/// Parse the command line, run it, and map the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // `--help`/`--version` are successes; everything else is a usage error.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    std::panic::set_hook(Box::new(|info| {
        eprintln!("internal error: {info}");
        eprintln!("hint: this is a bug in ingot; please report it with the input file");
    }));
    match std::panic::catch_unwind(|| dispatch(cli)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("{e}");
            ExitCode::from(match e {
                CliError::User { .. } => 1,
                CliError::Internal(_) => 2,
            })
        }
        // The panic hook has printed the message.
        Err(_) => ExitCode::from(2),
    }
}

fn dispatch(cli: Cli) -> Result<(), CliError> {
    match cli.cmd {
        Cmd::Run {
            file,
            inputs,
            output_dir,
            dims,
            seed,
            show,
            backend,
            target,
            threads,
        } => run(Run {
            file: &file,
            files: &inputs,
            output_dir: output_dir.as_deref(),
            dims: &dims,
            seed,
            show,
            interp: backend == "interp",
            target: &target,
            threads,
        }),
        Cmd::Compile {
            file,
            out,
            cpu,
            emit,
            target,
            precision,
        } => {
            model::check_target(&target)?;
            if precision != "fp32" {
                return Err(CliError::user(
                    format!("--precision {precision}: only fp32 is implemented so far"),
                    "use --precision fp32 (the default); for INT8, `ingot quantize MODEL --calib DIR -o OUT.ingot`",
                ));
            }
            compile::run(compile::Request {
                file: &file,
                out: &out,
                cpu,
                object: emit == "obj",
            })
        }
        Cmd::Quantize {
            file,
            calib,
            method,
            percentile,
            symmetric,
            accuracy_budget,
            table,
            save_table,
            per_tensor,
            keep_relu,
            out,
            cpu,
            threads,
        } => quantize::run(quantize::Request {
            file: &file,
            calib: calib.as_deref(),
            method: &method,
            percentile,
            symmetric,
            accuracy_budget,
            table: table.as_deref(),
            save_table: save_table.as_deref(),
            per_tensor,
            keep_relu,
            out: &out,
            cpu,
            threads,
        }),
        Cmd::Print { file, inline_all } => {
            let g = load(&file)?;
            print!("{}", with_newline(irapi::print(&g, inline_all)));
            Ok(())
        }
        Cmd::Optimize {
            file,
            dump_before,
            dump_after,
            stop_after,
            stats,
            inline_all,
        } => optimize::run(optimize::Request {
            file: &file,
            dump_before,
            dump_after,
            stop_after,
            stats,
            inline_all,
        }),
        Cmd::Bench {
            file,
            inputs,
            dims,
            batch,
            seed,
            threads,
            target,
            iters,
            warmup,
            profile,
            check,
            json,
        } => bench::run(bench::Request {
            file: &file,
            files: inputs,
            dims,
            batch,
            seed,
            threads,
            target,
            iters,
            warmup,
            profile,
            check,
            json,
        }),
        Cmd::Bisect {
            file,
            inputs,
            dims,
            seed,
            rtol,
            atol,
        } => bisect::run(bisect::Request {
            file: &file,
            files: inputs,
            dims,
            seed,
            rtol,
            atol,
        }),
        Cmd::Inspect {
            file,
            json,
            svg,
            dot,
            after,
            dims,
        } => inspect::run(inspect::Request {
            file: &file,
            json,
            svg: svg.as_deref(),
            dot: dot.as_deref(),
            after,
            dims,
        }),
        Cmd::BenchServe { model, threads } => serve::main(&model, threads),
        Cmd::Verify { file } => {
            let g = load(&file)?;
            verified(&file, &g)?;
            println!("{}: ok", file.display());
            Ok(())
        }
    }
}

fn with_newline(mut s: String) -> String {
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

/// Read and parse a file.
fn load(path: &Path) -> Result<Graph, CliError> {
    let src = std::fs::read_to_string(path).map_err(|e| {
        CliError::user(
            format!("cannot read {}: {e}", path.display()),
            "check the path; IR files are UTF-8 text (see examples/mlp.ir)",
        )
    })?;
    irapi::parse(&src).map_err(|e| {
        CliError::user(
            format!("{}:{e}", path.display()),
            "see docs/ir.md for the text format, or `ingot print examples/mlp.ir` for an example",
        )
    })
}

/// Verify, printing every error before the summary.
fn verified(path: &Path, g: &Graph) -> Result<(), CliError> {
    irapi::verify(g).map_err(|report| {
        eprintln!("{}", report.trim_end());
        CliError::user(
            format!("{} does not verify (errors above)", path.display()),
            "fix the listed values; `ingot print` shows the graph as parsed",
        )
    })
}

struct Run<'a> {
    file: &'a Path,
    files: &'a [(String, PathBuf)],
    output_dir: Option<&'a Path>,
    dims: &'a [(String, i64)],
    seed: u64,
    show: usize,
    interp: bool,
    target: &'a str,
    threads: usize,
}

fn run(r: Run) -> Result<(), CliError> {
    let m = model::load(r.file, r.target, r.interp, r.threads)?;
    let what = match &m.model {
        model::Runnable::Compiled(c) => {
            let st = &c.report().lower_stats;
            format!(
                "compiled in {:.1} ms: {} steps, {} native, {} on the interpreter",
                m.load_time.as_secs_f64() * 1e3,
                st.steps,
                st.native,
                st.steps - st.native
            )
        }
        model::Runnable::Artifact(a) => format!(
            "loaded in {:.2} ms ({}, {}, {} functions)",
            m.load_time.as_secs_f64() * 1e3,
            a.meta.compiler,
            a.meta.cpu.name(),
            a.functions
        ),
        model::Runnable::Interp(_) => "reference interpreter".to_string(),
    };
    eprintln!("{}: {what}", r.file.display());
    let sig = m.inputs();
    let ins = model::make_inputs(&sig, r.files, r.dims, r.seed)?;
    if r.output_dir.is_none() {
        for (i, ((name, ty), t)) in sig.iter().zip(&ins).enumerate() {
            print!(
                "{}",
                report::describe(&format!("input {i} %{name}"), ty, t, r.show)
            );
        }
    }
    let outs = m.run(&ins)?;
    let names = m.outputs();
    match r.output_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| {
                CliError::user(
                    format!("cannot create {}: {e}", dir.display()),
                    "choose a writable --output-dir",
                )
            })?;
            for ((name, _), t) in names.iter().zip(&outs) {
                let p = dir.join(tensor_io::file_name(name));
                tensor_io::write_npy(&p, t)?;
                println!("{}: {}{:?}", p.display(), t.dtype(), t.shape());
            }
        }
        None => {
            for (i, ((name, ty), t)) in names.iter().zip(&outs).enumerate() {
                print!(
                    "{}",
                    report::describe(&format!("output {i} %{name}"), ty, t, r.show)
                );
            }
        }
    }
    Ok(())
}

/// A verified graph that fails to run on our inputs is the user's fault when
/// an op rejects the data (an index out of range), and ours when the
/// interpreter disagrees with types the verifier accepted, or with inputs we
/// generated from those types.
pub(super) fn interp_error(path: &Path, e: InterpError) -> CliError {
    let internal = match &e {
        InterpError::Undefined(_) | InterpError::InputCount { .. } | InterpError::Input { .. } => {
            true
        }
        InterpError::Node { msg, .. } => msg.contains("declared type"),
    };
    if internal {
        CliError::Internal(format!("{}: {e}", path.display()))
    } else {
        CliError::user(
            format!("{}: {e}", path.display()),
            "the graph verified but failed on these inputs; try other --dim values or --seed, \
             or check ops that index with input data",
        )
    }
}
