//! Nearest-neighbour search over unit-normalised vectors under cosine distance.
//!
//! [`NeighbourIndex`] is the one trait; [`LinearIndex`] is the exact linear scan (the test oracle,
//! and the faster choice for small sets); `HnswIndex` (feature `hnsw`) is the approximate one.
//! [`new_index`] picks between them by the expected number of points.

use crate::{Error, Result};

/// Below this many points a linear scan is used: measured, brute force costs about as much per
/// query as HNSW at 20 000 points of dimension 16–64, and it is exact.
pub const LINEAR_SCAN_MAX_POINTS: usize = 20_000;

/// One search result: the caller's key and its cosine distance to the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbour {
    /// The key given to [`NeighbourIndex::insert`].
    pub key: usize,
    /// Cosine distance `1 - cos(query, point)`, in `[0, 2]`.
    pub distance: f32,
}

/// A set of unit-normalised vectors searchable by cosine distance.
///
/// Vectors must have been normalised with [`normalize_into`]; the index does not check it (the
/// clusterer normalises once and passes the same slice everywhere).
pub trait NeighbourIndex: Send + Sync {
    /// The vector dimension.
    fn dim(&self) -> usize;
    /// Number of live (inserted and not removed) points.
    fn len(&self) -> usize;
    /// Whether the index holds no live point.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Adds a unit vector under `key`. Keys must be unique among live points.
    fn insert(&mut self, key: usize, unit: &[f32]) -> Result<()>;
    /// Removes the point with `key`; unknown keys are ignored.
    fn remove(&mut self, key: usize);
    /// Fills `out` with the (at most) `k` nearest live points, closest first.
    fn knn(&self, unit: &[f32], k: usize, out: &mut Vec<Neighbour>);
    /// Fills `out` with every live point within cosine distance `radius` (inclusive), closest first.
    fn within(&self, unit: &[f32], radius: f32, out: &mut Vec<Neighbour>);
    /// Whether answers are exact (a linear scan) rather than approximate (HNSW).
    fn exact(&self) -> bool;
}

/// Cosine distance between two unit vectors, clamped to `[0, 2]` against rounding.
#[inline]
pub fn cosine_distance(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    (1.0 - dot).clamp(0.0, 2.0)
}

/// Writes `v / |v|` into `out`. Errors on NaN/infinite components and on a zero vector, whose
/// cosine distance to anything is undefined.
pub fn normalize_into(v: &[f32], out: &mut [f32]) -> Result<()> {
    if v.len() != out.len() {
        return Err(Error::Param {
            name: "vector",
            message: format!("expected dimension {}, found {}", out.len(), v.len()),
        });
    }
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(Error::Param {
            name: "vector",
            message: format!("component {i} is {} (NaN or infinite)", v[i]),
        });
    }
    // f64 accumulation: the norm must not underflow or lose the small components.
    let norm = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return Err(Error::Param {
            name: "vector",
            message: "zero (or overflowing) vector: its cosine distance is undefined".to_owned(),
        });
    }
    for (o, &x) in out.iter_mut().zip(v) {
        *o = (f64::from(x) / norm) as f32;
    }
    Ok(())
}

/// Removes `key` and its `dim` values from parallel key/row storage by swapping in the last
/// row. Returns whether the key was present.
pub(crate) fn swap_remove_key(
    keys: &mut Vec<usize>,
    data: &mut Vec<f32>,
    dim: usize,
    key: usize,
) -> bool {
    let Some(i) = keys.iter().position(|&k| k == key) else { return false };
    let last = keys.len() - 1;
    keys.swap(i, last);
    keys.pop();
    for j in 0..dim {
        data.swap(i * dim + j, last * dim + j);
    }
    data.truncate(last * dim);
    true
}

/// Sorts neighbours closest first, ties by key, so that every index orders results alike.
pub(crate) fn sort_neighbours(out: &mut [Neighbour]) {
    out.sort_unstable_by(|a, b| a.distance.total_cmp(&b.distance).then(a.key.cmp(&b.key)));
}

