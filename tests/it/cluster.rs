//! Clustering: online == offline, robust vs plain single linkage on a bridged pair of blobs, K
//! given / inferred on clean blobs, memory cap, error cases, baselines, HNSW vs the linear oracle.

use motionseg::cluster::index::{normalize_into, NeighbourIndex};
use motionseg::cluster::{
    average_linkage, cluster_offline, kmeans, single_linkage, ClusterEvent, ClusterId,
    ClusterParams, Clusterer, Cut, Linkage,
};
use ndarray::Array2;

/// Small deterministic generator (splitmix64 + Box–Muller) so tests need no extra crate.
struct Rng(u64);
impl Rng {
    fn u01(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f32 {
        let (a, b) = (self.u01().max(1e-12), self.u01());
        ((-2.0 * a.ln()).sqrt() * (2.0 * std::f64::consts::PI * b).cos()) as f32
    }
}

/// Points `(1, x, y)` whose directions are near `centre` in the plane (cosine distance is then
/// monotone in the planar distance for small spreads).
fn blob(rng: &mut Rng, centre: (f32, f32), sigma: f32, n: usize) -> Vec<[f32; 3]> {
    (0..n)
        .map(|_| [1.0, centre.0 + sigma * rng.normal(), centre.1 + sigma * rng.normal()])
        .collect()
}

fn matrix(points: &[[f32; 3]]) -> Array2<f32> {
    Array2::from_shape_fn((points.len(), 3), |(i, j)| points[i][j])
}

/// Interleaves blobs so that the stream visits them in turn (as windows of a stream would not,
/// but it exercises merges and splits harder).
fn shuffled(rng: &mut Rng, mut pts: Vec<([f32; 3], usize)>) -> Vec<([f32; 3], usize)> {
    for i in (1..pts.len()).rev() {
        let j = (rng.u01() * (i + 1) as f64) as usize;
        pts.swap(i, j.min(i));
    }
    pts
}

fn run(params: &ClusterParams, pts: &[[f32; 3]]) -> (Clusterer, Vec<ClusterEvent>) {
    let mut c = params.build().expect("valid params");
    let mut events = Vec::new();
    for (i, p) in pts.iter().enumerate() {
        c.insert(i as u64, p, &mut events).expect("valid point");
    }
    (c, events)
}

/// Relabels by first appearance, so partitions can be compared whatever the numbering.
fn canon<T: PartialEq + Copy>(labels: &[Option<T>]) -> Vec<Option<usize>> {
    let mut seen: Vec<T> = Vec::new();
    labels
        .iter()
        .map(|l| {
            l.map(|x| match seen.iter().position(|&s| s == x) {
                Some(i) => i,
                None => {
                    seen.push(x);
                    seen.len() - 1
                }
            })
        })
        .collect()
}

/// Fraction of pairs (among `idx`) on which two labellings agree about same / different cluster.
fn pair_agreement(a: &[Option<usize>], b: &[usize], idx: &[usize]) -> f64 {
    let (mut agree, mut total) = (0usize, 0usize);
    for (x, &i) in idx.iter().enumerate() {
        for &j in &idx[x + 1..] {
            total += 1;
            let same_a = a[i].is_some() && a[i] == a[j];
            if same_a == (b[i] == b[j]) {
                agree += 1;
            }
        }
    }
    agree as f64 / total as f64
}

fn three_blobs(rng: &mut Rng, n: usize) -> (Vec<[f32; 3]>, Vec<usize>) {
    let centres = [(-1.0, 0.0), (1.0, 0.0), (0.0, 1.5)];
    let mut pts = Vec::new();
    for (c, &centre) in centres.iter().enumerate() {
        pts.extend(blob(rng, centre, 0.08, n).into_iter().map(|p| (p, c)));
    }
    let pts = shuffled(rng, pts);
    (pts.iter().map(|p| p.0).collect(), pts.iter().map(|p| p.1).collect())
}

fn robust(min_samples: usize, m: usize, cut: Cut) -> ClusterParams {
    ClusterParams {
        linkage: Linkage::Robust { min_samples },
        min_cluster_size: m,
        cut,
        ..ClusterParams::new(3)
    }
}

#[test]
fn online_equals_offline_on_random_sets() {
    let cuts = [
        (Linkage::Single, 1, Cut::Count(3)),
        (Linkage::Single, 3, Cut::Count(4)),
        (Linkage::Robust { min_samples: 3 }, 5, Cut::Count(3)),
        (Linkage::Robust { min_samples: 4 }, 5, Cut::Stability { allow_single_cluster: false }),
        (Linkage::Robust { min_samples: 2 }, 4, Cut::Stability { allow_single_cluster: true }),
        (Linkage::Robust { min_samples: 5 }, 8, Cut::LargestGap),
        (Linkage::Robust { min_samples: 3 }, 3, Cut::Threshold(0.002)),
        (Linkage::Single, 2, Cut::Threshold(0.001)),
    ];
    for seed in 0..6u64 {
        let mut rng = Rng(seed);
        let n = 30 + 25 * seed as usize;
        // Random blobs of random sizes plus uniform noise: ties and noise exercise the tree.
        let mut pts = Vec::new();
        for b in 0..4 {
            let c = (rng.normal() * 0.5, rng.normal() * 0.5);
            pts.extend(blob(&mut rng, c, 0.03 + 0.02 * b as f32, n / 5));
        }
        while pts.len() < n {
            pts.push([1.0, rng.normal(), rng.normal()]);
        }
        let pts: Vec<[f32; 3]> = shuffled(&mut rng, pts.into_iter().map(|p| (p, 0)).collect())
            .into_iter()
            .map(|p| p.0)
            .collect();
        for &(linkage, m, cut) in &cuts {
            let params =
                ClusterParams { linkage, min_cluster_size: m, cut, ..ClusterParams::new(3) };
            let offline = cluster_offline(matrix(&pts).view(), &params).unwrap();
            let (c, _) = run(&params, &pts);
            let online: Vec<Option<ClusterId>> = c.labels().into_iter().map(|l| l.1).collect();
            assert_eq!(canon(&online), offline, "seed {seed}, {linkage:?}, m={m}, {cut:?}");
            if !matches!(cut, Cut::Threshold(_)) {
                // Not only the same partition: the same numbering.
                let direct: Vec<Option<usize>> =
                    online.iter().map(|l| l.map(|c| c.0 as usize)).collect();
                assert_eq!(direct, offline);
            }
        }
    }
}

/// The case that sinks plain single linkage on real data: two dense groups joined by a thin
/// chain of points (transition windows). Plain single linkage cut into 2 splits off an outlier
/// and leaves both groups in one cluster; robust single linkage separates them.
#[test]
fn robust_linkage_resists_a_bridge_that_chains_plain_linkage() {
    let mut rng = Rng(7);
    let (a, b) = ((-0.6, 0.0), (0.6, 0.0));
    let mut pts: Vec<([f32; 3], usize)> = Vec::new();
    pts.extend(blob(&mut rng, a, 0.1, 150).into_iter().map(|p| (p, 0)));
    pts.extend(blob(&mut rng, b, 0.1, 150).into_iter().map(|p| (p, 1)));
    for i in 0..=40 {
        pts.push(([1.0, -0.4 + 0.02 * i as f32, 0.0], 2));
    }
    let pts = shuffled(&mut rng, pts);
    let xs: Vec<[f32; 3]> = pts.iter().map(|p| p.0).collect();
    let truth: Vec<usize> = pts.iter().map(|p| p.1).collect();
    // Judge on the blob cores (within 1.5 sigma), where the answer is unambiguous.
    let near = |p: &[f32; 3], c: (f32, f32)| (p[1] - c.0).hypot(p[2] - c.1) < 0.15;
    let idx: Vec<usize> =
        (0..xs.len()).filter(|&i| truth[i] < 2 && (near(&xs[i], a) || near(&xs[i], b))).collect();

    let plain = ClusterParams {
        linkage: Linkage::Single,
        min_cluster_size: 1,
        cut: Cut::Count(2),
        ..ClusterParams::new(3)
    };
    let labels = cluster_offline(matrix(&xs).view(), &plain).unwrap();
    let agreement = pair_agreement(&labels, &truth, &idx);
    assert!(agreement < 0.6, "plain single linkage unexpectedly separated the blobs: {agreement}");

    let (c, _) = run(&robust(10, 20, Cut::Count(2)), &xs);
    let labels: Vec<Option<usize>> = c.labels().iter().map(|l| l.1.map(|c| c.0 as usize)).collect();
    assert_eq!(pair_agreement(&labels, &truth, &idx), 1.0);

    let (c, _) = run(&robust(10, 20, Cut::Stability { allow_single_cluster: false }), &xs);
    let labels: Vec<Option<usize>> = c.labels().iter().map(|l| l.1.map(|c| c.0 as usize)).collect();
    assert_eq!(pair_agreement(&labels, &truth, &idx), 1.0);
}

#[test]
fn k_given_gives_exactly_k_clusters_on_clean_blobs() {
    let mut rng = Rng(11);
    let (xs, truth) = three_blobs(&mut rng, 60);
    let all: Vec<usize> = (0..xs.len()).collect();
    for params in [
        robust(5, 10, Cut::Count(3)),
        ClusterParams {
            linkage: Linkage::Single,
            min_cluster_size: 1,
            ..robust(1, 1, Cut::Count(3))
        },
    ] {
        let mut c = params.build().unwrap();
        let mut events = Vec::new();
        for (i, p) in xs.iter().enumerate() {
            c.insert(i as u64, p, &mut events).unwrap();
            // After every insertion every point has a label and there are at most K.
            let labels = c.labels();
            assert_eq!(labels.len(), i + 1);
            if i >= 30 {
                assert!(labels.iter().all(|l| l.1.is_some()));
                assert!(labels.iter().all(|l| l.1.unwrap().0 < 3));
            }
        }
        let labels: Vec<Option<usize>> =
            c.labels().iter().map(|l| l.1.map(|c| c.0 as usize)).collect();
        let mut distinct: Vec<_> = labels.iter().flatten().collect();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 3);
        assert_eq!(pair_agreement(&labels, &truth, &all), 1.0);
    }
}

