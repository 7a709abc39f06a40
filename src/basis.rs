//! The frozen POD (PCA) basis: fitted once on a calibration set of model states, then used to
//! project every decoder state of every stream. The only file that imports `faer`.
//!
//! Fitting stacks encoder and decoder states into the global state matrix `S` (one state per
//! row), centres it with its column mean, and takes the thin SVD `S - mean = U Σ Vᵀ`. The basis
//! keeps the mean, the top-`k` right singular vectors (rows of `Vᵀ`) and all singular values.
//! `k` is chosen by singular-value energy: the smallest `k` with
//! `Σ_{i<k} σᵢ² ≥ fraction · Σ σᵢ²`.

use std::path::Path;

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// File format tag written into every basis file.
const FORMAT: &str = "motionseg-pod-basis";
/// Version of the basis file layout; bumped on incompatible changes.
const VERSION: u32 = 1;

/// A frozen POD basis. Immutable once built or loaded; share it behind an `Arc`.
#[derive(Debug, Clone, PartialEq)]
pub struct PodBasis {
    mean: Vec<f32>,
    /// `k x n`: row `i` is the `i`-th right singular vector.
    components: Array2<f32>,
    singular_values: Vec<f64>,
    model_sha256: String,
}

/// `Σ (x_i − m_i) c_i` in eight independent lanes. One running sum is a chain of dependent
/// float additions the compiler may not reorder; eight lanes vectorise (measured: the projection
/// was a third of `segment`'s time with one sum).
fn centred_dot(x: &[f32], m: &[f32], c: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let lanes = x.chunks_exact(8).zip(m.chunks_exact(8)).zip(c.chunks_exact(8));
    for ((a, b), d) in lanes {
        for l in 0..8 {
            acc[l] += (a[l] - b[l]) * d[l];
        }
    }
    let done = x.len() / 8 * 8;
    let tail: f32 =
        x[done..].iter().zip(&m[done..]).zip(&c[done..]).map(|((&a, &b), &d)| (a - b) * d).sum();
    acc.iter().sum::<f32>() + tail
}

/// Number of leading modes whose squared singular values reach `fraction` of the total energy.
/// Returns at least 1 (when any value is positive) and at most `singular_values.len()`.
///
/// ```
/// use motionseg::basis::modes_for_energy;
/// // energies 16, 4, 0.5, 0.5 of 21: two modes hold 95 %.
/// assert_eq!(modes_for_energy(&[4.0, 2.0, 0.5_f64.sqrt(), 0.5_f64.sqrt()], 0.90), 2);
/// assert_eq!(modes_for_energy(&[4.0, 2.0, 0.5_f64.sqrt(), 0.5_f64.sqrt()], 0.99), 4);
/// ```
pub fn modes_for_energy(singular_values: &[f64], fraction: f64) -> usize {
    let total: f64 = singular_values.iter().map(|s| s * s).sum();
    if total <= 0.0 || singular_values.is_empty() {
        return singular_values.len().min(1);
    }
    let mut acc = 0.0;
    for (i, s) in singular_values.iter().enumerate() {
        acc += s * s;
        // A tiny tolerance so that an exact 90 % split counts as reached despite rounding.
        if acc >= fraction * total * (1.0 - 1e-12) {
            return i + 1;
        }
    }
    singular_values.len()
}

/// How many modes a fitted basis keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Modes {
    /// Keep exactly this many modes.
    Count(usize),
    /// Keep the fewest modes reaching this fraction (0, 1] of singular-value energy.
    Energy(f64),
}

