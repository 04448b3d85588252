//! `ingot quantize`: calibrate a model on a folder of `.npy` samples (or
//! reuse a saved table), rewrite it to INT8 QDQ form, print the per-layer
//! sensitivity report, and write an `.ingot` artifact (or the IR text).
//!
//! The calibration folder: for a single-input model, every `.npy` file in
//! DIR, sorted by name, is one sample. For any model, DIR may instead hold
//! one subfolder per input, named after the input (characters outside
//! `[A-Za-z0-9._-]` as `_`, like `ingot run --output-dir` file names); the
//! k-th file (by name) of every subfolder together make sample k, so every
//! subfolder must hold the same number of files. A file may hold a batch
//! when the model's batch dim is symbolic; each file is one run.

use super::{irapi, optimize::load_model, tensor_io, verified, CliError};
use ingot_compiler::artifact;
use ingot_compiler::cpu::{compile, CompileOptions, CpuLevel};
use ingot_compiler::quantize::{
    calibrate, quantize, quantize_measured, CalibrationTable, Method, QuantizeError,
    QuantizeOptions,
};
use ingot_ir::{Graph, Tensor};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub struct Request<'a> {
    pub file: &'a Path,
    pub calib: Option<&'a Path>,
    pub method: &'a str,
    pub percentile: f64,
    pub symmetric: bool,
    pub accuracy_budget: Option<f64>,
    pub table: Option<&'a Path>,
    pub save_table: Option<&'a Path>,
    pub per_tensor: bool,
    pub keep_relu: bool,
    pub out: &'a Path,
    pub cpu: CpuLevel,
    pub threads: usize,
}

pub fn run(r: Request) -> Result<(), CliError> {
    let ext = r.out.extension().and_then(|e| e.to_str()).unwrap_or("");
    if ext != "ingot" && ext != "ir" {
        return Err(CliError::user(
            format!("-o {}: the output must end in .ingot or .ir", r.out.display()),
            "write an artifact (`-o model.int8.ingot`) or the quantized IR text (`-o model.int8.ir`)",
        ));
    }
    let g = load_model(r.file)?;
    verified(r.file, &g)?;
    let opts = QuantizeOptions {
        method: Method::from_name(r.method).expect("clap checked the method"),
        percentile: r.percentile,
        symmetric: r.symmetric,
        per_channel: !r.per_tensor,
        accuracy_budget: r.accuracy_budget,
        fold_relu: !r.keep_relu,
        threads: r.threads,
    };
    let data = match r.calib {
        Some(dir) => Some(read_calib(dir, &g)?),
        None => None,
    };
    let err = |e| quant_error(r.file, data.as_ref().map(|d| d.1.as_slice()), e);
    let table = match (r.table, &data) {
        (Some(path), _) => CalibrationTable::load(path).map_err(err)?,
        (None, Some((samples, _))) => {
            let t0 = Instant::now();
            let bar = progress_bar();
            let t = calibrate(&g, samples.iter().cloned(), &opts, &bar).map_err(err)?;
            eprintln!(
                "calibrated {} tensors on {} samples in {:.1} ms",
                t.tensors.len(),
                t.samples,
                t0.elapsed().as_secs_f64() * 1e3
            );
            t
        }
        (None, None) => {
            return Err(CliError::user(
                "nothing to calibrate with: give --calib DIR (or --table FILE)",
                "--calib names a folder of .npy samples (see `ingot quantize --help`)",
            ))
        }
    };
    if let Some(path) = r.save_table {
        table.save(path).map_err(err)?;
        eprintln!("wrote {}", path.display());
    }
    let (q, report) = match &data {
        Some((samples, _)) => {
            let bar = progress_bar();
            quantize_measured(&g, &table, samples, &opts, &bar).map_err(err)?
        }
        None => {
            if r.accuracy_budget.is_some() {
                return Err(CliError::user(
                    "--accuracy-budget needs --calib: the budget is measured on samples",
                    "add --calib DIR (the table can still come from --table)",
                ));
            }
            quantize(&g, &table, &opts).map_err(err)?
        }
    };
    print!("{report}");
    write_output(r.file, &q, r.out, r.cpu)
}

fn progress_bar() -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>11} [{bar:30}] {pos}/{len} {elapsed}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar
}

