//! A whole take (or stream) from frames to labeled segments: [`Engine`] embeddings, a clustering
//! stage (segment-level by default, or the online window-level [`Clusterer`]), then the
//! [`Segmenter`].
//!
//! [`StreamLabeler`] is the per-stream cluster and segment stage (no model inside), used by
//! [`label_take`] and by the live service. Streaming feeds frames one at a time and hands each
//! window to it as soon as the model has run on it; batch embeds everything first with large
//! model batches. Both push the same windows in the same order, and the final labels are read
//! from the clusterer once the input ends, so both give the same final segments (tested).

use std::collections::HashMap;

use ndarray::ArrayView2;

use crate::cluster::match_by_overlap;
use crate::cluster::segments::{SegmentClusterer, SegmentCut, SegmentParams};
use crate::cluster::{ClusterEvent, ClusterId, ClusterParams, Clusterer, Cut, Linkage};
use crate::embed::{Embedder, Summary};
use crate::engine::{with_row, Engine, EngineConfig, EngineModel, WindowEmbedding};
use crate::error::{Error, Result};
use crate::segment::{Segment, SegmentEvent, Segmenter, SegmenterParams};
use crate::window::{LabelRuns, SpanLog, WindowSpan};

/// Which clustering turns window embeddings into labels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// Cut the stream where the embedding changes, then single linkage over the segments
    /// ([`crate::cluster::segments`]). The default: it measured best on the development trials.
    Segments(SegmentParams),
    /// Robust single linkage over the windows themselves ([`crate::cluster::Clusterer`]).
    Windows,
}

/// The clustering stage of one stream.
#[derive(Debug)]
enum Stage {
    Windows(Clusterer),
    Segments(SegmentClusterer),
}

/// Settings of a labeling run, validated by [`label_take`].
#[derive(Debug, Clone)]
pub struct LabelerParams {
    /// Hop, model batch and per-window summary.
    pub engine: EngineConfig,
    /// Segment-level or window-level clustering.
    pub method: Method,
    /// Window-level clustering ([`Method::Windows`]); its `cut` also says whether K is given
    /// (`Cut::Count`) for both methods. `dim` is set from the model and basis.
    pub cluster: ClusterParams,
    /// A new label must hold this many frames before a boundary is declared.
    pub min_segment_frames: usize,
    /// Feed frames one at a time (streaming) rather than embedding all windows first (batch).
    pub streaming: bool,
    /// Provisional labels (and live segment events) every this many windows; 0 = only the
    /// final labeling at the end. It costs one labeling of the stored windows
    /// (`O(n log n)`) per update and never changes the final result.
    pub provisional_every: usize,
}

impl LabelerParams {
    /// Defaults, chosen with `motionseg eval` on the development trials: hop 4 (the same
    /// accuracy as hop 2 at half the model cost, with the segments' context and lag halved), the
    /// [`Summary::MeanPose`] embedding (decoder states and pose statistics: 93.9 / 90.2 % K
    /// given / inferred against 91.2 / 87.1 % for the decoder states alone, both with
    /// change-score peaks), the segments method with its defaults (boundaries by optimal
    /// partitioning, penalty 6.5, merge threshold 0.28, pose means weighted
    /// [`POSE_MEAN_WEIGHT`](crate::engine::POSE_MEAN_WEIGHT): 95.0 / 93.2 %); for the windows method robust single
    /// linkage with 10 neighbours for the core distance and clusters of at least 20 windows
    /// (about 2.7 s at hop 4); `actions` clusters when given (else K inferred), segments of at
    /// least half a second at 120 fps.
    pub fn new(actions: Option<usize>) -> LabelerParams {
        let mut cluster = ClusterParams::new(1);
        cluster.linkage = Linkage::Robust { min_samples: 10 };
        cluster.min_cluster_size = 20;
        if let Some(k) = actions {
            cluster.cut = Cut::Count(k);
        }
        LabelerParams {
            engine: EngineConfig { hop: 4, batch: 64, summary: Summary::MeanPose },
            method: Method::Segments(SegmentParams::default()),
            cluster,
            min_segment_frames: 60,
            streaming: false,
            provisional_every: 0,
        }
    }
}

