//! From per-window cluster labels to frame labels, segments and events, online.
//!
//! A [`Segmenter`] is fed `(WindowSpan, Option<label>)` in stream order and writes
//! [`SegmentEvent`]s into a caller buffer. [`segments_from_frame_labels`] computes the same final
//! segments offline from per-frame labels.
//!
//! ## Frame assignment
//!
//! A window's label is known when its last frame arrives, so each window labels the frames from
//! the previous window's last frame + 1 to its own last frame (inclusive). The first window also
//! labels every frame before it (frames `0..=last_frame`): nothing earlier could label them, and
//! the first label is the best guess. [`Segmenter::finish_at`] gives frames after the last
//! window the last window's label, symmetrically.
//!
//! ## Hysteresis
//!
//! A label different from the current segment's must persist for `min_frames` consecutive frames
//! before a boundary is declared; the boundary is then placed where that run began. Shorter runs
//! (flicker) are absorbed into the current segment and lower its
//! [`confidence`](Segment::confidence). So every segment but the first is at least `min_frames`
//! long, and `min_frames = 1` gives the plain runs of the labels.
//!
//! ## Relabel and finality
//!
//! Online clustering merges clusters, which changes the labels of past frames:
//! [`Segmenter::relabel`] maps a label onto another in every segment not yet final, and merges
//! neighbours that end up with the same label (the earlier id survives). The segmenter cannot
//! know how far back a merge may reach, so the caller says it: [`Segmenter::seal`] (or
//! [`SegmenterParams::seal_lag`]) promises that frames before a given frame will not be
//! relabelled. The [`SegmentEvent::Finalized`] watermark is the start of the latest segment that
//! begins at or before the sealed frame: every segment before it is closed, will never change
//! and is ignored by later relabels. Without any seal, segments become final at
//! [`Segmenter::finish`].
//!
//! ```
//! use motionseg::segment::{SegmentEvent, SegmenterParams};
//! use motionseg::window::WindowSpan;
//!
//! let mut seg = SegmenterParams::new(3).build()?;
//! let mut events = Vec::new();
//! // Windows ending at frames 1, 3, 5, ... each label two new frames; "1" flickers once.
//! for (i, label) in [0, 0, 1, 0, 1, 1, 1].into_iter().enumerate() {
//!     let span = WindowSpan { index: i as u64, first_frame: 0, last_frame: 2 * i + 1 };
//!     seg.push(span, Some(label), &mut events)?;
//! }
//! seg.finish(&mut events);
//! let segs = seg.segments();
//! assert_eq!((segs[0].start, segs[0].end, segs[0].label), (0, 8, Some(0)));
//! assert_eq!((segs[1].start, segs[1].end, segs[1].label), (8, 14, Some(1)));
//! assert_eq!(events.last(), Some(&SegmentEvent::Finalized { through: 14 }));
//! # Ok::<(), motionseg::Error>(())
//! ```

use crate::error::{Error, Result};
use crate::types::FrameIndex;
use crate::window::WindowSpan;

/// Stable identifier of a segment within one stream: 0, 1, 2, ... in order of opening.
pub type SegmentId = u64;

/// A run of frames with one label, `[start, end)`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Segment {
    /// Stable id (see [`SegmentId`]).
    pub id: SegmentId,
    /// First frame.
    pub start: FrameIndex,
    /// One past the last frame.
    pub end: FrameIndex,
    /// The cluster label; `None` for frames whose windows had no label.
    pub label: Option<usize>,
    /// Fraction of the segment's frames whose input label equalled the segment's label when
    /// they arrived (flicker absorbed by the hysteresis lowers it). In `[0, 1]`.
    pub confidence: f32,
}

impl Segment {
    /// Number of frames.
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    /// True when the segment holds no frame.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when `frame` lies in `[start, end)`.
    pub fn contains(&self, frame: FrameIndex) -> bool {
        self.start <= frame && frame < self.end
    }

    /// Start time in seconds at `fps` frames per second (frame `i` starts at `i / fps`).
    pub fn start_s(&self, fps: f64) -> f64 {
        self.start as f64 / fps
    }

    /// End time in seconds at `fps` frames per second (exclusive, like `end`).
    pub fn end_s(&self, fps: f64) -> f64 {
        self.end as f64 / fps
    }