fn write_output(src: &Path, g: &Graph, out: &Path, cpu: CpuLevel) -> Result<(), CliError> {
    let writable = "check that the output directory exists and is writable";
    if out.extension().is_some_and(|e| e == "ir") {
        // Every constant inline, so the file runs on its own (`ingot run`).
        std::fs::write(out, irapi::print(g, true)).map_err(|e| {
            CliError::user(format!("cannot write {}: {e}", out.display()), writable)
        })?;
        println!("wrote {}", out.display());
        return Ok(());
    }
    let t0 = Instant::now();
    let opts = artifact::artifact_options(&CompileOptions::default(), cpu);
    let model = compile(g, &opts).map_err(|e| {
        CliError::Internal(format!(
            "{}: the quantized graph does not compile: {e}",
            src.display()
        ))
    })?;
    let bytes =
        artifact::write(&model, out).map_err(|e| CliError::user(e.to_string(), writable))?;
    let st = &model.report().lower_stats;
    eprintln!(
        "compiled the INT8 graph in {:.1} ms for {}: {} steps ({} native, {} on the interpreter)",
        t0.elapsed().as_secs_f64() * 1e3,
        cpu.name(),
        st.steps,
        st.native,
        st.steps - st.native
    );
    println!("wrote {}: {bytes} bytes", out.display());
    Ok(())
}

/// The samples in `dir` (see the module header) and a label per sample
/// (its file, or its files) for messages.
fn read_calib(dir: &Path, g: &Graph) -> Result<(Vec<Vec<Tensor>>, Vec<String>), CliError> {
    let layout = "a folder of .npy files (one sample each; one subfolder per input for \
                  several inputs); see `ingot quantize --help`";
    let npys = |d: &Path| -> Result<Vec<PathBuf>, CliError> {
        let rd = std::fs::read_dir(d)
            .map_err(|e| CliError::user(format!("--calib {}: {e}", d.display()), layout))?;
        let mut v: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "npy"))
            .collect();
        v.sort();
        Ok(v)
    };
    let names: Vec<String> = g
        .inputs()
        .iter()
        .map(|&v| g.name_of(v).unwrap_or("input").to_string())
        .collect();
    let direct = npys(dir)?;
    let columns: Vec<Vec<PathBuf>> = if names.len() == 1 && !direct.is_empty() {
        vec![direct]
    } else {
        let mut cols = vec![];
        for name in &names {
            let sub = tensor_io::file_name(name);
            let sub = dir.join(sub.trim_end_matches(".npy"));
            if !sub.is_dir() {
                let what = if names.len() == 1 {
                    format!(
                        "no .npy files in {} (nor in {})",
                        dir.display(),
                        sub.display()
                    )
                } else {
                    format!(
                        "the model has {} inputs, so --calib {} needs a subfolder per input; {} is missing",
                        names.len(),
                        dir.display(),
                        sub.display()
                    )
                };
                return Err(CliError::user(what, layout));
            }
            cols.push(npys(&sub)?);
        }
        cols
    };
    let n = columns[0].len();
    if n == 0 {
        return Err(CliError::user(
            format!("no .npy files in {}", dir.display()),
            layout,
        ));
    }
    for (c, name) in columns.iter().zip(&names).skip(1) {
        if c.len() != n {
            return Err(CliError::user(
                format!(
                    "the subfolder of input `{}` holds {} samples, that of `{}` {n}",
                    name,
                    c.len(),
                    names[0]
                ),
                "give every input the same number of .npy files",
            ));
        }
    }
    let mut samples = Vec::with_capacity(n);
    let mut labels = Vec::with_capacity(n);
    for k in 0..n {
        let files: Vec<&PathBuf> = columns.iter().map(|c| &c[k]).collect();
        samples.push(
            files
                .iter()
                .map(|p| tensor_io::read(p))
                .collect::<Result<Vec<_>, _>>()?,
        );
        labels.push(
            files
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" + "),
        );
    }
    Ok((samples, labels))
}

fn quant_error(model: &Path, labels: Option<&[String]>, e: QuantizeError) -> CliError {
    match e {
        QuantizeError::Sample { index, msg } => {
            let which = labels
                .and_then(|l| l.get(index))
                .cloned()
                .unwrap_or_else(|| format!("sample {index}"));
            CliError::user(
                format!("calibration sample {which}: {msg}"),
                "every sample must match the model's inputs (`ingot inspect MODEL` shows them)",
            )
        }
        QuantizeError::NothingToQuantize { .. } => CliError::user(
            format!("{}: {e}", model.display()),
            "ingot quantizes conv, gemm and matmul layers whose weights are constants",
        ),
        QuantizeError::Table(_) | QuantizeError::Io { .. } => CliError::user(
            e.to_string(),
            "make a table for this model with `ingot quantize MODEL --calib DIR --save-table FILE`",
        ),
        QuantizeError::Compile { .. } | QuantizeError::Prepare(_) => CliError::user(
            format!("{}: {e}", model.display()),
            "check that the f32 model compiles: `ingot compile MODEL -o /tmp/m.ingot`",
        ),
        QuantizeError::NoSamples | QuantizeError::Options(_) => {
            CliError::user(e.to_string(), "see `ingot quantize --help`")
        }
        QuantizeError::Internal(_) => CliError::Internal(format!("{}: {e}", model.display())),
    }
}
