//! End to end batch labeling: the bundled real take (CMU 86_01, 4579 frames at 120 fps, 38.2 s)
//! from parsed frames to final segments with the shipped model and basis, at 1 and 2
//! ONNX Runtime threads, for both clustering methods. Prints the real-time factor
//! (take duration / wall time) and the achieved model GFLOP/s, so the numbers can be compared
//! across machines. Parsing is measured separately in the `ingest` bench.

use std::path::Path;
use std::time::{Duration, Instant};

mod common;
use common::flops_per_window;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use motionseg::embed::ort::{find_runtime, init_runtime, OrtEmbedder};
use motionseg::engine::EngineModel;
use motionseg::features::motion_features;
use motionseg::ingest::asf_amc::{read_amc, read_asf};
use motionseg::labeler::{label_take, LabelerParams, Method};

fn segment(c: &mut Criterion) {
    let lib = find_runtime(None).expect("ONNX Runtime (run scripts/setup.sh)");
    init_runtime(&lib).expect("load runtime");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = EngineModel::load(
        &root.join("models/motionseg_default.json"),
        Some(&root.join("models/motionseg_default.basis.json")),
    )
    .expect("shipped model and basis");
    let m = model.manifest().clone();
    let dir = root.join("examples/data");
    let sk = read_asf(&dir.join("86.asf")).expect("asf");
    let motion = read_amc(&dir.join("86_01.amc"), &sk).expect("amc");
    let frames = motion_features(&motion).expect("features").data;
    let fps = 120.0;
    let seconds = frames.nrows() as f64 / fps;

    let mut group = c.benchmark_group("segment_take");
    group.sample_size(10).measurement_time(Duration::from_secs(30));
    group.throughput(Throughput::Elements(frames.nrows() as u64));
    for (name, method) in [("segments", None), ("windows", Some(Method::Windows))] {
        for threads in
            [1usize, 2].into_iter().filter(|&t| motionseg::embed::ort::check_threads(t).is_ok())
        {
            let mut params = LabelerParams::new(Some(4));
            if let Some(mth) = method {
                params.method = mth;
            }
            let run = || {
                let emb = OrtEmbedder::new(model.model_bytes(), &m, threads).expect("session");
                label_take(&model, emb, frames.view(), fps, &params, |_| {}).expect("label")
            };
            // One timed run for the summary line (criterion's own numbers follow).
            let t0 = Instant::now();
            let labeling = run();
            let wall = t0.elapsed().as_secs_f64();
            let windows = labeling.windows.len() as f64;
            let flops = windows * flops_per_window(m.state_dim, m.input_channels(), m.t_e, m.t_d);
            eprintln!(
                "{name}, {threads} thread(s): {:.0} frames in {wall:.2} s = {:.1}x real time; \
                 {windows:.0} windows, {:.1} GFLOP/s in the model; {} segments",
                frames.nrows() as f64,
                seconds / wall,
                flops / wall / 1e9,
                labeling.segments.len()
            );
            group.bench_function(BenchmarkId::new(name, threads), |b| b.iter(run));
        }
    }
    // The same with one warm session reused (a process labeling file after file, the library
    // embedded in capture software): the difference to the above is building the session
    // (about 0.05 s for the compact graph, 0.8 s for a model exported with the GRU unrolled).
    for threads in
        [1usize, 2].into_iter().filter(|&t| motionseg::embed::ort::check_threads(t).is_ok())
    {
        let params = LabelerParams::new(Some(4));
        let mut emb = OrtEmbedder::new(model.model_bytes(), &m, threads).expect("session");
        let t0 = Instant::now();
        let labeling =
            label_take(&model, &mut emb, frames.view(), fps, &params, |_| {}).expect("label");
        let wall = t0.elapsed().as_secs_f64();
        let windows = labeling.windows.len() as f64;
        let flops = windows * flops_per_window(m.state_dim, m.input_channels(), m.t_e, m.t_d);
        eprintln!(
            "segments, warm session, {threads} thread(s): {wall:.2} s = {:.1}x real time; \
             {:.1} GFLOP/s in the model",
            seconds / wall,
            flops / wall / 1e9,
        );
        group.bench_function(BenchmarkId::new("segments_warm", threads), |b| {
            b.iter(|| {
                label_take(&model, &mut emb, frames.view(), fps, &params, |_| {}).expect("label")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, segment);
criterion_main!(benches);
