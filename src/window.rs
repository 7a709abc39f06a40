//! From raw canonical frames to model input windows, one frame at a time.
//!
//! [`FrameTransform`] resamples the input to the model's frame rate, applies the manifest's root
//! transform, selects the kept channels and normalises them. [`Windower`] keeps the last `T_e`
//! model frames in a ring buffer and hands out a window every `hop` model frames. Batch and
//! streaming use these same two types, so the same frames give the same windows either way.
//!
//! Resampling: model frame `j` sits at source position `j * input_fps / model_fps`. When that
//! ratio is an integer (120 → 30 fps: every 4th frame, as in training) frames are taken as they
//! are; otherwise the two neighbouring source frames are blended linearly.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::model::{Manifest, RootTransform};
use crate::types::FrameIndex;

/// Largest raw input value accepted (absolute): far beyond any real pose (root positions in
/// millimetres across a 100 m volume stay under 1e5; angles are small), and, with the
/// manifest's standard deviations at least [`crate::model::MIN_STD`], small enough that a
/// window's statistics cannot overflow. Every raw frame is checked on its own, before it
/// changes any state, so a refused frame leaves the stream as if it never came.
pub const MAX_RAW_VALUE: f32 = 1e6;

/// The index of the first value of a raw frame that is not finite or beyond
/// ±[`MAX_RAW_VALUE`], if any.
pub fn first_bad_raw(raw: &[f32]) -> Option<usize> {
    raw.iter().position(|v| !(v.is_finite() && v.abs() <= MAX_RAW_VALUE))
}

/// Source frames per model frame for input at `input_fps` into a model at `model_fps`. A rate
/// within 1e-4 (relative) of a whole multiple is that multiple: files round their frame time
/// (BVH `Frame Time: 0.0333334` is 29.99994 fps, `0.008333` 120.0048 fps), and the exact
/// multiple keeps the take-every-n-th-frame path the model was trained on instead of blending
/// every frame. Below the model's rate is refused (no upsampling).
pub fn input_ratio(input_fps: f64, model_fps: f64) -> Result<f64> {
    if !(input_fps.is_finite() && input_fps > 0.0) {
        return Err(Error::Param {
            name: "input_fps",
            message: format!("must be a positive number, got {}", crate::error::num(input_fps)),
        });
    }
    let mut ratio = input_fps / model_fps;
    let whole = ratio.round();
    if whole >= 1.0 && (ratio - whole).abs() <= (1e-4 * whole).min(0.01) {
        ratio = whole;
    }
    if ratio < 1.0 {
        return Err(Error::Param {
            name: "input_fps",
            message: format!(
                "{} fps is below the model's {model_fps} fps; upsampling is not supported",
                crate::error::num(input_fps)
            ),
        });
    }
    Ok(ratio)
}

/// Turns raw canonical frames into normalised model frames. Per-stream state.
#[derive(Debug, Clone)]
pub struct FrameTransform {
    manifest: Arc<Manifest>,
    /// Source frames per model frame.
    ratio: f64,
    /// Source frames seen so far.
    seen: u64,
    /// Model frames produced so far.
    produced: u64,
    /// The previous source frame (for linear resampling).
    prev_raw: Vec<f64>,
    /// Previous resampled root position (for velocity).
    prev_pos: Option<[f64; 3]>,
    /// Scratch: resampled raw frame and feature vector, reused to avoid allocation.
    raw_buf: Vec<f64>,
    feat_buf: Vec<f64>,
}

impl FrameTransform {
    /// A transform for input at `input_fps` frames per second.
    pub fn new(manifest: Arc<Manifest>, input_fps: f64) -> Result<FrameTransform> {
        let ratio = input_ratio(input_fps, manifest.model_fps)?;
        let raw = manifest.raw_columns.len();
        let feats = manifest.feature_columns.len();
        Ok(FrameTransform {
            manifest,
            ratio,
            seen: 0,
            produced: 0,
            prev_raw: vec![0.0; raw],
            prev_pos: None,
            raw_buf: vec![0.0; raw],
            feat_buf: vec![0.0; feats],
        })
    }