    /// Duration in seconds at `fps` frames per second.
    pub fn duration_s(&self, fps: f64) -> f64 {
        self.len() as f64 / fps
    }
}

/// Whether a segment can still change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SegmentStatus {
    /// Its end, label or existence may still change (open, or not yet sealed).
    Provisional,
    /// Closed and before the finalized watermark: it will never change again.
    Final,
}

/// What changed, in the order it happened. A consumer that applies the events to a map from id
/// to segment holds the same segments as [`Segmenter::segments`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum SegmentEvent {
    /// A segment began (its start may lie in the past: hysteresis confirms a boundary late).
    Opened {
        /// The new segment.
        id: SegmentId,
        /// Its label.
        label: Option<usize>,
        /// Its first frame.
        start: FrameIndex,
    },
    /// The open segment now reaches `end` (exclusive); at most one per pushed window.
    Extended {
        /// The open segment.
        id: SegmentId,
        /// Its provisional end.
        end: FrameIndex,
    },
    /// A segment ended at `end` (exclusive); a relabel may still merge it with its successor
    /// until it is final.
    Closed {
        /// The segment.
        id: SegmentId,
        /// One past its last frame.
        end: FrameIndex,
    },
    /// Label `from` became `to` (clusters merged) in the listed segments.
    Relabel {
        /// The old label.
        from: usize,
        /// The new label.
        to: usize,
        /// The segments whose label changed, in time order.
        segments: Vec<SegmentId>,
    },
    /// After a relabel two neighbours shared a label: `absorbed` no longer exists and `into`
    /// now ends at `end`.
    Merged {
        /// The surviving (earlier) segment.
        into: SegmentId,
        /// The removed (later) segment.
        absorbed: SegmentId,
        /// The new end of `into`.
        end: FrameIndex,
    },
    /// End of stream: the final segments, computed with everything seen, replace every
    /// provisional one (the online labels of a cluster cut can change in ways a relabel cannot
    /// express). A [`SegmentEvent::Finalized`] through the last frame follows.
    Revised {
        /// The final segments, in time order.
        segments: Vec<Segment>,
    },
    /// Frames before `through` will never change again (monotone).
    Finalized {
        /// The watermark.
        through: FrameIndex,
    },
}

/// Validated once by [`SegmenterParams::build`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SegmenterParams {
    /// A new label must persist this many frames before a boundary is declared (at least 1;
    /// 1 means no hysteresis).
    pub min_frames: usize,
    /// When set, after each window the frames older than `seal_lag` frames behind the newest are
    /// sealed (see [`Segmenter::seal`]): use it when the clusterer never relabels older points.
    pub seal_lag: Option<usize>,
}

impl SegmenterParams {
    /// Hysteresis of `min_frames` frames, no automatic sealing.
    pub fn new(min_frames: usize) -> Self {
        SegmenterParams { min_frames, seal_lag: None }
    }

    /// Seals frames older than `lag` frames behind the newest automatically.
    pub fn with_seal_lag(mut self, lag: usize) -> Self {
        self.seal_lag = Some(lag);
        self
    }

    /// Checks the parameters and builds a segmenter.
    pub fn build(self) -> Result<Segmenter> {
        if self.min_frames == 0 {
            return Err(Error::Param {
                name: "min_frames",
                message: "must be at least 1 frame (1 = no hysteresis)".to_owned(),
            });
        }
        Ok(Segmenter {
            params: self,
            segs: Vec::new(),
            agree: Vec::new(),
            first_open: 0,
            pending: None,
            frames_seen: 0,
            last_frame: None,
            sealed: 0,
            watermark: 0,
            next_id: 0,
            reported_end: 0,
            finished: false,
        })
    }
}

/// A candidate run of a new label, not yet `min_frames` long.
#[derive(Debug, Clone, Copy)]
struct Pending {
    label: Option<usize>,
    start: FrameIndex,
    len: usize,
}