impl PodBasis {
    /// Fits a basis to `states` (one state per row, `n` columns). `model_sha256` ties the basis
    /// to the model whose states it was fitted on; [`PodBasis::check_model`] enforces it.
    pub fn fit(states: ArrayView2<'_, f32>, modes: Modes, model_sha256: &str) -> Result<PodBasis> {
        let (m, n) = states.dim();
        if m < 2 || n == 0 {
            return Err(Error::Param {
                name: "states",
                message: format!("need at least 2 states of dimension >= 1, got [{m}, {n}]"),
            });
        }
        if let Some(((r, c), _)) = states.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::Param {
                name: "states",
                message: format!("non-finite value at state {r}, column {c}"),
            });
        }
        let mut mean = vec![0f64; n];
        for row in states.rows() {
            for (acc, &v) in mean.iter_mut().zip(row) {
                *acc += f64::from(v);
            }
        }
        for v in &mut mean {
            *v /= m as f64;
        }
        let centred = faer::Mat::<f64>::from_fn(m, n, |i, j| f64::from(states[[i, j]]) - mean[j]);
        let svd = centred.thin_svd().map_err(|e| Error::Param {
            name: "states",
            message: format!("SVD did not converge: {e:?}"),
        })?;
        let s = svd.S().column_vector();
        let singular_values: Vec<f64> = (0..s.nrows()).map(|i| s[i]).collect();
        let k = match modes {
            Modes::Count(k) if k >= 1 && k <= singular_values.len() => k,
            Modes::Count(k) => {
                return Err(Error::Param {
                    name: "modes",
                    message: format!("must be in 1..={}, got {k}", singular_values.len()),
                })
            }
            Modes::Energy(f) if f > 0.0 && f <= 1.0 => modes_for_energy(&singular_values, f),
            Modes::Energy(f) => {
                return Err(Error::Param {
                    name: "energy",
                    message: format!("must be in (0, 1], got {f}"),
                })
            }
        };
        let v = svd.V();
        let components = Array2::from_shape_fn((k, n), |(i, j)| v[(j, i)] as f32);
        Ok(PodBasis {
            mean: mean.iter().map(|&x| x as f32).collect(),
            components,
            singular_values,
            model_sha256: model_sha256.to_owned(),
        })
    }

    /// Dimension of the states this basis projects.
    pub fn state_dim(&self) -> usize {
        self.mean.len()
    }

    /// Number of kept modes `k` (the projected dimension).
    pub fn modes(&self) -> usize {
        self.components.nrows()
    }

    /// All singular values of the calibration matrix, largest first.
    pub fn singular_values(&self) -> &[f64] {
        &self.singular_values
    }

    /// The sha256 of the model this basis belongs to.
    pub fn model_sha256(&self) -> &str {
        &self.model_sha256
    }

    /// Refuses to pair this basis with another model. `file` names the basis in the error.
    pub fn check_model(&self, file: &str, model_sha256: &str) -> Result<()> {
        if self.model_sha256 != model_sha256 {
            return Err(Error::Shape {
                file: file.to_owned(),
                field: "model_sha256".to_owned(),
                expected: format!("the loaded model's hash {model_sha256}"),
                found: format!("{} (a basis fitted on another model)", self.model_sha256),
            });
        }
        Ok(())
    }

    /// Projects one state `x` (length [`state_dim`](Self::state_dim)) into `out` (length
    /// [`modes`](Self::modes)). Allocates nothing.
    pub fn project_into(&self, x: &[f32], out: &mut [f32]) -> Result<()> {
        if x.len() != self.mean.len() || out.len() != self.modes() {
            return Err(Error::Param {
                name: "project_into",
                message: format!(
                    "state length {} and output length {} must be {} and {}",
                    x.len(),
                    out.len(),
                    self.mean.len(),
                    self.modes()
                ),
            });
        }
        for (o, comp) in out.iter_mut().zip(self.components.rows()) {
            *o = match comp.as_slice() {
                Some(c) => centred_dot(x, &self.mean, c),
                None => x.iter().zip(&self.mean).zip(comp).map(|((&a, &m), &c)| (a - m) * c).sum(),
            };
        }
        Ok(())
    }

    /// Saves the basis as JSON.
    pub fn save(&self, path: &Path) -> Result<()> {
        let file = BasisFile {
            format: FORMAT.to_owned(),
            version: VERSION,
            model_sha256: self.model_sha256.clone(),
            state_dim: self.state_dim(),
            modes: self.modes(),
            singular_values: self.singular_values.clone(),
            mean: self.mean.clone(),
            components: self.components.rows().into_iter().map(|r| r.to_vec()).collect(),
        };
        let text = serde_json::to_string(&file)
            .map_err(|e| Error::invalid(&path.display().to_string(), None, e.to_string()))?;
        std::fs::write(path, text).map_err(|e| Error::io(path, e))
    }

    /// Loads a basis saved by [`save`](Self::save), checking every field.
    pub fn load(path: &Path) -> Result<PodBasis> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let f: BasisFile = serde_json::from_slice(&bytes).map_err(|e| {
            Error::parse(
                &name,
                e.line(),
                "basis JSON",
                "a motionseg POD basis file",
                &e.to_string(),
            )
        })?;
        let bad = |field: &str, expected: String, found: String| Error::Shape {
            file: name.clone(),
            field: field.to_owned(),
            expected,
            found,
        };
        if f.format != FORMAT || f.version != VERSION {
            return Err(bad(
                "format",
                format!("{FORMAT} version {VERSION}"),
                format!("{} version {}", f.format, f.version),
            ));
        }
        if f.mean.len() != f.state_dim || f.state_dim == 0 {
            return Err(bad("mean", format!("{} values", f.state_dim), f.mean.len().to_string()));
        }
        if f.modes == 0 || f.components.len() != f.modes {
            return Err(bad(
                "components",
                format!("{} rows (modes, >= 1)", f.modes),
                f.components.len().to_string(),
            ));
        }
        if let Some(i) = f.components.iter().position(|r| r.len() != f.state_dim) {
            return Err(bad(
                &format!("components[{i}]"),
                format!("{} values", f.state_dim),
                f.components[i].len().to_string(),
            ));
        }
        let finite = f.mean.iter().chain(f.components.iter().flatten()).all(|v| v.is_finite())
            && f.singular_values.iter().all(|v| v.is_finite());
        if !finite {
            return Err(bad("values", "finite numbers".to_owned(), "NaN or infinity".to_owned()));
        }
        let components = Array2::from_shape_vec((f.modes, f.state_dim), f.components.concat())
            .map_err(|e| bad("components", "a rectangular matrix".to_owned(), e.to_string()))?;
        Ok(PodBasis {
            mean: f.mean,
            components,
            singular_values: f.singular_values,
            model_sha256: f.model_sha256,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct BasisFile {
    format: String,
    version: u32,
    model_sha256: String,
    state_dim: usize,
    modes: usize,
    singular_values: Vec<f64>,
    mean: Vec<f32>,
    components: Vec<Vec<f32>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A matrix with a known spectrum: orthogonal directions scaled by chosen singular values.
    fn known_spectrum(sigmas: &[f64], m: usize) -> Array2<f32> {
        let n = sigmas.len();
        // Rows alternate signs on each axis so the columns are centred and orthogonal.
        let mut a = Array2::<f32>::zeros((m, n));
        for j in 0..n {
            for i in 0..m {
                // Walsh-like orthogonal patterns: column j flips sign every 2^j rows.
                let sign = if (i >> j) & 1 == 0 { 1.0 } else { -1.0 };
                a[[i, j]] = (sign * sigmas[j] / (m as f64).sqrt()) as f32 + 3.0;
            }
        }
        a
    }

    #[test]
    fn recovers_known_spectrum_and_mode_counts() {
        let sig = [10.0, 5.0, 1.0, 0.1];
        let s = known_spectrum(&sig, 64);
        let b = PodBasis::fit(s.view(), Modes::Energy(0.90), "abc").expect("fit");
        for (got, want) in b.singular_values().iter().zip(sig) {
            assert!((got - want).abs() < 1e-4, "{got} vs {want}");
        }
        // energies 100, 25, 1, 0.01: 80 % after one mode, 99.2 % after two.
        assert_eq!(b.modes(), 2);
        assert_eq!(modes_for_energy(b.singular_values(), 0.99), 2);
        assert_eq!(modes_for_energy(b.singular_values(), 0.999), 3);
        // The mean is removed: projecting the mean gives zero.
        let mut out = vec![1.0; 2];
        b.project_into(&[3.0; 4], &mut out).expect("project");
        assert!(out.iter().all(|v| v.abs() < 1e-5), "{out:?}");
    }

    #[test]
    fn lane_projection_matches_a_plain_sum() {
        // 21 = two lanes of 8 plus a tail of 5; values spread over magnitudes.
        for n in [1, 7, 8, 21, 64] {
            let x: Vec<f32> = (0..n).map(|i| ((i * 37 % 11) as f32 - 5.0) * 1.3).collect();
            let m: Vec<f32> = (0..n).map(|i| (i as f32).sin()).collect();
            let c: Vec<f32> = (0..n).map(|i| ((i * 7) as f32).cos() * 0.5).collect();
            let want: f64 = (0..n).map(|i| f64::from(x[i] - m[i]) * f64::from(c[i])).sum();
            let got = centred_dot(&x, &m, &c);
            assert!((f64::from(got) - want).abs() < 1e-4, "n {n}: {got} vs {want}");
        }
    }

    #[test]
    fn save_load_round_trip_and_errors() {
        let s = known_spectrum(&[3.0, 2.0, 1.0], 16);
        let b = PodBasis::fit(s.view(), Modes::Count(2), "deadbeef").expect("fit");
        let dir = std::env::temp_dir().join(format!("motionseg-basis-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("b.json");
        b.save(&p).expect("save");
        let back = PodBasis::load(&p).expect("load");
        assert_eq!(back, b);
        assert!(back.check_model("b.json", "deadbeef").is_ok());
        let e = back.check_model("b.json", "0123").unwrap_err().to_string();
        assert!(e.contains("b.json: model_sha256"), "{e}");
        std::fs::write(&p, b"{\"format\": 3").expect("write");
        let e = PodBasis::load(&p).unwrap_err().to_string();
        assert!(e.contains("b.json:1"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
        assert!(PodBasis::fit(s.view(), Modes::Count(9), "x").is_err());
        assert!(PodBasis::fit(s.view(), Modes::Energy(1.5), "x").is_err());
        let mut out = [0.0; 3];
        assert!(b.project_into(&[0.0; 3], &mut out).is_err());
    }
}