    /// Source frames per model frame.
    pub fn ratio(&self) -> f64 {
        self.ratio
    }

    /// The source frame (possibly fractional) that model frame `j` was taken at.
    pub fn source_position(&self, model_frame: u64) -> f64 {
        model_frame as f64 * self.ratio
    }

    /// Feeds one raw frame (the manifest's raw layout). When it completes a model frame, writes
    /// it (normalised, `C` values) into `out` and returns `true`.
    pub fn push(&mut self, raw: &[f32], out: &mut [f32]) -> Result<bool> {
        let n = self.manifest.raw_columns.len();
        if raw.len() != n || out.len() != self.manifest.input_channels() {
            return Err(Error::Param {
                name: "frame",
                message: format!(
                    "raw frame has {} values and output {}; the model needs {n} and {}",
                    raw.len(),
                    out.len(),
                    self.manifest.input_channels()
                ),
            });
        }
        let i = self.seen;
        if let Some(c) = first_bad_raw(raw) {
            return Err(Error::Param {
                name: "frame",
                message: format!(
                    "frame {i}: {} = {}: expected a finite number within ±{MAX_RAW_VALUE:e} (not a \
                     pose this model can read; wrong units?)",
                    self.manifest.raw_columns.get(c).map_or("?", String::as_str),
                    crate::error::num32(raw[c])
                ),
            });
        }
        self.seen += 1;
        let pos = self.source_position(self.produced);
        // The next model frame lies at `pos`; emit once the source frame at or after it arrives.
        let emit = (i as f64) + 1e-9 >= pos;
        if emit {
            let frac = pos - (i as f64 - 1.0);
            if i == 0 || (1.0 - frac).abs() < 1e-9 || frac >= 1.0 {
                for (d, &s) in self.raw_buf.iter_mut().zip(raw) {
                    *d = f64::from(s);
                }
            } else {
                // pos lies between frame i-1 and i: blend.
                for ((d, &a), &b) in self.raw_buf.iter_mut().zip(&self.prev_raw).zip(raw) {
                    *d = a + (f64::from(b) - a) * frac;
                }
            }
            self.produced += 1;
            self.features_from_raw();
            let m = &self.manifest;
            for (c, o) in out.iter_mut().enumerate() {
                let k = m.kept_channels[c];
                *o = ((self.feat_buf[k] as f32) - m.mean[c]) / m.std[c];
            }
        }
        for (d, &s) in self.prev_raw.iter_mut().zip(raw) {
            *d = f64::from(s);
        }
        Ok(emit)
    }

    /// Applies the root transform to `raw_buf`, writing `feat_buf`.
    fn features_from_raw(&mut self) {
        match self.manifest.root_transform {
            RootTransform::None => self.feat_buf.copy_from_slice(&self.raw_buf),
            RootTransform::HeadingFrameVelocityHeightRot6d => {
                let p = [self.raw_buf[0], self.raw_buf[1], self.raw_buf[2]];
                let r = [self.raw_buf[3], self.raw_buf[4], self.raw_buf[5]];
                let root = root_features(p, r, self.prev_pos);
                self.prev_pos = Some(p);
                self.feat_buf[..10].copy_from_slice(&root);
                self.feat_buf[10..].copy_from_slice(&self.raw_buf[6..]);
            }
        }
    }
}

/// Rotation matrix of an exponential map (Rodrigues), row-major.
pub fn rodrigues(r: [f64; 3]) -> [[f64; 3]; 3] {
    let theta = (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).sqrt();
    let skew = |k: [f64; 3]| [[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]];
    let mut a = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    if theta < 1e-8 {
        let s = skew(r);
        for i in 0..3 {
            for j in 0..3 {
                a[i][j] += s[i][j];
            }
        }
        return a;
    }
    let k = [r[0] / theta, r[1] / theta, r[2] / theta];
    let s = skew(k);
    let (sn, cs) = theta.sin_cos();
    for i in 0..3 {
        for j in 0..3 {
            let s2: f64 = (0..3).map(|l| s[i][l] * s[l][j]).sum();
            a[i][j] += sn * s[i][j] + (1.0 - cs) * s2;
        }
    }
    a
}