impl LabelerParams {
    /// Length of this labeling's window embeddings with `model` (which needs a basis). With
    /// [`Summary::MeanPose`] it also tells the segments method where the decoder part ends and
    /// how many windows later the pose part's change score is read
    /// ([`SegmentParams::change_split`], [`SegmentParams::change_shift`]: `T_e / (2 · hop)`,
    /// half a window); [`StreamLabeler::new`] refuses such embeddings until this was called.
    /// ([`StreamLabeler::new`] itself scales the boundary penalty to the hop,
    /// [`SegmentParams::penalty_scale`] = `4 / hop`, whatever the caller set there.)
    /// [`label_take`] and the live service call it themselves.
    pub fn bind_model(&mut self, model: &EngineModel) -> Result<usize> {
        let m = model.manifest();
        let k = model.basis().map(|b| b.modes()).ok_or_else(|| Error::Param {
            name: "basis",
            message: "labeling needs a POD basis (fit one with `motionseg fit-basis`)".to_owned(),
        })?;
        let summary = self.engine.summary;
        let decoder = summary.len(m.t_d, k);
        if let Method::Segments(sp) = &mut self.method {
            let pose = summary.pose_len(1) > 0;
            sp.change_split = if pose { decoder } else { 0 };
            // Half a window, in windows: from the window's middle to its end.
            let hop = self.engine.hop.max(1);
            sp.change_shift = if pose { (m.t_e + hop) / (2 * hop) } else { 0 };
        }
        Ok(decoder + summary.pose_len(m.input_channels()))
    }

    /// Raises the memory caps (window-level points, segments) to hold `windows` windows, so a
    /// finite take is labelled without thinning: what batch labeling of a file wants.
    pub fn keep_all(&mut self, windows: usize) {
        self.cluster.max_points = self.cluster.max_points.max(windows + 16);
        if let Method::Segments(sp) = &mut self.method {
            sp.max_segments = sp.max_segments.max(windows + 1);
        }
    }
}

/// The result of labeling a take.
#[derive(Debug, Clone)]
pub struct Labeling {
    /// Every window, in order.
    pub windows: Vec<WindowSpan>,
    /// The final cluster label of each window (`None`: noise).
    pub window_labels: Vec<Option<usize>>,
    /// One label per input frame (`None` where none could be given).
    pub frame_labels: Vec<Option<usize>>,
    /// Final segments.
    pub segments: Vec<Segment>,
}

/// The cluster and segment stages of one stream, without the model: feed it window embeddings
/// in order ([`StreamLabeler::push_window`]), end it with [`StreamLabeler::finish`].
///
/// While the stream runs, every `provisional_every`-th window relabels the stored windows under
/// the configured cut and feeds the newest window's label to an online [`Segmenter`], so
/// provisional segment events (opened, extended, closed, relabel when a cluster vanishes into
/// another) flow as the stream goes. The final labeling is computed once at the end from the
/// whole hierarchy and replaces the provisional segments ([`SegmentEvent::Revised`]): it depends
/// only on the windows pushed, so any feeding of the same frames (frame by frame, in chunks, or
/// all windows at once) gives the same final segments.
///
/// ```no_run
/// # fn demo(
/// #     model: &motionseg::engine::EngineModel,
/// #     windows: &[motionseg::engine::WindowEmbedding],
/// # ) -> motionseg::Result<()> {
/// use motionseg::labeler::{LabelerParams, StreamLabeler};
///
/// let mut params = LabelerParams::new(Some(4));
/// let dim = params.bind_model(model)?; // the embedding layout of this model
/// let mut labeler = StreamLabeler::new(&params, dim, 120.0)?;
/// let mut events = Vec::new();
/// for w in windows {
///     labeler.push_window(w, &mut events)?;
///     for e in events.drain(..) {
///         println!("{e:?}");
///     }
/// }
/// let labeling = labeler.finish(4579, &mut events)?;
/// println!("{} segments", labeling.segments.len());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct StreamLabeler {
    clusterer: Stage,
    /// The cut, for the K-versus-windows check at the end.
    cut: Cut,
    live: Segmenter,
    min_segment_frames: usize,
    provisional_every: usize,
    /// Every window's span, as runs whose steps repeat (one run on a regular stream).
    windows: SpanLog,
    /// Final labels of windows thinned out of the clusterer, as runs (they grow with the
    /// changes of label, not with the windows).
    evicted: LabelRuns,
    cluster_events: Vec<ClusterEvent>,
    /// The labeling at the previous provisional update, by window index.
    previous: HashMap<u64, Option<usize>>,
    current: Vec<(u64, Option<ClusterId>)>,
    /// Next fresh provisional cluster id.
    next_stable: usize,
    finished: bool,
}

