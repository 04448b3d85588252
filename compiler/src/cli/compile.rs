//! `ingot compile`: a model to an `.ingot` artifact, and running one.

use super::{optimize::load_model, verified, CliError};
use ingot_compiler::artifact;
use ingot_compiler::cpu::{compile, CompileOptions, CpuLevel};
use std::path::Path;
use std::time::Instant;

pub struct Request<'a> {
    pub file: &'a Path,
    pub out: &'a Path,
    pub cpu: CpuLevel,
    /// Write an object file and header for C instead of an artifact.
    pub object: bool,
}

pub fn parse_cpu(s: &str) -> Result<CpuLevel, String> {
    CpuLevel::from_name(s)
        .ok_or_else(|| format!("unknown CPU level `{s}` (choose x86-64-v3, x86-64-v4 or host)"))
}

pub fn run(r: Request) -> Result<(), CliError> {
    let t0 = Instant::now();
    let g = load_model(r.file)?;
    verified(r.file, &g)?;
    let opts = artifact::artifact_options(&CompileOptions::default(), r.cpu);
    let model = compile(&g, &opts).map_err(|e| {
        CliError::user(
            format!("{}: {e}", r.file.display()),
            "`ingot optimize --stats` shows where the pipeline stops",
        )
    })?;
    let compiled = t0.elapsed();
    let writable = "check that the output directory exists and is writable";
    let bytes = if r.object {
        let stem = r
            .out
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("model");
        let obj = ingot_compiler::cobj::emit(&model, stem).map_err(|e| {
            CliError::user(
                format!("{}: {e}", r.file.display()),
                "`--emit obj` needs a model with static input shapes",
            )
        })?;
        let header = r.out.with_extension("h");
        for (path, data) in [
            (r.out, obj.object.as_slice()),
            (&header, obj.header.as_bytes()),
        ] {
            std::fs::write(path, data).map_err(|e| {
                CliError::user(format!("cannot write {}: {e}", path.display()), writable)
            })?;
        }
        println!(
            "wrote {} and {} (C functions `{}_create`, `ingot_model_run`, `ingot_model_destroy`)",
            r.out.display(),
            header.display(),
            obj.name
        );
        obj.object.len() as u64
    } else {
        artifact::write(&model, r.out).map_err(|e| CliError::user(e.to_string(), writable))?
    };
    let p = model.parts();
    let weights: usize = p.consts.iter().map(|t| t.bytes().len()).sum();
    let code: usize = p.code.iter().map(Vec::len).sum();
    let st = &model.report().lower_stats;
    eprintln!(
        "compiled {} in {:.1} ms for {}: {} steps ({} native, {} on the interpreter), \
         {} functions ({} bytes of code)",
        r.file.display(),
        compiled.as_secs_f64() * 1e3,
        r.cpu.name(),
        st.steps,
        st.native,
        st.steps - st.native,
        p.code.len(),
        code
    );
    if !r.object {
        println!(
            "wrote {}: {bytes} bytes ({weights} bytes of weights, {:.4}x)",
            r.out.display(),
            bytes as f64 / weights.max(1) as f64
        );
    }
    Ok(())
}
