//! ONNX Runtime behind [`Embedder`]: the only file that imports `ort`.
//!
//! The runtime library is loaded at run time (`load-dynamic`), never downloaded: it comes from
//! the `onnxruntime==1.31.1` PyPI wheel that the project's setup installs into `.venv`. It is
//! found, in this order, at:
//! 1. the path given by the caller (the CLI's `--ort-lib`);
//! 2. `$MOTIONSEG_ORT_LIB`, then `$ORT_DYLIB_PATH` (ort's own variable);
//! 3. the project default, `.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so*`,
//!    searched from the current directory, the executable's directory and the source checkout
//!    upwards.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;

use super::Embedder;
use crate::engine::EngineModel;
use crate::error::{Error, Result};
use crate::model::Manifest;

/// The ONNX Runtime version the project pins (the PyPI wheel `onnxruntime==1.31.1`).
pub const RUNTIME_VERSION: &str = "1.31.1";

static ENVIRONMENT: OnceLock<
    std::result::Result<(PathBuf, ort::environment::Environment), String>,
> = OnceLock::new();

/// Finds the runtime library following the documented order; `explicit` is the caller's path.
pub fn find_runtime(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return existing(p, "--ort-lib");
    }
    for var in ["MOTIONSEG_ORT_LIB", "ORT_DYLIB_PATH"] {
        if let Some(p) = std::env::var_os(var) {
            return existing(Path::new(&p), &format!("${var}"));
        }
    }
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().skip(1).map(Path::to_path_buf));
    }
    roots.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    for root in &roots {
        if let Some(p) = venv_runtime(&root.join(".venv")) {
            return Ok(p);
        }
    }
    Err(Error::Runtime {
        context: "finding the ONNX Runtime library".to_owned(),
        message: format!(
            "not found: pass --ort-lib, set MOTIONSEG_ORT_LIB, or run scripts/setup.sh to install \
             onnxruntime=={RUNTIME_VERSION} into .venv (searched .venv under {} and its parents)",
            roots.first().map(|p| p.display().to_string()).unwrap_or_default()
        ),
    })
}

fn existing(p: &Path, from: &str) -> Result<PathBuf> {
    if p.is_file() {
        Ok(p.to_owned())
    } else {
        Err(Error::Runtime {
            context: format!("ONNX Runtime library from {from}"),
            message: format!("{} does not exist", p.display()),
        })
    }
}

/// `VENV/lib/python*/site-packages/onnxruntime/capi/libonnxruntime.so*`, if present.
fn venv_runtime(venv: &Path) -> Option<PathBuf> {
    let lib = std::fs::read_dir(venv.join("lib")).ok()?;
    for py in lib.flatten() {
        let capi = py.path().join("site-packages/onnxruntime/capi");
        let Ok(entries) = std::fs::read_dir(&capi) else { continue };
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n.starts_with("libonnxruntime.so") || n == "libonnxruntime.dylib"
                })
            })
            .collect();
        found.sort();
        // Prefer the fully versioned name (libonnxruntime.so.1.31.1) when several exist.
        if let Some(p) = found.pop() {
            return Some(p);
        }
    }
    None
}

/// Loads the runtime library once per process (later calls return the first result).
/// A missing file, a library that is not ONNX Runtime, or one older than 1.31 is an `Err`.
pub fn init_runtime(lib: &Path) -> Result<PathBuf> {
    let got = ENVIRONMENT.get_or_init(|| {
        let builder = ort::init_from(lib).map_err(|e| e.to_string())?;
        let env = builder.with_name("motionseg").build().map_err(|e| e.to_string())?;
        Ok((lib.to_owned(), env))
    });
    match got {
        Ok((p, _)) => {
            tracing::info!(library = %p.display(), "ONNX Runtime loaded");
            Ok(p.clone())
        }
        Err(message) => Err(Error::Runtime {
            context: format!("loading ONNX Runtime from {}", lib.display()),
            message: format!("{message} (expected onnxruntime {RUNTIME_VERSION})"),
        }),
    }
}

fn environment() -> Result<&'static ort::environment::Environment> {
    match ENVIRONMENT.get() {
        Some(Ok((_, env))) => Ok(env),
        Some(Err(m)) => {
            Err(Error::Runtime { context: "ONNX Runtime".to_owned(), message: m.clone() })
        }
        None => Err(Error::Runtime {
            context: "ONNX Runtime".to_owned(),
            message: "not loaded: call init_runtime first".to_owned(),
        }),
    }
}

/// An ONNX Runtime session for one stream.
pub struct OrtEmbedder {
    session: Session,
    input_name: String,
    t_e: usize,
    t_d: usize,
    channels: usize,
    state_dim: usize,
    model_file: String,
}

impl std::fmt::Debug for OrtEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrtEmbedder").field("model", &self.model_file).finish_non_exhaustive()
    }
}