impl StreamLabeler {
    /// A labeler for embeddings of length `dim` from a stream at `fps` input frames per second.
    pub fn new(params: &LabelerParams, dim: usize, fps: f64) -> Result<StreamLabeler> {
        if !(fps.is_finite() && fps > 0.0) {
            return Err(Error::Param {
                name: "fps",
                message: format!("{} is not positive", crate::error::num(fps)),
            });
        }
        let mut cp = params.cluster.clone();
        cp.dim = dim;
        let clusterer = match params.method {
            Method::Windows => Stage::Windows(cp.build()?),
            Method::Segments(sp) => {
                if params.engine.summary.pose_len(1) > 0 && sp.change_split == 0 {
                    return Err(Error::Param {
                        name: "change_split",
                        message: "embeddings with pose statistics need the decoder part's \
                                  length for the change score (LabelerParams::bind_model)"
                            .to_owned(),
                    });
                }
                let cut = match cp.cut {
                    Cut::Count(k) => SegmentCut::Count(k),
                    _ => SegmentCut::Threshold,
                };
                // The penalty is stated for hop 4 (where it was chosen).
                let sp =
                    SegmentParams { penalty_scale: 4.0 / params.engine.hop.max(1) as f32, ..sp };
                Stage::Segments(SegmentClusterer::new(sp, cut, dim)?)
            }
        };
        let live = SegmenterParams::new(params.min_segment_frames.max(1)).build()?;
        Ok(StreamLabeler {
            clusterer,
            cut: cp.cut,
            live,
            min_segment_frames: params.min_segment_frames.max(1),
            provisional_every: params.provisional_every,
            windows: SpanLog::default(),
            evicted: LabelRuns::default(),
            cluster_events: Vec::new(),
            previous: HashMap::new(),
            current: Vec::new(),
            next_stable: 0,
            finished: false,
        })
    }

    /// Windows pushed so far.
    pub fn windows(&self) -> usize {
        self.windows.len()
    }

    /// Adds the next window (windows must come in stream order); appends provisional events.
    pub fn push_window(
        &mut self,
        w: &WindowEmbedding,
        events: &mut Vec<SegmentEvent>,
    ) -> Result<()> {
        if self.finished {
            return Err(Error::invalid("labeler", None, "window pushed after finish"));
        }
        if let Some(prev) = self.windows.last() {
            if w.span.index <= prev.index {
                return Err(Error::invalid(
                    "labeler",
                    None,
                    format!(
                        "window index {} after window {}: not increasing",
                        w.span.index, prev.index
                    ),
                ));
            }
            if w.span.last_frame <= prev.last_frame {
                return Err(Error::invalid(
                    "labeler",
                    None,
                    format!(
                        "window {} ends at frame {}, not after the previous window's {}",
                        w.span.index, w.span.last_frame, prev.last_frame
                    ),
                ));
            }
        }
        self.cluster_events.clear();
        match &mut self.clusterer {
            Stage::Windows(c) => c.insert(w.span.index, &w.values, &mut self.cluster_events)?,
            Stage::Segments(c) => c.insert(&w.values)?,
        }
        for e in &self.cluster_events {
            if let ClusterEvent::Evicted { id, label } = *e {
                self.evicted.insert(id, label.map(|c| c.0 as usize));
                self.previous.remove(&id);
            }
        }
        self.windows.push(w.span);
        if self.provisional_every > 0 && self.windows.len().is_multiple_of(self.provisional_every) {
            self.provisional(events)?;
        }
        Ok(())
    }

    /// Relabels under the current hierarchy and maps the cut's clusters onto stable provisional
    /// ids (a cluster keeps the id it shares most windows with; a vanished id whose windows went
    /// to another is a merge and becomes a relabel); then feeds the new windows to the online
    /// segmenter.
    fn provisional(&mut self, events: &mut Vec<SegmentEvent>) -> Result<()> {
        self.stage_labels(false);
        // Overlap between previous stable ids and the cut's current cluster numbers.
        let mut overlap: HashMap<(usize, u32), usize> = HashMap::new();
        for &(id, now) in &self.current {
            if let (Some(Some(before)), Some(now)) = (self.previous.get(&id), now) {
                *overlap.entry((*before, now.0)).or_default() += 1;
            }
        }
        let (pairs, mut taken) = match_by_overlap(overlap);
        let mut stable_of: HashMap<u32, usize> = taken.iter().map(|(&b, &n)| (n, b)).collect();
        // Previous ids that lost their identity: merged into where most of their windows went.
        let mut merges = Vec::new();
        for &((before, now), _) in &pairs {
            if let (std::collections::hash_map::Entry::Vacant(slot), Some(&into)) =
                (taken.entry(before), stable_of.get(&now))
            {
                slot.insert(now);
                merges.push((before, into));
            }
        }
        let mut fresh: Vec<u32> = self
            .current
            .iter()
            .filter_map(|(_, l)| l.map(|c| c.0))
            .filter(|c| !stable_of.contains_key(c))
            .collect();
        fresh.sort_unstable();
        fresh.dedup();
        for c in fresh {
            stable_of.insert(c, self.next_stable);
            self.next_stable += 1;
        }
        for (from, into) in merges {
            self.live.relabel(from, into, events);
        }
        let fed = self.live_windows_fed();
        for &(id, now) in &self.current {
            let stable = now.and_then(|c| stable_of.get(&c.0).copied());
            self.previous.insert(id, stable);
        }
        for span in self.windows.iter_from(fed) {
            let label = self.previous.get(&span.index).copied().flatten();
            self.live.push(span, label, events)?;
        }
        Ok(())
    }