#[test]
fn k_inferred_finds_three_clean_blobs() {
    let mut rng = Rng(5);
    let (xs, truth) = three_blobs(&mut rng, 80);
    let all: Vec<usize> = (0..xs.len()).collect();
    for cut in [Cut::Stability { allow_single_cluster: false }, Cut::LargestGap] {
        let (c, _) = run(&robust(5, 15, cut), &xs);
        let labels: Vec<Option<usize>> =
            c.labels().iter().map(|l| l.1.map(|c| c.0 as usize)).collect();
        let mut distinct: Vec<_> = labels.iter().flatten().collect();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 3, "{cut:?}");
        // Stability may call a few fringe points noise; none may be put in a wrong cluster.
        let labelled: Vec<usize> = all.iter().copied().filter(|&i| labels[i].is_some()).collect();
        assert!(labelled.len() >= xs.len() * 9 / 10, "{cut:?}: too much noise");
        assert_eq!(pair_agreement(&labels, &truth, &labelled), 1.0, "{cut:?}");
    }
}

#[test]
fn threshold_cut_emits_created_and_merged() {
    let params = ClusterParams {
        linkage: Linkage::Single,
        min_cluster_size: 1,
        cut: Cut::Threshold(0.01),
        ..ClusterParams::new(3)
    };
    let mut c = params.build().unwrap();
    let mut ev = Vec::new();
    c.insert(0, &[1.0, 0.0, 0.0], &mut ev).unwrap();
    c.insert(1, &[1.0, 1.0, 0.0], &mut ev).unwrap();
    assert_eq!(
        ev,
        [
            ClusterEvent::Created { cluster: ClusterId(0) },
            ClusterEvent::Created { cluster: ClusterId(1) }
        ]
    );
    ev.clear();
    c.insert(2, &[1.0, 0.5, 0.0], &mut ev).unwrap(); // too far from both: its own cluster
    assert_eq!(ev, [ClusterEvent::Created { cluster: ClusterId(2) }]);
    ev.clear();
    for (i, y) in [0.1f32, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9].into_iter().enumerate() {
        c.insert(3 + i as u64, &[1.0, y, 0.0], &mut ev).unwrap();
    }
    let merges: Vec<_> = ev.iter().filter(|e| matches!(e, ClusterEvent::Merged { .. })).collect();
    assert_eq!(merges.len(), 2, "{ev:?}");
    assert!(c.labels().iter().all(|l| l.1 == Some(ClusterId(0))));
}

