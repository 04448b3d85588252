//! `ingot compile`: a model to an `.ingot` artifact, and running one.

use super::inputs::{self, InputSig};
use super::{optimize::load_model, report, verified, CliError};
use ingot_compiler::artifact;
use ingot_compiler::cpu::{compile, CompileOptions, CpuLevel};
use ingot_ir::Tensor;
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

/// `ingot run` on an artifact: load, make inputs, run, print.
pub fn run_artifact(
    path: &Path,
    dims: &[(String, i64)],
    seed: u64,
    show: usize,
    threads: usize,
) -> Result<(), CliError> {
    let t0 = Instant::now();
    let loaded = artifact::load(path, threads).map_err(|e| {
        CliError::user(
            format!("{}: {e}", path.display()),
            "recompile the model with `ingot compile MODEL -o OUT.ingot`",
        )
    })?;
    eprintln!(
        "loaded {} in {:.2} ms ({}, {}, {} functions)",
        path.display(),
        t0.elapsed().as_secs_f64() * 1e3,
        loaded.meta.compiler,
        loaded.meta.cpu.name(),
        loaded.functions
    );
    let prog = loaded.model.program();
    let sig: InputSig = prog
        .inputs
        .iter()
        .map(|&b| (prog.bufs[b].name.clone(), prog.bufs[b].ty.clone()))
        .collect();
    let env = inputs::bind_dims(&sig, dims)?;
    let ins = inputs::make_inputs(&sig, &env, seed)?;
    for (i, ((name, ty), t)) in sig.iter().zip(&ins).enumerate() {
        print!(
            "{}",
            report::describe(&format!("input {i} %{name}"), ty, t, show)
        );
    }
    let outs: Vec<Tensor> = loaded.model.run(&ins).map_err(|e| {
        CliError::user(
            format!("{}: {e}", path.display()),
            "the model failed on these inputs; try other --dim values or --seed",
        )
    })?;
    for (i, (&b, t)) in prog.outputs.iter().zip(&outs).enumerate() {
        let info = &prog.bufs[b];
        print!(
            "{}",
            report::describe(&format!("output {i} %{}", info.name), &info.ty, t, show)
        );
    }
    Ok(())
}