    /// The stage's current labels into `self.current`, as `(window index, label)`: every
    /// window when `all`, else (segments method) only the windows whose label can still change,
    /// so a provisional update costs the kept windows, not the whole stream.
    fn stage_labels(&mut self, all: bool) {
        match &self.clusterer {
            Stage::Windows(c) => c.final_labels_into(&mut self.current),
            Stage::Segments(c) => {
                self.current.clear();
                let from = if all { 0 } else { c.first_kept().min(self.windows.len()) };
                let labels = c.labels_from(from);
                self.current.extend(
                    self.windows
                        .iter_from(from)
                        .zip(labels)
                        .map(|(w, l)| (w.index, l.map(|x| ClusterId(x as u32)))),
                );
                if !all {
                    // Older windows' provisional ids are settled; forget them (bounded memory).
                    if let Some(first) = self.windows.get(from) {
                        let first = first.index;
                        self.previous.retain(|&id, _| id >= first);
                    }
                }
            }
        }
    }

    /// Windows whose provisional label the labeler tracks (bounded on endless streams with the
    /// segments method; the windows method tracks what its clusterer keeps).
    pub fn tracked_windows(&self) -> usize {
        self.previous.len()
    }

    /// With the segments method, the current cut's longest kept and shortest removed
    /// spanning-tree edge ([`SegmentClusterer::cut_gap`]): how close the labeling is to a tie.
    /// `None` for the windows method.
    pub fn cut_gap(&self) -> Option<(f32, f32)> {
        match &self.clusterer {
            Stage::Segments(c) => c.cut_gap(),
            Stage::Windows(_) => None,
        }
    }

    /// Runs kept for the spans of all windows pushed ([`SpanLog`]: one on a regular stream, at
    /// any input rate), from which the final labeling lists every window.
    pub fn span_runs(&self) -> usize {
        self.windows.runs()
    }

    /// Runs of final labels kept for windows the clusterer thinned out (windows method;
    /// [`LabelRuns`]: they grow with the changes of label along the stream, not its windows).
    pub fn evicted_runs(&self) -> usize {
        self.evicted.runs()
    }

    /// How many windows the online segmenter has seen (windows are fed in order).
    fn live_windows_fed(&self) -> usize {
        let seen = self.live.frames_seen();
        self.windows.partition_point(|s| s.last_frame < seen)
    }

    /// Ends the stream after `total_frames` input frames: computes the final labels of every
    /// window, emits [`SegmentEvent::Revised`] with the final segments and a
    /// [`SegmentEvent::Finalized`] through the last frame, and returns the labeling. A stream
    /// that ended before its first window is refused (`frames`), as a take is.
    pub fn finish(
        &mut self,
        total_frames: usize,
        events: &mut Vec<SegmentEvent>,
    ) -> Result<Labeling> {
        if self.finished {
            return Err(Error::invalid("labeler", None, "finished twice"));
        }
        let Some(last) = self.windows.last() else {
            // As for a whole take (`label_take`): no window is a bad request, not an empty
            // labeling, so a stream and a file of the same frames agree.
            return Err(Error::Param {
                name: "frames",
                message: format!(
                    "the stream ended after {total_frames} frames, before its first model \
                     window: nothing to label"
                ),
            });
        };
        if total_frames <= last.last_frame {
            return Err(Error::Param {
                name: "total_frames",
                message: format!(
                    "{total_frames} frames, but a window ends at frame {}",
                    last.last_frame
                ),
            });
        }
        if let Cut::Count(k) = self.cut {
            if k > self.windows.len() {
                return Err(Error::Param {
                    name: "actions",
                    message: format!(
                        "{k} actions but the take gives only {} windows",
                        self.windows.len()
                    ),
                });
            }
        }
        self.finished = true;
        let mut final_labels: HashMap<u64, Option<usize>> = HashMap::new();
        if let Stage::Segments(c) = &mut self.clusterer {
            c.finish()?;
        }
        self.stage_labels(true);
        for &(id, l) in &self.current {
            final_labels.insert(id, l.map(|c| c.0 as usize));
        }
        let windows = std::mem::take(&mut self.windows).to_vec();
        // Windows the clusterer still holds take its label; the others left with theirs.
        let mut window_labels: Vec<Option<usize>> = windows
            .iter()
            .map(|s| match final_labels.get(&s.index) {
                Some(&l) => l,
                None => self.evicted.get(s.index).flatten(),
            })
            .collect();
        // Final labels are numbered 0, 1, 2, ... by first appearance (the stage's own numbers
        // keep provisional identities stable and can have gaps).
        let mut order: HashMap<usize, usize> = HashMap::new();
        for l in window_labels.iter_mut().flatten() {
            let next = order.len();
            *l = *order.entry(*l).or_insert(next);
        }
        let labeling =
            segment_windows(windows, window_labels, total_frames, self.min_segment_frames)?;
        events.push(SegmentEvent::Revised { segments: labeling.segments.clone() });
        events.push(SegmentEvent::Finalized { through: total_frames });
        Ok(labeling)
    }
}