#[test]
fn memory_cap_thins_and_reports_final_labels() {
    let mut rng = Rng(3);
    let (xs, truth) = three_blobs(&mut rng, 200);
    let mut params = robust(3, 6, Cut::Count(3));
    params.max_points = 64;
    let mut c = params.build().unwrap();
    let mut events = Vec::new();
    let mut evicted = Vec::new();
    let mut left_with = Vec::new();
    for (i, p) in xs.iter().enumerate() {
        c.insert(i as u64, p, &mut events).unwrap();
        assert!(c.len() <= 64);
        for e in events.drain(..) {
            if let ClusterEvent::Evicted { id, label } = e {
                assert!(label.is_some());
                evicted.push(id);
                left_with.push((id, label));
            }
        }
    }
    // Points that left at different thinnings and the final labels name each blob alike.
    let mut all_labels = left_with.clone();
    let mut last = Vec::new();
    c.final_labels_into(&mut last);
    all_labels.extend(last);
    let mut blob_label = [None; 3];
    for &(id, label) in &all_labels {
        let blob = truth[id as usize];
        assert_eq!(*blob_label[blob].get_or_insert(label), label, "point {id} of blob {blob}");
    }
    assert!(
        blob_label[0] != blob_label[1]
            && blob_label[1] != blob_label[2]
            && blob_label[0] != blob_label[2]
    );
    assert_eq!(evicted.len() + c.len(), xs.len());
    let mut all: Vec<u64> = evicted.iter().copied().chain(c.labels().iter().map(|l| l.0)).collect();
    all.sort_unstable();
    assert_eq!(all, (0..xs.len() as u64).collect::<Vec<_>>());
    // After thinning, the state equals the offline result over the survivors.
    let survivors: Vec<[f32; 3]> = c.labels().iter().map(|l| xs[l.0 as usize]).collect();
    let offline = cluster_offline(matrix(&survivors).view(), &params).unwrap();
    let online: Vec<Option<usize>> = c.labels().iter().map(|l| l.1.map(|c| c.0 as usize)).collect();
    assert_eq!(online, offline);
}

