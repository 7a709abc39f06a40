//! Integration tests: canonical features against the Su & Shlizerman exp-map oracle.

use motionseg::features::{motion_features, motion_features_with, FeatureOptions};
use motionseg::ingest::asf_amc::{read_amc, read_asf};
use motionseg::ingest::npy::read_npy;

use crate::common::data;

/// Our conversion of `86.asf` + `<take>.amc` must match `expmap/<take>.npy` to 1e-3 on every
/// column, with the same always-zero columns.
fn check_oracle(take: &str) {
    let skeleton = read_asf(&data("cmu/86/86.asf")).expect("asf");
    let motion = read_amc(&data(&format!("cmu/86/{take}.amc")), &skeleton).expect("amc");
    let ours = motion_features(&motion).expect("features");
    let oracle = read_npy(&data(&format!("cmu/86/expmap/{take}.npy")), None).expect("npy");
    assert_eq!(ours.data.dim(), oracle.data.dim(), "{take}: shape");
    assert_eq!(ours.columns.len(), 96);
    assert_eq!(ours.columns[0], "root.tx");
    assert_eq!(ours.columns[3], "root.r0");
    assert_eq!(ours.columns[9], "lfemur.r0");
    let mut worst = 0.0f32;
    let mut per_column = Vec::with_capacity(96);
    for (c, (a, b)) in ours.data.columns().into_iter().zip(oracle.data.columns()).enumerate() {
        let d = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        per_column.push(d);
        worst = worst.max(d);
        assert!(d <= 1e-3, "{take}: column {c} ({}) differs by {d}", ours.columns[c]);
        let zero_a = a.iter().all(|&x| x == 0.0);
        let zero_b = b.iter().all(|&x| x == 0.0);
        assert_eq!(zero_a, zero_b, "{take}: column {c} ({}) always-zero mismatch", ours.columns[c]);
    }
    println!("{take}: max abs difference vs oracle {worst:e}; per column {per_column:?}");
}

#[test]
fn oracle_86_01() {
    check_oracle("86_01");
}

#[test]
fn oracle_86_09() {
    check_oracle("86_09");
}

#[test]
fn continuous_option_removes_root_flips() {
    let skeleton = read_asf(&data("cmu/86/86.asf")).expect("asf");
    let motion = read_amc(&data("cmu/86/86_01.amc"), &skeleton).expect("amc");
    let jumps = |opts: &FeatureOptions| {
        let f = motion_features_with(&motion, opts).expect("features");
        let root = f.data.slice(ndarray::s![.., 3..6]);
        (1..f.frame_count())
            .filter(|&i| {
                let d: f32 = (0..3).map(|k| (root[[i, k]] - root[[i - 1, k]]).powi(2)).sum();
                d.sqrt() > 1.0
            })
            .count()
    };
    // The oracle layout keeps the principal value, which jumps where the root passes θ = π.
    assert_eq!(jumps(&FeatureOptions::default()), 3);
    assert_eq!(jumps(&FeatureOptions { continuous: true, ..Default::default() }), 0);
}

#[test]
fn streaming_extraction_equals_batch() {
    use motionseg::features::FeatureExtractor;
    use motionseg::ingest::asf_amc::AmcReader;

    let skeleton = read_asf(&data("cmu/86/86.asf")).expect("asf");
    let path = data("cmu/86/86_09.amc");
    let motion = read_amc(&path, &skeleton).expect("amc");
    let opts = FeatureOptions { continuous: true, ..Default::default() };
    let batch = motion_features_with(&motion, &opts).expect("features");
    // A live source: lines in, one feature row out per completed frame, into a reused buffer.
    let text = std::fs::read_to_string(&path).expect("read");
    let mut reader = AmcReader::new(&skeleton, "live");
    let mut ex = FeatureExtractor::new(&skeleton, "live", &opts);
    let mut row = vec![0.0f32; ex.width()];
    let mut n = 0;
    for line in text.lines() {
        if let Some(frame) = reader.push_line(line).expect("line") {
            ex.extract_into(&frame, &mut row).expect("frame");
            assert_eq!(row.as_slice(), batch.data.row(n).as_slice().expect("row"), "frame {n}");
            n += 1;
        }
    }
    reader.finish().expect("complete");
    assert_eq!(n, batch.frame_count());
}
