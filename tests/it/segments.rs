//! Segment-level clustering: boundaries where the embedding changes, single linkage over
//! segments, K given and inferred, bounded memory, and errors that name the field.

use motionseg::cluster::segments::{SegmentClusterer, SegmentCut, SegmentParams};
use proptest::prelude::*;

/// A noisy window near axis `axis` of an 8-d space (deterministic pseudo-noise).
fn window(axis: usize, t: usize) -> Vec<f32> {
    (0..8)
        .map(|j| {
            let noise = (((t * 31 + j * 17) % 23) as f32 / 23.0 - 0.5) * 0.2;
            if j == axis {
                1.0 + noise
            } else {
                noise
            }
        })
        .collect()
}

/// Windows of the movements `plan` (axis, length), in order (also the partition tests').
pub(crate) fn stream(plan: &[(usize, usize)]) -> Vec<Vec<f32>> {
    let mut t = 0;
    let mut out = Vec::new();
    for &(axis, len) in plan {
        for _ in 0..len {
            out.push(window(axis, t));
            t += 1;
        }
    }
    out
}

fn run(params: SegmentParams, cut: SegmentCut, windows: &[Vec<f32>]) -> SegmentClusterer {
    let mut c = SegmentClusterer::new(params, cut, 8).expect("params");
    for w in windows {
        c.insert(w).expect("insert");
    }
    c.finish().expect("finish");
    c
}

#[test]
fn boundaries_sit_at_the_changes_and_repeats_share_a_label() {
    let plan = [(0, 120), (1, 100), (0, 110), (2, 90), (1, 100)];
    let windows = stream(&plan);
    // Change-score peaks (partitioning: tests/it/partition.rs).
    let params = SegmentParams { lag: 0, penalty: 0.0, ..SegmentParams::default() };
    for cut in [SegmentCut::Count(3), SegmentCut::Threshold] {
        let c = run(params, cut, &windows);
        assert_eq!(c.boundaries(), vec![0, 120, 220, 330, 420], "{cut:?}");
        let labels = c.labels();
        assert_eq!(labels.len(), windows.len());
        let at = |i: usize| labels[i].expect("labelled");
        // Same movement, same label; different movements, different labels.
        assert_eq!(at(10), at(250));
        assert_eq!(at(150), at(450));
        assert_ne!(at(10), at(150));
        assert_ne!(at(10), at(350));
        assert_ne!(at(150), at(350));
        // Whole segments carry one label.
        for (a, b) in [(0, 120), (120, 220), (220, 330), (330, 420), (420, 520)] {
            assert!(labels[a..b].iter().all(|&l| l == labels[a]), "{cut:?} {a}..{b}");
        }
    }
    // The lag moves every boundary later by that many windows.
    let c = run(SegmentParams { lag: 4, ..params }, SegmentCut::Count(3), &windows);
    assert_eq!(c.boundaries(), vec![0, 124, 224, 334, 424]);
}

#[test]
fn k_given_forces_the_count_and_the_threshold_infers_it() {
    let plan = [(0, 100), (1, 100), (2, 100), (3, 100)];
    let windows = stream(&plan);
    let count = |labels: Vec<Option<usize>>| {
        let mut l: Vec<usize> = labels.into_iter().flatten().collect();
        l.sort_unstable();
        l.dedup();
        l.len()
    };
    let p = SegmentParams::default();
    assert_eq!(count(run(p, SegmentCut::Count(2), &windows).labels()), 2);
    assert_eq!(count(run(p, SegmentCut::Count(4), &windows).labels()), 4);
    // More clusters than segments: every segment its own.
    assert_eq!(count(run(p, SegmentCut::Count(9), &windows).labels()), 4);
    assert_eq!(count(run(p, SegmentCut::Threshold, &windows).labels()), 4);
    // A threshold above every segment distance joins everything.
    let loose = SegmentParams { threshold: 2.0, ..p };
    assert_eq!(count(run(loose, SegmentCut::Threshold, &windows).labels()), 1);
}

