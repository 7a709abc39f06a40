//! The online segmenter: scripted flicker, relabel merges, the finalized watermark, and online ==
//! offline on random streams.

use std::collections::BTreeMap;

use motionseg::segment::{
    segments_from_frame_labels, Segment, SegmentEvent, SegmentStatus, SegmenterParams,
};
use motionseg::window::WindowSpan;
use proptest::prelude::*;

const A: Option<usize> = Some(0);
const B: Option<usize> = Some(1);
const C: Option<usize> = Some(2);

fn span(index: u64, last_frame: usize) -> WindowSpan {
    WindowSpan { index, first_frame: last_frame.saturating_sub(49), last_frame }
}

/// Applies events to a map id -> (start, end, label), as a consumer would.
fn replay(events: &[SegmentEvent]) -> BTreeMap<u64, (usize, usize, Option<usize>)> {
    let mut m = BTreeMap::new();
    for e in events {
        match e {
            SegmentEvent::Opened { id, label, start } => {
                m.insert(*id, (*start, *start, *label));
            }
            SegmentEvent::Extended { id, end } | SegmentEvent::Closed { id, end } => {
                m.get_mut(id).expect("known id").1 = *end;
            }
            SegmentEvent::Relabel { to, segments, .. } => {
                for id in segments {
                    m.get_mut(id).expect("known id").2 = Some(*to);
                }
            }
            SegmentEvent::Merged { into, absorbed, end } => {
                m.remove(absorbed).expect("absorbed id");
                m.get_mut(into).expect("into id").1 = *end;
            }
            SegmentEvent::Finalized { .. } => {}
            other => panic!("unexpected event {other:?}"),
        }
    }
    m
}

fn shape(segs: &[Segment]) -> Vec<(u64, usize, usize, Option<usize>)> {
    segs.iter().map(|s| (s.id, s.start, s.end, s.label)).collect()
}

#[test]
fn flicker_is_absorbed_and_events_follow_the_script() {
    let mut seg = SegmenterParams::new(8).build().expect("params");
    let mut ev = Vec::new();
    // First window ends at frame 9 (labels frames 0..=9), then a hop of 4 frames.
    let script = [A, A, B, A, B, B, B];
    let mut per_window = Vec::new();
    for (i, label) in script.into_iter().enumerate() {
        let before = ev.len();
        seg.push(span(i as u64, 9 + 4 * i), label, &mut ev).expect("push");
        per_window.push(ev[before..].to_vec());
    }
    use SegmentEvent::*;
    assert_eq!(per_window[0], [Opened { id: 0, label: A, start: 0 }, Extended { id: 0, end: 10 }]);
    assert_eq!(per_window[1], [Extended { id: 0, end: 14 }]);
    assert!(per_window[2].is_empty()); // B pending (4 < 8 frames)
    assert_eq!(per_window[3], [Extended { id: 0, end: 22 }]); // flicker absorbed
    assert!(per_window[4].is_empty());
    assert_eq!(
        per_window[5],
        [
            Closed { id: 0, end: 22 },
            Opened { id: 1, label: B, start: 22 },
            Extended { id: 1, end: 30 }
        ]
    );
    assert_eq!(seg.frame_labels().len(), 34);
    let before = ev.len();
    seg.finish(&mut ev);
    assert_eq!(ev[before..], [Closed { id: 1, end: 34 }, Finalized { through: 34 }]);
    let segs = seg.segments();
    assert_eq!(shape(&segs), [(0, 0, 22, A), (1, 22, 34, B)]);
    assert!((segs[0].confidence - 18.0 / 22.0).abs() < 1e-6);
    assert_eq!(segs[1].confidence, 1.0);
    assert!((segs[1].start_s(120.0) - 22.0 / 120.0).abs() < 1e-12);
    assert!((segs[1].duration_s(120.0) - 0.1).abs() < 1e-12);
    assert_eq!(seg.status(0), Some(SegmentStatus::Final));
    assert_eq!(replay(&ev).len(), 2);

    // The same frames offline.
    let offline = segments_from_frame_labels(&expand(&script, 10, 4), 8);
    assert_eq!(offline, segs);
}

