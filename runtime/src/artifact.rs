//! `.ingot` artifacts: a compiled model in one file (layout in
//! `docs/artifact.md`).

use serde::{Deserialize, Serialize};

/// The CPU level generated code is compiled for.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CpuLevel {
    /// Whatever this machine has (in-memory compiles; not for artifacts
    /// meant to travel).
    Host,
    /// x86-64-v3: AVX2, FMA, BMI1/2, LZCNT, MOVBE-era CPUs (Haswell, Zen 1+).
    X86_64V3,
    /// x86-64-v4: v3 plus AVX-512 F/DQ/VL (Skylake-X, Zen 4+).
    X86_64V4,
}

impl CpuLevel {
    pub fn name(self) -> &'static str {
        match self {
            CpuLevel::Host => "host",
            CpuLevel::X86_64V3 => "x86-64-v3",
            CpuLevel::X86_64V4 => "x86-64-v4",
        }
    }

    pub fn from_name(s: &str) -> Option<CpuLevel> {
        [CpuLevel::Host, CpuLevel::X86_64V3, CpuLevel::X86_64V4]
            .into_iter()
            .find(|l| l.name() == s)
    }

    /// The CPU features code for this level may use (by their
    /// `is_x86_feature_detected!` names). `Host` lists this machine's.
    pub fn features(self) -> Vec<&'static str> {
        let v3 = [
            "sse3",
            "ssse3",
            "sse4.1",
            "sse4.2",
            "popcnt",
            "cmpxchg16b",
            "avx",
            "avx2",
            "fma",
            "bmi1",
            "bmi2",
            "lzcnt",
        ];
        match self {
            CpuLevel::X86_64V3 => v3.to_vec(),
            CpuLevel::X86_64V4 => {
                let mut v = v3.to_vec();
                v.extend(["avx512f", "avx512dq", "avx512vl"]);
                v
            }
            CpuLevel::Host => {
                let mut v: Vec<&'static str> = CpuLevel::X86_64V4
                    .features()
                    .into_iter()
                    .filter(|f| cpu_has(f) == Some(true))
                    .collect();
                v.sort_unstable();
                v
            }
        }
    }

    /// The best level this CPU runs.
    pub fn best_supported() -> CpuLevel {
        if missing_features(&CpuLevel::X86_64V4.features()).is_empty() {
            CpuLevel::X86_64V4
        } else if missing_features(&CpuLevel::X86_64V3.features()).is_empty() {
            CpuLevel::X86_64V3
        } else {
            CpuLevel::Host
        }
    }
}

/// Whether this CPU has `feature` (`None`: a name we do not know).
pub fn cpu_has(feature: &str) -> Option<bool> {
    #[cfg(target_arch = "x86_64")]
    {
        Some(match feature {
            "sse3" => is_x86_feature_detected!("sse3"),
            "ssse3" => is_x86_feature_detected!("ssse3"),
            "sse4.1" => is_x86_feature_detected!("sse4.1"),
            "sse4.2" => is_x86_feature_detected!("sse4.2"),
            "popcnt" => is_x86_feature_detected!("popcnt"),
            "cmpxchg16b" => is_x86_feature_detected!("cmpxchg16b"),
            "avx" => is_x86_feature_detected!("avx"),
            "avx2" => is_x86_feature_detected!("avx2"),
            "fma" => is_x86_feature_detected!("fma"),
            "bmi1" => is_x86_feature_detected!("bmi1"),
            "bmi2" => is_x86_feature_detected!("bmi2"),
            "lzcnt" => is_x86_feature_detected!("lzcnt"),
            "avx512f" => is_x86_feature_detected!("avx512f"),
            "avx512dq" => is_x86_feature_detected!("avx512dq"),
            "avx512vl" => is_x86_feature_detected!("avx512vl"),
            _ => return None,
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = feature;
        Some(false)
    }
}

/// The features of `needed` this CPU lacks (unknown names count as lacking).
pub fn missing_features<S: AsRef<str>>(needed: &[S]) -> Vec<String> {
    needed
        .iter()
        .filter(|f| cpu_has(f.as_ref()) != Some(true))
        .map(|f| f.as_ref().to_string())
        .collect()
}

// ---- The file format -------------------------------------------------------

use crate::code::{CodeImage, FUNC_ALIGN};
use crate::exec::Model;
use crate::spec::{build_program, CodeSource, ProgramSpec};
use ingot_ir::{DType, SharedBytes, Tensor};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The first eight bytes of every `.ingot` file.
pub const MAGIC: [u8; 8] = *b"INGOT\0\x01\x1a";
/// The layout version this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
/// Sections start on this boundary (weights inside theirs too).
pub const ALIGN: usize = 64;
const HEADER_LEN: usize = 64;
const ENTRY_LEN: usize = 32;
/// Most sections a file may declare.
const MAX_SECTIONS: usize = 16;
/// Bound on what decoding the metadata or plan may allocate.
const DECODE_LIMIT: usize = 1 << 28;

/// Section kinds, in file order.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Section {
    Meta = 1,
    Plan = 2,
    Code = 3,
    Weights = 4,
}

impl Section {
    const ALL: [Section; 4] = [
        Section::Meta,
        Section::Plan,
        Section::Code,
        Section::Weights,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Section::Meta => "meta",
            Section::Plan => "plan",
            Section::Code => "code",
            Section::Weights => "weights",
        }
    }
}