#[test]
fn the_cut_gap_is_the_longest_kept_and_shortest_cut_edge() {
    // Movements 0, 1, 0, 2: the two visits of 0 are close, 1 and 2 far from everything (no
    // lag, so that no segment holds windows of its neighbour).
    let windows = stream(&[(0, 100), (1, 100), (0, 100), (2, 100)]);
    let p = SegmentParams { lag: 0, ..SegmentParams::default() };
    // K = 3 keeps the one short edge (0 to 0) and cuts the rest: a wide gap.
    let (kept, cut) = run(p, SegmentCut::Count(3), &windows).cut_gap().expect("gap");
    assert!(kept < 0.1 && cut > 0.5, "{kept} {cut}");
    // The threshold cut keeps the same edge here, so the same gap.
    assert_eq!(run(p, SegmentCut::Threshold, &windows).cut_gap(), Some((kept, cut)));
    // K = 2 cuts one long edge and keeps another: both long, kept below cut.
    let (k2, c2) = run(p, SegmentCut::Count(2), &windows).cut_gap().expect("gap");
    assert!(k2 > 0.5 && k2 <= c2, "{k2} {c2}");
    // Every edge cut (K = number of segments) or kept (K = 1): no gap to report.
    assert_eq!(run(p, SegmentCut::Count(4), &windows).cut_gap(), None);
    assert_eq!(run(p, SegmentCut::Count(1), &windows).cut_gap(), None);
    // Nothing closed yet: none either.
    let fresh = SegmentClusterer::new(p, SegmentCut::Count(2), 8).expect("params");
    assert_eq!(fresh.cut_gap(), None);
}

#[test]
fn provisional_labels_cover_the_open_segment_and_do_not_change_the_result() {
    let windows = stream(&[(0, 120), (1, 120), (0, 120)]);
    let p = SegmentParams::default();
    let mut c = SegmentClusterer::new(p, SegmentCut::Count(2), 8).expect("params");
    for (i, w) in windows.iter().enumerate() {
        c.insert(w).expect("insert");
        let labels = c.labels();
        assert_eq!(labels.len(), i + 1);
        assert!(labels.iter().all(Option::is_some), "every window has a provisional label");
    }
    c.finish().expect("finish");
    let quiet = run(p, SegmentCut::Count(2), &windows);
    assert_eq!(c.labels(), quiet.labels());
    assert_eq!(c.boundaries(), quiet.boundaries());
}

#[test]
fn a_new_movement_shows_a_new_provisional_label_before_its_boundary_is_final() {
    // Movement 0, then 60 windows of movement 1: with partitioning, no boundary is final yet
    // (or only the first), so the label of movement 1 is provisional. It must not be movement
    // 0's: the undecided part is far (cosine) from every labelled one.
    let windows = stream(&[(0, 120), (1, 60)]);
    for cut in [SegmentCut::Count(2), SegmentCut::Threshold] {
        let mut c = SegmentClusterer::new(SegmentParams::default(), cut, 8).expect("params");
        for w in &windows {
            c.insert(w).expect("insert");
        }
        let labels = c.labels();
        assert!(labels.iter().all(Option::is_some), "{cut:?}");
        assert_ne!(labels[50], labels[170], "{cut:?}: the new movement took the old label");
        // Within each movement, the newest windows agree with the older ones.
        assert_eq!(labels[20], labels[100], "{cut:?}");
    }
    // K = 1: no label is free, so the new movement keeps the only one.
    let mut c =
        SegmentClusterer::new(SegmentParams::default(), SegmentCut::Count(1), 8).expect("params");
    for w in &windows {
        c.insert(w).expect("insert");
    }
    assert!(c.labels().iter().all(|&l| l == Some(0)));
}