#[test]
fn bad_vectors_are_errors_and_change_nothing() {
    let mut c = robust(2, 2, Cut::Count(1)).build().unwrap();
    let mut ev = Vec::new();
    c.insert(0, &[1.0, 0.0, 0.0], &mut ev).unwrap();
    let zero = c.insert(1, &[0.0, 0.0, 0.0], &mut ev).unwrap_err().to_string();
    assert!(zero.contains("zero"), "{zero}");
    let nan = c.insert(1, &[f32::NAN, 0.0, 0.0], &mut ev).unwrap_err().to_string();
    assert!(nan.contains("NaN"), "{nan}");
    assert!(c.insert(1, &[1.0, 0.0], &mut ev).is_err());
    assert_eq!(c.len(), 1);
    let m = Array2::from_shape_vec((2, 3), vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0]).unwrap();
    assert!(cluster_offline(m.view(), &robust(2, 2, Cut::Count(1))).is_err());
    assert!(single_linkage(m.view(), 1).is_err());
    assert!(kmeans(m.view(), 1, 0, 10).is_err());
    assert!(c.labels_with_cut(Cut::Count(0)).is_err());
    assert!(robust(2, 2, Cut::Threshold(3.0)).build().is_err());
}

/// Naive O(n³) average linkage: the oracle for the nearest-neighbour-chain version.
fn naive_average(xs: &[[f32; 3]], k: usize) -> Vec<usize> {
    let unit: Vec<[f32; 3]> = xs
        .iter()
        .map(|p| {
            let mut u = [0.0; 3];
            normalize_into(p, &mut u).expect("nonzero");
            u
        })
        .collect();
    let d =
        |a: usize, b: usize| 1.0 - unit[a].iter().zip(&unit[b]).map(|(x, y)| x * y).sum::<f32>();
    let mut clusters: Vec<Vec<usize>> = (0..xs.len()).map(|i| vec![i]).collect();
    while clusters.len() > k {
        let mut best = (f64::INFINITY, 0, 0);
        for i in 0..clusters.len() {
            for j in i + 1..clusters.len() {
                let s: f64 = clusters[i]
                    .iter()
                    .flat_map(|&a| clusters[j].iter().map(move |&b| (a, b)))
                    .map(|(a, b)| f64::from(d(a, b)))
                    .sum();
                let avg = s / (clusters[i].len() * clusters[j].len()) as f64;
                if avg < best.0 {
                    best = (avg, i, j);
                }
            }
        }
        let merged = clusters.remove(best.2);
        clusters[best.1].extend(merged);
    }
    let mut labels = vec![0; xs.len()];
    for (c, members) in clusters.iter().enumerate() {
        for &p in members {
            labels[p] = c;
        }
    }
    labels
}

