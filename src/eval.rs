//! Evaluation metrics on per-frame labels, the paper's concatenated-clip benchmark, and a
//! results table.
//!
//! Every metric takes the ground truth `truth: &[usize]` (one label per frame; the values are
//! arbitrary ids, only equality matters) and the prediction `pred: &[Option<usize>]` of the same
//! length. A frame without a prediction (`None`) counts as wrong for the accuracies; for ARI and
//! NMI all `None` frames form one extra "unassigned" cluster, and for covering they form no
//! segment (they cover nothing).
//!
//! | metric | function |
//! | --- | --- |
//! | frame accuracy under the best one-to-one label matching | [`hungarian_accuracy`] |
//! | the paper's accuracy: labels matched in order of first appearance | [`first_appearance_accuracy`] |
//! | adjusted Rand index | [`adjusted_rand_index`] |
//! | normalized mutual information (arithmetic mean) | [`normalized_mutual_info`] |
//! | boundary precision / recall / F1 within tolerance windows | [`boundary_scores`] |
//! | segmentation covering | [`segmentation_covering`] |
//!
//! ```
//! use motionseg::eval::{evaluate, Tolerance};
//!
//! let truth = [0, 0, 0, 1, 1, 1];
//! let pred = [Some(7), Some(7), Some(7), Some(3), Some(3), None];
//! let r = evaluate(&truth, &pred, &Tolerance::Frames(1))?;
//! assert!((r.hungarian_accuracy - 5.0 / 6.0).abs() < 1e-12);
//! assert_eq!(r.boundary.matched, 1);
//! # Ok::<(), motionseg::Error>(())
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use ndarray::{Array2, Axis};

use crate::error::{Error, Result};
use crate::features::remove_bone_axis;
use crate::ingest::npy::read_npy;
use crate::labels::BoundaryWindow;
use crate::segment::{SegmentEvent, SegmentId};
use crate::types::{FrameIndex, Skeleton};

fn check(truth: &[usize], pred: &[Option<usize>]) -> Result<()> {
    if truth.len() != pred.len() {
        return Err(Error::Param {
            name: "pred",
            message: format!("{} predicted frames for {} true frames", pred.len(), truth.len()),
        });
    }
    if truth.is_empty() {
        return Err(Error::Param { name: "truth", message: "no frames to evaluate".to_owned() });
    }
    Ok(())
}

/// The annotated frames of partial truth (`None`: not annotated) and their predictions.
fn annotated(
    truth: &[Option<usize>],
    pred: &[Option<usize>],
) -> Result<(Vec<usize>, Vec<Option<usize>>)> {
    if truth.len() != pred.len() {
        return Err(Error::Param {
            name: "pred",
            message: format!("{} predicted frames for {} true frames", pred.len(), truth.len()),
        });
    }
    Ok(truth.iter().zip(pred).filter_map(|(t, p)| t.map(|t| (t, *p))).unzip())
}

/// Maps arbitrary label values to dense ids `0..k` in order of first appearance.
fn dense<T: Copy + Eq + std::hash::Hash>(labels: impl Iterator<Item = T>) -> (Vec<usize>, usize) {
    let mut ids: HashMap<T, usize> = HashMap::new();
    let out = labels
        .map(|l| {
            let k = ids.len();
            *ids.entry(l).or_insert(k)
        })
        .collect();
    (out, ids.len())
}

/// Contingency counts `[pred cluster][true class]` over dense ids; `None` predictions get the
/// last row when `none_row` (ARI/NMI), else they are left out (accuracies).
struct Contingency {
    counts: Vec<Vec<u64>>,
    /// Dense pred id -> original pred label (rows without `None`).
    pred_labels: Vec<usize>,
    /// Dense true id -> original true label.
    true_labels: Vec<usize>,
}

fn contingency(truth: &[usize], pred: &[Option<usize>], none_row: bool) -> Contingency {
    let (t, kt) = dense(truth.iter().copied());
    let mut true_labels = vec![0; kt];
    for (&d, &l) in t.iter().zip(truth) {
        true_labels[d] = l;
    }
    let (p, kp) = dense(pred.iter().flatten().copied());
    let mut pred_labels = vec![0; kp];
    for (&d, &l) in p.iter().zip(pred.iter().flatten()) {
        pred_labels[d] = l;
    }
    let has_none = pred.iter().any(Option::is_none);
    let rows = kp + usize::from(none_row && has_none);
    let mut counts = vec![vec![0u64; kt]; rows];
    let mut pi = p.iter();
    for (&ti, q) in t.iter().zip(pred) {
        match q {
            Some(_) => {
                if let Some(&r) = pi.next() {
                    counts[r][ti] += 1;
                }
            }
            None if none_row => counts[kp][ti] += 1,
            None => {}
        }
    }
    Contingency { counts, pred_labels, true_labels }
}

