//! Online optimal partitioning: the online change points are the batch optimum, and the
//! segments method with it finds the changes, streams equal batch and stays bounded.

use motionseg::cluster::partition::OnlinePartition;
use motionseg::cluster::segments::{SegmentClusterer, SegmentCut, SegmentParams};
use proptest::prelude::*;

use crate::segments::stream;

/// The optimal partition of `rows` by the textbook O(n²) recursion, without pruning (ties to
/// the earliest last change point): the oracle.
fn offline(rows: &[Vec<f32>], penalty: f64, min_len: usize) -> Vec<usize> {
    let n = rows.len();
    let dim = rows.first().map_or(0, Vec::len);
    let mut sum = vec![vec![0f64; dim]; n + 1];
    let mut sq = vec![0f64; n + 1];
    for (i, r) in rows.iter().enumerate() {
        for j in 0..dim {
            sum[i + 1][j] = sum[i][j] + f64::from(r[j]);
        }
        sq[i + 1] = sq[i] + r.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>();
    }
    let cost = |a: usize, b: usize| {
        let s2: f64 = (0..dim).map(|j| (sum[b][j] - sum[a][j]).powi(2)).sum();
        ((sq[b] - sq[a]) - s2 / (b - a) as f64).max(0.0)
    };
    let mut f = vec![f64::INFINITY; n + 1];
    let mut arg = vec![0; n + 1];
    f[0] = -penalty;
    for b in min_len..=n {
        for a in 0..=b - min_len {
            let v = f[a] + cost(a, b) + penalty;
            if f[a].is_finite() && v < f[b] {
                f[b] = v;
                arg[b] = a;
            }
        }
    }
    let mut out = Vec::new();
    let mut at = n;
    while f[at].is_finite() && at > 0 && arg[at] > 0 {
        at = arg[at];
        out.push(at);
    }
    out.reverse();
    out
}

fn online(rows: &[Vec<f32>], penalty: f64, min_len: usize) -> Vec<usize> {
    let mut p = OnlinePartition::new(rows[0].len(), penalty, min_len, 1 << 20).expect("params");
    let mut out = Vec::new();
    for r in rows {
        let open_before = p.earliest_open();
        let fresh = p.push(r).expect("row");
        check_fresh(&out, &fresh, open_before, p.len());
        assert!(p.earliest_open() >= open_before, "earliest_open went back");
        out.extend(fresh);
    }
    let open_before = p.earliest_open();
    let last = p.finish();
    check_fresh(&out, &last, open_before, p.len());
    out.extend(last);
    assert!(p.finish().is_empty());
    out
}

/// What the segments clusterer relies on: final change points arrive in order, once each,
/// inside the rows pushed, and never before the earliest open position it was told before
/// (the windows from there on are all it keeps).
fn check_fresh(out: &[usize], fresh: &[usize], open_before: usize, len: usize) {
    let mut prev = out.last().copied();
    for &t in fresh {
        assert!(prev.is_none_or(|l| t > l), "{out:?} then {fresh:?}");
        assert!(t > 0 && t < len, "change point {t} outside 1..{len}");
        assert!(t >= open_before, "change point {t} before the earliest open {open_before}");
        prev = Some(t);
    }
}