/// Frame labels and segments from final window labels, with the hysteresis of `min_frames`
/// frames (the last stage of every labeling, also used for the offline comparators).
pub fn segment_windows(
    windows: Vec<WindowSpan>,
    window_labels: Vec<Option<usize>>,
    total_frames: usize,
    min_frames: usize,
) -> Result<Labeling> {
    if windows.len() != window_labels.len() {
        return Err(Error::Param {
            name: "window_labels",
            message: format!("{} labels for {} windows", window_labels.len(), windows.len()),
        });
    }
    let mut segmenter = SegmenterParams::new(min_frames.max(1)).build()?;
    let mut scratch = Vec::new();
    for (span, label) in windows.iter().zip(&window_labels) {
        segmenter.push(*span, *label, &mut scratch)?;
    }
    segmenter.finish_at(total_frames, &mut scratch)?;
    Ok(Labeling {
        windows,
        window_labels,
        frame_labels: segmenter.frame_labels(),
        segments: segmenter.segments(),
    })
}

/// Labels `frames` (raw canonical rows at `fps`) with `model` (which needs a basis): the
/// [`Engine`] then a [`StreamLabeler`]. Streaming feeds frames one at a time and hands each
/// window over as soon as the model has run on it; batch embeds everything first with large
/// model batches. Either way the labeler sees the same windows in the same order, so the final
/// labeling is the same.
pub fn label_take<E: Embedder>(
    model: &EngineModel,
    embedder: E,
    frames: ArrayView2<'_, f32>,
    fps: f64,
    params: &LabelerParams,
    mut progress: impl FnMut(usize),
) -> Result<Labeling> {
    let mut engine_cfg = params.engine;
    if params.streaming {
        engine_cfg.batch = 1;
    }
    let mut engine = Engine::new(model.clone(), embedder, fps, engine_cfg)?;
    let mut p = params.clone();
    let dim = p.bind_model(model)?;
    // A take is finite: keep every window (no thinning), so final labels cover all of them.
    p.keep_all(frames.nrows());
    let mut labeler = StreamLabeler::new(&p, dim, fps)?;
    let mut events = Vec::new();
    let mut out = Vec::new();
    for (i, row) in frames.rows().into_iter().enumerate() {
        with_row(row, |r| engine.push_frame(r, &mut out))?;
        if params.streaming {
            for w in out.drain(..) {
                labeler.push_window(&w, &mut events)?;
            }
            events.clear();
        }
        if i.is_multiple_of(256) {
            progress(i);
        }
    }
    engine.flush(&mut out)?;
    for w in out.drain(..) {
        labeler.push_window(&w, &mut events)?;
        events.clear();
    }
    progress(frames.nrows());
    if labeler.windows.is_empty() {
        // A whole take with no window to label is a bad request, not an empty result.
        let m = model.manifest();
        return Err(Error::Param {
            name: "frames",
            message: format!(
                "{} frames at {} fps are shorter than one model window ({} model frames at \
                 {} fps, {:.2} s): nothing to label",
                frames.nrows(),
                crate::error::num(fps),
                m.t_e,
                m.model_fps,
                m.t_e as f64 / m.model_fps
            ),
        });
    }
    labeler.finish(frames.nrows(), &mut events)
}