/// Maximum-weight one-to-one assignment of rows to columns (rectangular allowed): for each row,
/// its column or `None`. The smaller side is matched completely (weights are non-negative, so
/// that loses nothing), in O(small² · large): cheap even for hundreds of predicted clusters
/// against a dozen true labels.
fn max_assignment(w: &[Vec<u64>]) -> Vec<Option<usize>> {
    let rows = w.len();
    let cols = w.first().map_or(0, Vec::len);
    if rows <= cols {
        return hungarian(rows, cols, |i, j| -(w[i][j] as i64));
    }
    let col_to_row = hungarian(cols, rows, |i, j| -(w[j][i] as i64));
    let mut out = vec![None; rows];
    for (c, r) in col_to_row.into_iter().enumerate() {
        if let Some(r) = r {
            out[r] = Some(c);
        }
    }
    out
}

/// Minimum-cost assignment of `n` rows to `m >= n` columns: the Hungarian algorithm with
/// potentials (Kuhn-Munkres, shortest augmenting paths), 1-based internally as in its textbook
/// form. Returns each row's column.
// Index loops mirror the textbook algorithm; iterator forms would obscure it.
#[allow(clippy::needless_range_loop)]
fn hungarian(n: usize, m: usize, cost: impl Fn(usize, usize) -> i64) -> Vec<Option<usize>> {
    const INF: i64 = i64::MAX / 4;
    let mut u = vec![0i64; n + 1];
    let mut v = vec![0i64; m + 1];
    let mut p = vec![0usize; m + 1]; // column -> row (1-based, 0 = none)
    let mut way = vec![0usize; m + 1];
    let mut minv = vec![INF; m + 1];
    let mut used = vec![false; m + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        minv.fill(INF);
        used.fill(false);
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = INF;
            let mut j1 = 0;
            for j in 1..=m {
                if !used[j] {
                    let cur = cost(i0 - 1, j - 1) - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut out = vec![None; n];
    for j in 1..=m {
        if p[j] >= 1 {
            out[p[j] - 1] = Some(j - 1);
        }
    }
    out
}

/// The optimal one-to-one matching of predicted labels to true labels (the one
/// [`hungarian_accuracy`] scores): `(predicted, true)` pairs. With unequal counts the surplus
/// labels stay unmatched.
pub fn hungarian_mapping(truth: &[usize], pred: &[Option<usize>]) -> Result<Vec<(usize, usize)>> {
    check(truth, pred)?;
    let c = contingency(truth, pred, false);
    Ok(max_assignment(&c.counts)
        .into_iter()
        .enumerate()
        .filter_map(|(r, col)| col.map(|k| (c.pred_labels[r], c.true_labels[k])))
        .collect())
}

/// Predicted labels renamed to the true labels they are matched to by [`hungarian_mapping`]
/// (over the frames that have a true label), so that a picture can colour both alike.
/// Predicted labels left unmatched (more predicted than true labels) become `true_count,
/// true_count + 1, ...` in order of first appearance, where `true_count` is one more than the
/// largest true label. `None` stays `None`. Returns the renamed labels and the number of
/// unmatched predicted labels.
///
/// ```
/// use motionseg::eval::align_to_truth;
///
/// let truth = [Some(0), Some(0), Some(1), Some(1), Some(1), None];
/// let pred = [Some(7), Some(7), Some(3), Some(3), Some(5), Some(3)];
/// let (aligned, extra) = align_to_truth(&truth, &pred)?;
/// assert_eq!(aligned, [Some(0), Some(0), Some(1), Some(1), Some(2), Some(1)]);
/// assert_eq!(extra, 1);
/// # Ok::<(), motionseg::Error>(())
/// ```
pub fn align_to_truth(
    truth: &[Option<usize>],
    pred: &[Option<usize>],
) -> Result<(Vec<Option<usize>>, usize)> {
    let (t, p) = annotated(truth, pred)?;
    let mut map: HashMap<usize, usize> = if t.is_empty() {
        HashMap::new()
    } else {
        hungarian_mapping(&t, &p)?.into_iter().collect()
    };
    let true_count = t.iter().max().map_or(0, |m| m + 1);
    let mut extra = 0;
    let aligned = pred
        .iter()
        .map(|p| {
            p.map(|l| {
                *map.entry(l).or_insert_with(|| {
                    extra += 1;
                    true_count + extra - 1
                })
            })
        })
        .collect();
    Ok((aligned, extra))
}

/// Fraction of frames labelled correctly under the best one-to-one matching of predicted to
/// true labels (Hungarian algorithm). Surplus predicted labels and `None` frames count as wrong.
pub fn hungarian_accuracy(truth: &[usize], pred: &[Option<usize>]) -> Result<f64> {
    check(truth, pred)?;
    let c = contingency(truth, pred, false);
    let hit: u64 = max_assignment(&c.counts)
        .iter()
        .enumerate()
        .filter_map(|(r, col)| col.map(|k| c.counts[r][k]))
        .sum();
    Ok(hit as f64 / truth.len() as f64)
}

/// The paper's accuracy (Su & Shlizerman, `order_labels` in their code): the k-th distinct
/// predicted label to appear is matched to the k-th distinct true label to appear. Surplus
/// predicted labels and `None` frames count as wrong.
pub fn first_appearance_accuracy(truth: &[usize], pred: &[Option<usize>]) -> Result<f64> {
    check(truth, pred)?;
    let (t, _) = dense(truth.iter().copied());
    let mut order: HashMap<usize, usize> = HashMap::new();
    let mut hit = 0usize;
    for (&ti, q) in t.iter().zip(pred) {
        if let Some(q) = q {
            let k = order.len();
            if *order.entry(*q).or_insert(k) == ti {
                hit += 1;
            }
        }
    }
    Ok(hit as f64 / truth.len() as f64)
}

fn pairs(n: u64) -> f64 {
    (n as f64) * (n as f64 - 1.0) / 2.0
}

/// Adjusted Rand index (Hubert & Arabie 1985), as scikit-learn computes it: 1 for identical
/// partitions (also when both are a single cluster), about 0 for chance agreement.
pub fn adjusted_rand_index(truth: &[usize], pred: &[Option<usize>]) -> Result<f64> {
    check(truth, pred)?;
    let c = contingency(truth, pred, true);
    let cols = c.true_labels.len();
    let index: f64 = c.counts.iter().flatten().map(|&n| pairs(n)).sum();
    let a: f64 = c.counts.iter().map(|r| pairs(r.iter().sum())).sum();
    let b: f64 = (0..cols).map(|k| pairs(c.counts.iter().map(|r| r[k]).sum())).sum();
    let expected = a * b / pairs(truth.len() as u64).max(1.0);
    let max = (a + b) / 2.0;
    if (max - expected).abs() < 1e-12 {
        // Both partitions trivial (one cluster, or all singletons): identical by convention.
        return Ok(1.0);
    }
    Ok((index - expected) / (max - expected))
}

/// Normalized mutual information `I(T;P) / ((H(T) + H(P)) / 2)` (scikit-learn's default
/// arithmetic normalisation), natural logarithms; 1 when both partitions are a single cluster.
pub fn normalized_mutual_info(truth: &[usize], pred: &[Option<usize>]) -> Result<f64> {
    check(truth, pred)?;
    let c = contingency(truth, pred, true);
    let n = truth.len() as f64;
    let row: Vec<f64> = c.counts.iter().map(|r| r.iter().sum::<u64>() as f64).collect();
    let col: Vec<f64> = (0..c.true_labels.len())
        .map(|k| c.counts.iter().map(|r| r[k]).sum::<u64>() as f64)
        .collect();
    let h = |xs: &[f64]| -> f64 {
        xs.iter().filter(|&&x| x > 0.0).map(|&x| -(x / n) * (x / n).ln()).sum()
    };
    let (hp, ht) = (h(&row), h(&col));
    if hp == 0.0 && ht == 0.0 {
        return Ok(1.0);
    }
    let mut mi = 0.0;
    for (r, counts) in c.counts.iter().enumerate() {
        for (k, &nij) in counts.iter().enumerate() {
            if nij > 0 {
                let nij = nij as f64;
                mi += nij / n * (nij * n / (row[r] * col[k])).ln();
            }
        }
    }
    let denom = (hp + ht) / 2.0;
    Ok(if denom > 0.0 { (mi / denom).clamp(0.0, 1.0) } else { 0.0 })
}

/// The boundaries of a label sequence: every frame `i > 0` whose label differs from frame
/// `i - 1`, i.e. the first frame of each segment but the first (the convention of
/// [`BoundaryWindow`]).
pub fn boundaries_of<T: PartialEq>(labels: &[T]) -> Vec<FrameIndex> {
    (1..labels.len()).filter(|&i| labels[i] != labels[i - 1]).collect()
}

/// Tolerance windows of `±frames` around each boundary.
pub fn windows_around(boundaries: &[FrameIndex], frames: usize) -> Vec<BoundaryWindow> {
    boundaries
        .iter()
        .map(|&b| BoundaryWindow {
            earliest: b.saturating_sub(frames),
            best: b,
            latest: b.saturating_add(frames),
        })
        .collect()
}

/// Where true boundaries and their tolerance come from in [`evaluate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tolerance {
    /// Annotated windows (e.g. [`crate::labels::SuLabels::boundaries`]).
    Windows(Vec<BoundaryWindow>),
    /// The truth labels' own boundaries, each accepted within `±frames`.
    Frames(usize),
}

/// Boundary detection scores.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BoundaryScore {
    /// True boundaries.
    pub truth: usize,
    /// Predicted boundaries.
    pub predicted: usize,
    /// Pairs matched one-to-one, each predicted boundary inside its true boundary's window.
    pub matched: usize,
    /// `matched / predicted` (1 when nothing was predicted and nothing was true, else 0 when
    /// nothing was predicted).
    pub precision: f64,
    /// `matched / truth` (1 when there are no true boundaries and none predicted, else 0 when
    /// there are no true boundaries).
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub f1: f64,
}

/// Matches predicted boundaries to true windows one-to-one (a maximum matching: windows taken
/// by their latest frame, each given the earliest free predicted boundary inside it, which is
/// optimal for points and intervals) and scores precision, recall and F1.
pub fn boundary_scores(truth: &[BoundaryWindow], predicted: &[FrameIndex]) -> BoundaryScore {
    let mut free: BTreeMap<FrameIndex, usize> = BTreeMap::new();
    for &b in predicted {
        *free.entry(b).or_insert(0) += 1;
    }
    let mut windows: Vec<(FrameIndex, FrameIndex)> =
        truth.iter().map(BoundaryWindow::window).collect();
    windows.sort_by_key(|&(lo, hi)| (hi, lo));
    let mut matched = 0;
    for (lo, hi) in windows {
        let Some((&b, _)) = free.range(lo..=hi).next() else { continue };
        matched += 1;
        if let Some(n) = free.get_mut(&b) {
            *n -= 1;
            if *n == 0 {
                free.remove(&b);
            }
        }
    }
    let ratio = |num: usize, den: usize, other: usize| {
        if den > 0 {
            num as f64 / den as f64
        } else if other == 0 {
            1.0
        } else {
            0.0
        }
    };
    let precision = ratio(matched, predicted.len(), truth.len());
    let recall = ratio(matched, truth.len(), predicted.len());
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    BoundaryScore { truth: truth.len(), predicted: predicted.len(), matched, precision, recall, f1 }
}

/// Runs `[start, end)` of equal values.
fn runs<T: PartialEq + Copy>(labels: &[T]) -> Vec<(usize, usize, T)> {
    let mut out: Vec<(usize, usize, T)> = Vec::new();
    for (i, &l) in labels.iter().enumerate() {
        match out.last_mut() {
            Some(r) if r.2 == l => r.1 = i + 1,
            _ => out.push((i, i + 1, l)),
        }
    }
    out
}

/// Segmentation covering of the true segments by the predicted ones (Arbeláez et al. 2011):
/// `sum over true segments R of |R| * max over predicted segments R' of IoU(R, R')`, divided by
/// the frame count. Segments are maximal runs of one label; runs of `None` cover nothing.
pub fn segmentation_covering(truth: &[usize], pred: &[Option<usize>]) -> Result<f64> {
    check(truth, pred)?;
    let t = runs(truth);
    let p: Vec<(usize, usize)> =
        runs(pred).into_iter().filter(|r| r.2.is_some()).map(|r| (r.0, r.1)).collect();
    let mut total = 0.0;
    let mut j = 0; // first predicted run that may overlap the current true run
    for &(ts, te, _) in &t {
        while j < p.len() && p[j].1 <= ts {
            j += 1;
        }
        let mut best = 0.0f64;
        for &(ps, pe) in p[j..].iter().take_while(|r| r.0 < te) {
            let inter = pe.min(te) - ps.max(ts);
            let union = pe.max(te) - ps.min(ts);
            best = best.max(inter as f64 / union as f64);
        }
        total += (te - ts) as f64 * best;
    }
    Ok(total / truth.len() as f64)
}

/// Every metric for one sequence.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EvalReport {
    /// Frames evaluated.
    pub frames: usize,
    /// Distinct true labels.
    pub true_labels: usize,
    /// Distinct predicted labels (`None` not counted).
    pub pred_labels: usize,
    /// Frames without a prediction.
    pub unlabelled_frames: usize,
    /// [`hungarian_accuracy`].
    pub hungarian_accuracy: f64,
    /// [`first_appearance_accuracy`].
    pub order_accuracy: f64,
    /// [`adjusted_rand_index`].
    pub ari: f64,
    /// [`normalized_mutual_info`].
    pub nmi: f64,
    /// [`boundary_scores`] of the prediction's boundaries (including changes to and from
    /// `None`).
    pub boundary: BoundaryScore,
    /// [`segmentation_covering`].
    pub covering: f64,
}

