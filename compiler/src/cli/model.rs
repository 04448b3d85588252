//! What `run`, `bench` and `bisect` work on: a model file loaded the way
//! its kind needs — text IR or ONNX compiled for the CPU (or left to the
//! interpreter), or an `.ingot` artifact loaded without compiling — and
//! its inputs, from files or seeded random values.

use super::inputs::{self, InputSig};
use super::optimize::load_model;
use super::{interp_error, tensor_io, verified, CliError};
use ingot_compiler::artifact;
use ingot_compiler::cpu::{compile, CompileOptions, CompiledModel};
use ingot_ir::{Graph, Tensor, TensorType};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub enum Runnable {
    /// Compiled for the CPU.
    Compiled(Box<CompiledModel>),
    /// The reference interpreter on the graph as written.
    Interp(Graph),
    Artifact(Box<artifact::Loaded>),
}

/// A loaded model and how long loading (import + compile, or artifact
/// load) took.
pub struct Loaded {
    pub path: PathBuf,
    pub model: Runnable,
    pub load_time: Duration,
}

/// An `.ingot` file (by extension, or by its magic bytes).
pub fn is_artifact(path: &Path) -> bool {
    if path.extension().is_some_and(|e| e == "ingot") {
        return true;
    }
    let mut head = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok_and(|_| head == ingot_runtime::artifact::MAGIC)
}

/// `--target`: only `cpu` runs in this build.
pub fn check_target(target: &str) -> Result<(), CliError> {
    if target == "cuda" {
        return Err(CliError::user(
            "--target cuda: this build of ingot has no GPU backend yet",
            "use --target cpu (the default)",
        ));
    }
    Ok(())
}

/// `target` is `cpu` or `cuda`; `interp` runs the interpreter instead.
pub fn load(path: &Path, target: &str, interp: bool, threads: usize) -> Result<Loaded, CliError> {
    check_target(target)?;
    let t0 = Instant::now();
    if is_artifact(path) {
        if interp {
            return Err(CliError::user(
                "--backend interp does not apply to an artifact",
                "an .ingot file holds compiled CPU code; run the source model with --backend interp",
            ));
        }
        let a = artifact::load(path, threads).map_err(|e| {
            CliError::user(
                format!("{}: {e}", path.display()),
                "recompile the model with `ingot compile MODEL -o OUT.ingot`",
            )
        })?;
        return Ok(Loaded {
            path: path.to_path_buf(),
            model: Runnable::Artifact(Box::new(a)),
            load_time: t0.elapsed(),
        });
    }
    let g = load_model(path)?;
    verified(path, &g)?;
    let model = if interp {
        Runnable::Interp(g)
    } else {
        let opts = CompileOptions {
            threads,
            ..Default::default()
        };
        let m = compile(&g, &opts).map_err(|e| {
            CliError::user(
                format!("{}: {e}", path.display()),
                "`ingot optimize --stats` shows where the pipeline stops; `--backend interp` runs the graph unoptimized",
            )
        })?;
        Runnable::Compiled(Box::new(m))
    };
    Ok(Loaded {
        path: path.to_path_buf(),
        model,
        load_time: t0.elapsed(),
    })
}

fn program_sig(p: &ingot_runtime::Program, bufs: &[usize]) -> Vec<(String, TensorType)> {
    bufs.iter()
        .map(|&b| (p.bufs[b].name.clone(), p.bufs[b].ty.clone()))
        .collect()
}

fn graph_sig(g: &Graph, vals: &[ingot_ir::Value]) -> Vec<(String, TensorType)> {
    vals.iter()
        .map(|&v| {
            let name = g.name_of(v).map_or_else(|| v.to_string(), str::to_string);
            (name, g.ty(v).clone())
        })
        .collect()
}

impl Loaded {
    /// Inputs: name (without `%`) and declared type.
    pub fn inputs(&self) -> InputSig {
        match &self.model {
            Runnable::Compiled(m) => {
                let p = m.runtime().program();
                program_sig(p, &p.inputs)
            }
            Runnable::Interp(g) => graph_sig(g, g.inputs()),
            Runnable::Artifact(a) => {
                let p = a.model.program();
                program_sig(p, &p.inputs)
            }
        }
    }