/// What the file says about itself: readable before anything is built.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Meta {
    /// `ingot <version>` of the compiler that wrote it.
    pub compiler: String,
    /// The architecture the code is for (`x86_64`).
    pub arch: String,
    pub cpu: CpuLevel,
    /// CPU features the code needs (`is_x86_feature_detected!` names).
    pub features: Vec<String>,
    pub model: String,
    /// Graph inputs and outputs: name and type (`f32[batch,3,224,224]`).
    pub inputs: Vec<(String, String)>,
    pub outputs: Vec<(String, String)>,
}

/// One constant in the weights section.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct ConstEntry {
    dtype: DType,
    shape: Vec<usize>,
    offset: u64,
    len: u64,
}

/// The plan section.
#[derive(serde::Serialize, serde::Deserialize)]
struct Plan {
    spec: ProgramSpec,
    consts: Vec<ConstEntry>,
    /// Functions in the code section: offset and length.
    code: Vec<(u64, u64)>,
}

/// What a compiled model puts in an artifact.
pub struct Contents<'a> {
    pub cpu: CpuLevel,
    /// The top-level program (its `consts` list is ignored: see `consts`).
    pub spec: &'a ProgramSpec,
    pub consts: &'a [Tensor],
    /// Machine code, one function each, as the spec's indices count them.
    pub code: &'a [Vec<u8>],
}

/// Why an artifact could not be written or loaded.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("not an Ingot artifact (the file does not start with the `.ingot` magic bytes)")]
    NotAnArtifact,
    #[error("artifact is truncated: {what} needs bytes up to {need}, the file has {have}")]
    Truncated { what: String, need: u64, have: u64 },
    #[error(
        "artifact format version {found} is newer than this runtime reads (up to \
         {supported}); load it with a newer Ingot"
    )]
    NewerFormat { found: u32, supported: u32 },
    #[error("artifact is corrupt: checksum mismatch in the {0} (bit flip or partial write)")]
    Checksum(String),
    #[error("artifact is malformed: {0}")]
    Malformed(String),
    #[error("artifact was compiled for {arch}; this machine is {here}")]
    Arch { arch: String, here: String },
    #[error(
        "artifact code was compiled for {level} and needs CPU features this machine lacks: \
         {missing}; recompile with `--cpu` set to a level this CPU has (e.g. {best})",
        missing = .missing.join(", "),
        best = CpuLevel::best_supported().name()
    )]
    CpuFeatures { level: String, missing: Vec<String> },
    #[error("artifact cannot be built: {0}")]
    Build(String),
    #[error("cannot write the artifact: {0}")]
    Write(String),
}

fn pad_to(out: &mut Vec<u8>, align: usize) {
    out.resize(out.len().next_multiple_of(align), 0);
}

fn bincode_cfg() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<DECODE_LIMIT>()
}