/// The 10 heading-invariant root channels (manifest `heading_frame_velocity_height_rot6d`):
/// velocity in the heading frame `u_x`, vertical velocity `v_y`, `u_z`, height `p_y`, and the
/// first two columns of the heading-free orientation `Q = H R` (column-major).
///
/// `R = rodrigues(r)ᵀ` is the body orientation in the world; the heading is the yaw of its third
/// column; `H` rotates by minus that yaw about Y. `prev` is the previous model frame's root
/// position (`None` at the start of a stream: velocity 0).
pub fn root_features(p: [f64; 3], r: [f64; 3], prev: Option<[f64; 3]>) -> [f64; 10] {
    let a = rodrigues(r);
    // R = Aᵀ.
    let rm = |i: usize, j: usize| a[j][i];
    let yaw = rm(0, 2).atan2(rm(2, 2));
    let (s, c) = yaw.sin_cos();
    let h = [[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]];
    let v = match prev {
        Some(q) => [p[0] - q[0], p[1] - q[1], p[2] - q[2]],
        None => [0.0; 3],
    };
    let u: Vec<f64> = (0..3).map(|i| (0..3).map(|j| h[i][j] * v[j]).sum()).collect();
    let q = |i: usize, j: usize| -> f64 { (0..3).map(|l| h[i][l] * rm(l, j)).sum() };
    [u[0], v[1], u[2], p[1], q(0, 0), q(1, 0), q(2, 0), q(0, 1), q(1, 1), q(2, 1)]
}

/// Where a window sits in the input, in source frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSpan {
    /// Index of the window in its stream (0, 1, 2, ...).
    pub index: u64,
    /// First source frame the window covers.
    pub first_frame: FrameIndex,
    /// Last source frame the window covers (inclusive): the window is known once it arrives.
    pub last_frame: FrameIndex,
}

/// The spans of every window of a stream, in order, stored as runs whose steps repeat.
///
/// Why: a stream's windows come every `hop` model frames, so the steps between their spans
/// repeat with a short period (1 when the input rate is a whole multiple of the model's, 3 at
/// 100 fps into a 30 fps model: 13, 13, 14 frames); keeping each run's first span and one period
/// of steps instead of one span per window keeps a long stream's labeler state from growing
/// with every window (the final labeling still lists every window, but only once the stream
/// ends). Steps with no period up to [`SpanLog::MAX_PERIOD`] cost about what a list of spans
/// would.
///
/// ```
/// use motionseg::window::{SpanLog, WindowSpan};
///
/// // 100 fps into a 30 fps model, a window every 4 model frames: steps of 13, 13, 14 frames.
/// let span = |i: u64| WindowSpan {
///     index: i,
///     first_frame: ((4 * i) as f64 * 10.0 / 3.0).round() as usize,
///     last_frame: ((4 * i + 49) as f64 * 10.0 / 3.0).ceil() as usize,
/// };
/// let mut log = SpanLog::default();
/// for i in 0..10_000 {
///     log.push(span(i));
/// }
/// assert_eq!((log.len(), log.runs()), (10_000, 1));
/// assert_eq!(log.get(5_000), Some(span(5_000)));
/// assert_eq!(log.partition_point(|s| s.last_frame < 1000), 63); // windows ending before 1000
/// # assert_eq!(log.to_vec(), (0..10_000).map(span).collect::<Vec<_>>());
/// # assert_eq!(log.last(), Some(span(9_999)));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpanLog {
    runs: Vec<SpanRun>,
    len: usize,
}

/// Increments of index, first frame and last frame between two consecutive spans.
type Step = (u64, FrameIndex, FrameIndex);

/// `len` spans from position `start`: `first`, then each the previous plus the next step of
/// `steps`, which repeat once the run is `periodic` (until then `steps` holds every step).
#[derive(Debug, Clone, PartialEq, Eq)]
struct SpanRun {
    start: usize,
    first: WindowSpan,
    len: usize,
    steps: Vec<Step>,
    /// `sums[k]` = the sum of the first `k` steps (`sums[0]` = zero).
    sums: Vec<Step>,
    periodic: bool,
}