#[test]
fn provisional_labels_do_not_depend_on_how_often_they_are_read() {
    // The provisional labels cache row distances between reads; reading after every window
    // must give the labels a clusterer that never read before gives (no cache), also across
    // thinning (few windows kept per segment) and eviction (few segments kept).
    let plan: Vec<(usize, usize)> = (0..14).map(|i| ((i * 5) % 4, 60 + (i * 37) % 90)).collect();
    let windows = stream(&plan);
    // Unthinned (256 rows kept), the cached distances carry over when a close splits the open
    // segment; thinned (24), they are computed again.
    for (penalty, rows) in [(0.0, 24), (6.5, 24), (0.0, 256), (6.5, 256)] {
        for cut in [SegmentCut::Count(3), SegmentCut::Threshold] {
            let p = SegmentParams {
                max_segment_windows: rows,
                max_segments: 5,
                penalty,
                ..SegmentParams::default()
            };
            let mut often = SegmentClusterer::new(p, cut, 8).expect("params");
            for (i, w) in windows.iter().enumerate() {
                often.insert(w).expect("insert");
                let now = often.labels();
                if i % 53 == 52 {
                    let mut fresh = SegmentClusterer::new(p, cut, 8).expect("params");
                    for w in &windows[..=i] {
                        fresh.insert(w).expect("insert");
                    }
                    assert_eq!(now, fresh.labels(), "penalty {penalty} rows {rows} {cut:?} at {i}");
                }
            }
        }
    }
}

#[test]
fn memory_stays_bounded_on_a_long_stream() {
    // 60 movements of 150 windows: 9000 windows; change-score peaks, then partitioning.
    let plan: Vec<(usize, usize)> = (0..60).map(|i| (i % 3, 150)).collect();
    let windows = stream(&plan);
    for penalty in [0.0, 7.0] {
        let p = SegmentParams {
            max_segment_windows: 16,
            max_segments: 8,
            penalty,
            ..SegmentParams::default()
        };
        let mut c = SegmentClusterer::new(p, SegmentCut::Count(3), 8).expect("params");
        let mut most = 0;
        for w in &windows {
            c.insert(w).expect("insert");
            most = most.max(c.stored_windows());
        }
        c.finish().expect("finish");
        // Kept segments, plus the score context (peaks) or the windows back to the earliest
        // undecided boundary (partitioning).
        let bound = 16 * (8 + 1) + if penalty > 0.0 { 2 * 150 } else { 2 * p.context + 16 };
        assert!(most <= bound, "held {most} windows, bound {bound} (penalty {penalty})");
        let labels = c.labels();
        assert_eq!(labels.len(), 9000);
        assert!(labels.iter().all(Option::is_some));
        // Evicted segments keep the labels they had: movement i and i + 3 agree.
        assert_eq!(labels[75], labels[75 + 3 * 150]);
        assert_ne!(labels[75], labels[75 + 150]);
        assert_eq!(c.boundaries().len(), 60);
    }
}

