//! Embedding: the Rust input transform and ONNX inference against the Python golden file of the
//! tiny fixture model, streaming == batch, and the error cases. Needs the ONNX Runtime library
//! (`scripts/setup.sh` installs it into `.venv`; `MOTIONSEG_ORT_LIB` overrides).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use motionseg::basis::{Modes, PodBasis};
use motionseg::embed::ort::{find_runtime, init_runtime, OrtEmbedder};
use motionseg::embed::{Embedder, Summary};
use motionseg::engine::{Engine, EngineConfig, EngineModel};
use motionseg::ingest::npy::read_npy;
use motionseg::model::Manifest;
use motionseg::window::{root_features, FrameTransform};
use ndarray::{s, Array2};
use serde_json::Value;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn runtime() {
    let lib = find_runtime(None).expect("ONNX Runtime library (run scripts/setup.sh)");
    init_runtime(&lib).expect("load ONNX Runtime");
}

fn golden() -> Value {
    let text = std::fs::read_to_string(repo("models/fixture_tiny.golden.json")).expect("golden");
    serde_json::from_str(&text).expect("golden JSON")
}

fn rows(v: &Value) -> Vec<Vec<f32>> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|r| {
            r.as_array().expect("row").iter().map(|x| x.as_f64().expect("num") as f32).collect()
        })
        .collect()
}

fn max_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len(), "row counts");
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            assert_eq!(x.len(), y.len(), "row lengths");
            x.iter().zip(y).map(|(p, q)| (p - q).abs())
        })
        .fold(0.0, f32::max)
}

#[test]
fn transform_matches_python_golden() {
    let g = golden();
    let manifest = Arc::new(Manifest::load(&repo("models/fixture_tiny.json")).expect("manifest"));
    let raw = rows(&g["raw"]);
    let want_features = rows(&g["features"]);
    let want_input = rows(&g["model_input"]);
    let mut t = FrameTransform::new(manifest.clone(), 120.0).expect("transform");
    let mut out = vec![0.0; manifest.input_channels()];
    let mut got = Vec::new();
    let mut prev = None;
    let mut got_root = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        if t.push(r, &mut out).expect("push") {
            got.push(out.clone());
        }
        if i % 4 == 0 {
            let p = [r[0] as f64, r[1] as f64, r[2] as f64];
            let f = root_features(p, [r[3] as f64, r[4] as f64, r[5] as f64], prev);
            prev = Some(p);
            got_root.push(f.iter().map(|&v| v as f32).collect::<Vec<_>>());
        }
    }
    let want_root: Vec<Vec<f32>> = want_features.iter().map(|r| r[..10].to_vec()).collect();
    let d_root = max_diff(&got_root, &want_root);
    assert!(d_root < 1e-4, "root features differ from Python by {d_root}");
    let d = max_diff(&got, &want_input);
    assert!(d < 1e-4, "model input differs from Python by {d}");
    // A rounded frame time (BVH `Frame Time: 0.0333334`) is the model's 30 fps; 29.9 is not.
    let mut t = FrameTransform::new(manifest.clone(), 1.0 / 0.033_333_4).expect("rounded");
    assert!(t.push(&raw[0], &mut out).expect("push") && t.push(&raw[1], &mut out).expect("push"));
    let e = FrameTransform::new(manifest.clone(), 29.9).expect_err("slower").to_string();
    assert!(e.contains("29.9 fps is below the model's 30 fps"), "{e}");
    // Near a whole multiple is that multiple (every 4th frame, as in training, not a blend).
    use motionseg::window::input_ratio;
    assert_eq!(input_ratio(1.0 / 0.008_333, 30.0).expect("120.0048 fps"), 4.0);
    assert_eq!(input_ratio(1.0 / 0.033_333_4, 30.0).expect("29.99994 fps"), 1.0);
    assert_eq!(input_ratio(100.0, 30.0).expect("100 fps"), 100.0 / 30.0);
    // A finite but absurd value (a root 3e38 away) is refused naming the frame and channel,
    // and the stream goes on as if it never came: a transform that never saw it gives the same
    // model frames. Also at a rate that blends frames (100 fps), and in a frame that emits no
    // model frame of its own (a refused frame must not be kept as the blend's previous one).
    for (fps, at) in [(120.0, 8), (120.0, 9), (100.0, 3)] {
        let mut t = FrameTransform::new(manifest.clone(), fps).expect("transform");
        let mut clean = FrameTransform::new(manifest.clone(), fps).expect("transform");
        let (mut a, mut b) = (out.clone(), out.clone());
        for (i, r) in raw.iter().enumerate().take(16) {
            if i == at {
                let mut bad = r.clone();
                bad[1] = 3e38;
                let e = t.push(&bad, &mut a).expect_err("absurd").to_string();
                assert!(e.contains(&format!("frame {at}: ")) && e.contains("3e38"), "{e}");
            }
            assert_eq!(t.push(r, &mut a).expect("push"), clean.push(r, &mut b).expect("push"));
            assert_eq!(a, b, "{fps} fps, frame {i}");
        }
    }
}