#[test]
fn baselines_recover_clean_blobs_and_average_matches_naive() {
    let mut rng = Rng(9);
    let (xs, truth) = three_blobs(&mut rng, 40);
    let all: Vec<usize> = (0..xs.len()).collect();
    let m = matrix(&xs);
    for labels in [
        single_linkage(m.view(), 3).unwrap(),
        average_linkage(m.view(), 3).unwrap(),
        kmeans(m.view(), 3, 42, 100).unwrap(),
    ] {
        let labels: Vec<Option<usize>> = labels.into_iter().map(Some).collect();
        assert_eq!(pair_agreement(&labels, &truth, &all), 1.0);
    }
    assert_eq!(kmeans(m.view(), 3, 42, 100).unwrap(), kmeans(m.view(), 3, 42, 100).unwrap());

    for seed in 0..5 {
        let mut rng = Rng(100 + seed);
        let xs: Vec<[f32; 3]> = (0..40).map(|_| [1.0, rng.normal(), rng.normal()]).collect();
        for k in [2, 3, 5] {
            let fast = average_linkage(matrix(&xs).view(), k).unwrap();
            let naive: Vec<Option<usize>> = naive_average(&xs, k).into_iter().map(Some).collect();
            assert_eq!(
                fast.into_iter().map(Some).collect::<Vec<_>>(),
                canon(&naive),
                "seed {seed} k {k}"
            );
        }
    }
}

fn random_units(rng: &mut Rng, n: usize, dim: usize) -> Vec<Vec<f32>> {
    (0..n)
        .map(|_| {
            let v: Vec<f32> = (0..dim).map(|_| rng.normal()).collect();
            let mut u = vec![0.0; dim];
            normalize_into(&v, &mut u).expect("nonzero");
            u
        })
        .collect()
}

