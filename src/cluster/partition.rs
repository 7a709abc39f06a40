//! Online penalised optimal partitioning (PELT) of a stream of vectors: where one movement ends
//! and the next begins.
//!
//! The cost of a segment `[a, b)` is its scatter about its own mean,
//! `Σ‖z_i‖² − ‖Σ z_i‖² / (b − a)` (a linear-kernel change-point cost), and a partition costs the
//! sum of its segments' costs plus `penalty` per segment. The optimal partition of rows
//! `0..b` is found by dynamic programming, `F(b) = min_a F(a) + cost(a, b) + penalty`, one row at
//! a time; candidates `a` that can no longer start the last segment of an optimal partition
//! are pruned (Killick et al. 2012: once `F(a) + cost(a, b) > F(b)`, `b` beats `a` as a start
//! for every end from `b + min_len` on, since this cost only falls when a segment is split; `a`
//! stays until then, as ends closer to `b` cannot start at `b`). Checked against the textbook
//! O(n²) recursion by a property test.
//!
//! A change point is **final** once every partition the future can still choose passes through
//! it: when it lies on the backtrack of every surviving candidate. [`OnlinePartition::push`]
//! returns those as they become final, and [`OnlinePartition::finish`] the rest of the optimal
//! partition of the whole stream, so pushing rows one by one gives exactly the batch optimum
//! (with the `max_len` bound below).
//!
//! Bounded work and memory: a candidate older than `max_len` rows is dropped once a newer one
//! can start a segment, so no segment runs longer than `max_len` rows unless no other start is
//! possible, and at most about `max_len` candidates (one running sum each) are kept. A stretch
//! undecided for `2 · max_len` rows is decided by force (see `finalize`); the result then is
//! no longer the unconstrained optimum, but still the same whether rows come one by one or
//! all at once, since there is only this one way to push them.
//!
//! ```
//! use motionseg::cluster::partition::OnlinePartition;
//!
//! // 30 rows near one direction, then 30 near another: one change, at row 30.
//! let mut p = OnlinePartition::new(2, 1.0, 4, 1024)?;
//! let mut changes = Vec::new();
//! for t in 0..60 {
//!     let wobble = 0.01 * (t % 3) as f32;
//!     let row = if t < 30 { [1.0, wobble] } else { [wobble, 1.0] };
//!     changes.extend(p.push(&row)?);
//! }
//! changes.extend(p.finish());
//! assert_eq!(changes, [30]);
//! # Ok::<(), motionseg::Error>(())
//! ```

use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// A surviving candidate start of the last segment.
#[derive(Debug, Clone)]
struct Candidate {
    pos: usize,
    /// `F(pos)`: the optimal cost of rows `0..pos`.
    f: f64,
    /// Running sums of the rows `0..pos`.
    sum: Vec<f64>,
    sq: f64,
    /// The first end `b` at which its last segment cost more than the optimum `F(b)`: from
    /// `b + min_len` on it can never start an optimal last segment (kept until then, since
    /// ends before `b + min_len` cannot use `b` as a start).
    dead_at: Option<usize>,
}

/// Online optimal partitioning; per-stream state. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct OnlinePartition {
    dim: usize,
    penalty: f64,
    min_len: usize,
    max_len: usize,
    n: usize,
    sum: Vec<f64>,
    sq: f64,
    cands: Vec<Candidate>,
    /// Optimal last change point before `p`, for positions that were candidates after
    /// `last_final`.
    arg: BTreeMap<usize, usize>,
    last_final: usize,
    /// Smallest position that may still become a change point.
    earliest_open: usize,
    finished: bool,
}