/// Computes every metric. True boundaries come from `tolerance`: annotated windows, or the
/// truth labels' own boundaries within `±frames`.
pub fn evaluate(
    truth: &[usize],
    pred: &[Option<usize>],
    tolerance: &Tolerance,
) -> Result<EvalReport> {
    check(truth, pred)?;
    let windows = match tolerance {
        Tolerance::Windows(w) => w.clone(),
        Tolerance::Frames(n) => windows_around(&boundaries_of(truth), *n),
    };
    let (_, true_labels) = dense(truth.iter().copied());
    let (_, pred_labels) = dense(pred.iter().flatten().copied());
    Ok(EvalReport {
        frames: truth.len(),
        true_labels,
        pred_labels,
        unlabelled_frames: pred.iter().filter(|p| p.is_none()).count(),
        hungarian_accuracy: hungarian_accuracy(truth, pred)?,
        order_accuracy: first_appearance_accuracy(truth, pred)?,
        ari: adjusted_rand_index(truth, pred)?,
        nmi: normalized_mutual_info(truth, pred)?,
        boundary: boundary_scores(&windows, &boundaries_of(pred)),
        covering: segmentation_covering(truth, pred)?,
    })
}

/// [`evaluate`] against truth that labels only some frames (`None`: not annotated), in the
/// take's own frame numbers. Frame scores count the annotated frames. Boundaries are scored
/// where the annotation can judge them: a true boundary where the truth changes between
/// neighbouring annotated frames (±`tolerance` frames), or across an unannotated gap (the
/// whole gap, ±`tolerance`: the change happened somewhere in it); a predicted boundary counts
/// unless it lies where the truth is silent (in, into or out of a gap whose two sides carry the
/// same label, or before the first or after the last annotated frame) and outside every true
/// boundary's window. (Joining the annotated frames end to end
/// instead would move boundaries across gaps and invent changes at the joins.)
///
/// ```
/// use motionseg::eval::evaluate_partial;
///
/// // Frames 4..8 unannotated; the truth changes across them, and the prediction changes
/// // inside them: a match. The prediction's change at frame 10 is a false one.
/// let truth = [0, 0, 0, 0, 9, 9, 9, 9, 1, 1, 1, 1].map(|t| (t != 9).then_some(t));
/// let pred = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2].map(Some);
/// let r = evaluate_partial(&truth, &pred, 0)?;
/// assert_eq!((r.frames, r.boundary.truth, r.boundary.predicted, r.boundary.matched), (8, 1, 2, 1));
/// # Ok::<(), motionseg::Error>(())
/// ```
pub fn evaluate_partial(
    truth: &[Option<usize>],
    pred: &[Option<usize>],
    tolerance: usize,
) -> Result<EvalReport> {
    let (t, p) = annotated(truth, pred)?;
    // Frame scores over the annotated frames; its boundary scores are replaced below.
    let mut report = evaluate(&t, &p, &Tolerance::Frames(0))?;
    // Annotated frames in take numbers, and for every frame whether its truth is silent there.
    let marked: Vec<usize> = (0..truth.len()).filter(|&i| truth[i].is_some()).collect();
    let mut judged = vec![false; truth.len()];
    let mut windows = Vec::new();
    for pair in marked.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let changes = truth[a] != truth[b];
        // A boundary at frame i is the step from i - 1 to i; the steps into, through and out of
        // a gap are judged only when the truth changes across it.
        if changes || b == a + 1 {
            judged[a + 1..=b].iter_mut().for_each(|j| *j = true);
        }
        if changes {
            windows.push(BoundaryWindow {
                earliest: (a + 1).saturating_sub(tolerance),
                best: (a + 1 + b) / 2,
                latest: b.saturating_add(tolerance),
            });
        }
    }
    // A change inside a true boundary's window counts even where the truth is silent (it may
    // match that boundary).
    let predicted: Vec<FrameIndex> = boundaries_of(pred)
        .into_iter()
        .filter(|&b| judged[b] || windows.iter().any(|w| w.contains(b)))
        .collect();
    report.boundary = boundary_scores(&windows, &predicted);
    Ok(report)
}