/// Serialize `c` as an `.ingot` file.
pub fn to_bytes(c: &Contents) -> Result<Vec<u8>, ArtifactError> {
    let w = |e: &dyn std::fmt::Display| ArtifactError::Write(e.to_string());
    let ty_list = |bufs: &[usize]| -> Vec<(String, String)> {
        bufs.iter()
            .map(|&b| {
                let info = &c.spec.bufs[b];
                (info.name.clone(), info.ty.to_string())
            })
            .collect()
    };
    let meta = Meta {
        compiler: format!("ingot {}", env!("CARGO_PKG_VERSION")),
        arch: std::env::consts::ARCH.to_string(),
        cpu: c.cpu,
        features: c.cpu.features().iter().map(|s| s.to_string()).collect(),
        model: c.spec.name.clone(),
        inputs: ty_list(&c.spec.inputs),
        outputs: ty_list(&c.spec.outputs),
    };
    // Weights and code first (their offsets go into the plan).
    let mut weights = vec![];
    let mut consts = vec![];
    for t in c.consts {
        pad_to(&mut weights, ALIGN);
        consts.push(ConstEntry {
            dtype: t.dtype(),
            shape: t.shape().to_vec(),
            offset: weights.len() as u64,
            len: t.bytes().len() as u64,
        });
        weights.extend_from_slice(t.bytes());
    }
    let mut code = vec![];
    let mut funcs = vec![];
    for f in c.code {
        pad_to(&mut code, FUNC_ALIGN);
        funcs.push((code.len() as u64, f.len() as u64));
        code.extend_from_slice(f);
    }
    let mut spec = c.spec.clone();
    spec.consts.clear();
    let plan = Plan {
        spec,
        consts,
        code: funcs,
    };
    let sections: [(Section, Vec<u8>); 4] = [
        (
            Section::Meta,
            bincode::serde::encode_to_vec(&meta, bincode_cfg()).map_err(|e| w(&e))?,
        ),
        (
            Section::Plan,
            bincode::serde::encode_to_vec(&plan, bincode_cfg()).map_err(|e| w(&e))?,
        ),
        (Section::Code, code),
        (Section::Weights, weights),
    ];
    Ok(assemble(&sections))
}

/// Lay out sections after the header and section table, with checksums.
fn assemble(sections: &[(Section, Vec<u8>)]) -> Vec<u8> {
    let table_off = HEADER_LEN;
    let mut out = vec![0u8; HEADER_LEN + ENTRY_LEN * sections.len()];
    let mut table = vec![];
    for (kind, bytes) in sections {
        pad_to(&mut out, ALIGN);
        let off = out.len() as u64;
        out.extend_from_slice(bytes);
        let mut e = [0u8; ENTRY_LEN];
        e[0..4].copy_from_slice(&(*kind as u32).to_le_bytes());
        e[8..16].copy_from_slice(&off.to_le_bytes());
        e[16..24].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
        e[24..28].copy_from_slice(&crc32fast::hash(bytes).to_le_bytes());
        table.extend_from_slice(&e);
    }
    out[table_off..table_off + table.len()].copy_from_slice(&table);
    let file_len = out.len() as u64;
    let h = &mut out[..HEADER_LEN];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&(sections.len() as u32).to_le_bytes());
    h[16..24].copy_from_slice(&(table_off as u64).to_le_bytes());
    h[24..32].copy_from_slice(&file_len.to_le_bytes());
    h[32..36].copy_from_slice(&crc32fast::hash(&table).to_le_bytes());
    let hc = header_crc(h);
    h[36..40].copy_from_slice(&hc.to_le_bytes());
    out
}

/// Rewrite an artifact's metadata (checksums recomputed): for tools that
/// re-stamp files, and for tests that need a file claiming other CPU
/// features or another architecture. The other sections are copied as is.
pub fn restamp(bytes: &[u8], edit: impl FnOnce(&mut Meta)) -> Result<Vec<u8>, ArtifactError> {
    let secs = sections(bytes)?;
    let mut meta: Meta = decode(&bytes[secs[0].clone()], "metadata")?;
    edit(&mut meta);
    let meta = bincode::serde::encode_to_vec(&meta, bincode_cfg())
        .map_err(|e| ArtifactError::Write(e.to_string()))?;
    let mut parts = vec![(Section::Meta, meta)];
    for (i, r) in secs.iter().enumerate().skip(1) {
        parts.push((Section::ALL[i], bytes[r.clone()].to_vec()));
    }
    Ok(assemble(&parts))
}