fn add(a: Step, b: Step) -> Step {
    (a.0 + b.0, a.1 + b.1, a.2 + b.2)
}

impl SpanRun {
    fn new(start: usize, first: WindowSpan) -> SpanRun {
        SpanRun { start, first, len: 1, steps: Vec::new(), sums: vec![(0, 0, 0)], periodic: false }
    }

    /// The `i`-th span of the run (`i < len`).
    fn at(&self, i: usize) -> WindowSpan {
        let (d0, d1, d2) = match self.steps.len() {
            0 => (0, 0, 0),
            p => {
                let (whole, rest) = (i / p, i % p);
                let (c, r) = (self.sums[p], self.sums[rest]);
                (c.0 * whole as u64 + r.0, c.1 * whole + r.1, c.2 * whole + r.2)
            }
        };
        WindowSpan {
            index: self.first.index + d0,
            first_frame: self.first.first_frame + d1,
            last_frame: self.first.last_frame + d2,
        }
    }

    /// Extends the run by `step` if it fits its period (or the run is still learning it).
    fn extend(&mut self, step: Step) -> bool {
        if self.periodic {
            if self.steps[(self.len - 1) % self.steps.len()] != step {
                return false;
            }
            self.len += 1;
            return true;
        }
        self.steps.push(step);
        let last = self.sums[self.sums.len() - 1];
        self.sums.push(add(last, step));
        self.len += 1;
        if self.steps.len() == 2 * SpanLog::MAX_PERIOD {
            // Enough steps to tell: keep the shortest period they all follow, else end the run
            // here (its steps are kept in full, as a list would keep its spans).
            let n = self.steps.len();
            match (1..=SpanLog::MAX_PERIOD)
                .find(|&p| (p..n).all(|k| self.steps[k] == self.steps[k - p]))
            {
                Some(p) => {
                    self.steps.truncate(p);
                    self.sums.truncate(p + 1);
                    self.periodic = true;
                }
                None => {
                    // A period as long as the run: any further step starts a new run.
                    self.periodic = true;
                }
            }
        }
        true
    }
}

impl SpanLog {
    /// Longest step period recognised (steps are learned over twice this many windows).
    pub const MAX_PERIOD: usize = 32;

    /// Spans stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no span is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Runs kept (what the log costs in memory, with at most `2 · MAX_PERIOD` steps each).
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    /// Appends a span. A span whose index or frames do not increase (the callers check the
    /// order first) simply starts a new run.
    pub fn push(&mut self, span: WindowSpan) {
        let pos = self.len;
        self.len += 1;
        if let Some(run) = self.runs.last_mut() {
            let prev = run.at(run.len - 1);
            if let (Some(di), Some(df), Some(dl)) = (
                span.index.checked_sub(prev.index),
                span.first_frame.checked_sub(prev.first_frame),
                span.last_frame.checked_sub(prev.last_frame),
            ) {
                if run.extend((di, df, dl)) {
                    return;
                }
            }
        }
        self.runs.push(SpanRun::new(pos, span));
    }

    /// The span at position `pos` (0 = the first pushed).
    pub fn get(&self, pos: usize) -> Option<WindowSpan> {
        if pos >= self.len {
            return None;
        }
        let r = self.runs.partition_point(|r| r.start <= pos) - 1;
        let run = &self.runs[r];
        Some(run.at(pos - run.start))
    }

    /// The last span pushed.
    pub fn last(&self) -> Option<WindowSpan> {
        self.runs.last().map(|r| r.at(r.len - 1))
    }

    /// The spans from position `from` on, in order.
    pub fn iter_from(&self, from: usize) -> impl Iterator<Item = WindowSpan> + '_ {
        (from..self.len).filter_map(move |p| self.get(p))
    }

    /// The first position whose span fails `pred`, for a `pred` that holds on a prefix (as
    /// `slice::partition_point`): a binary search.
    pub fn partition_point(&self, mut pred: impl FnMut(&WindowSpan) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.get(mid) {
                Some(s) if pred(&s) => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo
    }

    /// Every span, in order.
    pub fn to_vec(&self) -> Vec<WindowSpan> {
        self.runs.iter().flat_map(|r| (0..r.len).map(move |i| r.at(i))).collect()
    }
}