#[test]
fn onnx_states_match_python_golden() {
    runtime();
    let g = golden();
    let manifest = Manifest::load(&repo("models/fixture_tiny.json")).expect("manifest");
    let bytes = std::fs::read(&manifest.onnx_path).expect("onnx");
    let mut e = OrtEmbedder::new(&bytes, &manifest, 1).expect("session");
    let input = rows(&g["model_input"]);
    let window: Vec<f32> = input[..manifest.t_e].concat();
    let (mut enc, mut dec) = (Vec::new(), Vec::new());
    e.run(&window, 1, &mut enc, &mut dec).expect("run");
    let n = manifest.state_dim;
    let got_enc: Vec<Vec<f32>> = enc.chunks(n).map(<[f32]>::to_vec).collect();
    let got_dec: Vec<Vec<f32>> = dec.chunks(n).map(<[f32]>::to_vec).collect();
    let de = max_diff(&got_enc, &rows(&g["encoder_states"]));
    let dd = max_diff(&got_dec, &rows(&g["decoder_states"]));
    assert!(de < 1e-5 && dd < 1e-5, "encoder {de}, decoder {dd}");
    // Batching must not change a window's states.
    let two = [window.clone(), window].concat();
    let (mut enc2, mut dec2) = (Vec::new(), Vec::new());
    e.run(&two, 2, &mut enc2, &mut dec2).expect("run batch");
    assert_eq!(dec2.len(), 2 * dec.len());
    let d2 = dec.iter().zip(&dec2[dec.len()..]).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(d2 < 1e-5, "batched decoder states differ by {d2}");
}

/// Fits a basis on the fixture model's states over part of a real take.
fn fixture_model_with_basis(frames: &Array2<f32>) -> EngineModel {
    let model = EngineModel::load(&repo("models/fixture_tiny.json"), None).expect("model");
    let m = model.manifest().clone();
    let emb = OrtEmbedder::new(model.model_bytes(), &m, 1).expect("session");
    let mut engine = Engine::new(
        model.clone(),
        emb,
        120.0,
        EngineConfig { hop: 2, batch: 32, ..Default::default() },
    )
    .expect("engine");
    let mut states: Vec<f32> = Vec::new();
    let mut sink = |w: motionseg::engine::WindowStates<'_>| {
        states.extend_from_slice(w.encoder);
        states.extend_from_slice(w.decoder);
        Ok(())
    };
    for row in frames.rows() {
        engine.push_frame_states(&row.to_vec(), &mut sink).expect("push");
    }
    engine.flush_states(&mut sink).expect("flush");
    let s =
        Array2::from_shape_vec((states.len() / m.state_dim, m.state_dim), states).expect("shape");
    let basis = PodBasis::fit(s.view(), Modes::Energy(0.99), &m.onnx_sha256).expect("fit");
    model.with_basis(basis).expect("basis")
}

/// The first `frames` rows of CMU 86_01 (120 fps) and the fixture model with a basis fitted on
/// them: the setup of the engine and labeler tests on a real take.
fn fixture_on_86_01(frames: usize) -> (Array2<f32>, EngineModel) {
    let take = read_npy(&common_data("cmu/86/expmap/86_01.npy"), Some(120.0)).expect("take");
    let frames = take.data.slice(s![..frames, ..]).to_owned();
    let model = fixture_model_with_basis(&frames);
    (frames, model)
}