/// Named [`EvalReport`]s: renders as an aligned text table (with a mean row) and serialises to
/// JSON.
///
/// ```
/// use motionseg::eval::{evaluate, ResultsTable, Tolerance};
///
/// let r = evaluate(&[0, 0, 1, 1], &[Some(1), Some(1), Some(0), Some(0)], &Tolerance::Frames(0))?;
/// let mut table = ResultsTable::default();
/// table.push("toy", r);
/// assert!(table.render().contains("100.00"));
/// assert!(table.to_json()?.contains("\"toy\""));
/// # Ok::<(), motionseg::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ResultsTable {
    /// One row per sequence, in insertion order.
    pub rows: Vec<ResultsRow>,
}

/// One named row of a [`ResultsTable`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ResultsRow {
    /// The sequence's name (e.g. `86_01`).
    pub name: String,
    /// Its scores.
    pub report: EvalReport,
}

impl ResultsTable {
    /// Appends a row.
    pub fn push(&mut self, name: impl Into<String>, report: EvalReport) {
        self.rows.push(ResultsRow { name: name.into(), report });
    }

    /// The aligned text table: one line per row plus an unweighted `mean` line when there is
    /// more than one row. Accuracies, boundary scores and covering in percent.
    pub fn render(&self) -> String {
        let header = [
            "sequence",
            "frames",
            "k_true",
            "k_pred",
            "acc_hung%",
            "acc_order%",
            "ARI",
            "NMI",
            "bound_P%",
            "bound_R%",
            "bound_F1%",
            "cover%",
        ];
        let cells = |name: &str, r: &[f64]| -> Vec<String> {
            let mut v = vec![name.to_owned()];
            v.extend(r[..3].iter().map(|x| format!("{x:.0}")));
            v.extend([r[3] * 100.0, r[4] * 100.0].iter().map(|x| format!("{x:.2}")));
            v.extend(r[5..7].iter().map(|x| format!("{x:.3}")));
            v.extend(r[7..].iter().map(|x| format!("{:.2}", x * 100.0)));
            v
        };
        let nums = |r: &EvalReport| -> Vec<f64> {
            vec![
                r.frames as f64,
                r.true_labels as f64,
                r.pred_labels as f64,
                r.hungarian_accuracy,
                r.order_accuracy,
                r.ari,
                r.nmi,
                r.boundary.precision,
                r.boundary.recall,
                r.boundary.f1,
                r.covering,
            ]
        };
        let mut lines: Vec<Vec<String>> = vec![header.iter().map(|s| (*s).to_owned()).collect()];
        let mut sum = [0.0; 11];
        for row in &self.rows {
            let v = nums(&row.report);
            sum.iter_mut().zip(&v).for_each(|(s, x)| *s += x);
            lines.push(cells(&row.name, &v));
        }
        if self.rows.len() > 1 {
            let n = self.rows.len() as f64;
            lines.push(cells("mean", &sum.iter().map(|s| s / n).collect::<Vec<_>>()));
        }
        let widths: Vec<usize> = (0..header.len())
            .map(|c| lines.iter().map(|l| l[c].len()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for l in &lines {
            for (c, cell) in l.iter().enumerate() {
                let w = widths[c];
                // Names left-aligned, numbers right-aligned.
                let _ =
                    if c == 0 { write!(out, "{cell:<w$}") } else { write!(out, "  {cell:>w$}") };
            }
            out.push('\n');
        }
        out
    }

    /// Pretty-printed JSON of all rows.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self)
            .map_err(|e| Error::invalid("results table", None, e.to_string()))
    }
}

/// The action classes of `cmu/actions8` used by [`concat_actions8`], in label order.
/// `walking_extra` is left out: it is more walking, and would make walking five times as likely.
pub const ACTIONS8: [&str; 7] = [
    "basketball",
    "basketball_signal",
    "directing_traffic",
    "jumping",
    "running",
    "soccer",
    "walking",
];

/// Columns of a `cmu/actions8` clip (39 x 3: root position then exponential maps).
pub const ACTIONS8_COLUMNS: usize = 117;

/// Frame rate of the `cmu/actions8` clips. The files do not say; their gait does: a walking
/// stride takes 66-76 rows there against 111 frames of 120 fps walking in CMU 86_01, which is
/// 1.1-1.3 s at 60 fps (0.6 s at 120 fps would be a sprint).
pub const ACTIONS8_FPS: f64 = 60.0;

/// Li et al.'s 38 joints that are end sites (no rotation, always zero); the other 31 are the
/// CMU ASF joints in [`CMU_JOINTS`] order.
const ACTIONS8_END_SITES: [usize; 7] = [6, 12, 19, 26, 28, 35, 37];

/// The CMU ASF joints (root, then the bones in `86.asf` file order): the raw layout of the
/// bundled model and of [`ConcatActions::to_raw`].
pub const CMU_JOINTS: [&str; 31] = [
    "root",
    "lhipjoint",
    "lfemur",
    "ltibia",
    "lfoot",
    "ltoes",
    "rhipjoint",
    "rfemur",
    "rtibia",
    "rfoot",
    "rtoes",
    "lowerback",
    "upperback",
    "thorax",
    "lowerneck",
    "upperneck",
    "head",
    "lclavicle",
    "lhumerus",
    "lradius",
    "lwrist",
    "lhand",
    "lfingers",
    "lthumb",
    "rclavicle",
    "rhumerus",
    "rradius",
    "rwrist",
    "rhand",
    "rfingers",
    "rthumb",
];

/// One clip placed in a [`ConcatActions`] sequence.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClipSource {
    /// The file.
    pub path: String,
    /// Its action label (index into [`ACTIONS8`]).
    pub label: usize,
    /// First frame in the concatenation.
    pub start: FrameIndex,
    /// One past its last frame in the concatenation.
    pub end: FrameIndex,
}