#[test]
fn bad_parameters_and_vectors_are_named() {
    let p = SegmentParams::default();
    let cases: [(SegmentParams, &str); 11] = [
        (SegmentParams { context: 0, ..p }, "context"),
        (SegmentParams { context: usize::MAX, lag: 0, ..p }, "context"),
        (SegmentParams { lag: 30, ..p }, "lag"),
        (SegmentParams { min_change: -0.1, ..p }, "min_change"),
        (SegmentParams { quantile: 1.5, ..p }, "quantile"),
        (SegmentParams { min_windows: 0, ..p }, "min_windows"),
        (SegmentParams { threshold: f32::NAN, ..p }, "threshold"),
        (SegmentParams { max_segments: 1, ..p }, "max_segments"),
        (SegmentParams { change_shift: usize::MAX, ..p }, "change_shift"),
        (SegmentParams { penalty_scale: 0.0, ..p }, "penalty_scale"),
        (SegmentParams { penalty_scale: f32::INFINITY, ..p }, "penalty_scale"),
    ];
    for (params, field) in cases {
        let e = SegmentClusterer::new(params, SegmentCut::Threshold, 8).unwrap_err().to_string();
        assert!(e.contains(field), "{field}: {e}");
    }
    let e = SegmentClusterer::new(p, SegmentCut::Count(0), 8).unwrap_err().to_string();
    assert!(e.contains("K >= 1"), "{e}");
    let e = SegmentClusterer::new(p, SegmentCut::Count(2), 0).unwrap_err().to_string();
    assert!(e.contains("dim"), "{e}");

    let mut c = SegmentClusterer::new(p, SegmentCut::Count(2), 8).expect("params");
    let e = c.insert(&[1.0; 7]).unwrap_err().to_string();
    assert!(e.contains("dimension 8"), "{e}");
    let mut nan = vec![1.0; 8];
    nan[3] = f32::NAN;
    let e = c.insert(&nan).unwrap_err().to_string();
    assert!(e.contains("component 3"), "{e}");
    assert!(c.insert(&[0.0; 8]).is_err(), "zero vector");
    assert!(c.is_empty(), "rejected windows change nothing");
    c.insert(&[1.0; 8]).expect("insert");
    c.finish().expect("finish");
    assert!(c.insert(&[1.0; 8]).is_err(), "insert after finish");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..Default::default() })]

    /// Any plan of movements: every window labelled, labels count at most K, boundaries
    /// strictly increasing and inside the stream; never a panic.
    #[test]
    fn any_stream_is_labelled(plan in proptest::collection::vec((0usize..8, 1usize..120), 1..12),
                              k in 1usize..6, context in 1usize..30) {
        let windows = stream(&plan);
        let p = SegmentParams { context, lag: context.min(6), ..SegmentParams::default() };
        let c = run(p, SegmentCut::Count(k), &windows);
        let labels = c.labels();
        prop_assert_eq!(labels.len(), windows.len());
        prop_assert!(labels.iter().all(Option::is_some));
        let mut used: Vec<usize> = labels.iter().flatten().copied().collect();
        used.sort_unstable();
        used.dedup();
        prop_assert!(used.len() <= k);
        let b = c.boundaries();
        prop_assert_eq!(b[0], 0);
        prop_assert!(b.windows(2).all(|w| w[0] < w[1]));
        prop_assert!(b.iter().all(|&x| x < windows.len()));
    }
}

#[test]
fn a_segment_distance_is_the_larger_of_its_two_directions() {
    // Y holds X's pose in one window of five, Z's in the rest. Read from X's side Y is near
    // (every X window has a twin in Y), from Y's side far (most of Y is nowhere near X); the
    // segment distance takes the larger, so Y joins Z and not X.
    let mixed = |t: usize| window(if t % 5 == 4 { 0 } else { 1 }, t);
    let mut windows = stream(&[(0, 80)]);
    windows.extend((80..180).map(mixed));
    windows.extend(stream(&[(2, 80), (1, 80)]));
    let c = run(SegmentParams::default(), SegmentCut::Threshold, &windows);
    assert_eq!(c.boundaries(), vec![0, 80, 180, 260], "X, Y, W, Z");
    let l = c.labels();
    assert_eq!(l[130], l[300], "Y and Z share a label");
    assert_ne!(l[40], l[130], "X and Y do not");
    assert_ne!(l[40], l[220], "X and W do not");
}

#[test]
fn short_segments_take_the_label_of_their_nearest_long_segment() {
    // Peaks with a small context cut a 5-window burst of axis 1 out of a long axis-0 stretch;
    // too short (under min_windows) to shape the clusters, it takes the label of the long
    // segment nearest to it, axis 1's, not of its neighbours in time.
    let windows = stream(&[(0, 60), (1, 5), (0, 60), (1, 60), (2, 60)]);
    let p = SegmentParams { penalty: 0.0, context: 2, lag: 0, ..SegmentParams::default() };
    let c = run(p, SegmentCut::Count(3), &windows);
    assert_eq!(c.boundaries(), vec![0, 60, 65, 125, 185], "the burst is its own segment");
    let l = c.labels();
    assert_eq!(l[62], l[150], "the burst takes axis 1's label");
    assert_ne!(l[62], l[30]);
    assert_ne!(l[62], l[200]);
}