    pub fn outputs(&self) -> Vec<(String, TensorType)> {
        match &self.model {
            Runnable::Compiled(m) => {
                let p = m.runtime().program();
                program_sig(p, &p.outputs)
            }
            Runnable::Interp(g) => graph_sig(g, g.outputs()),
            Runnable::Artifact(a) => {
                let p = a.model.program();
                program_sig(p, &p.outputs)
            }
        }
    }

    pub fn run(&self, ins: &[Tensor]) -> Result<Vec<Tensor>, CliError> {
        let user = |e: &dyn std::fmt::Display| {
            CliError::user(
                format!("{}: {e}", self.path.display()),
                "the model failed on these inputs; check their shapes against the model's inputs",
            )
        };
        match &self.model {
            Runnable::Compiled(m) => m.run(ins).map_err(|e| user(&e)),
            Runnable::Artifact(a) => a.model.run(ins).map_err(|e| user(&e)),
            Runnable::Interp(g) => {
                ingot_ir::interp::run(g, ins).map_err(|e| interp_error(&self.path, e))
            }
        }
    }

    /// Arena bytes one run on `ins` uses (0 for the interpreter).
    pub fn arena_bytes(&self, ins: &[Tensor]) -> usize {
        let m = match &self.model {
            Runnable::Compiled(m) => m.runtime(),
            Runnable::Artifact(a) => &a.model,
            Runnable::Interp(_) => return 0,
        };
        m.arena_bytes(ins).unwrap_or(0)
    }
}

/// The inputs: from `files` (`NAME=FILE`, every input exactly once), else
/// seeded random values with the symbolic dims bound from `dims`.
pub fn make_inputs(
    sig: &InputSig,
    files: &[(String, PathBuf)],
    dims: &[(String, i64)],
    seed: u64,
) -> Result<Vec<Tensor>, CliError> {
    if files.is_empty() {
        let env = inputs::bind_dims(sig, dims)?;
        return inputs::make_inputs(sig, &env, seed);
    }
    let names: Vec<&str> = sig.iter().map(|(n, _)| n.trim_start_matches('%')).collect();
    let mut given: HashMap<&str, &Path> = HashMap::new();
    for (name, path) in files {
        let name = name.trim_start_matches('%');
        if !names.contains(&name) {
            return Err(CliError::user(
                format!("--input {name}=...: the model has no input `{name}`"),
                format!("its inputs are: {}", names.join(", ")),
            ));
        }
        if given.insert(name, path).is_some() {
            return Err(CliError::user(
                format!("--input {name} is given twice"),
                "give each input once",
            ));
        }
    }
    let mut bindings = HashMap::new();
    let mut out = vec![];
    for (n, (_, ty)) in names.iter().zip(sig) {
        let path = given.get(n).ok_or_else(|| {
            CliError::user(
                format!("input `{n}` ({ty}) is missing"),
                format!("give it with --input {n}=FILE.npy (or give no --input for random inputs)"),
            )
        })?;
        let t = tensor_io::read(path)?;
        ingot_ir::interp::check_type(ty, &t, &mut bindings).map_err(|msg| {
            CliError::user(
                format!(
                    "input `{n}`: expected {ty}, given {}{:?} in {} ({msg})",
                    t.dtype(),
                    t.shape(),
                    path.display()
                ),
                "pass a tensor of the model's input type",
            )
        })?;
        out.push(t);
    }
    Ok(out)
}

/// `NAME=FILE` for `--input`.
pub fn parse_input(s: &str) -> Result<(String, PathBuf), String> {
    let (n, f) = s
        .split_once('=')
        .filter(|(n, f)| !n.is_empty() && !f.is_empty())
        .ok_or_else(|| format!("`{s}` is not NAME=FILE"))?;
    Ok((n.to_string(), PathBuf::from(f)))
}
