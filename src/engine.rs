//! The engine: a shared immutable [`EngineModel`] (manifest, model bytes, frozen basis) and a
//! per-stream [`Engine`] (resampler, windower, model session, scratch buffers).
//!
//! Every window starts the encoder from a zero state, so a window's embedding depends only on
//! its own frames: feeding a take frame by frame (streaming) or all at once (batch) gives the
//! same embeddings, which the tests check.

use std::path::Path;
use std::sync::Arc;

use ndarray::{ArrayView1, ArrayView2};
use sha2::{Digest, Sha256};

use crate::basis::PodBasis;
use crate::embed::{Embedder, Summary};
use crate::error::{Error, Result};
use crate::model::Manifest;
use crate::window::{FrameTransform, WindowSpan, Windower};

/// Calls `f` with `row` as a slice: borrowed when the row is contiguous (the usual standard-layout
/// matrix, so the per-frame path allocates nothing), copied otherwise.
pub fn with_row<R>(row: ArrayView1<'_, f32>, f: impl FnOnce(&[f32]) -> R) -> R {
    match row.as_slice() {
        Some(s) => f(s),
        None => f(&row.to_vec()),
    }
}

/// Everything streams share: validated manifest, model bytes (hash-checked), frozen basis.
/// Cheap to clone; `Send + Sync`.
#[derive(Debug, Clone)]
pub struct EngineModel {
    manifest: Arc<Manifest>,
    model_bytes: Arc<[u8]>,
    basis: Option<Arc<PodBasis>>,
}

/// Hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl EngineModel {
    /// Loads a model from its manifest (the ONNX file named there is read and its sha256
    /// checked) and, optionally, a basis fitted on that same model.
    pub fn load(manifest_path: &Path, basis_path: Option<&Path>) -> Result<EngineModel> {
        let manifest = Manifest::load(manifest_path)?;
        let bytes =
            std::fs::read(&manifest.onnx_path).map_err(|e| Error::io(&manifest.onnx_path, e))?;
        let got = sha256_hex(&bytes);
        if got != manifest.onnx_sha256 {
            return Err(Error::Shape {
                file: manifest.onnx_path.display().to_string(),
                field: "sha256".to_owned(),
                expected: format!("{} (from {})", manifest.onnx_sha256, manifest.path.display()),
                found: format!(
                    "{got}: the ONNX file is corrupt or not the one the manifest describes"
                ),
            });
        }
        let basis = match basis_path {
            Some(p) => {
                let b = PodBasis::load(p)?;
                let name = p.display().to_string();
                b.check_model(&name, &manifest.onnx_sha256)?;
                if b.state_dim() != manifest.state_dim {
                    return Err(Error::Shape {
                        file: name,
                        field: "state_dim".to_owned(),
                        expected: manifest.state_dim.to_string(),
                        found: b.state_dim().to_string(),
                    });
                }
                Some(Arc::new(b))
            }
            None => None,
        };
        Ok(EngineModel { manifest: Arc::new(manifest), model_bytes: bytes.into(), basis })
    }

    /// The validated manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The ONNX model bytes (for building a session per stream).
    pub fn model_bytes(&self) -> &[u8] {
        &self.model_bytes
    }

    /// The frozen basis, when one was loaded.
    pub fn basis(&self) -> Option<&PodBasis> {
        self.basis.as_deref()
    }

    /// A copy of this model with `basis` attached (checked against the model).
    pub fn with_basis(&self, basis: PodBasis) -> Result<EngineModel> {
        basis.check_model("<basis>", &self.manifest.onnx_sha256)?;
        Ok(EngineModel { basis: Some(Arc::new(basis)), ..self.clone() })
    }
}

/// Per-stream settings, validated by [`Engine::new`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EngineConfig {
    /// Model frames between consecutive windows (1 = every model frame).
    pub hop: usize,
    /// Windows per model call: streaming runs a window as soon as `batch` are pending (1 =
    /// each window when it completes); [`Engine::flush`] runs the rest.
    pub batch: usize,
    /// How a window's projected decoder trajectory becomes one embedding.
    pub summary: Summary,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig { hop: 1, batch: 1, summary: Summary::Mean }
    }
}

/// One window's embedding: where it sits and its summary vector on the POD basis.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowEmbedding {
    /// The window's place in the input.
    pub span: WindowSpan,
    /// The summary of its projected decoder states.
    pub values: Vec<f32>,
}

/// One window's raw model states (for fitting a basis).
#[derive(Debug, Clone, Copy)]
pub struct WindowStates<'a> {
    /// The window's place in the input.
    pub span: WindowSpan,
    /// Encoder states `[T_e, N]`, row-major.
    pub encoder: &'a [f32],
    /// Decoder states `[T_d, N]`, row-major.
    pub decoder: &'a [f32],
}

/// The per-stream engine.
#[derive(Debug)]
pub struct Engine<E: Embedder> {
    model: EngineModel,
    config: EngineConfig,
    transform: FrameTransform,
    windower: Windower,
    embedder: E,
    frame_buf: Vec<f32>,
    window_buf: Vec<f32>,
    pending: Vec<f32>,
    pending_spans: Vec<WindowSpan>,
    enc: Vec<f32>,
    dec: Vec<f32>,
    projected: Vec<f32>,
    windows: u64,
}

