//! Canonical feature vectors: root translation plus one exponential map (axis-angle, radians)
//! per joint. This is the layout the model consumes.

use ndarray::Array2;

/// A `[frames, channels]` feature matrix with what is known about its columns.
#[derive(Debug, Clone)]
pub struct FeatureMatrix {
    /// Where the features came from, for error messages.
    pub source: String,
    /// One row per frame.
    pub data: Array2<f32>,
    /// One name per column (e.g. `root.tx`, `lfemur.e0`), or `c0`, `c1`, ... when unknown.
    pub columns: Vec<String>,
    /// Joint names in column order (empty for plain matrices without a skeleton).
    pub joints: Vec<String>,
    /// Seconds per frame, when known.
    pub frame_time_s: Option<f64>,
}

impl FeatureMatrix {
    /// Number of frames.
    pub fn frame_count(&self) -> usize {
        self.data.nrows()
    }

    /// Number of channels per frame.
    pub fn channel_count(&self) -> usize {
        self.data.ncols()
    }
}

/// Placeholder until the exp-map conversion lands (replaced by the real implementation).
pub fn motion_features(motion: &crate::types::Motion) -> crate::Result<FeatureMatrix> {
    Err(crate::Error::invalid(&motion.source, None, "feature extraction not written yet"))
}