#[test]
fn streaming_equals_batch_on_a_real_take() {
    runtime();
    let (frames, model) = fixture_on_86_01(1200);
    let m = model.manifest().clone();
    let run = |batch: usize, chunked: bool| {
        let emb = OrtEmbedder::new(model.model_bytes(), &m, 1).expect("session");
        let cfg = EngineConfig { hop: 3, batch, summary: Summary::Trajectory };
        let mut engine = Engine::new(model.clone(), emb, 120.0, cfg).expect("engine");
        if chunked {
            let mut out = Vec::new();
            for row in frames.rows() {
                engine.push_frame(&row.to_vec(), &mut out).expect("push");
            }
            engine.flush(&mut out).expect("flush");
            out
        } else {
            engine.embed_all(frames.view()).expect("batch")
        }
    };
    let stream = run(1, true);
    let batch = run(64, false);
    // 1200 frames at 120 fps -> 300 model frames; windows of 10 every 3 -> 97 windows.
    assert_eq!(stream.len(), 97);
    assert_eq!(batch.len(), stream.len());
    for (a, b) in stream.iter().zip(&batch) {
        assert_eq!(a.span, b.span);
        let d = a.values.iter().zip(&b.values).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        assert!(d <= 1e-5, "window {} differs by {d}", a.span.index);
    }
    // Windows at stream start and end: first covers source frames 0..=36, hop 3 model frames = 12 source frames.
    assert_eq!((stream[0].span.first_frame, stream[0].span.last_frame), (0, 36));
    assert_eq!(stream[1].span.first_frame, 12);
    let last = stream.last().expect("windows");
    assert_eq!((last.span.first_frame, last.span.last_frame), (96 * 12, 96 * 12 + 36));
}

/// Embeds 120 fps `frames` with a fresh one-thread session of `model`.
fn embed_with(
    model: &EngineModel,
    frames: &Array2<f32>,
    cfg: EngineConfig,
) -> Vec<motionseg::engine::WindowEmbedding> {
    let emb = OrtEmbedder::new(model.model_bytes(), model.manifest(), 1).expect("session");
    let mut engine = Engine::new(model.clone(), emb, 120.0, cfg).expect("engine");
    engine.embed_all(frames.view()).expect("embed")
}

#[test]
fn mean_summary_is_the_mean_of_the_projected_trajectory() {
    // The engine projects the mean decoder state once per window (the projection is affine);
    // that must equal averaging the T_d projected states.
    runtime();
    let take = read_npy(&common_data("cmu/86/expmap/86_03.npy"), Some(120.0)).expect("take");
    let frames = take.data.slice(s![..900, ..]).to_owned();
    let model = fixture_model_with_basis(&frames);
    let run = |summary| embed_with(&model, &frames, EngineConfig { hop: 2, batch: 16, summary });
    let (mean, traj) = (run(Summary::Mean), run(Summary::Trajectory));
    assert_eq!(mean.len(), traj.len());
    assert!(mean.len() > 50);
    let k = mean[0].values.len();
    let t_d = traj[0].values.len() / k;
    assert!(t_d > 1 && t_d * k == traj[0].values.len());
    for (a, b) in mean.iter().zip(&traj) {
        for j in 0..k {
            let avg = (0..t_d).map(|t| b.values[t * k + j]).sum::<f32>() / t_d as f32;
            let d = (a.values[j] - avg).abs();
            assert!(d <= 1e-4 * (1.0 + avg.abs()), "window {} mode {j}: {d}", a.span.index);
        }
    }
}