/// A concatenation of single-action clips with known frame labels.
#[derive(Debug, Clone)]
pub struct ConcatActions {
    /// `[frames, 117]` float32, rows of the clips in order.
    pub frames: Array2<f32>,
    /// Per-frame action label (index into [`ACTIONS8`]).
    pub truth: Vec<usize>,
    /// The clips in order.
    pub clips: Vec<ClipSource>,
}

impl ConcatActions {
    /// The sequence in the canonical CMU raw layout (96 columns, [`CMU_JOINTS`], the layout of
    /// `cmu/86/expmap` and of features from AMC), ready for a model trained on CMU 86.
    ///
    /// Per clip: the 7 end sites are dropped; every bone's exp-map is taken out of its parent's
    /// frame with [`remove_bone_axis`] and `skeleton`'s ASF axes (the clips come from other CMU
    /// subjects whose axes are not here; CMU axes differ little between subjects, so `86.asf` is
    /// close, not exact); the root x and z are shifted so that each clip starts where the
    /// previous one ended (a join is a change of action, not a jump across the room).
    pub fn to_raw(&self, skeleton: &Skeleton) -> Result<Array2<f32>> {
        let source = "actions8 conversion skeleton";
        let names: Vec<&str> = skeleton.joints.iter().map(|j| j.name.as_str()).collect();
        if names != CMU_JOINTS {
            return Err(Error::Shape {
                file: source.to_owned(),
                field: "joints".to_owned(),
                expected: format!("the 31 CMU ASF joints in order ({})", CMU_JOINTS.join(" ")),
                found: names.join(" "),
            });
        }
        let li_joints: Vec<usize> =
            (0..ACTIONS8_COLUMNS / 3 - 1).filter(|j| !ACTIONS8_END_SITES.contains(j)).collect();
        let n = self.frames.nrows();
        let mut out = Array2::<f32>::zeros((n, 3 + 3 * CMU_JOINTS.len()));
        let mut shift = [0.0f64; 2];
        for clip in &self.clips {
            for t in clip.start..clip.end {
                let row = self.frames.row(t);
                if let Some(i) = row.iter().position(|v| !v.is_finite()) {
                    return Err(Error::invalid(
                        &clip.path,
                        None,
                        format!("row {} column {i}: {} is not finite", t - clip.start, row[i]),
                    ));
                }
                if t == clip.start && t > 0 {
                    // Continue from where the previous clip's root ended.
                    shift[0] = f64::from(out[[t - 1, 0]]) - f64::from(row[0]);
                    shift[1] = f64::from(out[[t - 1, 2]]) - f64::from(row[2]);
                }
                out[[t, 0]] = (f64::from(row[0]) + shift[0]) as f32;
                out[[t, 1]] = row[1];
                out[[t, 2]] = (f64::from(row[2]) + shift[1]) as f32;
                for (k, (&lj, joint)) in li_joints.iter().zip(&skeleton.joints).enumerate() {
                    let c = 3 + 3 * lj;
                    let e = [row[c], row[c + 1], row[c + 2]].map(f64::from);
                    let e = match (&joint.axis, k) {
                        (Some(axis), k) if k > 0 => remove_bone_axis(e, axis),
                        _ => e, // the root's frame is the world's
                    };
                    for (d, v) in e.iter().enumerate() {
                        out[[t, 3 + 3 * k + d]] = *v as f32;
                    }
                }
            }
        }
        Ok(out)
    }
}

