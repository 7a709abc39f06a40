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
    /// The window's model input `[T_e, C]` (normalised), row-major.
    pub input: &'a [f32],
}

/// The windowing half of an [`Engine`]: per-stream resampling, input transform and ring buffer.
/// It needs no model session, so a pipeline can run it on another thread than the inference
/// ([`WindowInference`]); [`Engine`] is exactly the two run one after the other.
#[derive(Debug)]
pub struct Windowing {
    t_e: usize,
    transform: FrameTransform,
    windower: Windower,
    frame_buf: Vec<f32>,
    window_buf: Vec<f32>,
    windows: u64,
}

impl Windowing {
    /// Windowing of a stream at `input_fps` frames per second with a window every `hop` model
    /// frames.
    pub fn new(model: &EngineModel, input_fps: f64, hop: usize) -> Result<Windowing> {
        let m = model.manifest();
        let transform = FrameTransform::new(model.manifest.clone(), input_fps)?;
        let windower = Windower::new(m.t_e, m.input_channels(), hop)?;
        let c = m.input_channels();
        Ok(Windowing {
            t_e: m.t_e,
            transform,
            windower,
            frame_buf: vec![0.0; c],
            window_buf: vec![0.0; m.t_e * c],
            windows: 0,
        })
    }

    /// Source frames per model frame.
    pub fn ratio(&self) -> f64 {
        self.transform.ratio()
    }

    /// Values in one window's model input (`T_e * C`).
    pub fn window_len(&self) -> usize {
        self.window_buf.len()
    }

    /// Feeds one raw frame. When it completes a window, returns the window's span and its model
    /// input (`T_e * C` values, oldest frame first), valid until the next call.
    pub fn push(&mut self, raw: &[f32]) -> Result<Option<(WindowSpan, &[f32])>> {
        if !self.transform.push(raw, &mut self.frame_buf)? {
            return Ok(None);
        }
        let Some(first) = self.windower.push(&self.frame_buf, &mut self.window_buf)? else {
            return Ok(None);
        };
        let t_e = self.t_e as u64;
        let ratio = self.transform.ratio();
        let span = WindowSpan {
            index: self.windows,
            first_frame: (first as f64 * ratio).round() as usize,
            last_frame: (((first + t_e - 1) as f64) * ratio).ceil() as usize,
        };
        self.windows += 1;
        Ok(Some((span, &self.window_buf)))
    }
}

/// The inference half of an [`Engine`]: the model session and the projection of decoder states
/// onto the basis. Windows are independent, so any batching gives the same embeddings.
#[derive(Debug)]
pub struct WindowInference<E: Embedder> {
    model: EngineModel,
    summary: Summary,
    embedder: E,
    enc: Vec<f32>,
    dec: Vec<f32>,
    projected: Vec<f32>,
}

impl<E: Embedder> WindowInference<E> {
    /// Inference with `embedder` (a session of `model`), summarising windows with `summary`.
    pub fn new(model: EngineModel, embedder: E, summary: Summary) -> WindowInference<E> {
        WindowInference {
            model,
            summary,
            embedder,
            enc: Vec::new(),
            dec: Vec::new(),
            projected: Vec::new(),
        }
    }

    /// Length of one embedding vector (needs a basis).
    pub fn embedding_len(&self) -> Option<usize> {
        let k = self.model.basis()?.modes();
        let m = self.model.manifest();
        Some(self.summary.len(m.t_d, k) + self.summary.pose_len(m.input_channels()))
    }

    /// The model runner back (to reuse it for another stream of the same model).
    pub fn into_embedder(self) -> E {
        self.embedder
    }