/// Ring buffer of the last `T_e` model frames; emits a window every `hop` model frames.
#[derive(Debug, Clone)]
pub struct Windower {
    t_e: usize,
    channels: usize,
    hop: usize,
    ring: Vec<f32>,
    /// Model frames pushed so far.
    pushed: u64,
    windows: u64,
}

impl Windower {
    /// A windower for windows of `t_e` frames of `channels` values, every `hop` frames.
    pub fn new(t_e: usize, channels: usize, hop: usize) -> Result<Windower> {
        if hop == 0 || t_e == 0 || channels == 0 {
            return Err(Error::Param {
                name: "hop",
                message: format!(
                    "hop, window length and channels must be positive (got {hop}, {t_e}, {channels})"
                ),
            });
        }
        Ok(Windower { t_e, channels, hop, ring: vec![0.0; t_e * channels], pushed: 0, windows: 0 })
    }

    /// Window length in model frames.
    pub fn len(&self) -> usize {
        self.t_e
    }

    /// Always false: a windower holds at least one frame slot.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Pushes one model frame. When a window completes, copies it (oldest frame first,
    /// `T_e * C` values) into `out` and returns the index of its first model frame.
    pub fn push(&mut self, frame: &[f32], out: &mut [f32]) -> Result<Option<u64>> {
        if frame.len() != self.channels || out.len() != self.t_e * self.channels {
            return Err(Error::Param {
                name: "frame",
                message: format!(
                    "frame of {} values and window buffer of {}; expected {} and {}",
                    frame.len(),
                    out.len(),
                    self.channels,
                    self.t_e * self.channels
                ),
            });
        }
        let slot = (self.pushed % self.t_e as u64) as usize;
        self.ring[slot * self.channels..(slot + 1) * self.channels].copy_from_slice(frame);
        self.pushed += 1;
        let t_e = self.t_e as u64;
        if self.pushed < t_e || !(self.pushed - t_e).is_multiple_of(self.hop as u64) {
            return Ok(None);
        }
        // The oldest frame sits in the slot that will be written next.
        let start = (self.pushed % t_e) as usize;
        let c = self.channels;
        let tail = (self.t_e - start) * c;
        out[..tail].copy_from_slice(&self.ring[start * c..]);
        out[tail..].copy_from_slice(&self.ring[..start * c]);
        self.windows += 1;
        Ok(Some(self.pushed - t_e))
    }
}

/// Final labels of windows that left a clusterer, by window index, stored as runs of equal
/// labels.
///
/// Why: the windows method thins old windows out of its clusterer on long streams, and each one
/// leaves with its final label; one entry per thinned window grew with the stream. Thinning
/// takes every other window of a long stretch, so the indices arrive with gaps; a run may
/// therefore also cover indices that have not left (yet). That is harmless because a window
/// still held by the clusterer gets its label from there (the caller looks here only for
/// windows that left), and a window that leaves later with another label splits the run. So
/// the runs grow with the changes of label along the stream, not with its windows.
///
/// ```
/// use motionseg::window::LabelRuns;
///
/// let mut runs = LabelRuns::default();
/// for i in (0..10_000).step_by(2) {
///     runs.insert(i, Some(if i < 6_000 { 0 } else { 1 }));
/// }
/// assert_eq!(runs.runs(), 2);
/// assert_eq!(runs.get(4_000), Some(Some(0)));
/// runs.insert(4_001, None); // a window in a gap leaves with no label
/// assert_eq!((runs.get(4_000), runs.get(4_001), runs.get(4_002)), (Some(Some(0)), Some(None), Some(Some(0))));
/// assert_eq!(runs.runs(), 4);
/// assert_eq!(runs.get(20_000), None); // past every run
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelRuns {
    /// First index of each run -> (last index, label); runs are disjoint.
    runs: std::collections::BTreeMap<u64, (u64, Option<usize>)>,
}