/// Refuses more intra-op threads than the machine has cores: ONNX Runtime's threads then spin
/// against each other (measured on 2 cores: 1 thread 1.3 s, 8 threads 12 s, 64 over 100 s for
/// the bundled take) instead of going faster.
pub fn check_threads(threads: usize) -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    if threads > cores {
        return Err(Error::Param {
            name: "threads",
            message: format!(
                "{threads} ONNX Runtime threads on a machine with {cores} cores: use at most \
                 {cores} (more only spin against each other)"
            ),
        });
    }
    Ok(())
}

impl OrtEmbedder {
    /// Builds a session from the model bytes described by `manifest`, using `threads` intra-op
    /// threads (0 counts as 1; more than the machine's cores is refused, see
    /// [`check_threads`]). The runtime must already be loaded ([`init_runtime`]).
    pub fn new(model_bytes: &[u8], manifest: &Manifest, threads: usize) -> Result<OrtEmbedder> {
        check_threads(threads)?;
        let model_file = manifest.onnx_path.display().to_string();
        let fail = |e: String| Error::Runtime {
            context: format!("loading model {model_file}"),
            message: e,
        };
        let env = environment()?;
        let session = Session::builder(env)
            .map_err(|e| fail(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| fail(e.to_string()))?
            .with_intra_threads(threads.max(1))
            .map_err(|e| fail(e.to_string()))?
            .commit_from_memory(model_bytes)
            .map_err(|e| fail(e.to_string()))?;
        let names: Vec<String> = session.outputs().iter().map(|o| o.name().to_owned()).collect();
        for want in ["encoder_states", "decoder_states"] {
            if !names.iter().any(|n| n == want) {
                return Err(fail(format!("the model has no output {want:?} (outputs: {names:?})")));
            }
        }
        if !session.inputs().iter().any(|i| i.name() == manifest.input_name) {
            return Err(fail(format!("the model has no input {:?}", manifest.input_name)));
        }
        Ok(OrtEmbedder {
            session,
            input_name: manifest.input_name.clone(),
            t_e: manifest.t_e,
            t_d: manifest.t_d,
            channels: manifest.input_channels(),
            state_dim: manifest.state_dim,
            model_file,
        })
    }
}

/// Idle sessions of one model, reused across streams: building an ONNX Runtime session costs
/// about 0.1 s for the shipped (compact) graph and most of a second for a model exported with
/// the GRU unrolled, so the live service and the C ABI keep finished streams' sessions for the
/// next ones. Thread-safe; at most `max_idle` are kept.
#[derive(Debug)]
pub struct SessionPool {
    model: EngineModel,
    threads: usize,
    max_idle: usize,
    idle: Mutex<Vec<OrtEmbedder>>,
}

impl SessionPool {
    /// An empty pool of `model`'s sessions with `threads` intra-op threads each.
    pub fn new(model: EngineModel, threads: usize, max_idle: usize) -> SessionPool {
        SessionPool { model, threads, max_idle, idle: Mutex::new(Vec::new()) }
    }

    /// An idle session, or a new one.
    pub fn take(&self) -> Result<OrtEmbedder> {
        let reused = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match reused {
            Some(e) => Ok(e),
            None => OrtEmbedder::new(self.model.model_bytes(), self.model.manifest(), self.threads),
        }
    }

    /// Sessions waiting for reuse.
    pub fn idle(&self) -> usize {
        self.idle.lock().map_or(0, |idle| idle.len())
    }

    /// Returns a session for reuse (dropped when `max_idle` are idle already).
    pub fn give_back(&self, e: OrtEmbedder) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < self.max_idle {
                idle.push(e);
            }
        }
    }
}

impl Embedder for OrtEmbedder {
    fn run(
        &mut self,
        windows: &[f32],
        batch: usize,
        encoder: &mut Vec<f32>,
        decoder: &mut Vec<f32>,
    ) -> Result<()> {
        let per = self.t_e * self.channels;
        if batch == 0 || windows.len() != batch * per {
            return Err(Error::Param {
                name: "windows",
                message: format!("{} values for {batch} windows of {per}", windows.len()),
            });
        }
        let fail = |e: String| Error::Runtime {
            context: format!("running model {}", self.model_file),
            message: e,
        };
        let input = TensorRef::from_array_view(([batch, self.t_e, self.channels], windows))
            .map_err(|e| fail(e.to_string()))?;
        let outputs = self
            .session
            .run(ort::inputs![self.input_name.as_str() => input])
            .map_err(|e| fail(e.to_string()))?;
        for (name, len, out) in [
            ("encoder_states", self.t_e, &mut *encoder),
            ("decoder_states", self.t_d, &mut *decoder),
        ] {
            let value = outputs.get(name).ok_or_else(|| fail(format!("no output {name:?}")))?;
            let (shape, data) =
                value.try_extract_tensor::<f32>().map_err(|e| fail(e.to_string()))?;
            let want = [batch as i64, len as i64, self.state_dim as i64];
            if shape.as_ref() != want {
                return Err(fail(format!("output {name} has shape {shape:?}, expected {want:?}")));
            }
            out.clear();
            out.extend_from_slice(data);
        }
        Ok(())
    }
}