/// SplitMix64 (Steele et al. 2014): tiny, good enough to draw clips, and fixed forever so a seed
/// always means the same sequence.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`), by the multiply-shift method.
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// Builds the paper's case (i): single-action clips concatenated, with known labels.
///
/// Recipe (deterministic given `seed`): the classes are [`ACTIONS8`], label = position in that
/// list; each class's files `<action>/<action>_N.npy` under `data_dir/cmu/actions8` are sorted
/// by `N`. A SplitMix64 generator seeded with `seed` draws, for each of `n_clips` clips, a class
/// uniformly among the classes other than the previous clip's (so neighbours always differ and
/// each clip is exactly one label run), then a file of that class uniformly. A file may be drawn
/// more than once. The clips' rows are concatenated unchanged.
pub fn concat_actions8(data_dir: &Path, seed: u64, n_clips: usize) -> Result<ConcatActions> {
    if n_clips == 0 {
        return Err(Error::Param { name: "n_clips", message: "must be at least 1".to_owned() });
    }
    let root = data_dir.join("cmu").join("actions8");
    let mut files: Vec<Vec<std::path::PathBuf>> = Vec::new();
    for action in ACTIONS8 {
        let dir = root.join(action);
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        let mut numbered: Vec<(u64, std::path::PathBuf)> = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| Error::io(&dir, e))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let number = name
                .strip_prefix(action)
                .and_then(|s| s.strip_prefix('_'))
                .and_then(|s| s.strip_suffix(".npy"))
                .and_then(|s| s.parse::<u64>().ok());
            if let Some(n) = number {
                numbered.push((n, path));
            }
        }
        if numbered.is_empty() {
            return Err(Error::invalid(
                &dir.display().to_string(),
                None,
                format!("no {action}_N.npy clips"),
            ));
        }
        numbered.sort();
        files.push(numbered.into_iter().map(|(_, p)| p).collect());
    }

    let mut rng = SplitMix64(seed);
    let mut parts: Vec<Array2<f32>> = Vec::with_capacity(n_clips);
    let mut clips: Vec<ClipSource> = Vec::with_capacity(n_clips);
    let mut truth: Vec<usize> = Vec::new();
    let mut prev: Option<usize> = None;
    for _ in 0..n_clips {
        let mut label = rng.below(ACTIONS8.len() - usize::from(prev.is_some()));
        if prev.is_some_and(|p| label >= p) {
            label += 1; // skip the previous class
        }
        prev = Some(label);
        let path = &files[label][rng.below(files[label].len())];
        let m = read_npy(path, None)?;
        if m.data.ncols() != ACTIONS8_COLUMNS {
            return Err(Error::Shape {
                file: path.display().to_string(),
                field: "columns".to_owned(),
                expected: format!("{ACTIONS8_COLUMNS}"),
                found: format!("{}", m.data.ncols()),
            });
        }
        let start = truth.len();
        truth.resize(start + m.data.nrows(), label);
        clips.push(ClipSource { path: path.display().to_string(), label, start, end: truth.len() });
        parts.push(m.data);
    }
    let views: Vec<_> = parts.iter().map(|a| a.view()).collect();
    let frames = ndarray::concatenate(Axis(0), &views)
        .map_err(|e| Error::invalid(&root.display().to_string(), None, e.to_string()))?;
    Ok(ConcatActions { frames, truth, clips })
}

