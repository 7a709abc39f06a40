//! Running the Seq2Seq model on windows. [`Embedder`] is the one trait the engine sees; the
//! ONNX Runtime implementation lives in `embed/ort.rs` (the only file importing `ort`,
//! behind the `ort` feature), so the rest of the crate builds and tests without the runtime.

#[cfg(feature = "ort")]
pub mod ort;

use crate::error::Result;

/// Encoder and decoder hidden states for a batch of windows, written into caller buffers.
pub trait Embedder: Send {
    /// Runs `batch` windows (each `T_e * C` values, contiguous, oldest frame first) and writes
    /// the encoder states `[batch, T_e, N]` into `encoder` and the decoder states
    /// `[batch, T_d, N]` into `decoder` (both resized as needed).
    fn run(
        &mut self,
        windows: &[f32],
        batch: usize,
        encoder: &mut Vec<f32>,
        decoder: &mut Vec<f32>,
    ) -> Result<()>;
}

/// A borrowed embedder is one too: one warm session can label file after file (building an
/// ONNX Runtime session costs about 0.1 s for the shipped model, most of a second for a model
/// exported with the GRU unrolled).
impl<E: Embedder + ?Sized> Embedder for &mut E {
    fn run(
        &mut self,
        windows: &[f32],
        batch: usize,
        encoder: &mut Vec<f32>,
        decoder: &mut Vec<f32>,
    ) -> Result<()> {
        (**self).run(windows, batch, encoder, decoder)
    }
}

/// How a window's projected decoder trajectory (`T_d x k`) is summarised into one embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Summary {
    /// The mean of the projected decoder states (`k` values).
    #[default]
    Mean,
    /// The first projected decoder state (`k` values).
    First,
    /// The last projected decoder state (`k` values).
    Last,
    /// The whole projected trajectory, flattened (`T_d * k` values).
    Trajectory,
    /// The mean projected decoder state scaled to unit length (`k` values), then the mean and
    /// standard deviation over the window of each model input channel (the normalised pose the
    /// encoder read), the means weighted [`POSE_MEAN_WEIGHT`](crate::engine::POSE_MEAN_WEIGHT)
    /// against the deviations, scaled to unit length together (`2 · C` values). The decoder states say
    /// where the movement goes, the statistics what it looks like; with equal weight the
    /// segment distance sees both, and the segments method scores changes in each part
    /// ([`SegmentParams::change_split`](crate::cluster::segments::SegmentParams::change_split)).
    /// The labeling default: on the development trials 93.9 / 90.2 % (K given / inferred)
    /// against 91.2 / 87.1 % for the decoder states and 87.2 / 51.8 % for the statistics alone,
    /// with change-score peaks and the means at full weight; 95.0 / 93.2 % with the defaults
    /// (optimal partitioning, penalty 6.5, merge threshold 0.28, means weighted 0.3).
    MeanPose,
}

impl Summary {
    /// Length of the decoder part of the summary for `t_d` states of `k` modes.
    pub fn len(self, t_d: usize, k: usize) -> usize {
        match self {
            Summary::Trajectory => t_d * k,
            _ => k,
        }
    }

    /// Length of the pose part for `channels` model input channels (0 unless
    /// [`Summary::MeanPose`]); it follows the decoder part.
    pub fn pose_len(self, channels: usize) -> usize {
        match self {
            Summary::MeanPose => 2 * channels,
            _ => 0,
        }
    }

    /// Writes the summary of `projected` (`t_d * k`, state by state) into `out`.
    pub fn write(self, projected: &[f32], t_d: usize, k: usize, out: &mut [f32]) {
        match self {
            Summary::Mean | Summary::MeanPose => {
                out.fill(0.0);
                for state in projected.chunks_exact(k) {
                    for (o, &v) in out.iter_mut().zip(state) {
                        *o += v;
                    }
                }
                let n = t_d.max(1) as f32;
                out.iter_mut().for_each(|o| *o /= n);
            }
            Summary::First => out.copy_from_slice(&projected[..k]),
            Summary::Last => out.copy_from_slice(&projected[(t_d - 1) * k..t_d * k]),
            Summary::Trajectory => out.copy_from_slice(&projected[..t_d * k]),
        }
    }
}

impl std::str::FromStr for Summary {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Summary> {
        match s {
            "mean" => Ok(Summary::Mean),
            "first" => Ok(Summary::First),
            "last" => Ok(Summary::Last),
            "trajectory" => Ok(Summary::Trajectory),
            "mean-pose" => Ok(Summary::MeanPose),
            other => Err(crate::Error::Param {
                name: "summary",
                message: format!(
                    "expected mean, mean-pose, first, last or trajectory, got {other:?}"
                ),
            }),
        }
    }
}