impl LabelRuns {
    /// Records the final label of window `index`; a later insert of the same index wins.
    pub fn insert(&mut self, index: u64, label: Option<usize>) {
        // The run holding `index`, or the nearest one before it.
        if let Some((&start, &(end, l))) = self.runs.range(..=index).next_back() {
            if index <= end {
                if l == label {
                    return;
                }
                // Split: [start, index) keeps its label, [index + 1, end] too.
                self.runs.remove(&start);
                if start < index {
                    self.runs.insert(start, (index - 1, l));
                }
                if index < end {
                    self.runs.insert(index + 1, (end, l));
                }
            }
        }
        let mut start = index;
        let mut end = index;
        // Join the run before (across a gap of windows that have not left) when its label is
        // the same, and the run after likewise.
        if let Some((&s, &(_, l))) = self.runs.range(..index).next_back() {
            if l == label {
                self.runs.remove(&s);
                start = s;
            }
        }
        if let Some((&s, &(e, l))) = index.checked_add(1).and_then(|n| self.runs.range(n..).next())
        {
            if l == label {
                self.runs.remove(&s);
                end = e;
            }
        }
        self.runs.insert(start, (end, label));
    }

    /// The label recorded for the run covering `index` (`None`: no run covers it).
    pub fn get(&self, index: u64) -> Option<Option<usize>> {
        let (_, &(end, label)) = self.runs.range(..=index).next_back()?;
        (index <= end).then_some(label)
    }