#[test]
fn mean_pose_summary_is_the_unit_decoder_mean_then_the_unit_pose_statistics() {
    // The labeling default: decoder mean and pose statistics (the means weighted against the
    // deviations), each part scaled to unit length. The statistics are recomputed here from the
    // model inputs the windowing stage hands out.
    runtime();
    let take = read_npy(&common_data("cmu/86/expmap/86_05.npy"), Some(120.0)).expect("take");
    let frames = take.data.slice(s![..700, ..]).to_owned();
    let model = fixture_model_with_basis(&frames);
    let m = model.manifest().clone();
    let run = |summary| embed_with(&model, &frames, EngineConfig { hop: 3, batch: 8, summary });
    let (mean, pose) = (run(Summary::Mean), run(Summary::MeanPose));
    let k = mean[0].values.len();
    let c = m.input_channels();
    assert_eq!(pose[0].values.len(), k + 2 * c);
    let mut windowing = motionseg::engine::Windowing::new(&model, 120.0, 3).expect("windowing");
    let mut inputs = Vec::new();
    for row in frames.rows() {
        if let Some((_, w)) = windowing.push(&row.to_vec()).expect("push") {
            inputs.push(w.to_vec());
        }
    }
    assert_eq!((mean.len(), pose.len(), inputs.len()), (inputs.len(), inputs.len(), mean.len()));
    let unit = |v: &[f32]| {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect::<Vec<f32>>()
    };
    for ((a, b), input) in mean.iter().zip(&pose).zip(&inputs) {
        assert_eq!(a.span, b.span);
        let t = input.len() / c;
        let mut stats = vec![0f32; 2 * c];
        for j in 0..c {
            let col: Vec<f32> = (0..t).map(|r| input[r * c + j]).collect();
            let mu = col.iter().sum::<f32>() / t as f32;
            stats[j] = mu * motionseg::engine::POSE_MEAN_WEIGHT;
            stats[c + j] = (col.iter().map(|v| (v - mu).powi(2)).sum::<f32>() / t as f32).sqrt();
        }
        let want = unit(&a.values).into_iter().chain(unit(&stats));
        for (j, (got, want)) in b.values.iter().zip(want).enumerate() {
            assert!(
                (got - want).abs() < 1e-4,
                "window {} value {j}: {got} vs {want}",
                a.span.index
            );
        }
    }
}

#[test]
fn pose_statistics_need_the_model_bound_before_labeling() {
    use motionseg::labeler::{LabelerParams, Method, StreamLabeler};
    runtime();
    let take = read_npy(&common_data("cmu/86/expmap/86_01.npy"), Some(120.0)).expect("take");
    let model = fixture_model_with_basis(&take.data.slice(s![..400, ..]).to_owned());
    let mut p = LabelerParams::new(Some(3));
    assert_eq!(p.engine.summary, Summary::MeanPose, "the labeling default");
    let k = model.basis().expect("basis").modes();
    let dim = k + 2 * model.manifest().input_channels();
    let e = StreamLabeler::new(&p, dim, 120.0).expect_err("unbound").to_string();
    assert!(e.contains("change_split") && e.contains("bind_model"), "{e}");
    assert_eq!(p.bind_model(&model).expect("bind"), dim);
    let Method::Segments(sp) = p.method else { panic!("segments method") };
    assert_eq!(sp.change_split, k, "the decoder part comes first");
    // The pose part is read half a window later: the fixture's T_e = 10 model frames at hop 4
    // is 1.25 windows, so 1 (the shipped model's 50 frames give 6).
    assert_eq!((model.manifest().t_e, p.engine.hop, sp.change_shift), (10, 4, 1));
    StreamLabeler::new(&p, dim, 120.0).expect("bound");
    // Decoder states alone: no pose part, the change score reads everything.
    p.engine.summary = Summary::Mean;
    assert_eq!(p.bind_model(&model).expect("bind"), k);
    let Method::Segments(sp) = p.method else { panic!("segments method") };
    assert_eq!((sp.change_split, sp.change_shift), (0, 0));
}

#[test]
fn session_pool_reuses_and_caps_idle_sessions() {
    use motionseg::embed::ort::SessionPool;
    runtime();
    let model = EngineModel::load(&repo("models/fixture_tiny.json"), None).expect("model");
    let pool = SessionPool::new(model, 1, 2);
    let sessions: Vec<_> = (0..3).map(|_| pool.take().expect("session")).collect();
    assert_eq!(pool.idle(), 0);
    sessions.into_iter().for_each(|s| pool.give_back(s));
    assert_eq!(pool.idle(), 2, "at most max_idle are kept");
    let mut s = pool.take().expect("reused");
    assert_eq!(pool.idle(), 1, "taken from the idle ones");
    // A reused session still runs the model.
    let m = EngineModel::load(&repo("models/fixture_tiny.json"), None).expect("model");
    let per = m.manifest().t_e * m.manifest().input_channels();
    let (mut enc, mut dec) = (Vec::new(), Vec::new());
    s.run(&vec![0.1; per], 1, &mut enc, &mut dec).expect("run");
    assert_eq!(dec.len(), m.manifest().t_d * m.manifest().state_dim);
}

