//! Model-free window embeddings, the comparators `motionseg eval` reports beside the model path
//! (the paper's "joints data" row): no network, the same windows, the same clustering.
//!
//! * [`window_stats`]: per window, the mean and standard deviation of every pose column, after
//!   z-scoring each column over the take.
//! * [`pose_pod`]: each frame's z-scored pose projected on the take's own POD (PCA) modes
//!   holding `energy` of the variance, averaged over the window.
//!
//! Both drop the first three columns (the root translation: it drifts and depends on where the
//! subject stands) and columns that never change. They see the whole take at once, so they are
//! offline references, not streaming methods.
//!
//! ```
//! use motionseg::baseline::window_stats;
//! use motionseg::window::WindowSpan;
//!
//! let frames = ndarray::Array2::from_shape_fn((40, 6), |(t, c)| ((t * (c + 1)) % 7) as f32);
//! let spans = [WindowSpan { index: 0, first_frame: 0, last_frame: 19 },
//!              WindowSpan { index: 1, first_frame: 20, last_frame: 39 }];
//! let e = window_stats(frames.view(), &spans)?;
//! assert_eq!(e.dim(), (2, 6)); // 3 pose columns x (mean, std)
//! # Ok::<(), motionseg::Error>(())
//! ```

use ndarray::{Array2, ArrayView2};

use crate::basis::{Modes, PodBasis};
use crate::error::{Error, Result};
use crate::window::WindowSpan;

/// The z-scored pose columns of `frames` (root translation and constant columns dropped).
fn pose_columns(frames: ArrayView2<'_, f32>) -> Result<Array2<f64>> {
    let (n, c) = frames.dim();
    if c <= 3 || n < 2 {
        return Err(Error::Param {
            name: "frames",
            message: format!("need at least 2 frames of more than 3 columns, got [{n}, {c}]"),
        });
    }
    if let Some(((r, col), _)) = frames.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(Error::Param {
            name: "frames",
            message: format!("non-finite value at frame {r}, column {col}"),
        });
    }
    let mut keep = Vec::new();
    for j in 3..c {
        let col = frames.column(j);
        let mean = col.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
        let var = col.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n as f64;
        if var.sqrt() > 1e-6 {
            keep.push((j, mean, var.sqrt()));
        }
    }
    if keep.is_empty() {
        return Err(Error::Param {
            name: "frames",
            message: "every pose column is constant".into(),
        });
    }
    Ok(Array2::from_shape_fn((n, keep.len()), |(t, k)| {
        let (j, mean, sd) = keep[k];
        (f64::from(frames[[t, j]]) - mean) / sd
    }))
}

fn check_spans(spans: &[WindowSpan], frames: usize) -> Result<()> {
    match spans.iter().find(|s| s.last_frame >= frames || s.first_frame > s.last_frame) {
        Some(s) => Err(Error::Param {
            name: "windows",
            message: format!(
                "window {} spans frames {}..={} of a {frames}-frame take",
                s.index, s.first_frame, s.last_frame
            ),
        }),
        None => Ok(()),
    }
}

/// Mean and standard deviation of each pose column over each window: `[windows, 2·columns]`.
pub fn window_stats(frames: ArrayView2<'_, f32>, spans: &[WindowSpan]) -> Result<Array2<f32>> {
    check_spans(spans, frames.nrows())?;
    let x = pose_columns(frames)?;
    let c = x.ncols();
    let mut out = Array2::zeros((spans.len(), 2 * c));
    for (w, s) in spans.iter().enumerate() {
        let rows = x.slice(ndarray::s![s.first_frame..=s.last_frame, ..]);
        let len = rows.nrows() as f64;
        for j in 0..c {
            let col = rows.column(j);
            let mean = col.sum() / len;
            let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / len;
            out[[w, j]] = mean as f32;
            out[[w, c + j]] = var.sqrt() as f32;
        }
    }
    Ok(out)
}

/// Window means of the pose projected on the take's POD modes holding `energy` (0, 1] of the
/// variance: `[windows, modes]`.
pub fn pose_pod(
    frames: ArrayView2<'_, f32>,
    spans: &[WindowSpan],
    energy: f64,
) -> Result<Array2<f32>> {
    check_spans(spans, frames.nrows())?;
    let x = pose_columns(frames)?.mapv(|v| v as f32);
    let basis = PodBasis::fit(x.view(), Modes::Energy(energy), "")?;
    let k = basis.modes();
    let mut projected = Array2::<f32>::zeros((x.nrows(), k));
    for (row, mut out) in x.rows().into_iter().zip(projected.rows_mut()) {
        let (Some(r), Some(o)) = (row.as_slice(), out.as_slice_mut()) else {
            return Err(Error::invalid("pose POD", None, "non-contiguous rows"));
        };
        basis.project_into(r, o)?;
    }
    let mut out = Array2::zeros((spans.len(), k));
    for (w, s) in spans.iter().enumerate() {
        let rows = projected.slice(ndarray::s![s.first_frame..=s.last_frame, ..]);
        for (o, col) in out.row_mut(w).iter_mut().zip(rows.columns()) {
            *o = col.mean().unwrap_or(0.0);
        }
    }
    Ok(out)
}