/// Per-frame labels for windows whose first ends at `first - 1` and then every `hop` frames.
fn expand(script: &[Option<usize>], first: usize, hop: usize) -> Vec<Option<usize>> {
    let mut out = vec![script[0]; first];
    for &l in &script[1..] {
        out.extend(std::iter::repeat_n(l, hop));
    }
    out
}

#[test]
fn relabel_merges_neighbours_and_lists_affected_segments() {
    let mut seg = SegmenterParams::new(1).build().expect("params");
    let mut ev = Vec::new();
    for (i, l) in [A, B, C, A, C].into_iter().enumerate() {
        seg.push(span(i as u64, 2 * i + 1), l, &mut ev).expect("push");
    }
    assert_eq!(shape(&seg.segments()).len(), 5);
    ev.clear();
    seg.relabel(2, 1, &mut ev); // C merges into B
    use SegmentEvent::*;
    assert_eq!(
        ev,
        [Relabel { from: 2, to: 1, segments: vec![2, 4] }, Merged { into: 1, absorbed: 2, end: 6 }]
    );
    assert_eq!(shape(&seg.segments()), [(0, 0, 2, A), (1, 2, 6, B), (3, 6, 8, A), (4, 8, 10, B)]);
    ev.clear();
    seg.relabel(1, 0, &mut ev); // B merges into A: one segment
    assert_eq!(ev[0], Relabel { from: 1, to: 0, segments: vec![1, 4] });
    assert_eq!(shape(&seg.segments()), [(0, 0, 10, A)]);
    assert_eq!(seg.status(3), None);
    // New windows extend the surviving segment.
    ev.clear();
    seg.push(span(5, 11), A, &mut ev).expect("push");
    assert_eq!(ev, [Extended { id: 0, end: 12 }]);
    seg.relabel(7, 8, &mut ev); // unknown label: nothing happens
    assert_eq!(ev.len(), 1);
}

#[test]
fn relabel_of_a_pending_label_can_turn_it_into_flicker() {
    let mut seg = SegmenterParams::new(6).build().expect("params");
    let mut ev = Vec::new();
    seg.push(span(0, 9), A, &mut ev).expect("push");
    seg.push(span(1, 11), B, &mut ev).expect("push"); // B pending, 2 frames
    assert_eq!(seg.segments()[0].end, 10);
    seg.relabel(1, 0, &mut ev); // no segment carries B: no event, but the candidate is absorbed
    assert_eq!(seg.segments()[0].end, 12);
    assert!(!ev.iter().any(|e| matches!(e, SegmentEvent::Relabel { .. })));
}

#[test]
fn sealed_segments_are_final_and_ignore_relabels() {
    let mut seg = SegmenterParams::new(1).with_seal_lag(0).build().expect("params");
    let mut ev = Vec::new();
    for (i, l) in [A, A, B, B, A].into_iter().enumerate() {
        seg.push(span(i as u64, 2 * i + 1), l, &mut ev).expect("push");
    }
    // The watermark sits at the start of the open segment.
    assert_eq!(seg.watermark(), 8);
    assert_eq!(seg.status(0), Some(SegmentStatus::Final));
    assert_eq!(seg.status(2), Some(SegmentStatus::Provisional));
    ev.clear();
    seg.relabel(0, 1, &mut ev);
    // Only the open segment changes; the final ones keep their labels (and B, final, does not
    // merge with it).
    assert_eq!(ev, [SegmentEvent::Relabel { from: 0, to: 1, segments: vec![2] }]);
    assert_eq!(shape(&seg.segments()), [(0, 0, 4, A), (1, 4, 8, B), (2, 8, 10, B)]);
}

#[test]
fn finish_at_extends_and_rejects_short_totals() {
    let mut seg = SegmenterParams::new(3).build().expect("params");
    let mut ev = Vec::new();
    seg.push(span(0, 4), A, &mut ev).expect("push");
    assert!(seg.finish_at(3, &mut ev).is_err());
    seg.finish_at(9, &mut ev).expect("finish");
    assert_eq!(shape(&seg.segments()), [(0, 0, 9, A)]);
    assert_eq!(ev.last(), Some(&SegmentEvent::Finalized { through: 9 }));
    // Empty stream: finishing emits nothing but is fine.
    let mut empty = SegmenterParams::new(3).build().expect("params");
    let mut ev = Vec::new();
    empty.finish(&mut ev);
    assert!(ev.is_empty() && empty.segments().is_empty());
}

