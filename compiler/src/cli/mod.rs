//! The `ingot` command line: `run`, `print` and `verify` for text-format IR
//! files.
//!
//! Exit codes: 0 success; 1 a user error (a bad file, flag or graph), shown
//! as one `error:` line with the cause and one `hint:` line with a fix; 2 an
//! internal error (a bug in Ingot: a panic, or the interpreter disagreeing
//! with a graph the verifier accepted). Command-line usage errors from clap
//! are user errors too, so they also exit 1.

mod bench;
mod compile;
mod draw;
mod inputs;
mod inspect;
mod irapi;
mod optimize;
mod report;
mod serve;
mod svg;

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
    after_help = "Examples:\n  ingot run examples/mlp.ir --dim batch=2\n  ingot compile examples/mlp.ir -o mlp.ingot && ingot run mlp.ingot --dim batch=2\n  ingot print examples/mlp.ir\n  ingot verify examples/mlp.ir\n  ingot optimize examples/mlp.ir --stats"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Compile a graph (text IR or ONNX) for the CPU and run it on seeded
    /// random inputs (or interpret it with --backend interp); print each
    /// output (type, shape, min/max/mean, first values).
    #[command(
        after_help = "Example:\n  ingot run examples/mlp.ir --dim batch=2 --seed 7\n\n\
        Inputs are random: floats in [-1, 1), integers in [0, 10), booleans fair."
    )]
    Run {
        /// A text-format IR file, an `.onnx` model, or an `.ingot` artifact.
        file: PathBuf,
        /// The value of a symbolic dim of the inputs, e.g. `--dim batch=2`
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
    /// Compile a model (ONNX or text IR) for the CPU and time it on seeded
    /// random inputs: compile-time breakdown, native vs interpreter steps,
    /// latency percentiles, and the slowest steps with --profile.
    #[command(
        after_help = "Examples:\n  ingot bench model.onnx --threads 1 --iters 50\n  ingot bench examples/mlp.ir --dim batch=64 --profile 10 --check"
    )]
    Bench {
        /// An `.onnx` model or a text-format IR file.
        file: PathBuf,
        /// The value of a symbolic input dim, e.g. `--dim batch=8` (repeatable).
        #[arg(long = "dim", value_name = "NAME=N", value_parser = inputs::parse_dim)]
        dims: Vec<(String, i64)>,
        /// Seed for the random inputs.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Worker threads per run (0 = one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
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
    },
    /// Show what the compiler makes of a model (ONNX or text IR): op
    /// histograms before and after optimization, each pass's statistics,
    /// the fused kernels and the runtime kernel chosen for each, the plan's
    /// steps, the memory plan, and the weights; optionally draw the
    /// optimized graph.
    #[command(
        after_help = "Examples:\n  ingot inspect examples/mlp.ir --dim batch=8\n  ingot inspect model.onnx --json --svg model.svg --dot model.dot\n  ingot inspect model.onnx --after simplify\n\n\
        Symbolic input dims not given with --dim count as 1 for sizes. Pass names for\n\
        --after: shape-infer, simplify, shape-consts, const-fold, cse, dce, fold-bn,\n\
        fold-affine, fuse-reduce, fuse-contraction, fuse-elementwise."
    )]
    Inspect {
        /// An `.onnx` model or a text-format IR file.
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
            dims,
            seed,
            show,
            backend,
            threads,
        } if is_artifact(&file) => {
            if backend != "cpu" {
                return Err(CliError::user(
                    format!("--backend {backend} does not apply to an artifact"),
                    "an .ingot file holds compiled CPU code; run the source model with --backend interp",
                ));
            }
            compile::run_artifact(&file, &dims, seed, show, threads)
        }
        Cmd::Run {
            file,
            dims,
            seed,
            show,
            backend,
            threads,
        } => run(&file, &dims, seed, show, &backend, threads),
        Cmd::Compile {
            file,
            out,
            cpu,
            emit,
        } => compile::run(compile::Request {
            file: &file,
            out: &out,
            cpu,
            object: emit == "obj",
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
            dims,
            seed,
            threads,
            iters,
            warmup,
            profile,
            check,
        } => bench::run(bench::Request {
            file: &file,
            dims,
            seed,
            threads,
            iters,
            warmup,
            profile,
            check,
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

/// An `.ingot` file (by extension, or by its magic bytes).
fn is_artifact(path: &Path) -> bool {
    if path.extension().is_some_and(|e| e == "ingot") {
        return true;
    }
    let mut head = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok_and(|_| head == ingot_runtime::artifact::MAGIC)
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

fn run(
    path: &Path,
    dims: &[(String, i64)],
    seed: u64,
    show: usize,
    backend: &str,
    threads: usize,
) -> Result<(), CliError> {
    let g = optimize::load_model(path)?;
    verified(path, &g)?;
    let env = inputs::bind_dims(&inputs::graph_inputs(&g), dims)?;
    let ins = inputs::make_inputs(&inputs::graph_inputs(&g), &env, seed)?;
    for (i, (&v, t)) in g.inputs().iter().zip(&ins).enumerate() {
        let label = format!("input {i}{}", value_label(&g, v));
        print!("{}", report::describe(&label, g.ty(v), t, show));
    }
    let outs = if backend == "interp" {
        irapi::run(&g, &ins).map_err(|e| interp_error(path, e))?
    } else {
        run_cpu(path, &g, &ins, threads)?
    };
    for (i, (&v, t)) in g.outputs().iter().zip(&outs).enumerate() {
        let label = format!("output {i}{}", value_label(&g, v));
        print!("{}", report::describe(&label, g.ty(v), t, show));
    }
    Ok(())
}

/// Compile for the CPU and run once; the compile summary goes to stderr.
fn run_cpu(
    path: &Path,
    g: &Graph,
    ins: &[ingot_ir::Tensor],
    threads: usize,
) -> Result<Vec<ingot_ir::Tensor>, CliError> {
    let opts = ingot_compiler::cpu::CompileOptions {
        threads,
        ..Default::default()
    };
    let t0 = std::time::Instant::now();
    let model = ingot_compiler::cpu::compile(g, &opts).map_err(|e| {
        CliError::user(
            format!("{}: {e}", path.display()),
            "`ingot optimize --stats` shows where the pipeline stops; `--backend interp` runs the graph unoptimized",
        )
    })?;
    let st = &model.report().lower_stats;
    eprintln!(
        "compiled in {:.1} ms: {} steps, {} native, {} on the interpreter",
        t0.elapsed().as_secs_f64() * 1e3,
        st.steps,
        st.native,
        st.steps - st.native
    );
    model.run(ins).map_err(|e| {
        CliError::user(
            format!("{}: {e}", path.display()),
            "the model failed on these inputs; try other --dim values or --seed, or `--backend interp`",
        )
    })
}

/// ` %name` for a named value; nothing for an anonymous one, whose number
/// in the printed text may differ from its entity number.
fn value_label(g: &Graph, v: ingot_ir::Value) -> String {
    g.name_of(v).map_or_else(String::new, |n| format!(" %{n}"))
}

/// A verified graph that fails to run on our inputs is the user's fault when
/// an op rejects the data (an index out of range), and ours when the
/// interpreter disagrees with types the verifier accepted, or with inputs we
/// generated from those types.
fn interp_error(path: &Path, e: InterpError) -> CliError {
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