#[test]
fn one_noisy_movement_has_no_boundary() {
    // Noisier than `window`: per-window jitter on every axis, one movement throughout.
    let noisy = |t: usize| -> Vec<f32> {
        (0..8)
            .map(|j| {
                let n = (((t * 7919 + j * 104_729) % 1000) as f32 / 1000.0 - 0.5) * 0.6;
                if j == 0 {
                    1.0 + n
                } else {
                    n
                }
            })
            .collect()
    };
    let windows: Vec<Vec<f32>> = (0..300).map(noisy).collect();
    // Both boundary methods: the change-score peaks need their end guard here (a peak of a
    // half-empty neighbourhood at either end is no change).
    for penalty in [0.0, 6.5] {
        let c = run(
            SegmentParams { penalty, ..SegmentParams::default() },
            SegmentCut::Threshold,
            &windows,
        );
        assert_eq!(c.boundaries(), vec![0], "a boundary in a single movement (penalty {penalty})");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..Default::default() })]

    /// K given stays K labels at most even when old segments are evicted to bound memory.
    #[test]
    fn k_given_holds_through_evictions(plan in proptest::collection::vec((0usize..6, 15usize..60), 4..16),
                                       k in 1usize..4, max_segments in 2usize..6) {
        let windows = stream(&plan);
        let p = SegmentParams { context: 10, lag: 2, max_segments, ..SegmentParams::default() };
        let c = run(p, SegmentCut::Count(k), &windows);
        let mut used: Vec<usize> = c.labels().into_iter().flatten().collect();
        used.sort_unstable();
        used.dedup();
        prop_assert!(used.len() <= k, "{} labels for K = {k}", used.len());
    }
}

#[test]
fn stream_labeler_rejects_repeated_windows_and_survives_a_bad_finish() {
    use motionseg::engine::WindowEmbedding;
    use motionseg::labeler::{LabelerParams, StreamLabeler};
    use motionseg::window::WindowSpan;
    let windows = stream(&[(0, 60), (1, 60)]);
    let mut p = LabelerParams::new(Some(2));
    p.engine.summary = motionseg::embed::Summary::Mean; // synthetic windows: no pose part
    let mut l = StreamLabeler::new(&p, 8, 120.0).expect("labeler");
    let mut events = Vec::new();
    for (i, v) in windows.iter().enumerate() {
        let span = WindowSpan { index: i as u64, first_frame: 8 * i, last_frame: 8 * i + 50 };
        l.push_window(&WindowEmbedding { span, values: v.clone() }, &mut events).expect("push");
    }
    let last = 8 * 119 + 50;
    // The same index again, even with later frames, is refused and changes nothing.
    let span = WindowSpan { index: 119, first_frame: 8 * 120, last_frame: last + 8 };
    let e = l
        .push_window(&WindowEmbedding { span, values: windows[0].clone() }, &mut events)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not increasing"), "{e}");
    assert_eq!(l.windows(), 120);
    // A total below the last window's end is refused; a correct one still works after it.
    let e = l.finish(last, &mut events).unwrap_err().to_string();
    assert!(e.contains("total_frames"), "{e}");
    let labeling = l.finish(last + 1, &mut events).expect("finish after a refused one");
    assert_eq!(labeling.frame_labels.len(), last + 1);
    assert!(l.finish(last + 1, &mut events).is_err(), "finished twice");
}