impl<E: Embedder> Engine<E> {
    /// A new stream at `input_fps` frames per second.
    pub fn new(
        model: EngineModel,
        embedder: E,
        input_fps: f64,
        config: EngineConfig,
    ) -> Result<Self> {
        if config.batch == 0 {
            return Err(Error::Param { name: "batch", message: "must be at least 1".to_owned() });
        }
        let m = model.manifest();
        let transform = FrameTransform::new(model.manifest.clone(), input_fps)?;
        let windower = Windower::new(m.t_e, m.input_channels(), config.hop)?;
        let c = m.input_channels();
        let t_e = m.t_e;
        Ok(Engine {
            config,
            transform,
            windower,
            embedder,
            frame_buf: vec![0.0; c],
            window_buf: vec![0.0; t_e * c],
            pending: Vec::with_capacity(config.batch * t_e * c),
            pending_spans: Vec::with_capacity(config.batch),
            enc: Vec::new(),
            dec: Vec::new(),
            projected: Vec::new(),
            windows: 0,
            model,
        })
    }

    /// The shared model.
    pub fn model(&self) -> &EngineModel {
        &self.model
    }

    /// Length of one embedding vector (needs a basis).
    pub fn embedding_len(&self) -> Option<usize> {
        let k = self.model.basis()?.modes();
        Some(self.config.summary.len(self.model.manifest().t_d, k))
    }

    /// Feeds one raw frame; runs the model on completed windows and calls `sink` with each
    /// window's raw states.
    pub fn push_frame_states(
        &mut self,
        raw: &[f32],
        sink: &mut dyn FnMut(WindowStates<'_>) -> Result<()>,
    ) -> Result<()> {
        if !self.transform.push(raw, &mut self.frame_buf)? {
            return Ok(());
        }
        if let Some(first) = self.windower.push(&self.frame_buf, &mut self.window_buf)? {
            let t_e = self.model.manifest().t_e as u64;
            let ratio = self.transform.ratio();
            let span = WindowSpan {
                index: self.windows,
                first_frame: (first as f64 * ratio).round() as usize,
                last_frame: (((first + t_e - 1) as f64) * ratio).ceil() as usize,
            };
            self.windows += 1;
            self.pending.extend_from_slice(&self.window_buf);
            self.pending_spans.push(span);
            if self.pending_spans.len() >= self.config.batch {
                self.run_pending(sink)?;
            }
        }
        Ok(())
    }

    /// Runs any windows still pending (call at the end of a stream or when falling behind).
    pub fn flush_states(
        &mut self,
        sink: &mut dyn FnMut(WindowStates<'_>) -> Result<()>,
    ) -> Result<()> {
        if !self.pending_spans.is_empty() {
            self.run_pending(sink)?;
        }
        Ok(())
    }

    fn run_pending(&mut self, sink: &mut dyn FnMut(WindowStates<'_>) -> Result<()>) -> Result<()> {
        let b = self.pending_spans.len();
        self.embedder.run(&self.pending, b, &mut self.enc, &mut self.dec)?;
        let m = self.model.manifest();
        let (te, td) = (m.t_e * m.state_dim, m.t_d * m.state_dim);
        for (i, span) in self.pending_spans.iter().enumerate() {
            sink(WindowStates {
                span: *span,
                encoder: &self.enc[i * te..(i + 1) * te],
                decoder: &self.dec[i * td..(i + 1) * td],
            })?;
        }
        self.pending.clear();
        self.pending_spans.clear();
        Ok(())
    }

    /// Feeds one raw frame; appends the embeddings of windows completed (and run) to `out`.
    /// Needs a basis.
    pub fn push_frame(&mut self, raw: &[f32], out: &mut Vec<WindowEmbedding>) -> Result<()> {
        let (basis, summary, t_d) = self.projection()?;
        let mut projected = std::mem::take(&mut self.projected);
        let result = self.push_frame_states(raw, &mut |w| {
            out.push(embed_window(&basis, summary, t_d, w, &mut projected)?);
            Ok(())
        });
        self.projected = projected;
        result
    }

    /// Runs pending windows and appends their embeddings to `out`.
    pub fn flush(&mut self, out: &mut Vec<WindowEmbedding>) -> Result<()> {
        let (basis, summary, t_d) = self.projection()?;
        let mut projected = std::mem::take(&mut self.projected);
        let result = self.flush_states(&mut |w| {
            out.push(embed_window(&basis, summary, t_d, w, &mut projected)?);
            Ok(())
        });
        self.projected = projected;
        result
    }

    fn projection(&self) -> Result<(Arc<PodBasis>, Summary, usize)> {
        let basis = self.model.basis.clone().ok_or_else(|| Error::Param {
            name: "basis",
            message: "embedding needs a POD basis (fit one with `motionseg fit-basis`)".to_owned(),
        })?;
        Ok((basis, self.config.summary, self.model.manifest().t_d))
    }

    /// Batch helper: feeds every row of `frames` then flushes; returns all embeddings.
    pub fn embed_all(&mut self, frames: ArrayView2<'_, f32>) -> Result<Vec<WindowEmbedding>> {
        let mut out = Vec::new();
        for row in frames.rows() {
            with_row(row, |r| self.push_frame(r, &mut out))?;
        }
        self.flush(&mut out)?;
        Ok(out)
    }
}

fn embed_window(
    basis: &PodBasis,
    summary: Summary,
    t_d: usize,
    w: WindowStates<'_>,
    projected: &mut Vec<f32>,
) -> Result<WindowEmbedding> {
    let k = basis.modes();
    let n = basis.state_dim();
    projected.resize(t_d * k, 0.0);
    for (state, out) in w.decoder.chunks_exact(n).zip(projected.chunks_exact_mut(k)) {
        basis.project_into(state, out)?;
    }
    let mut values = vec![0.0; summary.len(t_d, k)];
    summary.write(projected, t_d, k, &mut values);
    Ok(WindowEmbedding { span: w.span, values })
}