/// The online segmenter: per-stream state. Build it with [`SegmenterParams::build`].
#[derive(Debug, Clone)]
pub struct Segmenter {
    params: SegmenterParams,
    /// Every segment so far, in time order; the last one is open until `finish`.
    segs: Vec<Segment>,
    /// Per segment: frames whose input label agreed (for `confidence`).
    agree: Vec<usize>,
    /// Index in `segs` of the first segment that is not final.
    first_open: usize,
    pending: Option<Pending>,
    frames_seen: usize,
    last_frame: Option<FrameIndex>,
    sealed: FrameIndex,
    watermark: FrameIndex,
    next_id: SegmentId,
    /// The open segment's end as last reported (to emit `Extended` only on change).
    reported_end: FrameIndex,
    finished: bool,
}

impl Segmenter {
    /// The parameters it was built with.
    pub fn params(&self) -> SegmenterParams {
        self.params
    }

    /// Frames labelled so far (the last window's last frame + 1).
    pub fn frames_seen(&self) -> usize {
        self.frames_seen
    }

    /// The finalized watermark: frames before it never change again.
    pub fn watermark(&self) -> FrameIndex {
        self.watermark
    }

    /// Feeds the next window and its label. Windows must arrive with strictly increasing
    /// `last_frame`; after [`Segmenter::finish`] nothing more may be pushed.
    pub fn push(
        &mut self,
        span: WindowSpan,
        label: Option<usize>,
        events: &mut Vec<SegmentEvent>,
    ) -> Result<()> {
        if self.finished {
            return Err(Error::invalid("segmenter", None, "window pushed after finish"));
        }
        let n = match self.last_frame {
            Some(prev) if span.last_frame <= prev => {
                return Err(Error::invalid(
                    "segmenter",
                    None,
                    format!(
                        "window {} ends at frame {}, not after the previous window's {prev}",
                        span.index, span.last_frame
                    ),
                ));
            }
            Some(prev) => span.last_frame - prev,
            None => span.last_frame + 1,
        };
        self.last_frame = Some(span.last_frame);
        self.push_run(label, n, events);
        self.report_extended(events);
        if let Some(lag) = self.params.seal_lag {
            self.seal(self.frames_seen.saturating_sub(lag), events);
        }
        Ok(())
    }

    /// Processes `n` frames of one label through the hysteresis.
    fn push_run(&mut self, label: Option<usize>, n: usize, events: &mut Vec<SegmentEvent>) {
        let at = self.frames_seen;
        self.frames_seen += n;
        let Some(cur) = self.segs.last().map(|s| s.label) else {
            // First frames of the stream: open unconditionally.
            self.open(label, at, n, events);
            return;
        };
        if label == cur {
            // Back to the current label: any candidate run was flicker.
            self.pending = None;
            self.extend_current(n);
            return;
        }
        let p = match self.pending {
            Some(mut p) if p.label == label => {
                p.len += n;
                p
            }
            _ => Pending { label, start: at, len: n },
        };
        if p.len >= self.params.min_frames {
            self.pending = None;
            self.close_current(p.start, events);
            self.open(p.label, p.start, p.len, events);
        } else {
            self.pending = Some(p);
            self.extend_current(0);
        }
    }

    /// Brings the open segment's end up to the pending start (or all frames seen), counting
    /// `agree` more frames whose input label agreed.
    fn extend_current(&mut self, agree: usize) {
        let end = self.pending.map_or(self.frames_seen, |p| p.start);
        if let (Some(s), Some(a)) = (self.segs.last_mut(), self.agree.last_mut()) {
            s.end = end;
            *a += agree;
        }
    }

    fn open(
        &mut self,
        label: Option<usize>,
        start: FrameIndex,
        agree: usize,
        events: &mut Vec<SegmentEvent>,
    ) {
        let id = self.next_id;
        self.next_id += 1;
        self.segs.push(Segment { id, start, end: self.frames_seen, label, confidence: 1.0 });
        self.agree.push(agree);
        self.reported_end = start;
        events.push(SegmentEvent::Opened { id, label, start });
    }

    fn close_current(&mut self, end: FrameIndex, events: &mut Vec<SegmentEvent>) {
        if let Some(s) = self.segs.last_mut() {
            s.end = end;
            events.push(SegmentEvent::Closed { id: s.id, end });
        }
    }

    fn report_extended(&mut self, events: &mut Vec<SegmentEvent>) {
        if let Some(s) = self.segs.last() {
            if s.end > self.reported_end {
                self.reported_end = s.end;
                events.push(SegmentEvent::Extended { id: s.id, end: s.end });
            }
        }
    }