    /// Runs held (what the memory grows with).
    pub fn runs(&self) -> usize {
        self.runs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windower_emits_every_hop_in_order() {
        let mut w = Windower::new(3, 1, 2).expect("valid");
        let mut out = [0.0; 3];
        let mut got = Vec::new();
        for i in 0..8 {
            if let Some(first) = w.push(&[i as f32], &mut out).expect("push") {
                got.push((first, out));
            }
        }
        assert_eq!(got, vec![(0, [0.0, 1.0, 2.0]), (2, [2.0, 3.0, 4.0]), (4, [4.0, 5.0, 6.0])]);
        assert!(Windower::new(3, 1, 0).is_err());
        assert!(w.push(&[0.0, 1.0], &mut out).is_err());
    }

    #[test]
    fn rodrigues_rotates_about_the_axis() {
        let a = rodrigues([0.0, 0.0, std::f64::consts::FRAC_PI_2]);
        // x -> y for +90 degrees about z.
        assert!((a[1][0] - 1.0).abs() < 1e-12 && a[0][0].abs() < 1e-12);
        let id = rodrigues([0.0; 3]);
        assert_eq!(id, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);
    }

    #[test]
    fn root_features_ignore_heading() {
        // The same step forward taken facing two different headings gives the same features.
        let step = |yaw: f64| {
            let r = [0.0, -yaw, 0.0]; // R = Aᵀ = rotation by +yaw about Y
            let (s, c) = yaw.sin_cos();
            let fwd = [s, 0.0, c];
            root_features([fwd[0], 1.0, fwd[2]], r, Some([0.0, 1.0, 0.0]))
        };
        let a = step(0.3);
        let b = step(-2.0);
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-9, "{a:?} vs {b:?}");
        }
        assert!((a[2] - 1.0).abs() < 1e-9, "forward velocity on z: {a:?}");
    }

    /// Every access of `log` agrees with the plain list `spans`.
    fn agrees(log: &SpanLog, spans: &[WindowSpan]) {
        assert_eq!(log.len(), spans.len());
        assert_eq!(log.last(), spans.last().copied());
        assert_eq!(log.to_vec(), spans);
        for (p, s) in spans.iter().enumerate() {
            assert_eq!(log.get(p), Some(*s), "position {p}");
        }
        assert_eq!(log.get(spans.len()), None);
        let from = spans.len() / 3;
        assert!(log.iter_from(from).eq(spans[from..].iter().copied()));
        assert_eq!(log.iter_from(spans.len() + 5).count(), 0);
        for f in [0, 11, 12, 500, 2000, 5000, 40_000] {
            assert_eq!(
                log.partition_point(|s| s.last_frame < f),
                spans.partition_point(|s| s.last_frame < f),
                "frame {f}"
            );
        }
    }

    #[test]
    fn label_runs_match_a_plain_map() {
        // Random indices (with repeats: a later insert wins) against a HashMap; every index that
        // was inserted must read back its last label, and the runs stay disjoint.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |m: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % m
        };
        for case in 0..200 {
            let mut runs = LabelRuns::default();
            let mut oracle = std::collections::HashMap::new();
            let span = 10 + case;
            for _ in 0..3 * span {
                let i = next(span);
                let l = match next(4) {
                    0 => None,
                    k => Some(k as usize - 1),
                };
                runs.insert(i, l);
                oracle.insert(i, l);
                for (&j, &want) in &oracle {
                    assert_eq!(runs.get(j), Some(want), "case {case}, index {j}");
                }
                let mut last_end = None;
                for (&s, &(e, _)) in &runs.runs {
                    assert!(s <= e && last_end.is_none_or(|p| p < s), "case {case}: overlap");
                    last_end = Some(e);
                }
            }
        }
        // The largest index does not overflow.
        let mut runs = LabelRuns::default();
        runs.insert(u64::MAX, Some(1));
        runs.insert(u64::MAX - 2, Some(1));
        assert_eq!((runs.runs(), runs.get(u64::MAX - 1)), (1, Some(Some(1))));
    }

    #[test]
    fn label_runs_grow_with_label_changes_not_windows() {
        // Thinning as the windows method does it: every other window of older stretches leaves,
        // then every other of those; 20 segments of 500 windows each.
        let label = |i: u64| Some((i / 500 % 3) as usize);
        let mut runs = LabelRuns::default();
        for round in 0..4 {
            for i in (1u64 << round..10_000).step_by(2usize << round) {
                runs.insert(i, label(i));
            }
        }
        assert_eq!(runs.runs(), 20);
        assert!((1..10_000).step_by(2).all(|i| runs.get(i) == Some(label(i))));
    }

    #[test]
    fn span_log_matches_a_plain_list() {
        // Engine spans at input rates whole and fractional multiples of a 30 fps model (hop 4,
        // 50-frame windows, as `Engine::push` rounds them): one run each, however long.
        for fps in [30.0, 48.0, 50.0, 60.0, 100.0, 120.0, 144.0, 240.0] {
            let ratio: f64 = fps / 30.0;
            let spans: Vec<WindowSpan> = (0..3000u64)
                .map(|i| WindowSpan {
                    index: i,
                    first_frame: ((4 * i) as f64 * ratio).round() as usize,
                    last_frame: (((4 * i + 49) as f64) * ratio).ceil() as usize,
                })
                .collect();
            let mut log = SpanLog::default();
            spans.iter().for_each(|s| log.push(*s));
            agrees(&log, &spans);
            assert_eq!(log.runs(), 1, "{fps} fps");
        }
        // Irregular starts, a regular middle, a gap, another step, then frames that go back
        // (a new run each time the steps would underflow), and a single span.
        let mut spans = Vec::new();
        let mut last = 10usize;
        for i in 0..400u64 {
            last += match i {
                0..=2 => 1 + i as usize,
                3..=99 => 16,
                100 => 500,
                101..=299 => 8,
                _ => (i % 7) as usize * 3 + 1,
            };
            let first = if i >= 350 { 400 - i as usize } else { last.saturating_sub(60) };
            spans.push(WindowSpan { index: i * 2, first_frame: first, last_frame: last });
        }
        let mut log = SpanLog::default();
        for (n, s) in spans.iter().enumerate() {
            log.push(*s);
            agrees(&log, &spans[..=n]);
        }
        assert!(log.runs() < 70, "{} runs", log.runs());
        let mut one = SpanLog::default();
        one.push(spans[7]);
        agrees(&one, &spans[7..8]);
        assert!(SpanLog::default().is_empty() && SpanLog::default().last().is_none());
    }
}