/// Write `c` to `path`.
pub fn write(path: &Path, c: &Contents) -> Result<u64, ArtifactError> {
    let bytes = to_bytes(c)?;
    std::fs::write(path, &bytes).map_err(|source| ArtifactError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(bytes.len() as u64)
}

/// The header's checksum: all 64 bytes but the checksum field itself.
fn header_crc(h: &[u8]) -> u32 {
    let mut c = crc32fast::Hasher::new();
    c.update(&h[..36]);
    c.update(&h[40..HEADER_LEN]);
    c.finalize()
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The checked section ranges of an artifact, in [`Section::ALL`] order.
fn sections(b: &[u8]) -> Result<[std::ops::Range<usize>; 4], ArtifactError> {
    let have = b.len() as u64;
    if b.len() < MAGIC.len() || b[..MAGIC.len()] != MAGIC {
        return Err(ArtifactError::NotAnArtifact);
    }
    if b.len() < HEADER_LEN {
        return Err(ArtifactError::Truncated {
            what: "the header".into(),
            need: HEADER_LEN as u64,
            have,
        });
    }
    let version = u32_at(b, 8);
    if version > FORMAT_VERSION {
        return Err(ArtifactError::NewerFormat {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if header_crc(&b[..HEADER_LEN]) != u32_at(b, 36) {
        return Err(ArtifactError::Checksum("header".into()));
    }
    if version == 0 {
        return Err(ArtifactError::Malformed("format version 0".into()));
    }
    let file_len = u64_at(b, 24);
    if file_len > have {
        return Err(ArtifactError::Truncated {
            what: "the file (its header gives its length)".into(),
            need: file_len,
            have,
        });
    }
    if file_len < have {
        return Err(ArtifactError::Malformed(format!(
            "{} bytes after the end the header gives ({file_len})",
            have - file_len
        )));
    }
    let n = u32_at(b, 12) as usize;
    if !(Section::ALL.len()..=MAX_SECTIONS).contains(&n) {
        return Err(ArtifactError::Malformed(format!("{n} sections")));
    }
    let t0 = usize::try_from(u64_at(b, 16)).unwrap_or(usize::MAX);
    let t1 = t0.saturating_add(n * ENTRY_LEN);
    if t0 < HEADER_LEN || t1 > b.len() {
        return Err(ArtifactError::Malformed(
            "section table out of range".into(),
        ));
    }
    let table = &b[t0..t1];
    if crc32fast::hash(table) != u32_at(b, 32) {
        return Err(ArtifactError::Checksum("section table".into()));
    }
    let mut found: [Option<std::ops::Range<usize>>; 4] = Default::default();
    let mut spans: Vec<std::ops::Range<usize>> = vec![];
    for e in table.chunks_exact(ENTRY_LEN) {
        let kind = u32_at(e, 0);
        let (off, len) = (u64_at(e, 8), u64_at(e, 16));
        let end = off.checked_add(len).filter(|&x| x <= have);
        let Some(end) = end else {
            return Err(ArtifactError::Truncated {
                what: format!("section {kind}"),
                need: off.saturating_add(len),
                have,
            });
        };
        if !off.is_multiple_of(ALIGN as u64) || (off as usize) < t1 {
            return Err(ArtifactError::Malformed(format!(
                "section {kind} at misaligned or overlapping offset {off}"
            )));
        }
        let r = off as usize..end as usize;
        let slot = Section::ALL.iter().position(|s| *s as u32 == kind);
        let name = slot.map_or_else(
            || format!("section {kind}"),
            |i| format!("{} section", Section::ALL[i].name()),
        );
        if crc32fast::hash(&b[r.clone()]) != u32_at(e, 24) {
            return Err(ArtifactError::Checksum(name));
        }
        spans.push(r.clone());
        // A section this version does not know is checked, then skipped.
        let Some(slot) = slot else {
            continue;
        };
        if found[slot].is_some() {
            return Err(ArtifactError::Malformed(format!("two {name}s")));
        }
        found[slot] = Some(r);
    }
    let mut out: [std::ops::Range<usize>; 4] = Default::default();
    for (i, f) in found.into_iter().enumerate() {
        out[i] = f.ok_or_else(|| {
            ArtifactError::Malformed(format!("no {} section", Section::ALL[i].name()))
        })?;
    }
    // Sections may not overlap, and the padding between them is zero, so
    // every byte of the file is checked by something.
    spans.sort_by_key(|r| r.start);
    let mut at = t1;
    for r in &spans {
        if r.start < at {
            return Err(ArtifactError::Malformed("overlapping sections".into()));
        }
        if b[at..r.start].iter().any(|&x| x != 0) {
            return Err(ArtifactError::Malformed(format!("nonzero padding at {at}")));
        }
        at = r.end;
    }
    if b[at..].iter().any(|&x| x != 0) {
        return Err(ArtifactError::Malformed(format!(
            "nonzero bytes after the last section at {at}"
        )));
    }
    Ok(out)
}

fn decode<T: serde::de::DeserializeOwned>(b: &[u8], what: &str) -> Result<T, ArtifactError> {
    let (v, used) = bincode::serde::decode_from_slice::<T, _>(b, bincode_cfg())
        .map_err(|e| ArtifactError::Malformed(format!("{what}: {e}")))?;
    if used != b.len() {
        return Err(ArtifactError::Malformed(format!(
            "{what}: {} trailing bytes",
            b.len() - used
        )));
    }
    Ok(v)
}

/// Decode `bytes` as a plan section and validate it, as the loader does
/// after the checksums pass. For the fuzz target (`fuzz/`): arbitrary
/// bytes must give an error, never a panic or an unbounded allocation.
#[doc(hidden)]
pub fn check_plan_bytes(bytes: &[u8]) -> Result<(), ArtifactError> {
    let plan: Plan = decode(bytes, "plan")?;
    let funcs = plan.code.len();
    plan.spec
        .validate(plan.consts.len(), funcs)
        .map_err(ArtifactError::Malformed)
}

/// A loaded artifact: its metadata and the runnable model.
pub struct Loaded {
    pub meta: Meta,
    pub model: Model,
    /// The plan's generated functions and bytes of weights, for reports.
    pub functions: usize,
    pub weight_bytes: usize,
}

/// Memory-map `path` and load it (weights stay in the mapping), with
/// `threads` workers per run (0 = one per core).
pub fn load(path: &Path, threads: usize) -> Result<Loaded, ArtifactError> {
    let io = |source| ArtifactError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    // SAFETY: the mapping is read-only; a file changed underneath while
    // mapped is the one thing this cannot guard against (as for any mmap).
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
    load_shared(Arc::new(map), threads)
}

/// Load an artifact held in memory (its weights stay there, shared).
pub fn load_shared(bytes: SharedBytes, threads: usize) -> Result<Loaded, ArtifactError> {
    let b: &[u8] = (*bytes).as_ref();
    let secs = sections(b)?;
    let meta: Meta = decode(&b[secs[0].clone()], "metadata")?;
    if meta.arch != std::env::consts::ARCH {
        return Err(ArtifactError::Arch {
            arch: meta.arch,
            here: std::env::consts::ARCH.into(),
        });
    }
    let missing = missing_features(&meta.features);
    if !missing.is_empty() {
        return Err(ArtifactError::CpuFeatures {
            level: meta.cpu.name().into(),
            missing,
        });
    }
    let plan: Plan = decode(&b[secs[1].clone()], "plan")?;
    let code = &b[secs[2].clone()];
    let mut funcs: Vec<&[u8]> = Vec::with_capacity(plan.code.len());
    for (i, &(off, len)) in plan.code.iter().enumerate() {
        let f = usize::try_from(off)
            .ok()
            .zip(usize::try_from(len).ok())
            .and_then(|(o, l)| code.get(o..o.checked_add(l)?))
            .ok_or_else(|| ArtifactError::Malformed(format!("function {i} out of range")))?;
        funcs.push(f);
    }
    let w = secs[3].clone();
    let mut consts = Vec::with_capacity(plan.consts.len());
    for (i, c) in plan.consts.iter().enumerate() {
        let in_range = c.offset.is_multiple_of(ALIGN as u64)
            && c.offset
                .checked_add(c.len)
                .is_some_and(|e| e <= (w.len()) as u64);
        if !in_range {
            return Err(ArtifactError::Malformed(format!(
                "constant {i} out of range"
            )));
        }
        let t = Tensor::from_shared(
            c.dtype,
            &c.shape,
            bytes.clone(),
            w.start + c.offset as usize,
        )
        .map_err(|e| ArtifactError::Malformed(format!("constant {i}: {e}")))?;
        if t.bytes().len() as u64 != c.len {
            return Err(ArtifactError::Malformed(format!("constant {i}: length")));
        }
        consts.push(t);
    }
    plan.spec
        .validate(consts.len(), funcs.len())
        .map_err(ArtifactError::Malformed)?;
    // SAFETY: the code is the checksummed output of our compiler for this
    // architecture, and the CPU has every feature its level may use.
    let image = unsafe { CodeImage::new(&funcs) }.map_err(ArtifactError::Build)?;
    let functions = funcs.len();
    let weight_bytes = w.len();
    let src = CodeSource { image, gen: None };
    let program = build_program(&plan.spec, consts, &src).map_err(ArtifactError::Build)?;
    let model = Model::new(program, threads).map_err(ArtifactError::Build)?;
    Ok(Loaded {
        meta,
        model,
        functions,
        weight_bytes,
    })
}