proptest! {
    #[test]
    fn online_equals_offline(
        first in 0usize..12,
        steps in proptest::collection::vec((1usize..6, 0usize..4), 0..60),
        min_frames in 1usize..7,
        lag in proptest::option::of(0usize..20),
    ) {
        let mut params = SegmenterParams::new(min_frames);
        params.seal_lag = lag;
        let mut seg = params.build().expect("params");
        let mut ev = Vec::new();
        let to_label = |k: usize| if k == 3 { None } else { Some(k) };
        let mut frames: Vec<Option<usize>> = Vec::new();
        let mut last = first;
        let mut watermark = 0;
        let first_label = to_label(steps.first().map_or(0, |s| s.1));
        seg.push(span(0, last), first_label, &mut ev).expect("push");
        frames.resize(last + 1, first_label);
        for (i, &(hop, k)) in steps.iter().enumerate().skip(1) {
            last += hop;
            seg.push(span(i as u64, last), to_label(k), &mut ev).expect("push");
            frames.resize(last + 1, to_label(k));
            for e in &ev {
                if let SegmentEvent::Finalized { through } = e {
                    prop_assert!(*through > watermark);
                    watermark = *through;
                }
            }
            ev.retain(|e| !matches!(e, SegmentEvent::Finalized { .. }));
            prop_assert_eq!(seg.frame_labels().len(), frames.len());
        }
        seg.finish(&mut ev);
        let online = seg.segments();
        prop_assert_eq!(&online, &segments_from_frame_labels(&frames, min_frames));
        let replayed: Vec<_> = replay(&ev).into_iter().map(|(id, (s, e, l))| (id, s, e, l)).collect();
        prop_assert_eq!(replayed, shape(&online));
        // Segments tile the frames; all but the first are at least min_frames long.
        prop_assert_eq!(online.last().map(|s| s.end), Some(frames.len()));
        for w in online.windows(2) {
            prop_assert_eq!(w[0].end, w[1].start);
            prop_assert!(w[1].len() >= min_frames);
            prop_assert!(w[0].label != w[1].label);
        }
    }
}

#[test]
fn segmenter_is_send_and_sync() {
    fn check<T: Send + Sync + Clone>() {}
    check::<motionseg::segment::Segmenter>();
    check::<SegmentEvent>();
    // Per-stream state that caches behind `&self` reads must stay shareable too.
    check::<motionseg::cluster::segments::SegmentClusterer>();
    fn shareable<T: Send + Sync>() {}
    shareable::<motionseg::labeler::StreamLabeler>();
}

proptest! {
    /// With relabels interleaved (no sealing): the events replay to the segments, neighbours
    /// always differ, and the result is a fixed point of the offline segmentation of the
    /// segmenter's own frame labels.
    #[test]
    fn relabels_keep_events_and_segments_consistent(
        ops in proptest::collection::vec(
            prop_oneof![
                3 => (1usize..6, 0usize..4).prop_map(|(hop, k)| (true, hop, k)),
                1 => (0usize..4, 0usize..4).prop_map(|(from, into)| (false, from, into)),
            ],
            1..60,
        ),
        min_frames in 1usize..5,
    ) {
        let mut seg = SegmenterParams::new(min_frames).build().expect("params");
        let mut ev = Vec::new();
        let mut last: Option<usize> = None;
        for (i, &(push, a, b)) in ops.iter().enumerate() {
            if push {
                let l = last.map_or(a, |p| p + a);
                last = Some(l);
                seg.push(span(i as u64, l), Some(b), &mut ev).expect("push");
            } else {
                seg.relabel(a, b, &mut ev);
            }
        }
        seg.finish(&mut ev);
        let segs = seg.segments();
        let replayed: Vec<_> = replay(&ev).into_iter().map(|(id, (s, e, l))| (id, s, e, l)).collect();
        prop_assert_eq!(replayed, shape(&segs));
        for w in segs.windows(2) {
            prop_assert!(w[0].label != w[1].label);
            prop_assert_eq!(w[0].end, w[1].start);
        }
        let again = segments_from_frame_labels(&seg.frame_labels(), min_frames);
        let bounds = |s: &[Segment]| s.iter().map(|s| (s.start, s.end, s.label)).collect::<Vec<_>>();
        prop_assert_eq!(bounds(&again), bounds(&segs));
    }
}