/// What a live viewer of the segment events has seen: each frame's label when the events first
/// showed it (the open segment's label when an [`Extended`](SegmentEvent::Extended) or a
/// [`Merged`](SegmentEvent::Merged) first reached the frame), whatever the labels became later.
/// Final events ([`Revised`](SegmentEvent::Revised), [`Finalized`](SegmentEvent::Finalized))
/// are not live and are ignored.
///
/// ```
/// use motionseg::eval::FirstShown;
/// use motionseg::segment::SegmentEvent;
///
/// let mut view = FirstShown::default();
/// view.apply(&[
///     SegmentEvent::Opened { id: 0, label: Some(3), start: 0 },
///     SegmentEvent::Extended { id: 0, end: 2 },
///     SegmentEvent::Relabel { from: 3, to: 1, segments: vec![0] },
///     SegmentEvent::Extended { id: 0, end: 3 },
/// ]);
/// // Frames 0 and 1 were shown as 3; frame 2 as 1; frame 3 never (it takes the fill).
/// assert_eq!(view.labels(4, &[None, None, None, Some(1)]), vec![Some(3), Some(3), Some(1), Some(1)]);
/// ```
#[derive(Debug, Default, Clone)]
pub struct FirstShown {
    shown: Vec<Option<usize>>,
    label_of: HashMap<SegmentId, Option<usize>>,
}