    /// Promises that frames before `through` will not be relabelled, and emits
    /// [`SegmentEvent::Finalized`] when the watermark moves. `through` beyond the frames seen is
    /// clamped; a smaller value than an earlier seal is ignored.
    pub fn seal(&mut self, through: FrameIndex, events: &mut Vec<SegmentEvent>) {
        self.sealed = self.sealed.max(through.min(self.frames_seen));
        // The watermark is the start of the latest segment starting at or before the seal: a
        // segment straddling the seal could still be relabelled as a whole.
        let mut i = self.first_open;
        while i + 1 < self.segs.len() && self.segs[i + 1].start <= self.sealed {
            i += 1;
        }
        self.first_open = i;
        let w = self.segs.get(i).map_or(0, |s| s.start);
        self.set_watermark(w, events);
    }

    fn set_watermark(&mut self, w: FrameIndex, events: &mut Vec<SegmentEvent>) {
        if w > self.watermark {
            self.watermark = w;
            events.push(SegmentEvent::Finalized { through: w });
        }
    }

    /// Clusters merged: label `from` is now `into`. Every segment that is not final changes
    /// label accordingly (one [`SegmentEvent::Relabel`]), then neighbours that now share a label
    /// merge into the earlier one ([`SegmentEvent::Merged`]). Decisions the hysteresis already
    /// took are not revisited: flicker absorbed earlier stays absorbed.
    pub fn relabel(&mut self, from: usize, into: usize, events: &mut Vec<SegmentEvent>) {
        if from == into {
            return;
        }
        let mut changed = Vec::new();
        for s in &mut self.segs[self.first_open..] {
            if s.label == Some(from) {
                s.label = Some(into);
                changed.push(s.id);
            }
        }
        if let Some(p) = &mut self.pending {
            if p.label == Some(from) {
                p.label = Some(into);
            }
        }
        if !changed.is_empty() {
            events.push(SegmentEvent::Relabel { from, to: into, segments: changed });
            self.merge_equal_neighbours(events);
        }
        // The candidate may now carry the open segment's label: it was flicker after all.
        if let (Some(p), Some(cur)) = (self.pending, self.segs.last()) {
            if p.label == cur.label {
                self.pending = None;
                self.extend_current(0);
            }
        }
    }

    /// Merges each non-final segment into its predecessor when both carry the same label.
    fn merge_equal_neighbours(&mut self, events: &mut Vec<SegmentEvent>) {
        let mut i = self.first_open + 1;
        while i < self.segs.len() {
            if self.segs[i].label == self.segs[i - 1].label {
                let gone = self.segs.remove(i);
                let agreed = self.agree.remove(i);
                self.agree[i - 1] += agreed;
                self.segs[i - 1].end = gone.end;
                events.push(SegmentEvent::Merged {
                    into: self.segs[i - 1].id,
                    absorbed: gone.id,
                    end: gone.end,
                });
            } else {
                i += 1;
            }
        }
        // A merge may have replaced the open segment's end by the absorbed one's.
        if let Some(s) = self.segs.last() {
            self.reported_end = s.end;
        }
    }