    /// Runs the model on `spans.len()` windows (`windows`: their model inputs back to back) and
    /// calls `sink` with each window's raw states, in order.
    pub fn run_states(
        &mut self,
        windows: &[f32],
        spans: &[WindowSpan],
        sink: &mut dyn FnMut(WindowStates<'_>) -> Result<()>,
    ) -> Result<()> {
        if spans.is_empty() {
            return Ok(());
        }
        self.embedder.run(windows, spans.len(), &mut self.enc, &mut self.dec)?;
        let m = self.model.manifest();
        let (te, td) = (m.t_e * m.state_dim, m.t_d * m.state_dim);
        let wl = m.t_e * m.input_channels();
        for (i, span) in spans.iter().enumerate() {
            sink(WindowStates {
                span: *span,
                encoder: &self.enc[i * te..(i + 1) * te],
                decoder: &self.dec[i * td..(i + 1) * td],
                input: &windows[i * wl..(i + 1) * wl],
            })?;
        }
        Ok(())
    }

    /// Runs the model on windows as [`run_states`](Self::run_states) does and appends their
    /// embeddings to `out`. Needs a basis.
    pub fn run(
        &mut self,
        windows: &[f32],
        spans: &[WindowSpan],
        out: &mut Vec<WindowEmbedding>,
    ) -> Result<()> {
        let (basis, summary, t_d) = self.projection()?;
        let channels = self.model.manifest().input_channels();
        let mut projected = std::mem::take(&mut self.projected);
        let result = self.run_states(windows, spans, &mut |w| {
            out.push(embed_window(&basis, summary, t_d, channels, w, &mut projected)?);
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
        Ok((basis, self.summary, self.model.manifest().t_d))
    }
}

/// The per-stream engine: [`Windowing`] then [`WindowInference`], with model calls batched.
#[derive(Debug)]
pub struct Engine<E: Embedder> {
    config: EngineConfig,
    windowing: Windowing,
    inference: WindowInference<E>,
    pending: Vec<f32>,
    pending_spans: Vec<WindowSpan>,
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
        let windowing = Windowing::new(&model, input_fps, config.hop)?;
        let window_len = windowing.window_len();
        Ok(Engine {
            config,
            windowing,
            inference: WindowInference::new(model, embedder, config.summary),
            pending: Vec::with_capacity(config.batch * window_len),
            pending_spans: Vec::with_capacity(config.batch),
        })
    }

    /// The shared model.
    pub fn model(&self) -> &EngineModel {
        &self.inference.model
    }

    /// Length of one embedding vector (needs a basis).
    pub fn embedding_len(&self) -> Option<usize> {
        self.inference.embedding_len()
    }

    /// Queues the window completed by `raw`, if any; true when a batch is due.
    fn window(&mut self, raw: &[f32]) -> Result<bool> {
        if let Some((span, values)) = self.windowing.push(raw)? {
            self.pending.extend_from_slice(values);
            self.pending_spans.push(span);
        }
        Ok(self.pending_spans.len() >= self.config.batch)
    }

    /// Feeds one raw frame; runs the model on completed windows and calls `sink` with each
    /// window's raw states.
    pub fn push_frame_states(
        &mut self,
        raw: &[f32],
        sink: &mut dyn FnMut(WindowStates<'_>) -> Result<()>,
    ) -> Result<()> {
        if self.window(raw)? {
            self.flush_states(sink)?;
        }
        Ok(())
    }

    /// Runs any windows still pending (call at the end of a stream or when falling behind).
    pub fn flush_states(
        &mut self,
        sink: &mut dyn FnMut(WindowStates<'_>) -> Result<()>,
    ) -> Result<()> {
        let result = self.inference.run_states(&self.pending, &self.pending_spans, sink);
        self.pending.clear();
        self.pending_spans.clear();
        result
    }

    /// Feeds one raw frame; appends the embeddings of windows completed (and run) to `out`.
    /// Needs a basis.
    pub fn push_frame(&mut self, raw: &[f32], out: &mut Vec<WindowEmbedding>) -> Result<()> {
        self.inference.projection()?;
        if self.window(raw)? {
            self.flush(out)?;
        }
        Ok(())
    }

    /// Runs pending windows and appends their embeddings to `out`.
    pub fn flush(&mut self, out: &mut Vec<WindowEmbedding>) -> Result<()> {
        self.inference.projection()?;
        let result = self.inference.run(&self.pending, &self.pending_spans, out);
        self.pending.clear();
        self.pending_spans.clear();
        result
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
    channels: usize,
    w: WindowStates<'_>,
    projected: &mut Vec<f32>,
) -> Result<WindowEmbedding> {
    let k = basis.modes();
    let n = basis.state_dim();
    let mut values = vec![0.0; summary.len(t_d, k) + summary.pose_len(channels)];
    if matches!(summary, Summary::Mean | Summary::MeanPose) {
        // The projection is affine, so the mean of the projected states is the projection of
        // the mean state: one projection per window instead of T_d.
        projected.clear();
        projected.resize(n, 0.0);
        for state in w.decoder.chunks_exact(n) {
            for (p, &v) in projected.iter_mut().zip(state) {
                *p += v;
            }
        }
        let scale = 1.0 / t_d.max(1) as f32;
        projected.iter_mut().for_each(|p| *p *= scale);
        let (decoder, pose) = values.split_at_mut(k);
        basis.project_into(projected, decoder)?;
        if summary == Summary::MeanPose {
            unit(decoder);
            pose_stats(w.input, channels, pose);
            pose[..channels].iter_mut().for_each(|m| *m *= POSE_MEAN_WEIGHT);
            unit(pose);
        }
        return Ok(WindowEmbedding { span: w.span, values });
    }
    projected.resize(t_d * k, 0.0);
    for (state, out) in w.decoder.chunks_exact(n).zip(projected.chunks_exact_mut(k)) {
        basis.project_into(state, out)?;
    }
    summary.write(projected, t_d, k, &mut values);
    Ok(WindowEmbedding { span: w.span, values })
}

/// Weight of the channel means against the channel standard deviations in the pose part of a
/// [`Summary::MeanPose`] embedding (before the part is scaled to unit length). The means carry
/// the performer's posture offset as well as the movement, and on other subjects that offset is
/// shared by every window of a take, which shrinks the cosine distances between its actions;
/// the deviations do not carry it. Measured on the development trials, 0–0.4 give 94.8–95.1 %
/// (K given) against 92.1 % at 1; on the concatenated clips of other subjects (seeds 0–11) 0.3
/// gave the best K given and near the best K inferred (README, "Accuracy").
pub const POSE_MEAN_WEIGHT: f32 = 0.3;

/// Scales `v` to unit length (left as is when it is all zeros).
fn unit(v: &mut [f32]) {
    let norm = v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    if norm > 0.0 {
        let inv = (1.0 / norm) as f32;
        v.iter_mut().for_each(|x| *x *= inv);
    }
}

/// Mean then standard deviation of each of the `channels` columns of `input` (`[T, channels]`,
/// row-major) into `out` (`2 · channels`).
fn pose_stats(input: &[f32], channels: usize, out: &mut [f32]) {
    let rows = (input.len() / channels.max(1)).max(1) as f64;
    let (mean, sd) = out.split_at_mut(channels);
    for j in 0..channels {
        let col = input.iter().skip(j).step_by(channels).map(|&v| f64::from(v));
        let m = col.clone().sum::<f64>() / rows;
        let var = col.map(|v| (v - m).powi(2)).sum::<f64>() / rows;
        mean[j] = m as f32;
        sd[j] = var.sqrt() as f32;
    }
}
