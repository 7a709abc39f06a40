//! The model manifest: everything the engine needs to know about an exported Seq2Seq model
//! (shapes, frame rate, input transform, normalisation), read from the JSON that
//! `models/seq2seq.py export` writes beside the ONNX file, and validated once.
//!
//! After [`Manifest::load`] succeeds every field is consistent (kept channels in range, one mean
//! and a positive standard deviation per kept channel, `T_e`, `T_d`, `N` positive, ...), so the
//! hot path never re-checks.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// Smallest training standard deviation a manifest may give a kept channel (the shipped model's
/// smallest is 0.005): dividing by less would blow inputs up towards overflow.
pub const MIN_STD: f32 = 1e-6;

/// Largest training mean (absolute) a manifest may give (the shipped model's largest is 17.9):
/// with raw inputs within [`crate::window::MAX_RAW_VALUE`] and stds of at least [`MIN_STD`],
/// normalised inputs then stay far from f32 overflow.
pub const MAX_MEAN: f32 = 1e7;

/// The manifest format version this engine reads.
pub const MANIFEST_VERSION: u32 = 1;

/// How raw canonical frames become the model's feature vector before channel selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootTransform {
    /// Raw columns pass through unchanged (plain feature matrices).
    None,
    /// Root translation and rotation (raw columns 0–5) become 10 heading-invariant channels:
    /// velocity in the body's heading frame, vertical velocity, height, and the first two
    /// columns of the heading-free root orientation. See `window::root_features`.
    HeadingFrameVelocityHeightRot6d,
}

impl RootTransform {
    /// Number of feature channels produced from `raw` raw channels.
    pub fn feature_count(self, raw: usize) -> usize {
        match self {
            RootTransform::None => raw,
            // 6 root channels in, 10 out.
            RootTransform::HeadingFrameVelocityHeightRot6d => raw + 4,
        }
    }
}

/// A validated model manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The manifest file (for error messages).
    pub path: PathBuf,
    /// The ONNX file, resolved relative to the manifest.
    pub onnx_path: PathBuf,
    /// Expected sha256 of the ONNX file (hex).
    pub onnx_sha256: String,
    /// ONNX opset.
    pub opset: u32,
    /// GRU state size `N`.
    pub state_dim: usize,
    /// Encoder window length `T_e`, in model frames.
    pub t_e: usize,
    /// Decoder horizon `T_d`, in model frames.
    pub t_d: usize,
    /// Model frame rate (frames per second after resampling).
    pub model_fps: f64,
    /// Frame rate of the training data before resampling.
    pub source_fps: f64,
    /// Names of the raw canonical input columns the model expects.
    pub raw_columns: Vec<String>,
    /// Joint names of the raw layout (empty for plain matrices).
    pub raw_joints: Vec<String>,
    /// The root transform.
    pub root_transform: RootTransform,
    /// Names of the feature channels after the root transform.
    pub feature_columns: Vec<String>,
    /// Indices into the feature channels that the model reads, in model input order.
    pub kept_channels: Vec<usize>,
    /// Per kept channel: training mean.
    pub mean: Vec<f32>,
    /// Per kept channel: training standard deviation (> 0).
    pub std: Vec<f32>,
    /// ONNX input name.
    pub input_name: String,
}

impl Manifest {
    /// Model input channels per frame (`C`).
    pub fn input_channels(&self) -> usize {
        self.kept_channels.len()
    }