impl OnlinePartition {
    /// A partition of `dim`-vectors with `penalty` per segment (> 0, finite), segments of at
    /// least `min_len` rows (≥ 1) and candidates kept for at most `max_len` rows
    /// (≥ `2 · min_len`).
    pub fn new(dim: usize, penalty: f64, min_len: usize, max_len: usize) -> Result<Self> {
        let bad = |name, message: String| Err(Error::Param { name, message });
        if dim == 0 {
            return bad("dim", "must be at least 1".into());
        }
        if !(penalty.is_finite() && penalty > 0.0) {
            return bad("penalty", format!("{penalty} must be finite and above 0"));
        }
        if min_len == 0 {
            return bad("min_len", "must be at least 1".into());
        }
        if max_len < 2 * min_len {
            return bad("max_len", format!("{max_len} is below twice min_len {min_len}"));
        }
        Ok(OnlinePartition {
            dim,
            penalty,
            min_len,
            max_len,
            n: 0,
            sum: vec![0.0; dim],
            sq: 0.0,
            cands: vec![Candidate {
                pos: 0,
                f: -penalty,
                sum: vec![0.0; dim],
                sq: 0.0,
                dead_at: None,
            }],
            arg: BTreeMap::new(),
            last_final: 0,
            earliest_open: 0,
            finished: false,
        })
    }

    /// Rows pushed.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether no row was pushed.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Smallest row position that may still become a change point (every change point before
    /// it has been returned).
    pub fn earliest_open(&self) -> usize {
        self.earliest_open
    }

    /// The change points not final yet of the optimal partition of the rows pushed so far
    /// (ascending): the current best guess, which later rows may still move.
    pub fn provisional(&self) -> Vec<usize> {
        let mut out = match self.cands.last() {
            Some(c) if c.pos == self.n => self.chain(c.pos),
            _ => Vec::new(),
        };
        out.reverse();
        out
    }

    /// Candidates kept (bounded by about `max_len`).
    pub fn candidates(&self) -> usize {
        self.cands.len()
    }