#[cfg(feature = "hnsw")]
#[test]
fn hnsw_matches_the_linear_oracle() {
    use motionseg::cluster::hnsw::HnswIndex;
    use motionseg::cluster::index::LinearIndex;
    let mut rng = Rng(21);
    // Small set: exact.
    let pts = random_units(&mut rng, 200, 8);
    let (mut h, mut l) = (HnswIndex::new(8, 200), LinearIndex::new(8));
    for (i, p) in pts.iter().enumerate() {
        h.insert(i, p).unwrap();
        l.insert(i, p).unwrap();
    }
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for q in random_units(&mut rng, 20, 8) {
        h.knn(&q, 5, &mut a);
        l.knn(&q, 5, &mut b);
        assert_eq!(
            a.iter().map(|n| n.key).collect::<Vec<_>>(),
            b.iter().map(|n| n.key).collect::<Vec<_>>()
        );
        h.within(&q, 0.3, &mut a);
        l.within(&q, 0.3, &mut b);
        assert_eq!(
            a.iter().map(|n| n.key).collect::<Vec<_>>(),
            b.iter().map(|n| n.key).collect::<Vec<_>>()
        );
    }
    // Larger set: recall of the 10 nearest at least 0.95.
    let dim = 16;
    let pts = random_units(&mut rng, 5000, dim);
    let (mut h, mut l) = (HnswIndex::new(dim, 5000), LinearIndex::new(dim));
    for (i, p) in pts.iter().enumerate() {
        h.insert(i, p).unwrap();
        l.insert(i, p).unwrap();
    }
    // Removal is honoured.
    for i in (0..5000).step_by(7) {
        h.remove(i);
        l.remove(i);
    }
    let (mut hits, mut total) = (0, 0);
    for q in random_units(&mut rng, 100, dim) {
        h.knn(&q, 10, &mut a);
        l.knn(&q, 10, &mut b);
        assert!(a.iter().all(|n| n.key % 7 != 0));
        hits += b.iter().filter(|x| a.iter().any(|y| y.key == x.key)).count();
        total += b.len();
    }
    let recall = hits as f64 / total as f64;
    assert!(recall >= 0.95, "recall {recall}");
}

#[test]
fn new_index_picks_linear_for_small_sets() {
    use motionseg::cluster::index::{new_index, LinearIndex, LINEAR_SCAN_MAX_POINTS};
    let mut rng = Rng(1);
    let mut ix = new_index(4, 100);
    assert!(ix.exact(), "100 points: the linear scan");
    assert!(new_index(4, LINEAR_SCAN_MAX_POINTS).exact());
    assert_eq!(new_index(4, LINEAR_SCAN_MAX_POINTS + 1).exact(), !cfg!(feature = "hnsw"));
    let mut oracle = LinearIndex::new(4);
    for (i, p) in random_units(&mut rng, 100, 4).iter().enumerate() {
        ix.insert(i, p).unwrap();
        oracle.insert(i, p).unwrap();
    }
    let (mut out, mut want) = (Vec::new(), Vec::new());
    ix.knn(&[1.0, 0.0, 0.0, 0.0], 3, &mut out);
    oracle.knn(&[1.0, 0.0, 0.0, 0.0], 3, &mut want);
    assert_eq!(out.len(), 3);
    assert_eq!(out, want);
}

/// Timing probe (not an assertion): `cargo test --test it cluster::timing -- --ignored --nocapture`.
#[test]
#[ignore]
fn timing() {
    let mut rng = Rng(2);
    let dim = 16;
    let pts = random_units(&mut rng, 4096, dim);
    let mut params = ClusterParams::new(dim);
    params.max_points = 4096;
    let mut c = params.build().unwrap();
    let mut ev = Vec::new();
    let t = std::time::Instant::now();
    for (i, p) in pts.iter().enumerate() {
        c.insert(i as u64, p, &mut ev).unwrap();
    }
    let per = t.elapsed().as_secs_f64() / pts.len() as f64;
    let t = std::time::Instant::now();
    let labels = c.labels();
    println!(
        "insert: {:.3} ms mean over 4096 points (dim {dim}); labels at n=4096: {:.3} ms ({} labelled)",
        per * 1e3,
        t.elapsed().as_secs_f64() * 1e3,
        labels.iter().filter(|l| l.1.is_some()).count()
    );
    let t = std::time::Instant::now();
    c.insert(9999, &pts[0], &mut ev).unwrap(); // triggers thinning at the cap
    println!("insert with thinning at n=4096: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
}

#[test]
fn clusterer_and_params_are_send_and_sync() {
    fn check<T: Send + Sync + Clone>() {}
    check::<Clusterer>();
    check::<ClusterParams>();
    fn check_index<T: NeighbourIndex>() {}
    check_index::<motionseg::cluster::index::LinearIndex>();
    #[cfg(feature = "hnsw")]
    check_index::<motionseg::cluster::hnsw::HnswIndex>();
}