    /// Reads and validates a manifest JSON file.
    pub fn load(path: &Path) -> Result<Manifest> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&bytes, path)
    }

    /// Parses and validates manifest bytes; `path` locates the ONNX file and names errors.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Manifest> {
        let file = path.display().to_string();
        let raw: RawManifest = serde_json::from_slice(bytes).map_err(|e| {
            Error::parse(
                &file,
                e.line(),
                "manifest",
                "a motionseg model manifest (JSON)",
                &e.to_string(),
            )
        })?;
        let bad = |field: &str, expected: &str, found: String| Error::Shape {
            file: file.clone(),
            field: field.to_owned(),
            expected: expected.to_owned(),
            found,
        };
        if raw.format_version != MANIFEST_VERSION {
            return Err(bad(
                "format_version",
                &MANIFEST_VERSION.to_string(),
                raw.format_version.to_string(),
            ));
        }
        let m = &raw.model;
        for (name, v) in [("model.N", m.n), ("model.T_e", m.t_e), ("model.T_d", m.t_d)] {
            if v == 0 {
                return Err(bad(name, "a positive integer", v.to_string()));
            }
        }
        let fr = &raw.frame_rate;
        if !(fr.model_fps.is_finite() && fr.model_fps > 0.0) {
            return Err(bad("frame_rate.model_fps", "a positive number", fr.model_fps.to_string()));
        }
        if !(fr.source_fps.is_finite() && fr.source_fps > 0.0) {
            return Err(bad(
                "frame_rate.source_fps",
                "a positive number",
                fr.source_fps.to_string(),
            ));
        }
        let it = &raw.input_transform;
        let root_transform = match it.root_transform.name.as_str() {
            "none" => RootTransform::None,
            "heading_frame_velocity_height_rot6d" => RootTransform::HeadingFrameVelocityHeightRot6d,
            other => {
                return Err(bad(
                    "input_transform.root_transform.name",
                    "\"none\" or \"heading_frame_velocity_height_rot6d\"",
                    format!("{other:?}"),
                ))
            }
        };
        let raw_channels = it.raw_layout.channels;
        if it.raw_layout.columns.len() != raw_channels {
            return Err(bad(
                "input_transform.raw_layout.columns",
                &format!("{raw_channels} names (raw_layout.channels)"),
                it.raw_layout.columns.len().to_string(),
            ));
        }
        if root_transform == RootTransform::HeadingFrameVelocityHeightRot6d && raw_channels < 6 {
            return Err(bad(
                "input_transform.raw_layout.channels",
                "at least 6 (root translation and rotation) for the heading-frame transform",
                raw_channels.to_string(),
            ));
        }
        let n_features = root_transform.feature_count(raw_channels);
        if it.feature_columns.len() != n_features {
            return Err(bad(
                "input_transform.feature_columns",
                &format!("{n_features} names"),
                it.feature_columns.len().to_string(),
            ));
        }
        let norm = &raw.normalisation;
        let c = norm.kept_channels.len();
        if c == 0 {
            return Err(bad("normalisation.kept_channels", "at least one channel", "none".into()));
        }
        if let Some(&k) = norm.kept_channels.iter().find(|&&k| k >= n_features) {
            return Err(bad(
                "normalisation.kept_channels",
                &format!("indices below {n_features}"),
                k.to_string(),
            ));
        }
        if norm.mean.len() != c || norm.std.len() != c {
            return Err(bad(
                "normalisation.mean/std",
                &format!("{c} values each (one per kept channel)"),
                format!("{} and {}", norm.mean.len(), norm.std.len()),
            ));
        }
        // Checked as the f32 values the engine uses (1e-50 or 1e39 pass as f64 and become 0
        // or inf), with a floor on the std so that normalised inputs stay far from overflow.
        if let Some((i, s)) = norm.std.iter().enumerate().find(|(_, s)| {
            let f = **s as f32;
            !(f.is_finite() && f >= MIN_STD)
        }) {
            return Err(bad(
                &format!("normalisation.std[{i}]"),
                &format!("a finite number of at least {MIN_STD:e}"),
                s.to_string(),
            ));
        }
        if let Some((i, s)) = norm.mean.iter().enumerate().find(|(_, s)| {
            let f = **s as f32;
            !(f.is_finite() && f.abs() <= MAX_MEAN)
        }) {
            return Err(bad(
                &format!("normalisation.mean[{i}]"),
                &format!("a finite number within ±{MAX_MEAN:e}"),
                s.to_string(),
            ));
        }
        let input = raw
            .onnx
            .inputs
            .first()
            .ok_or_else(|| bad("onnx.inputs", "one input", "none".into()))?;
        let want_in = [c, m.t_e];
        let shape_ok = input.shape.len() == 3
            && input.shape[1].as_u64() == Some(want_in[1] as u64)
            && input.shape[2].as_u64() == Some(want_in[0] as u64);
        if !shape_ok {
            return Err(bad(
                "onnx.inputs[0].shape",
                &format!("[batch, {}, {c}] (T_e, kept channels)", m.t_e),
                serde_json::Value::from(input.shape.clone()).to_string(),
            ));
        }
        for name in ["predictions", "encoder_states", "decoder_states"] {
            if !raw.onnx.outputs.iter().any(|o| o.name == name) {
                return Err(bad(
                    "onnx.outputs",
                    &format!("an output named {name:?}"),
                    "none".into(),
                ));
            }
        }
        if raw.onnx.sha256.len() != 64 || !raw.onnx.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("onnx.sha256", "64 hex digits", format!("{:?}", raw.onnx.sha256)));
        }
        if raw.onnx.file.is_empty() {
            return Err(bad("onnx.file", "a file name", "\"\"".into()));
        }
        let onnx_path = path.parent().unwrap_or(Path::new(".")).join(&raw.onnx.file);
        Ok(Manifest {
            path: path.to_owned(),
            onnx_path,
            onnx_sha256: raw.onnx.sha256.to_ascii_lowercase(),
            opset: raw.onnx.opset,
            state_dim: m.n,
            t_e: m.t_e,
            t_d: m.t_d,
            model_fps: fr.model_fps,
            source_fps: fr.source_fps,
            raw_columns: it.raw_layout.columns.clone(),
            raw_joints: it.raw_layout.joints.clone(),
            root_transform,
            feature_columns: it.feature_columns.clone(),
            kept_channels: norm.kept_channels.clone(),
            mean: norm.mean.iter().map(|&v| v as f32).collect(),
            std: norm.std.iter().map(|&v| v as f32).collect(),
            input_name: input.name.clone(),
        })
    }

    /// Refuses an input whose layout does not match what the model was trained on. `file`
    /// names the input; `channels` is its raw channel count and `joints` its joint names
    /// (empty for plain matrices, which are then checked by channel count only).
    pub fn check_input(&self, file: &str, channels: usize, joints: &[String]) -> Result<()> {
        let model = self.path.display();
        if channels != self.raw_columns.len() {
            return Err(Error::Shape {
                file: file.to_owned(),
                field: "channels".to_owned(),
                // Canonical channels (root translation, then an exp-map per joint), not the
                // file's own channel count: say so, with the joints, so the numbers make sense.
                expected: format!(
                    "{} canonical channels per frame (root translation and 3 per joint for {} \
                     joints; model {model})",
                    self.raw_columns.len(),
                    self.raw_joints.len()
                ),
                found: if joints.is_empty() {
                    channels.to_string()
                } else {
                    format!("{channels} (its {} joints)", joints.len())
                },
            });
        }
        if !joints.is_empty() && !self.raw_joints.is_empty() && joints != self.raw_joints.as_slice()
        {
            let first_diff = joints
                .iter()
                .zip(&self.raw_joints)
                .position(|(a, b)| a != b)
                .unwrap_or(joints.len().min(self.raw_joints.len()));
            return Err(Error::Shape {
                file: file.to_owned(),
                field: format!("joint {first_diff}"),
                expected: format!(
                    "{:?} (the model {model} expects joints {})",
                    self.raw_joints.get(first_diff).map(String::as_str).unwrap_or("no joint"),
                    self.raw_joints.join(" ")
                ),
                found: format!("{:?}", joints.get(first_diff).map(String::as_str).unwrap_or("")),
            });
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct RawManifest {
    format_version: u32,
    model: RawModel,
    onnx: RawOnnx,
    frame_rate: RawFrameRate,
    input_transform: RawInputTransform,
    normalisation: RawNorm,
}

#[derive(Deserialize)]
struct RawModel {
    #[serde(rename = "N")]
    n: usize,
    #[serde(rename = "T_e")]
    t_e: usize,
    #[serde(rename = "T_d")]
    t_d: usize,
}

#[derive(Deserialize)]
struct RawOnnx {
    file: String,
    sha256: String,
    opset: u32,
    inputs: Vec<RawTensor>,
    outputs: Vec<RawTensor>,
}

#[derive(Deserialize)]
struct RawTensor {
    name: String,
    shape: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawFrameRate {
    model_fps: f64,
    source_fps: f64,
}

#[derive(Deserialize)]
struct RawInputTransform {
    raw_layout: RawLayout,
    root_transform: RawRootTransform,
    feature_columns: Vec<String>,
}

#[derive(Deserialize)]
struct RawLayout {
    channels: usize,
    columns: Vec<String>,
    #[serde(default)]
    joints: Vec<String>,
}

#[derive(Deserialize)]
struct RawRootTransform {
    name: String,
}

#[derive(Deserialize)]
struct RawNorm {
    kept_channels: Vec<usize>,
    mean: Vec<f64>,
    std: Vec<f64>,
}