#[test]
fn long_live_streams_track_only_the_kept_windows() {
    use motionseg::engine::WindowEmbedding;
    use motionseg::labeler::{LabelerParams, Method, StreamLabeler};
    use motionseg::window::WindowSpan;
    // 80 movements of 150 windows (12 000 windows), at most 8 segments kept, a provisional
    // update every 5 windows: what the labeler tracks stays bounded by the kept segments, the
    // window spans stay one run, and the final labels equal a run without provisional updates.
    let plan: Vec<(usize, usize)> = (0..80).map(|i| (i % 3, 150)).collect();
    let windows = stream(&plan);
    for penalty in [0.0, SegmentParams::default().penalty] {
        let sp = SegmentParams {
            max_segment_windows: 16,
            max_segments: 8,
            penalty,
            ..SegmentParams::default()
        };
        let run = |every: usize| {
            let mut p = LabelerParams::new(Some(3));
            p.engine.summary = motionseg::embed::Summary::Mean; // synthetic windows: no pose part
            p.method = Method::Segments(sp);
            p.provisional_every = every;
            let mut l = StreamLabeler::new(&p, 8, 120.0).expect("labeler");
            let (mut events, mut most) = (Vec::new(), 0);
            for (i, v) in windows.iter().enumerate() {
                let span =
                    WindowSpan { index: i as u64, first_frame: 8 * i, last_frame: 8 * i + 50 };
                l.push_window(&WindowEmbedding { span, values: v.clone() }, &mut events)
                    .expect("push");
                most = most.max(l.tracked_windows());
                events.clear();
            }
            // Evenly spaced windows: their spans are one run, not 12 000 entries.
            assert_eq!(l.span_runs(), 1);
            (l.finish(8 * 11_999 + 51, &mut events).expect("finish"), most)
        };
        let (live, most) = run(5);
        let (quiet, _) = run(0);
        // 9 segments of 150 windows (8 kept and the open one), plus the boundary delay: with
        // change-score peaks, the score context; with partitioning, up to two more segments that
        // are not decided yet.
        let delay = if penalty > 0.0 { 2 * 150 } else { 2 * sp.context + 10 };
        assert!(most > 0 && most <= 9 * 150 + delay, "tracked {most} windows (penalty {penalty})");
        assert_eq!(live.segments, quiet.segments);
        assert_eq!(live.frame_labels, quiet.frame_labels);
    }
}

#[test]
fn windows_method_keeps_thinned_labels_as_runs() {
    use motionseg::engine::WindowEmbedding;
    use motionseg::labeler::{LabelerParams, Method, StreamLabeler};
    use motionseg::window::WindowSpan;
    // 40 movements of 150 windows (6 000) through the windows method with 256 points kept: most
    // windows leave the clusterer, each with its final label. Those labels are kept as runs, so
    // they grow with the movements, not the windows, and every window still gets its label.
    let plan: Vec<(usize, usize)> = (0..40).map(|i| (i % 3, 150)).collect();
    let windows = stream(&plan);
    let mut p = LabelerParams::new(Some(3));
    p.engine.summary = motionseg::embed::Summary::Mean; // synthetic windows: no pose part
    p.method = Method::Windows;
    p.cluster.max_points = 256;
    let mut l = StreamLabeler::new(&p, 8, 120.0).expect("labeler");
    let mut events = Vec::new();
    for (i, v) in windows.iter().enumerate() {
        let span = WindowSpan { index: i as u64, first_frame: 8 * i, last_frame: 8 * i + 50 };
        l.push_window(&WindowEmbedding { span, values: v.clone() }, &mut events).expect("push");
        events.clear();
    }
    let runs = l.evicted_runs();
    let labeling = l.finish(8 * 5_999 + 51, &mut events).expect("finish");
    assert!(runs > 0 && runs <= 4 * plan.len(), "{runs} runs for {} movements", plan.len());
    // Every window is labelled, and each movement's windows mostly share one label, the same
    // for every movement along the same axis, although they left the clusterer at different
    // thinnings, whose cuts number the clusters each their own way (before the labels were
    // carried from cut to cut, movements from the fourth on alternated labels window by window).
    // The last movement is left out: most of it is still held, and the final cut of these
    // synthetic windows splits it by their small periodic offsets.
    assert!(labeling.window_labels.iter().all(Option::is_some));
    let mut of_axis = [None; 3];
    for (m, &(axis, len)) in plan.iter().enumerate().take(plan.len() - 1) {
        let labels = &labeling.window_labels[m * len..(m + 1) * len];
        let mut counts = std::collections::HashMap::new();
        labels.iter().for_each(|l| *counts.entry(*l).or_insert(0) += 1);
        let (&top, &n) = counts.iter().max_by_key(|c| *c.1).expect("labels");
        assert!(n * 10 >= len * 9, "movement {m}: {counts:?}");
        assert_eq!(*of_axis[axis].get_or_insert(top), top, "movement {m}");
    }
}