/// Rows of `plan` (mean direction, length) in 3-d with noise of amplitude `noise`.
fn piecewise(plan: &[(usize, usize)], noise: &[f32]) -> Vec<Vec<f32>> {
    let mut rows = Vec::new();
    let mut k = 0;
    for &(axis, len) in plan {
        for _ in 0..len {
            let row = (0..3)
                .map(|j| {
                    k += 1;
                    f32::from(u8::from(j == axis)) + noise[k % noise.len()]
                })
                .collect();
            rows.push(row);
        }
    }
    rows
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
    #[test]
    fn online_change_points_are_the_batch_optimum(
        plan in prop::collection::vec((0usize..3, 3usize..40), 1..6),
        noise in prop::collection::vec(-0.4f32..0.4, 1..50),
        penalty in 0.2f64..4.0,
        min_len in 1usize..5,
    ) {
        let rows = piecewise(&plan, &noise);
        prop_assert_eq!(online(&rows, penalty, min_len), offline(&rows, penalty, min_len));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    /// With a small `max_len` (forced decisions), the change points still come in order, once,
    /// inside the stream and after the earliest open position; segments decided during the
    /// stream hold at least `min_len` rows.
    #[test]
    fn forced_decisions_keep_the_invariants(
        values in prop::collection::vec(0u8..3, 20..300),
        penalty in 0.05f64..3.0,
        min_len in 1usize..5,
        extra in 0usize..12,
    ) {
        let max_len = 2 * min_len + extra;
        let rows: Vec<[f32; 1]> = values.iter().map(|&v| [f32::from(v)]).collect();
        let mut p = OnlinePartition::new(1, penalty, min_len, max_len).expect("params");
        let mut out: Vec<usize> = Vec::new();
        for r in &rows {
            let open_before = p.earliest_open();
            let fresh = p.push(r).expect("row");
            check_fresh(&out, &fresh, open_before, p.len());
            out.extend(fresh);
        }
        let open_before = p.earliest_open();
        let last = p.finish();
        check_fresh(&out, &last, open_before, p.len());
        let during: Vec<usize> = std::iter::once(0).chain(out.iter().copied()).collect();
        for w in during.windows(2) {
            prop_assert!(w[1] - w[0] >= min_len, "segment {w:?} shorter than {min_len}");
        }
    }
}

#[test]
fn pruning_waits_for_min_len_and_forced_decisions_stay_inside() {
    // Found in review: pruning candidate 0 at end 4 lost the optimum (no change point), since
    // row 4 cannot start a segment of 2 before row 6.
    let rows: Vec<Vec<f32>> = [0.0, 1.0, 1.0, 3.0, 0.0].iter().map(|&v| vec![v]).collect();
    assert_eq!(offline(&rows, 1.0, 2), Vec::<usize>::new());
    assert_eq!(online(&rows, 1.0, 2), offline(&rows, 1.0, 2));
    // A forced decision used to return the current end itself as a change point.
    let mut p = OnlinePartition::new(1, 1.0, 2, 4).expect("params");
    for v in [2.0, 1.0, 2.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0] {
        let open_before = p.earliest_open();
        let fresh = p.push(&[v]).expect("row");
        assert!(fresh.iter().all(|&t| t < p.len() && t >= open_before), "{fresh:?}");
    }
    // A stream ending right after a forced decision still gets its last change points.
    let rows: [u8; 22] = [1, 2, 1, 0, 0, 2, 2, 0, 0, 2, 0, 0, 1, 0, 0, 1, 0, 0, 2, 1, 0, 2];
    let mut p = OnlinePartition::new(1, 1.0, 4, 10).expect("params");
    let mut all = Vec::new();
    for v in rows {
        all.extend(p.push(&[f32::from(v)]).expect("row"));
    }
    all.extend(p.finish());
    assert!(all.len() > 1, "{all:?}");
    assert!(all.windows(2).all(|w| w[0] < w[1]) && all.iter().all(|&t| t < rows.len()));
}

#[test]
fn clear_changes_are_found_exactly() {
    let noise: Vec<f32> = (0..17).map(|i| (i as f32 / 17.0 - 0.5) * 0.1).collect();
    let rows = piecewise(&[(0, 50), (1, 30), (0, 40), (2, 60)], &noise);
    assert_eq!(online(&rows, 1.0, 4), [50, 80, 120]);
    assert_eq!(offline(&rows, 1.0, 4), [50, 80, 120]);
    // Fewer rows than one segment: no change point, no error.
    assert!(online(&rows[..3], 1.0, 4).is_empty());
}

#[test]
fn candidates_stay_bounded_on_a_long_stream() {
    let noise: Vec<f32> = (0..29).map(|i| (i as f32 / 29.0 - 0.5) * 0.2).collect();
    // 40 000 rows of one movement: no change, so only the bound keeps candidates in check.
    let rows = piecewise(&[(0, 40_000)], &noise);
    let mut p = OnlinePartition::new(3, 5.0, 8, 64).expect("params");
    let mut most = 0;
    for r in &rows {
        p.push(r).expect("row");
        most = most.max(p.candidates());
    }
    assert!(most <= 64 + 8 + 1, "{most} candidates");
    assert!(p.earliest_open() + 200 >= p.len(), "nothing decided for {} rows", p.len());
}

#[test]
fn bad_settings_and_rows_are_named() {
    for (r, name) in [
        (OnlinePartition::new(0, 1.0, 1, 4), "dim"),
        (OnlinePartition::new(2, 0.0, 1, 4), "penalty"),
        (OnlinePartition::new(2, f64::NAN, 1, 4), "penalty"),
        (OnlinePartition::new(2, 1.0, 0, 4), "min_len"),
        (OnlinePartition::new(2, 1.0, 4, 7), "max_len"),
    ] {
        let e = r.expect_err(name).to_string();
        assert!(e.contains(name), "{e}");
    }
    let mut p = OnlinePartition::new(2, 1.0, 1, 4).expect("params");
    assert!(p.push(&[1.0]).expect_err("short").to_string().contains("expected 2"));
    assert!(p.push(&[1.0, f32::NAN]).expect_err("nan").to_string().contains("value 1"));
    assert!(p.is_empty());
    let e = SegmentClusterer::new(
        SegmentParams { penalty: -1.0, ..SegmentParams::default() },
        SegmentCut::Threshold,
        4,
    )
    .expect_err("negative");
    assert!(e.to_string().contains("penalty"), "{e}");
}

#[test]
fn segments_by_partitioning_find_the_changes_and_stream_as_batch() {
    let windows = stream(&[(0, 120), (1, 100), (0, 110), (2, 90), (1, 100)]);
    let p = SegmentParams { penalty: 7.0, ..SegmentParams::default() };
    for cut in [SegmentCut::Count(3), SegmentCut::Threshold] {
        let mut c = SegmentClusterer::new(p, cut, 8).expect("params");
        for (i, w) in windows.iter().enumerate() {
            c.insert(w).expect("insert");
            // Provisional labels cover every window while the stream runs.
            if i % 37 == 0 {
                assert!(c.labels().iter().all(Option::is_some));
            }
        }
        c.finish().expect("finish");
        assert_eq!(c.boundaries(), [0, 120, 220, 330, 420], "{cut:?}");
        let labels = c.labels();
        let at = |i: usize| labels[i].expect("labelled");
        assert_eq!(at(10), at(250));
        assert_eq!(at(150), at(450));
        assert_ne!(at(10), at(150));
        assert_ne!(at(10), at(350));
    }
}