    /// Ends the stream after the last window: absorbs a pending candidate, closes the last
    /// segment and finalizes everything. Later calls do nothing.
    pub fn finish(&mut self, events: &mut Vec<SegmentEvent>) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.pending = None;
        self.extend_current(0);
        if let Some(s) = self.segs.last() {
            events.push(SegmentEvent::Closed { id: s.id, end: s.end });
        }
        self.first_open = self.segs.len();
        self.set_watermark(self.frames_seen, events);
    }

    /// Like [`Segmenter::finish`] for a stream of `total_frames` frames: frames after the last
    /// window get the last window's label. Fails when `total_frames` is below the frames already
    /// labelled.
    pub fn finish_at(&mut self, total_frames: usize, events: &mut Vec<SegmentEvent>) -> Result<()> {
        if total_frames < self.frames_seen {
            return Err(Error::Param {
                name: "total_frames",
                message: format!("{total_frames} is below the {} frames seen", self.frames_seen),
            });
        }
        if !self.finished && total_frames > self.frames_seen {
            // Trailing frames continue whatever the last window said, pending run included.
            let label = self.pending.map(|p| p.label).or(self.segs.last().map(|s| s.label));
            if let Some(label) = label {
                self.push_run(label, total_frames - self.frames_seen, events);
            }
        }
        self.finish(events);
        Ok(())
    }

    /// All segments so far, in time order (the last one provisional until `finish`).
    pub fn segments(&self) -> Vec<Segment> {
        self.segs
            .iter()
            .zip(&self.agree)
            .map(|(s, &a)| Segment { confidence: confidence(a, s.len()), ..s.clone() })
            .collect()
    }

    /// Whether segment `id` can still change; `None` for an id that does not exist (never
    /// opened, or merged away).
    pub fn status(&self, id: SegmentId) -> Option<SegmentStatus> {
        let i = self.segs.iter().position(|s| s.id == id)?;
        Some(if i < self.first_open { SegmentStatus::Final } else { SegmentStatus::Provisional })
    }

    /// One label per frame seen: what each frame would carry if the stream finished now
    /// (a pending candidate counts as flicker).
    pub fn frame_labels(&self) -> Vec<Option<usize>> {
        let mut out = Vec::with_capacity(self.frames_seen);
        for s in &self.segs {
            out.resize(s.end, s.label);
        }
        let last = self.segs.last().and_then(|s| s.label);
        out.resize(self.frames_seen, last);
        out
    }
}

fn confidence(agree: usize, len: usize) -> f32 {
    if len == 0 {
        1.0
    } else {
        (agree.min(len) as f64 / len as f64) as f32
    }
}

/// Offline segmentation of per-frame labels with the same hysteresis as [`Segmenter`]: the
/// final result of feeding the same frame labels online (ids 0, 1, 2, ...; without relabels the
/// ids match too). `min_frames = 0` is treated as 1.
pub fn segments_from_frame_labels(labels: &[Option<usize>], min_frames: usize) -> Vec<Segment> {
    let min_frames = min_frames.max(1);
    // (start, label, agreeing frames) of each segment; ends follow from the next start.
    let mut segs: Vec<(usize, Option<usize>, usize)> = Vec::new();
    let mut pending: Option<(Option<usize>, usize)> = None; // (label, start)
    for (i, &x) in labels.iter().enumerate() {
        let Some(cur) = segs.last_mut() else {
            segs.push((i, x, 1));
            continue;
        };
        if x == cur.1 {
            pending = None;
            cur.2 += 1;
            continue;
        }
        let start = match pending {
            Some((l, s)) if l == x => s,
            _ => i,
        };
        if i + 1 - start >= min_frames {
            pending = None;
            segs.push((start, x, i + 1 - start));
        } else {
            pending = Some((x, start));
        }
    }
    let n = segs.len();
    (0..n)
        .map(|k| {
            let (start, label, agree) = segs[k];
            let end = if k + 1 < n { segs[k + 1].0 } else { labels.len() };
            Segment {
                id: k as SegmentId,
                start,
                end,
                label,
                confidence: confidence(agree, end - start),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(i: usize, last: usize) -> WindowSpan {
        WindowSpan { index: i as u64, first_frame: last.saturating_sub(10), last_frame: last }
    }

    #[test]
    fn params_are_validated() {
        assert!(SegmenterParams::new(0).build().is_err());
        assert!(SegmenterParams::new(1).build().is_ok());
    }

    #[test]
    fn offline_plain_runs_without_hysteresis() {
        let l = [Some(1), Some(1), None, Some(2)];
        let s = segments_from_frame_labels(&l, 1);
        let got: Vec<_> = s.iter().map(|s| (s.start, s.end, s.label)).collect();
        assert_eq!(got, [(0, 2, Some(1)), (2, 3, None), (3, 4, Some(2))]);
    }

    #[test]
    fn out_of_order_windows_are_rejected() {
        let mut seg = SegmenterParams::new(2).build().expect("params");
        let mut ev = Vec::new();
        seg.push(span(0, 5), Some(0), &mut ev).expect("first");
        assert!(seg.push(span(1, 5), Some(0), &mut ev).is_err());
        seg.finish(&mut ev);
        assert!(seg.push(span(2, 9), Some(0), &mut ev).is_err());
    }
}