#[test]
fn two_part_embeddings_score_each_part_and_shift_the_second() {
    // Components 0-3 (the "decoder" part) hold one movement throughout; components 4-7 (the
    // "pose" part) change at window 126. Read 6 windows later, the pose part's change is
    // scored at 120; unshifted at 126.
    let two = |lead_change: usize, tail_change: usize| -> Vec<Vec<f32>> {
        (0..240)
            .map(|t| {
                let lead = window(if t < lead_change { 0 } else { 3 }, t);
                let tail = window(if t < tail_change { 5 } else { 6 }, t + 7);
                lead[..4].iter().chain(&tail[4..]).copied().collect()
            })
            .collect()
    };
    let p = SegmentParams { lag: 0, ..SegmentParams::default() };
    let tail_only = two(usize::MAX, 126);
    let split = SegmentParams { change_split: 4, ..p };
    assert_eq!(run(split, SegmentCut::Count(2), &tail_only).boundaries(), vec![0, 126]);
    let shifted = SegmentParams { change_shift: 6, ..split };
    assert_eq!(run(shifted, SegmentCut::Count(2), &tail_only).boundaries(), vec![0, 120]);
    // Both parts change, the second 6 windows later: shifted, their peaks coincide.
    let both = two(120, 126);
    assert_eq!(run(shifted, SegmentCut::Count(2), &both).boundaries(), vec![0, 120]);
    // A split beyond the embedding is refused, naming the field.
    let e = SegmentClusterer::new(SegmentParams { change_split: 9, ..p }, SegmentCut::Count(2), 8)
        .unwrap_err()
        .to_string();
    assert!(e.contains("change_split"), "{e}");
}

#[test]
fn the_boundary_penalty_is_scaled_to_the_hop() {
    // A weak change (a 0.5 lean towards axis 1) that a penalty of 6.5 splits and 13 does not.
    // The labeler states the penalty for hop 4: at hop 2 it doubles, so 6.5 keeps one segment
    // and 3.25 gives exactly hop 4's labels.
    use motionseg::engine::WindowEmbedding;
    use motionseg::labeler::{LabelerParams, Method, StreamLabeler};
    use motionseg::window::WindowSpan;
    let mut windows = stream(&[(0, 200)]);
    for w in &mut windows[100..] {
        w[1] += 0.5;
    }
    let labels = |hop: usize, penalty: f32| {
        // K given, so that two segments show as two labels however close they are.
        let mut p = LabelerParams::new(Some(2));
        p.engine.summary = motionseg::embed::Summary::Mean; // synthetic windows: no pose part
        p.engine.hop = hop;
        p.min_segment_frames = 1;
        p.method = Method::Segments(SegmentParams { penalty, ..SegmentParams::default() });
        let mut l = StreamLabeler::new(&p, 8, 120.0).expect("labeler");
        let mut events = Vec::new();
        for (i, v) in windows.iter().enumerate() {
            let span = WindowSpan { index: i as u64, first_frame: 8 * i, last_frame: 8 * i + 50 };
            l.push_window(&WindowEmbedding { span, values: v.clone() }, &mut events).expect("push");
        }
        l.finish(8 * 200 + 50, &mut events).expect("finish").window_labels
    };
    let hop4 = labels(4, 6.5);
    assert_ne!(hop4[50], hop4[150], "hop 4, penalty 6.5: the change is found");
    let hop2 = labels(2, 6.5);
    assert_eq!(hop2[50], hop2[150], "hop 2, penalty 6.5 (13 per hop-2 segment): one segment");
    assert_eq!(labels(2, 3.25), hop4, "hop 2 at half the penalty: hop 4's labels");
}