fn common_data(rel: &str) -> PathBuf {
    crate::common::data(rel)
}

#[test]
fn model_and_input_errors_are_clear() {
    let dir = std::env::temp_dir().join(format!("motionseg-embed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    // A corrupt ONNX file: the sha256 in the manifest catches it before ONNX Runtime sees it.
    std::fs::copy(repo("models/fixture_tiny.json"), dir.join("m.json")).expect("copy");
    std::fs::write(dir.join("fixture_tiny.onnx"), b"not an onnx file").expect("write");
    let e = EngineModel::load(&dir.join("m.json"), None).unwrap_err().to_string();
    assert!(e.contains("fixture_tiny.onnx: sha256"), "{e}");
    // A manifest whose normalisation does not fit its channels.
    let text = std::fs::read_to_string(repo("models/fixture_tiny.json")).expect("read");
    let mut v: Value = serde_json::from_str(&text).expect("json");
    v["normalisation"]["std"][3] = Value::from(0.0);
    std::fs::write(dir.join("bad.json"), v.to_string()).expect("write");
    let e = Manifest::load(&dir.join("bad.json")).unwrap_err().to_string();
    assert!(e.contains("bad.json: normalisation.std[3]"), "{e}");
    // Values fine as f64 but 0 or inf as the f32 the engine uses.
    // Values fine as f64 but 0 or inf as f32, and a std too small or a mean too large for the
    // normalised inputs to stay far from overflow.
    for (field, value, want) in [
        ("std", 1e-50, "normalisation.std[2]: expected a finite number of at least 1e-6"),
        ("std", 1e-7, "normalisation.std[2]: expected a finite number of at least 1e-6"),
        ("mean", 1e39, "normalisation.mean[2]: expected a finite number within ±1e7"),
        ("mean", -3e7, "normalisation.mean[2]: expected a finite number within ±1e7"),
    ] {
        let mut v: Value = serde_json::from_str(&text).expect("json");
        v["normalisation"][field][2] = Value::from(value);
        std::fs::write(dir.join("f32.json"), v.to_string()).expect("write");
        let e = Manifest::load(&dir.join("f32.json")).unwrap_err().to_string();
        assert!(e.contains(&format!("f32.json: {want}")), "{field} {value}: {e}");
    }
    std::fs::write(dir.join("trunc.json"), &text[..text.len() / 2]).expect("write");
    let e = Manifest::load(&dir.join("trunc.json")).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}:", dir.join("trunc.json").display())), "{e}");
    // An input with the wrong channel count or joints.
    let m = Manifest::load(&repo("models/fixture_tiny.json")).expect("manifest");
    let e = m.check_input("take.bvh", 60, &[]).unwrap_err().to_string();
    assert!(e.contains("take.bvh: channels: expected 96"), "{e}");
    let mut joints = m.raw_joints.clone();
    joints[2] = "LeftUpLeg".to_owned();
    let e = m.check_input("take.bvh", 96, &joints).unwrap_err().to_string();
    assert!(e.contains("joint 2") && e.contains("lfemur"), "{e}");
    // A basis fitted on another model.
    let s = Array2::from_shape_fn((8, m.state_dim), |(i, j)| ((i * 7 + j * 3) % 5) as f32);
    let other = PodBasis::fit(s.view(), Modes::Count(2), &"0".repeat(64)).expect("fit");
    other.save(&dir.join("basis.json")).expect("save");
    let e = EngineModel::load(&repo("models/fixture_tiny.json"), Some(&dir.join("basis.json")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("basis.json: model_sha256"), "{e}");
    // A missing runtime library named explicitly.
    let e = find_runtime(Some(&dir.join("libonnxruntime.so.9"))).unwrap_err().to_string();
    assert!(e.contains("libonnxruntime.so.9 does not exist"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn one_warm_session_labels_take_after_take() {
    // A borrowed embedder: one session serves several takes (and both modes) with the results
    // of a fresh session each time; a take in between leaves nothing behind.
    use motionseg::labeler::{label_take, LabelerParams};
    runtime();
    let a = read_npy(&common_data("cmu/86/expmap/86_01.npy"), Some(120.0)).expect("take");
    let b = read_npy(&common_data("cmu/86/expmap/86_05.npy"), Some(120.0)).expect("take");
    let (a, b) = (a.data.slice(s![..1600, ..]).to_owned(), b.data.slice(s![..1200, ..]).to_owned());
    let model = fixture_model_with_basis(&a);
    let m = model.manifest().clone();
    let p = LabelerParams::new(Some(2));
    let fresh = |frames: &Array2<f32>| {
        let emb = OrtEmbedder::new(model.model_bytes(), &m, 1).expect("session");
        label_take(&model, emb, frames.view(), 120.0, &p, |_| {}).expect("label")
    };
    let mut warm = OrtEmbedder::new(model.model_bytes(), &m, 1).expect("session");
    let mut shared = |frames: &Array2<f32>| {
        label_take(&model, &mut warm, frames.view(), 120.0, &p, |_| {}).expect("label")
    };
    let (wa, wb, wa2) = (shared(&a), shared(&b), shared(&a));
    let (fa, fb) = (fresh(&a), fresh(&b));
    assert!(!fa.segments.is_empty() && !fb.segments.is_empty());
    assert_eq!(wa.segments, fa.segments);
    assert_eq!(wb.segments, fb.segments);
    assert_eq!(wa2.segments, fa.segments);
    assert_eq!(wa.frame_labels, fa.frame_labels);
}

#[test]
fn labeling_streaming_equals_batch_on_a_real_take() {
    use motionseg::labeler::{label_take, LabelerParams};
    runtime();
    let (frames, model) = fixture_on_86_01(2400);
    let m = model.manifest().clone();
    for actions in [Some(3), None] {
        let run = |streaming: bool| {
            let mut p = LabelerParams::new(actions);
            p.streaming = streaming;
            p.engine.hop = 2;
            // Small clusters so that the random-weight fixture still yields K of them.
            p.cluster.linkage = motionseg::cluster::Linkage::Robust { min_samples: 5 };
            p.cluster.min_cluster_size = 10;
            let emb = OrtEmbedder::new(model.model_bytes(), &m, 1).expect("session");
            label_take(&model, emb, frames.view(), 120.0, &p, |_| {}).expect("label")
        };
        let (a, b) = (run(true), run(false));
        assert_eq!(a.frame_labels.len(), 2400);
        assert_eq!(a.window_labels, b.window_labels, "actions {actions:?}");
        assert_eq!(a.segments, b.segments, "actions {actions:?}");
        if let Some(k) = actions {
            let mut used: Vec<usize> = a.window_labels.iter().flatten().copied().collect();
            used.sort_unstable();
            used.dedup();
            assert_eq!(used.len(), k, "K given gives K clusters");
        }
        // Segments tile the take.
        assert_eq!(a.segments.first().map(|s| s.start), Some(0));
        assert_eq!(a.segments.last().map(|s| s.end), Some(2400));
        assert!(a.segments.windows(2).all(|w| w[0].end == w[1].start));
    }
    // More actions than windows is a clear error.
    let p = LabelerParams::new(Some(100_000));
    let emb = OrtEmbedder::new(model.model_bytes(), &m, 1).expect("session");
    let e = label_take(&model, emb, frames.view(), 120.0, &p, |_| {}).unwrap_err().to_string();
    assert!(e.contains("100000 actions"), "{e}");
}

/// At an input rate that is no whole multiple of the model's (100 fps into 30 fps: window steps
/// of 13, 13, 14 frames), the labeler still keeps the spans of all windows as one run, and
/// hands every one of them back at the end.
#[test]
fn window_spans_stay_one_run_at_fractional_rates() {
    use motionseg::labeler::{LabelerParams, StreamLabeler};
    runtime();
    let (frames, model) = fixture_on_86_01(3000);
    let mut p = LabelerParams::new(Some(2));
    let dim = p.bind_model(&model).expect("basis");
    p.keep_all(1000);
    let emb = OrtEmbedder::new(model.model_bytes(), model.manifest(), 1).expect("session");
    let mut engine = Engine::new(model.clone(), emb, 100.0, p.engine).expect("engine");
    let mut labeler = StreamLabeler::new(&p, dim, 100.0).expect("labeler");
    let (mut out, mut events) = (Vec::new(), Vec::new());
    for row in frames.rows() {
        engine.push_frame(&row.to_vec(), &mut out).expect("push");
    }
    engine.flush(&mut out).expect("flush");
    let steps: std::collections::BTreeSet<usize> =
        out.windows(2).map(|w| w[1].span.last_frame - w[0].span.last_frame).collect();
    assert_eq!(steps.len(), 2, "uneven steps {steps:?}");
    for w in &out {
        labeler.push_window(w, &mut events).expect("window");
    }
    assert_eq!(labeler.span_runs(), 1);
    let labeling = labeler.finish(frames.nrows(), &mut events).expect("finish");
    let spans: Vec<_> = out.iter().map(|w| w.span).collect();
    assert_eq!(labeling.windows, spans);
}

/// Streaming equals batch, as a property: any chunking of the same frames, any model batch and
/// any provisional-update rate give the final segments of the batch labeling; the live events
/// end with exactly those segments.
#[test]
fn labeling_any_chunking_gives_the_batch_segments() {
    use motionseg::labeler::{label_take, LabelerParams, StreamLabeler};
    use motionseg::segment::SegmentEvent;
    use proptest::prelude::*;
    runtime();
    let (frames, model) = fixture_on_86_01(1800);
    let m = model.manifest().clone();
    let mut params = LabelerParams::new(Some(3));
    params.engine.hop = 2;
    params.cluster.linkage = motionseg::cluster::Linkage::Robust { min_samples: 5 };
    params.cluster.min_cluster_size = 10;
    let emb = OrtEmbedder::new(model.model_bytes(), &m, 1).expect("session");
    let batch = label_take(&model, emb, frames.view(), 120.0, &params, |_| {}).expect("batch");

    let config = ProptestConfig { cases: 6, failure_persistence: None, ..Default::default() };
    proptest!(config, |(chunks in proptest::collection::vec(1usize..400, 1..12),
                        model_batch in 1usize..40, every in 0usize..6)| {
        let mut p = params.clone();
        p.provisional_every = every;
        p.engine.batch = model_batch;
        p.cluster.max_points = 4096;
        let emb = OrtEmbedder::new(model.model_bytes(), &m, 1).expect("session");
        let mut engine = Engine::new(model.clone(), emb, 120.0, p.engine).expect("engine");
        let dim = p.bind_model(&model).expect("basis");
        prop_assert_eq!(Some(dim), engine.embedding_len());
        let mut labeler = StreamLabeler::new(&p, dim, 120.0).expect("labeler");
        let (mut out, mut events) = (Vec::new(), Vec::new());
        let mut at = 0;
        for c in chunks.iter().cycle() {
            if at >= frames.nrows() {
                break;
            }
            let end = (at + c).min(frames.nrows());
            for r in at..end {
                let row = frames.row(r).to_vec();
                engine.push_frame(&row, &mut out).expect("push");
            }
            at = end;
            for w in out.drain(..) {
                labeler.push_window(&w, &mut events).expect("window");
            }
        }
        engine.flush(&mut out).expect("flush");
        for w in out.drain(..) {
            labeler.push_window(&w, &mut events).expect("window");
        }
        // A real take's windows are evenly spaced: their spans cost one run, not one each.
        prop_assert_eq!(labeler.span_runs(), 1);
        let live = labeler.finish(frames.nrows(), &mut events).expect("finish");
        prop_assert_eq!(&live.segments, &batch.segments);
        prop_assert_eq!(&live.window_labels, &batch.window_labels);
        // Provisional events came only when asked for; the stream ends with the final segments.
        let n = events.len();
        prop_assert!(n >= 2);
        prop_assert_eq!(&events[n - 2], &SegmentEvent::Revised { segments: batch.segments.clone() });
        prop_assert_eq!(&events[n - 1], &SegmentEvent::Finalized { through: 1800 });
        if every == 0 {
            prop_assert_eq!(n, 2);
        } else {
            let opened = events.iter().any(|e| matches!(e, SegmentEvent::Opened { .. }));
            prop_assert!(opened, "live events include an opened segment");
        }
    });
}