impl FirstShown {
    /// Reads the next events of the stream, in order.
    pub fn apply(&mut self, events: &[SegmentEvent]) {
        for e in events {
            match e {
                SegmentEvent::Opened { id, label, .. } => {
                    self.label_of.insert(*id, *label);
                }
                SegmentEvent::Extended { id, end } | SegmentEvent::Merged { into: id, end, .. } => {
                    let label = self.label_of.get(id).copied().flatten();
                    if *end > self.shown.len() {
                        self.shown.resize(*end, label);
                    }
                }
                SegmentEvent::Relabel { to, segments, .. } => {
                    for id in segments {
                        self.label_of.insert(*id, Some(*to));
                    }
                }
                SegmentEvent::Closed { .. }
                | SegmentEvent::Revised { .. }
                | SegmentEvent::Finalized { .. } => {}
            }
        }
    }

    /// Frames shown so far.
    pub fn frames_shown(&self) -> usize {
        self.shown.len()
    }

    /// One label per frame of `frames`: the first shown, else (frames the events never
    /// reached, as the last ones before the final labels) `fill`'s.
    pub fn labels(&self, frames: usize, fill: &[Option<usize>]) -> Vec<Option<usize>> {
        (0..frames)
            .map(|f| match self.shown.get(f) {
                Some(l) => *l,
                None => fill.get(f).copied().flatten(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_shown_labels_follow_merges_and_ignore_final_events() {
        let mut view = FirstShown::default();
        view.apply(&[
            SegmentEvent::Opened { id: 0, label: Some(0), start: 0 },
            SegmentEvent::Extended { id: 0, end: 3 },
            SegmentEvent::Closed { id: 0, end: 3 },
            SegmentEvent::Opened { id: 1, label: Some(1), start: 3 },
            SegmentEvent::Extended { id: 1, end: 5 },
            // Segment 1 joins 0, which now reaches frame 7: frames 5, 6 are shown as 0.
            SegmentEvent::Relabel { from: 1, to: 0, segments: vec![1] },
            SegmentEvent::Merged { into: 0, absorbed: 1, end: 7 },
            // A late hysteresis start (frame 6) does not change what was shown.
            SegmentEvent::Opened { id: 2, label: None, start: 6 },
            SegmentEvent::Extended { id: 2, end: 8 },
            SegmentEvent::Revised { segments: Vec::new() },
            SegmentEvent::Finalized { through: 10 },
        ]);
        assert_eq!(view.frames_shown(), 8);
        let fill = [Some(9); 10];
        let l = view.labels(10, &fill);
        let want = [0, 0, 0, 1, 1, 0, 0].map(Some);
        assert_eq!(l[..7], want);
        assert_eq!(l[7..], [None, Some(9), Some(9)]);
    }

    #[test]
    fn assignment_handles_rectangles() {
        let w = vec![vec![5, 1], vec![4, 6], vec![0, 7]];
        let a = max_assignment(&w);
        let total: u64 = a.iter().enumerate().filter_map(|(r, c)| c.map(|c| w[r][c])).sum();
        assert_eq!(total, 12); // 5 + 7
        assert_eq!(a.iter().flatten().count(), 2);
        assert!(max_assignment(&[]).is_empty());
    }

    /// Best total weight by trying every injection of the smaller side (tiny matrices only).
    fn brute(w: &[Vec<u64>]) -> u64 {
        fn go(w: &[Vec<u64>], r: usize, used: &mut Vec<bool>) -> u64 {
            if r == w.len() {
                return 0;
            }
            let mut best = go(w, r + 1, used); // row r unmatched
            for c in 0..used.len() {
                if !used[c] {
                    used[c] = true;
                    best = best.max(w[r][c] + go(w, r + 1, used));
                    used[c] = false;
                }
            }
            best
        }
        go(w, 0, &mut vec![false; w.first().map_or(0, Vec::len)])
    }

    #[test]
    fn assignment_matches_brute_force() {
        let mut rng = SplitMix64(3);
        for _ in 0..300 {
            let rows = 1 + rng.below(5);
            let cols = 1 + rng.below(5);
            let w: Vec<Vec<u64>> =
                (0..rows).map(|_| (0..cols).map(|_| rng.below(20) as u64).collect()).collect();
            let a = max_assignment(&w);
            let mut seen = vec![false; cols];
            for c in a.iter().flatten() {
                assert!(!seen[*c], "column used twice");
                seen[*c] = true;
            }
            let total: u64 = a.iter().enumerate().filter_map(|(r, c)| c.map(|c| w[r][c])).sum();
            assert_eq!(total, brute(&w), "{w:?}");
        }
    }

    #[test]
    fn splitmix_is_fixed() {
        // First output for seed 0 of the reference SplitMix64.
        assert_eq!(SplitMix64(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }
}
