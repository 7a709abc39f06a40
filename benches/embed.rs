//! Embedding throughput: windows per second through the model (ONNX Runtime) and the POD
//! projection, batch and streaming, 1 and 2 threads. Set `MOTIONSEG_BENCH_MODEL` to a manifest
//! (default: the shipped model, else the tiny fixture). Prints FLOPs per window so that
//! windows/s convert to achieved GFLOP/s.

use std::path::{Path, PathBuf};

mod common;
use common::flops_per_window;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use motionseg::basis::{Modes, PodBasis};
use motionseg::embed::ort::{find_runtime, init_runtime, OrtEmbedder};
use motionseg::embed::Embedder;
use motionseg::engine::{Engine, EngineConfig, EngineModel};
use motionseg::features::motion_features;
use motionseg::ingest::asf_amc::{read_amc, read_asf};
use ndarray::Array2;

fn model_path() -> PathBuf {
    if let Some(p) = std::env::var_os("MOTIONSEG_BENCH_MODEL") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shipped = root.join("models/motionseg_default.json");
    if shipped.exists() {
        shipped
    } else {
        root.join("models/fixture_tiny.json")
    }
}

fn embed(c: &mut Criterion) {
    let lib = find_runtime(None).expect("ONNX Runtime (run scripts/setup.sh)");
    init_runtime(&lib).expect("load runtime");
    let model = EngineModel::load(&model_path(), None).expect("model");
    let m = model.manifest().clone();
    let flops = flops_per_window(m.state_dim, m.input_channels(), m.t_e, m.t_d);
    eprintln!(
        "model {}: N={} C={} T_e={} T_d={} -> {:.3} MFLOP per window",
        m.path.display(),
        m.state_dim,
        m.input_channels(),
        m.t_e,
        m.t_d,
        flops / 1e6
    );
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data");
    let sk = read_asf(&dir.join("86.asf")).expect("asf");
    let motion = read_amc(&dir.join("86_01.amc"), &sk).expect("amc");
    let frames = motion_features(&motion).expect("features").data;
    let frames = frames.slice(ndarray::s![..1200, ..]).to_owned();
    // A basis from the model's own states so the projection is part of the measured path.
    let s = Array2::from_shape_fn((64, m.state_dim), |(i, j)| ((i * 31 + j * 17) % 13) as f32);
    let basis =
        PodBasis::fit(s.view(), Modes::Count(8.min(m.state_dim)), &m.onnx_sha256).expect("basis");
    let model = model.with_basis(basis).expect("attach");

    let mut g = c.benchmark_group("embed");
    g.sample_size(10);
    let per = m.t_e * m.input_channels();
    for threads in
        [1usize, 2].into_iter().filter(|&t| motionseg::embed::ort::check_threads(t).is_ok())
    {
        for batch in [1usize, 32] {
            let windows: Vec<f32> = (0..batch * per).map(|i| ((i % 97) as f32) * 0.01).collect();
            let mut e = OrtEmbedder::new(model.model_bytes(), &m, threads).expect("session");
            let (mut enc, mut dec) = (Vec::new(), Vec::new());
            g.throughput(Throughput::Elements(batch as u64));
            g.bench_with_input(
                BenchmarkId::new(format!("model/batch{batch}"), format!("{threads}t")),
                &batch,
                |b, &batch| b.iter(|| e.run(&windows, batch, &mut enc, &mut dec).expect("run")),
            );
        }
        // Whole engine (resample, transform, windows, model, projection) over 10 s of a real
        // take at hop 1, fed as one continuing stream: 300 model frames -> 300 windows per pass.
        for (name, batch) in [("stream", 1usize), ("batch", 64)] {
            let emb = OrtEmbedder::new(model.model_bytes(), &m, threads).expect("session");
            let cfg = EngineConfig { hop: 1, batch, ..Default::default() };
            let mut engine = Engine::new(model.clone(), emb, 120.0, cfg).expect("engine");
            let mut out = Vec::new();
            g.throughput(Throughput::Elements((frames.nrows() / 4) as u64));
            g.bench_function(
                BenchmarkId::new(format!("engine/{name}"), format!("{threads}t")),
                |b| {
                    b.iter(|| {
                        out.clear();
                        for row in frames.rows() {
                            engine
                                .push_frame(row.as_slice().expect("contiguous"), &mut out)
                                .expect("push");
                        }
                        engine.flush(&mut out).expect("flush");
                        out.len()
                    })
                },
            );
        }
    }
    g.finish();
}

criterion_group!(benches, embed);
criterion_main!(benches);