/// Exact nearest neighbours by scanning every point: O(n·d) per query, no approximation.
#[derive(Debug, Clone)]
pub struct LinearIndex {
    dim: usize,
    keys: Vec<usize>,
    data: Vec<f32>,
}

impl LinearIndex {
    /// An empty index for vectors of dimension `dim`.
    pub fn new(dim: usize) -> Self {
        LinearIndex { dim, keys: Vec::new(), data: Vec::new() }
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

impl NeighbourIndex for LinearIndex {
    fn dim(&self) -> usize {
        self.dim
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    fn insert(&mut self, key: usize, unit: &[f32]) -> Result<()> {
        check_dim(self.dim, unit)?;
        self.keys.push(key);
        self.data.extend_from_slice(unit);
        Ok(())
    }

    fn remove(&mut self, key: usize) {
        // Swap-remove: order of storage does not matter, results are sorted.
        swap_remove_key(&mut self.keys, &mut self.data, self.dim, key);
    }

    fn knn(&self, unit: &[f32], k: usize, out: &mut Vec<Neighbour>) {
        out.clear();
        if k == 0 {
            return;
        }
        for (i, &key) in self.keys.iter().enumerate() {
            let distance = cosine_distance(unit, self.row(i));
            out.push(Neighbour { key, distance });
        }
        if out.len() > k {
            out.select_nth_unstable_by(k - 1, |a, b| {
                a.distance.total_cmp(&b.distance).then(a.key.cmp(&b.key))
            });
            out.truncate(k);
        }
        sort_neighbours(out);
    }

    fn within(&self, unit: &[f32], radius: f32, out: &mut Vec<Neighbour>) {
        out.clear();
        for (i, &key) in self.keys.iter().enumerate() {
            let distance = cosine_distance(unit, self.row(i));
            if distance <= radius {
                out.push(Neighbour { key, distance });
            }
        }
        sort_neighbours(out);
    }

    fn exact(&self) -> bool {
        true
    }
}

pub(crate) fn check_dim(dim: usize, v: &[f32]) -> Result<()> {
    if v.len() == dim {
        Ok(())
    } else {
        Err(Error::Param {
            name: "vector",
            message: format!("expected dimension {dim}, found {}", v.len()),
        })
    }
}

/// An index suited to `expected_points` points of dimension `dim`: the exact [`LinearIndex`]
/// below [`LINEAR_SCAN_MAX_POINTS`] (or without the `hnsw` feature), HNSW above.
pub fn new_index(dim: usize, expected_points: usize) -> Box<dyn NeighbourIndex> {
    #[cfg(feature = "hnsw")]
    if expected_points > LINEAR_SCAN_MAX_POINTS {
        return Box::new(super::hnsw::HnswIndex::new(dim, expected_points));
    }
    let _ = expected_points;
    Box::new(LinearIndex::new(dim))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_rejects_zero_and_nan() {
        let mut out = [0.0; 2];
        assert!(normalize_into(&[0.0, 0.0], &mut out).is_err());
        assert!(normalize_into(&[f32::NAN, 1.0], &mut out).is_err());
        assert!(normalize_into(&[1.0], &mut out).is_err());
        normalize_into(&[3.0, 4.0], &mut out).unwrap();
        assert_eq!(out, [0.6, 0.8]);
    }

    #[test]
    fn linear_knn_within_and_remove() {
        let mut ix = LinearIndex::new(2);
        let pts = [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.6, 0.8]];
        for (k, p) in pts.iter().enumerate() {
            ix.insert(k, p).unwrap();
        }
        let mut out = Vec::new();
        ix.knn(&[1.0, 0.0], 2, &mut out);
        assert_eq!(out.iter().map(|n| n.key).collect::<Vec<_>>(), [0, 3]);
        ix.within(&[1.0, 0.0], 1.0, &mut out);
        assert_eq!(out.iter().map(|n| n.key).collect::<Vec<_>>(), [0, 3, 1]);
        ix.remove(0);
        ix.knn(&[1.0, 0.0], 1, &mut out);
        assert_eq!(out[0].key, 3);
        assert_eq!(ix.len(), 3);
    }
}