    /// Adds the next row (`dim` finite values) and returns the change points that became final
    /// (ascending, each the position of the first row of a new segment).
    pub fn push(&mut self, z: &[f32]) -> Result<Vec<usize>> {
        if self.finished {
            return Err(Error::invalid("partition", None, "row pushed after finish"));
        }
        if z.len() != self.dim {
            return Err(Error::invalid(
                "partition",
                None,
                format!("row of {} values, expected {}", z.len(), self.dim),
            ));
        }
        if let Some(i) = z.iter().position(|x| !x.is_finite()) {
            return Err(Error::invalid("partition", None, format!("value {i} is not finite")));
        }
        for (s, &x) in self.sum.iter_mut().zip(z) {
            *s += f64::from(x);
        }
        self.sq += z.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>();
        self.n += 1;
        let b = self.n;
        // Prune (Killick et al.): a candidate whose segment to some end b' cost more than F(b')
        // loses to b' as a start for every end from b' + min_len on.
        let min_len = self.min_len;
        self.cands.retain(|c| c.dead_at.is_none_or(|d| b < d + min_len));
        // Cost of each eligible candidate's last segment; the best gives F(b).
        let costs: Vec<Option<f64>> = self
            .cands
            .iter()
            .map(|c| (b - c.pos >= self.min_len).then(|| c.f + self.cost(c)))
            .collect();
        let best = costs
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.map(|c| (i, c)))
            .min_by(|x, y| x.1.total_cmp(&y.1).then(x.0.cmp(&y.0)));
        let Some((best_i, best_cost)) = best else {
            return Ok(Vec::new()); // fewer than min_len rows since every candidate
        };
        let f_b = best_cost + self.penalty;
        let best_pos = self.cands[best_i].pos;
        for (c, cost) in self.cands.iter_mut().zip(&costs) {
            if cost.is_some_and(|cost| cost > f_b) && c.dead_at.is_none() {
                c.dead_at = Some(b);
            }
        }
        // Bound: drop candidates older than max_len while a newer one can start a segment.
        while self.cands.len() > 1
            && b - self.cands[0].pos > self.max_len
            && b - self.cands[1].pos >= self.min_len
        {
            self.cands.remove(0);
        }
        self.cands.push(Candidate {
            pos: b,
            f: f_b,
            sum: self.sum.clone(),
            sq: self.sq,
            dead_at: None,
        });
        self.arg.insert(b, best_pos);
        Ok(self.finalize())
    }

    /// Ends the stream and returns the change points of the optimal partition not returned
    /// yet (ascending). Later calls return nothing.
    pub fn finish(&mut self) -> Vec<usize> {
        if self.finished {
            return Vec::new();
        }
        self.finished = true;
        // The optimum of all rows ends at n. When n is no candidate (the rows since every
        // start that may end there are fewer than min_len, e.g. after a forced decision), the
        // cheapest candidate start is taken regardless of min_len: the last segment is short.
        let mut out = match self.cands.last() {
            Some(c) if c.pos == self.n => self.chain(self.n),
            _ => {
                let best = self
                    .cands
                    .iter()
                    .filter(|c| c.pos < self.n)
                    .map(|c| (c.pos, c.f + self.cost(c)))
                    .min_by(|x, y| x.1.total_cmp(&y.1).then(x.0.cmp(&y.0)));
                match best {
                    Some((pos, _)) if pos > self.last_final => {
                        let mut out = vec![pos];
                        out.extend(self.chain(pos));
                        out
                    }
                    _ => Vec::new(),
                }
            }
        };
        out.reverse();
        if let Some(&last) = out.last() {
            self.last_final = last;
        }
        out
    }

    /// `cost(c.pos, n)` for candidate `c`.
    fn cost(&self, c: &Candidate) -> f64 {
        let len = (self.n - c.pos) as f64;
        let s2: f64 = self.sum.iter().zip(&c.sum).map(|(a, b)| (a - b) * (a - b)).sum();
        ((self.sq - c.sq) - s2 / len).max(0.0)
    }

    /// Change points before `p` on its optimal backtrack, after `last_final`, descending.
    fn chain(&self, p: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut at = p;
        while let Some(&a) = self.arg.get(&at) {
            if a <= self.last_final {
                break;
            }
            out.push(a);
            at = a;
        }
        out
    }

    /// Positions on every surviving candidate's backtrack (the candidate included) are final.
    /// When that leaves the stream undecided for more than `2 · max_len` rows (a long stretch
    /// without a clear change, whose best partitions need not share any point), the oldest
    /// change point of the newest candidate's backtrack is made final and the candidates that
    /// disagree with it are dropped, so decisions, memory and delay stay bounded.
    fn finalize(&mut self) -> Vec<usize> {
        let mut fin = self.common();
        if fin.is_empty() && self.n - self.last_final > 2 * self.max_len {
            let newest = self.cands.last().map_or(self.n, |c| c.pos);
            let mut path = self.chain(newest);
            path.insert(0, newest);
            if let Some(&oldest) = path.last().filter(|&&p| p > self.last_final && p < self.n) {
                self.cands.retain(|c| {
                    c.pos == oldest || {
                        let mut at = c.pos;
                        while let Some(&a) = self.arg.get(&at).filter(|&&a| a > oldest) {
                            at = a;
                        }
                        self.arg.get(&at) == Some(&oldest)
                    }
                });
                fin = vec![oldest];
                self.commit(oldest);
                fin.extend(self.common());
            }
        }
        if let Some(&last) = fin.last() {
            self.commit(last);
        }
        fin
    }

    /// Everything up to `last` is decided.
    fn commit(&mut self, last: usize) {
        self.last_final = last;
        self.arg = self.arg.split_off(&(last + 1));
        self.earliest_open = self.earliest_open.max(last);
    }

    /// The common, not yet final part of the surviving candidates' backtracks (ascending);
    /// also sets `earliest_open`.
    fn common(&mut self) -> Vec<usize> {
        let mut common: Option<Vec<usize>> = None;
        let mut lowest = usize::MAX;
        for c in &self.cands {
            let mut path = self.chain(c.pos);
            if c.pos > self.last_final {
                path.insert(0, c.pos);
            }
            lowest = lowest.min(path.last().copied().unwrap_or(c.pos)).min(c.pos);
            common = Some(match common {
                None => path,
                Some(prev) => prev.into_iter().filter(|p| path.contains(p)).collect(),
            });
        }
        let mut fin = common.unwrap_or_default();
        fin.reverse();
        // The newest candidate (n itself) may be on every path after a forced decision; it
        // becomes final with the next row, not as an empty segment at the current end.
        fin.retain(|&p| p < self.n);
        let last = fin.last().copied().unwrap_or(self.last_final);
        self.earliest_open = if lowest == usize::MAX { self.n } else { lowest.max(last) };
        fin
    }
}
