//! [`NeighbourIndex`] backed by `hnsw_rs` — the only file that imports it.
//!
//! HNSW cannot delete points, so removed keys are filtered out of searches and the graph is rebuilt
//! from the live vectors once removed points outnumber live ones (amortised O(1) per removal).

use std::collections::HashSet;

use hnsw_rs::prelude::{Distance, Hnsw};

use super::index::{check_dim, sort_neighbours, Neighbour, NeighbourIndex};
use crate::Result;

/// Links per node and layer; 16 is the usual recall/memory balance for dimensions below 100.
const MAX_CONNECTIONS: usize = 16;
/// Candidate list size while building; larger raises recall at construction cost.
const EF_CONSTRUCTION: usize = 200;
/// Minimum candidate list size while searching.
const EF_SEARCH_MIN: usize = 64;
const MAX_LAYERS: usize = 16;

/// `1 - a·b` for unit vectors, clamped at 0. Ours rather than hnsw_rs's `DistDot`, which asserts
/// (panics) when rounding makes `a·b` exceed 1 for near-identical vectors.
#[derive(Debug, Clone, Copy, Default)]
struct UnitDot;

impl Distance<f32> for UnitDot {
    fn eval(&self, va: &[f32], vb: &[f32]) -> f32 {
        super::index::cosine_distance(va, vb)
    }
}

/// Approximate nearest neighbours (HNSW graph) for large point sets.
pub struct HnswIndex {
    dim: usize,
    graph: Hnsw<'static, f32, UnitDot>,
    /// Live vectors (key, vector), kept to rebuild the graph after many removals.
    keys: Vec<usize>,
    data: Vec<f32>,
    removed: HashSet<usize>,
    capacity_hint: usize,
}

impl std::fmt::Debug for HnswIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HnswIndex")
            .field("dim", &self.dim)
            .field("len", &self.keys.len())
            .field("removed", &self.removed.len())
            .finish()
    }
}

impl HnswIndex {
    /// An empty index for vectors of dimension `dim`, sized for about `capacity_hint` points.
    pub fn new(dim: usize, capacity_hint: usize) -> Self {
        let capacity_hint = capacity_hint.max(1024);
        HnswIndex {
            dim,
            graph: Self::graph(capacity_hint),
            keys: Vec::new(),
            data: Vec::new(),
            removed: HashSet::new(),
            capacity_hint,
        }
    }

    fn graph(capacity: usize) -> Hnsw<'static, f32, UnitDot> {
        Hnsw::new(MAX_CONNECTIONS, capacity, MAX_LAYERS, EF_CONSTRUCTION, UnitDot)
    }

    fn rebuild(&mut self) {
        self.graph = Self::graph(self.capacity_hint.max(self.keys.len()));
        for (i, &key) in self.keys.iter().enumerate() {
            self.graph.insert_slice((&self.data[i * self.dim..(i + 1) * self.dim], key));
        }
        self.removed.clear();
    }

    fn search(&self, unit: &[f32], k: usize, out: &mut Vec<Neighbour>) {
        out.clear();
        if k == 0 || self.keys.is_empty() {
            return;
        }
        let ef = (2 * k).max(EF_SEARCH_MIN);
        let found = if self.removed.is_empty() {
            self.graph.search(unit, k, ef)
        } else {
            let live = |id: &usize| !self.removed.contains(id);
            self.graph.search_filter(unit, k, ef, Some(&live))
        };
        out.extend(found.iter().map(|n| Neighbour { key: n.d_id, distance: n.distance }));
        sort_neighbours(out);
    }
}

impl NeighbourIndex for HnswIndex {
    fn dim(&self) -> usize {
        self.dim
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    fn insert(&mut self, key: usize, unit: &[f32]) -> Result<()> {
        check_dim(self.dim, unit)?;
        // A key removed and re-inserted must not stay filtered out: rebuild first.
        if self.removed.contains(&key) {
            self.rebuild();
        }
        self.keys.push(key);
        self.data.extend_from_slice(unit);
        self.graph.insert_slice((unit, key));
        Ok(())
    }

    fn remove(&mut self, key: usize) {
        if super::index::swap_remove_key(&mut self.keys, &mut self.data, self.dim, key) {
            self.removed.insert(key);
            if self.removed.len() > self.keys.len() {
                self.rebuild();
            }
        }
    }

    fn knn(&self, unit: &[f32], k: usize, out: &mut Vec<Neighbour>) {
        self.search(unit, k.min(self.keys.len()), out);
    }

    fn within(&self, unit: &[f32], radius: f32, out: &mut Vec<Neighbour>) {
        // HNSW has no range search: widen a k-NN search until it reaches past the radius.
        let mut k = 16;
        loop {
            let k_now = k.min(self.keys.len());
            self.search(unit, k_now, out);
            let reached = out.last().is_none_or(|n| n.distance > radius);
            if reached || k_now == self.keys.len() || out.len() < k_now {
                break;
            }
            k *= 4;
        }
        out.retain(|n| n.distance <= radius);
    }

    fn exact(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::index::LinearIndex;

    #[test]
    fn small_set_is_exact_and_removal_filters() {
        let mut h = HnswIndex::new(3, 10);
        let mut l = LinearIndex::new(3);
        let mut unit = [0.0; 3];
        for i in 0..50 {
            let v = [(i as f32).sin(), (i as f32 * 0.7).cos(), 0.3 + i as f32 * 0.01];
            crate::cluster::index::normalize_into(&v, &mut unit).unwrap();
            h.insert(i, &unit).unwrap();
            l.insert(i, &unit).unwrap();
        }
        for i in (0..50).step_by(3) {
            h.remove(i);
            l.remove(i);
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        h.knn(&unit, 5, &mut a);
        l.knn(&unit, 5, &mut b);
        assert_eq!(
            a.iter().map(|n| n.key).collect::<Vec<_>>(),
            b.iter().map(|n| n.key).collect::<Vec<_>>()
        );
        h.within(&unit, 0.05, &mut a);
        l.within(&unit, 0.05, &mut b);
        assert_eq!(a.len(), b.len());
    }
}
