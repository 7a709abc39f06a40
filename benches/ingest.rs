//! Ingestion throughput in real units (frames per second): parsing AMC and BVH, and turning
//! poses into canonical features. Names follow `stage/case/impl`.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use motionseg::features::motion_features;
use motionseg::ingest::asf_amc::{parse_amc, read_asf};
use motionseg::ingest::bvh::parse_bvh;

fn data(rel: &str) -> std::path::PathBuf {
    let root = std::env::var_os("MOTIONSEG_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    root.join(rel)
}

fn ingest(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data");
    let skeleton = read_asf(&dir.join("86.asf")).expect("asf");
    let amc = std::fs::read(dir.join("86_01.amc")).expect("amc");
    let motion = parse_amc(&amc, "86_01.amc", &skeleton).expect("parse");
    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(motion.frame_count() as u64));
    g.bench_function("parse/amc_86_01/own", |b| {
        b.iter(|| parse_amc(&amc, "86_01.amc", &skeleton).expect("parse"))
    });
    g.bench_function("features/amc_86_01/expmap", |b| {
        b.iter(|| motion_features(&motion).expect("features"))
    });
    let bvh_path = data("bvh-samples/cmu_131_03_3dsmax-friendly.bvh");
    if let Ok(bvh) = std::fs::read(&bvh_path) {
        let m = parse_bvh(&bvh, "131_03.bvh").expect("bvh");
        g.throughput(Throughput::Elements(m.frame_count() as u64));
        g.bench_function("parse/bvh_cmu_131_03/own", |b| {
            b.iter(|| parse_bvh(&bvh, "131_03.bvh").expect("parse"))
        });
    } else {
        eprintln!("skipping BVH bench: {} not found (set MOTIONSEG_DATA)", bvh_path.display());
    }
    g.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
