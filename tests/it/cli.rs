//! The command-line tool as a user runs it: real files in, one-line errors out, never a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn motionseg(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_motionseg"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run motionseg")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Writes the first `n` frames of trial 86_01 (120 fps exp-maps) as NPY at `path`; its name.
fn first_frames_npy(path: &std::path::Path, n: usize) -> String {
    let frames =
        motionseg::ingest::npy::read_npy(&crate::common::data("cmu/86/expmap/86_01.npy"), None)
            .expect("npy")
            .data;
    motionseg::ingest::npy::write_npy(path, frames.slice(ndarray::s![..n, ..])).expect("write");
    path.to_str().expect("utf8").to_owned()
}

#[test]
fn inspect_bundled_take_and_write_features() {
    let out_npy = std::env::temp_dir().join(format!("motionseg-cli-{}.npy", std::process::id()));
    let o = motionseg(&[
        "inspect",
        "examples/data/86_01.amc",
        "--asf",
        "examples/data/86.asf",
        "--features",
        out_npy.to_str().expect("utf8 path"),
    ]);
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{stdout}{}", text(&o.stderr));
    assert!(stdout.contains("frames      4579 at 120.000 fps"), "{stdout}");
    assert!(stdout.contains("31 joints"), "{stdout}");
    assert!(stdout.contains("96 columns"), "{stdout}");
    let f = motionseg::ingest::npy::read_npy(&out_npy, Some(120.0)).expect("features written");
    assert_eq!(f.data.shape(), [4579, 96]);
    // The features equal the paper's oracle for this take.
    let oracle =
        motionseg::ingest::npy::read_npy(&crate::common::data("cmu/86/expmap/86_01.npy"), None)
            .expect("oracle");
    let d = (&f.data - &oracle.data).iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(d <= 1e-3, "max diff {d}");
    std::fs::remove_file(&out_npy).ok();
    // AMC files carry no rate: --fps sets it (120, CMU's, otherwise).
    let args = ["inspect", "examples/data/86_01.amc", "--asf", "examples/data/86.asf"];
    let o = motionseg(&[&args[..], &["--fps", "60"]].concat());
    assert!(text(&o.stdout).contains("frames      4579 at 60.000 fps"), "{}", text(&o.stdout));
    // A BVH file states its own (30 fps here): the same is accepted, another refused.
    let bvh = crate::common::data("bvh-samples/bandainamco_dataset-1_kick_normal_001.bvh");
    let bvh = bvh.to_str().expect("utf8");
    let o = motionseg(&["inspect", bvh, "--fps", "30", "--asf", "examples/data/86.asf"]);
    assert!(text(&o.stdout).contains("at 30.000 fps"), "{}", text(&o.stderr));
    // The ASF is for AMC files only: not listed as the BVH's skeleton.
    assert!(!text(&o.stdout).contains("86.asf"), "{}", text(&o.stdout));
    let o = motionseg(&["inspect", bvh, "--fps", "60"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("fps") && err.contains("Frame Time 0.0333333"), "{err}");
}

#[test]
fn bad_input_gives_one_line_error_and_no_panic() {
    let dir = std::env::temp_dir().join(format!("motionseg-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let trunc = dir.join("trunc.amc");
    let amc = std::fs::read(repo("examples/data/86_01.amc")).expect("amc");
    std::fs::write(&trunc, &amc[..5000]).expect("write");
    let garbage = dir.join("g.bvh");
    std::fs::write(&garbage, [0xffu8, 0x00, 0x13, 0x37, 0xfe]).expect("write");
    let asf = repo("examples/data/86.asf");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "inspect".into(),
                trunc.display().to_string(),
                "--asf".into(),
                asf.display().to_string(),
            ],
            "trunc.amc:",
        ),
        (vec!["inspect".into(), garbage.display().to_string()], "g.bvh:"),
        (vec!["inspect".into(), "examples/data/86_01.amc".into()], "needs its ASF skeleton"),
        (vec!["inspect".into(), dir.join("none.bvh").display().to_string()], "none.bvh"),
        (vec!["inspect".into(), "README.md".into()], "unknown file type"),
    ];
    for (args, want) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = motionseg(&args);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.starts_with("error: ") && err.contains(want), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: one line expected: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[cfg(feature = "ort")]
#[test]
fn fit_basis_then_embed_with_the_fixture_model() {
    let dir = std::env::temp_dir().join(format!("motionseg-cli-embed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let basis = dir.join("basis.json");
    let (b, e, svg) = (basis.display().to_string(), dir.join("e.npy"), dir.join("pc3.svg"));
    let take = ["examples/data/86_01.amc", "--asf", "examples/data/86.asf"];
    let model = ["--model", "models/fixture_tiny.json"];
    let o = motionseg(&[&["fit-basis"][..], &take, &model, &["-o", &b, "--modes", "3"]].concat());
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("modes for 90 % energy"), "{}", text(&o.stdout));
    // Takes with no model window, and bad mode settings, are refused with what is wrong (the
    // settings before the model runs).
    let short = first_frames_npy(&dir.join("short.npy"), 30);
    let short = short.as_str();
    for (extra, want) in [
        (
            vec![short, "--fps", "120"],
            "no model window in 1 take(s): each is shorter than one window",
        ),
        (vec!["--modes", "0"], "--modes must be at least 1"),
        (vec!["--energy", "1.5"], "--energy 1.5 outside (0, 1]"),
    ] {
        let args = if extra[0] == short { vec![] } else { take.to_vec() };
        let o = motionseg(&[&["fit-basis"][..], &args, &extra, &model, &["-o", &b]].concat());
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{extra:?}: {err}");
        assert!(err.contains(want), "{extra:?}: {err}");
    }
    let o = motionseg(
        &[
            &["embed"][..],
            &take,
            &model,
            &[
                "--basis",
                &b,
                "--hop",
                "2",
                "-o",
                e.to_str().expect("utf8"),
                "--plot",
                svg.to_str().expect("utf8"),
            ],
        ]
        .concat(),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let emb = motionseg::ingest::npy::read_npy(&e, None).expect("embeddings");
    // 4579 frames -> 1145 model frames; windows of 10 every 2 -> 568 windows of 3 modes.
    assert_eq!(emb.data.shape(), [568, 3]);
    let frames = std::fs::read_to_string(dir.join("e.frames.csv")).expect("frames");
    assert_eq!(frames.lines().nth(2), Some("1,8,44"));
    assert!(std::fs::read_to_string(&svg).expect("svg").matches("<path").count() == 568);
    // Refused, with rc 1, a message holding `want`, and nothing on stdout (no model run).
    let refused = |extra: &[&str], want: &str| {
        let o = motionseg(&[&["embed"][..], &take, &model, &["--basis", &b], extra].concat());
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{extra:?}: {err}");
        assert!(err.contains(want), "{extra:?}: {err}");
        assert!(!text(&o.stdout).contains("windows"), "{extra:?}: the model ran first");
    };
    // A library that is not ONNX Runtime.
    refused(&["--ort-lib", "Cargo.toml"], "loading ONNX Runtime from Cargo.toml");
    // The labeling embedding is not an `embed` summary: refused by name.
    refused(&["--summary", "mean-pose"], "--summary mean-pose: embed writes decoder states only");
    // An output that is not .npy (it used to get NPY bytes under a .csv name), and broken
    // labels, are refused before the model runs, and nothing is written.
    let csv = dir.join("e.csv");
    refused(&["-o", csv.to_str().expect("utf8")], "e.csv: embed writes NPY");
    assert!(!csv.exists());
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, b"start,end,label\n0,x,walk\n").expect("write");
    refused(&["--labels", bad.to_str().expect("utf8")], "bad.csv:2: end");
    std::fs::remove_dir_all(&dir).ok();
}

#[cfg(feature = "ort")]
#[test]
fn eval_refuses_a_broken_su_file_and_warns_without_one() {
    // A trial's Su tolerance windows decide its boundary scores: a broken file is an error
    // naming its line, not a silent ±0.5 s fallback; a missing one falls back with a warning.
    let dir = std::env::temp_dir().join(format!("motionseg-eval-su-{}", std::process::id()));
    let real = crate::common::data("cmu/86");
    for sub in ["expmap", "labels/aca", "labels/su"] {
        std::fs::create_dir_all(dir.join("cmu/86").join(sub)).expect("dir");
    }
    for file in ["expmap/86_01.npy", "labels/aca/86_01.csv"] {
        std::fs::copy(real.join(file), dir.join("cmu/86").join(file)).expect("copy");
    }
    let su = std::fs::read_to_string(real.join("labels/su/86_01.txt")).expect("su");
    let broken: Vec<String> = su
        .lines()
        .enumerate()
        .map(|(i, l)| if i == 2 { format!("{} x", l.trim_end()) } else { l.to_owned() })
        .collect();
    let su_path = dir.join("cmu/86/labels/su/86_01.txt");
    std::fs::write(&su_path, broken.join("\n")).expect("write");
    let args = ["eval", "--quick", "--trials", "01", "--actions8", "0", "--data"];
    let o = motionseg(&[&args[..], &[dir.to_str().expect("utf8")]].concat());
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("86_01.txt:3") && err.contains("expected 3 integers"), "{err}");
    std::fs::remove_file(&su_path).expect("remove");
    let o = motionseg(&[&args[..], &[dir.to_str().expect("utf8")]].concat());
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("no Su tolerance windows"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(feature = "ort")]
#[test]
fn segment_labels_a_take_and_refuses_bad_requests() {
    let dir = std::env::temp_dir().join(format!("motionseg-cli-seg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let basis = dir.join("basis.json");
    let b = basis.display().to_string();
    let take = ["examples/data/86_01.amc", "--asf", "examples/data/86.asf"];
    let model = ["--model", "models/fixture_tiny.json"];
    let o = motionseg(&[&["fit-basis"][..], &take, &model, &["-o", &b, "--modes", "3"]].concat());
    assert!(o.status.success(), "{}", text(&o.stderr));
    let fl = dir.join("frames.csv");
    let svg = dir.join("t.svg");
    let o = motionseg(
        &[
            &["segment"][..],
            &take,
            &model,
            &["--basis", &b, "-k", "4", "--hop", "4", "--format", "csv"],
            &["--frame-labels", fl.to_str().expect("utf8"), "--plot", svg.to_str().expect("utf8")],
            &[
                "--truth",
                crate::common::data("cmu/86/labels/aca/86_01.csv").to_str().expect("utf8"),
            ],
        ]
        .concat(),
    );
    let out = text(&o.stdout);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(out.starts_with("file,segment,start_frame,end_frame,start_s,end_s,label,confidence\n"));
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert!(!rows.is_empty());
    assert!(rows[0].contains(",0,") && rows.last().expect("rows").contains(",4579,"), "{out}");
    let frames = std::fs::read_to_string(&fl).expect("frame labels");
    assert_eq!(frames.lines().count(), 4580);
    // The score printed for --truth is the one the frame labels written beside it give.
    let pred: Vec<Option<usize>> = frames
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).expect("label").parse::<i64>().expect("int"))
        .map(|l| usize::try_from(l).ok())
        .collect();
    let truth_csv = crate::common::data("cmu/86/labels/aca/86_01.csv");
    let segs = motionseg::labels::read_segments(&truth_csv).expect("truth");
    let (truth, _) = motionseg::labels::truth_labels(&segs, 4579, "86_01").expect("truth");
    let report = motionseg::eval::evaluate(&truth, &pred, &motionseg::eval::Tolerance::Frames(60))
        .expect("scores");
    let err = text(&o.stderr);
    let want = format!(
        "Hungarian frame accuracy {:.1} % (4 true labels, {} predicted)",
        100.0 * report.hungarian_accuracy,
        report.pred_labels
    );
    assert!(err.contains(&want), "{want:?} not in {err}");
    assert!(err.contains(&format!("ARI {:.3}", report.ari)), "{err}");
    // Truth that leaves frames 1150..1980 out: scored over the frames it labels, boundaries in
    // the take's own frame numbers (`evaluate_partial`), on the same frame labels.
    let part = dir.join("part.csv");
    std::fs::write(&part, b"start,end,label\n0,550,walk\n550,1150,jump\n1980,2500,punch\n")
        .expect("write");
    let part = part.to_str().expect("utf8");
    let o = motionseg(
        &[&["segment"][..], &take, &model, &["--basis", &b, "-k", "4", "--truth", part]].concat(),
    );
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    let segs = motionseg::labels::read_segments(std::path::Path::new(part)).expect("part");
    let (truth, _) = motionseg::labels::frame_labels(&segs, 4579);
    let report = motionseg::eval::evaluate_partial(&truth, &pred, 60).expect("scores");
    let want = format!(
        "over the 1670 of 4579 frames it labels: Hungarian frame accuracy {:.1} %",
        100.0 * report.hungarian_accuracy
    );
    assert!(err.contains(&want), "{want:?} not in {err}");
    assert_eq!(report.boundary.truth, 2, "walk|jump, and jump|punch across the gap");
    assert!(err.contains(&format!("boundary F1 {:.1} %", 100.0 * report.boundary.f1)), "{err}");
    let picture = std::fs::read_to_string(&svg).expect("svg");
    assert!(picture.contains("truth"));
    // The labels are coloured after the true labels they match and keep their own numbers in
    // the legend: the first label (the take starts walking) reads "0 ≈ walk".
    assert!(picture.contains(">walk<") && picture.contains(">0 ≈ walk<"), "{picture}");
    // The decoder states alone (the comparison setting) label the whole take too.
    let o = motionseg(
        &[&["segment"][..], &take, &model, &["--basis", &b, "-k", "4", "--summary", "mean"]]
            .concat(),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).trim_end().ends_with('}'), "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains("\"end_frame\":4579"), "{}", text(&o.stdout));
    for (extra, want) in [
        (vec!["--summary", "median"], "expected mean, mean-pose"),
        (vec!["-k", "0"], "at least 1"),
        (vec!["-k", "100000"], "100000 actions"),
        (vec!["--format", "xml"], "expected jsonl or csv"),
        (vec!["--method", "kmeans"], "expected segments or windows"),
        (vec!["--quantile", "1.5"], "quantile"),
        (vec!["--context", "0"], "context"),
        (vec!["--context", "4", "--lag", "5"], "lag"),
        (vec!["--infer", "magic", "--method", "windows"], "expected stability or gap"),
        (vec!["--threads", "100000"], "100000 ONNX Runtime threads on a machine with"),
        (vec!["--min-segment", "0"], "--min-segment must be at least 1 frame"),
        // A rate as the user wrote it, not 300 digits.
        (vec!["--fps", "1e-300"], "input_fps: 1e-300 fps is below the model's 30 fps"),
    ] {
        let o = motionseg(&[&["segment"][..], &take, &model, &["--basis", &b], &extra].concat());
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{extra:?}: {err}");
        assert!(err.contains(want), "{extra:?}: {err}");
    }
    // Fewer labels than asked for (a 2.5 s take, 16 windows, two segments at most) are said,
    // not left silent.
    let short = first_frames_npy(&dir.join("short.npy"), 300);
    let args = [short.as_str(), "--fps", "120", "--basis", &b, "-k", "3"];
    let o = motionseg(&[&["segment"][..], &args, &model].concat());
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("--actions 3, but only 1 distinct label(s) found over"), "{err}");
    // Truth beyond the take (another take's labels, most likely; it used to be clipped), and
    // truth for more than one take, are refused.
    for (name, labels, want) in [
        ("far.csv", "9000,9100,walk\n", "far.csv: segment walk [9000, 9100)"),
        ("long.csv", "0,4000,walk\n4000,4600,jump\n", "long.csv: segment jump [4000, 4600)"),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, format!("start,end,label\n{labels}")).expect("write");
        let truth = path.to_str().expect("utf8");
        let o = motionseg(
            &[&["segment"][..], &take, &model, &["--basis", &b, "--truth", truth]].concat(),
        );
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains(&format!("{want} runs past the 4579 frames")), "{err}");
    }
    let far = dir.join("far.csv");
    let far = far.to_str().expect("utf8");
    let o = motionseg(
        &[
            &["segment"][..],
            &take,
            &["examples/data/86_01.amc"],
            &model,
            &["--basis", &b, "--truth", far],
        ]
        .concat(),
    );
    assert!(text(&o.stderr).contains("--truth take one input file"), "{}", text(&o.stderr));
    let unknown = dir.join("take.xyz");
    std::fs::write(&unknown, b"1 2 3\n").expect("write");
    let o = motionseg(&[
        "segment",
        unknown.to_str().expect("utf8"),
        "--model",
        "models/fixture_tiny.json",
        "--basis",
        &b,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("take.xyz"), "{}", text(&o.stderr));
    let empty = dir.join("empty.amc");
    std::fs::write(&empty, b"").expect("write");
    let o = motionseg(&[
        "segment",
        empty.to_str().expect("utf8"),
        "--asf",
        "examples/data/86.asf",
        "--model",
        "models/fixture_tiny.json",
        "--basis",
        &b,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("empty.amc"), "{}", text(&o.stderr));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn eval_scores_a_dev_trial_and_concatenated_actions8_clips() {
    let json = std::env::temp_dir().join(format!("motionseg-eval-{}.json", std::process::id()));
    let plots = std::env::temp_dir().join(format!("motionseg-eval-plots-{}", std::process::id()));
    let data = crate::common::data("");
    let o = motionseg(&[
        "eval",
        "--quick",
        "--trials",
        "01",
        "--actions8",
        "1",
        "--actions8-first-seed",
        "3",
        "--actions8-clips",
        "3",
        "--data",
        data.to_str().expect("utf8 path"),
        "--json",
        json.to_str().expect("utf8 path"),
        "--plots",
        plots.to_str().expect("utf8 path"),
    ]);
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{stdout}{}", text(&o.stderr));
    // One timeline per sequence: the truth row with the trial's label names, then both modes.
    for seq in ["86_01", "a8_s3"] {
        let svg = std::fs::read_to_string(plots.join(format!("{seq}.svg"))).expect("plot");
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{seq}");
        for row in ["truth", "K given (", "K inferred ("] {
            assert!(svg.contains(row), "{seq}: no {row} row");
        }
    }
    let walk = std::fs::read_to_string(plots.join("86_01.svg")).expect("plot");
    assert!(walk.contains(">walk<") && walk.contains(">leg_kick<"), "truth names in the legend");
    assert!(walk.contains(">0 ≈ walk<"), "matched labels named in the legend");
    let _ = std::fs::remove_dir_all(&plots);
    assert!(stdout.contains("Concatenated cmu/actions8 clips (3 per sequence"), "{stdout}");
    let row = stdout
        .lines()
        .rev()
        .find(|l| l.split_whitespace().take(3).eq(["motionseg", "(batch)", "given"]))
        .expect("row");
    // One a8 sequence: its accuracy, the mean, ARI and boundary F1, all numbers.
    let cells: Vec<f64> =
        row.split_whitespace().skip(3).map(|c| c.parse().expect("number")).collect();
    assert_eq!(cells.len(), 4, "{row}");
    assert!(cells[0] > 0.0 && cells[0] <= 100.0, "{row}");
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("parse");
    let seqs = j["actions8"]["sequences"].as_array().expect("sequences");
    assert_eq!(seqs.len(), 1);
    assert_eq!(seqs[0][0], "a8_s3", "the sequence of --actions8-first-seed");
    assert_eq!(seqs[0][1].as_array().expect("clips").len(), 3);
    assert!(j["K given"]["motionseg (batch)"].is_object(), "{j}");
    std::fs::remove_file(&json).ok();
}

#[test]
fn eval_bad_settings_fail_fast_with_one_clear_line() {
    let o = motionseg(&["eval", "--trials", "01", "--actions8", "1", "--actions8-clips", "0"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end(), "error: --actions8-clips must be at least 1");
    let max = u64::MAX.to_string();
    let o = motionseg(&["eval", "--actions8", "2", "--actions8-first-seed", &max]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(
        err.trim_end(),
        format!("error: --actions8-first-seed {max} + --actions8 2 overflows")
    );
    let o = motionseg(&["eval", "--trials", "01,03,01"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("--trials: 01 is listed twice"), "{err}");
    let o = motionseg(&["eval", "--quick", "--data", "/nonexistent-motionseg"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("/nonexistent-motionseg/cmu/86/expmap/86_01.npy: "), "{err}");
    // The reason once, not repeated from the error's source.
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn closed_or_full_stdout_gives_no_panic() {
    let take = ["inspect", "examples/data/86_01.amc", "--asf", "examples/data/86.asf", "--joints"];
    // A reader that went away (`motionseg ... | head`): the command ends quietly.
    let mut child = Command::new(env!("CARGO_BIN_EXE_motionseg"))
        .args(take)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let o = child.wait_with_output().expect("wait");
    let err = text(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(o.status.code(), Some(0), "{err}");
    // A full disk is an error that says so.
    if let Ok(full) = std::fs::File::create("/dev/full") {
        let o = Command::new(env!("CARGO_BIN_EXE_motionseg"))
            .args(take)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(full)
            .output()
            .expect("run");
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains("writing to stdout") && !err.contains("panicked"), "{err}");
    }
}

#[cfg(feature = "ort")]
#[test]
fn a_take_shorter_than_one_window_is_refused() {
    let dir = std::env::temp_dir().join(format!("motionseg-cli-short-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let short = dir.join("short.npy");
    let rows = ndarray::Array2::<f32>::zeros((3, 96));
    motionseg::ingest::npy::write_npy(&short, rows.view()).expect("write");
    let fl = dir.join("fl.csv");
    let o = motionseg(&[
        "segment",
        short.to_str().expect("utf8"),
        "--fps",
        "120",
        "--frame-labels",
        fl.to_str().expect("utf8"),
    ]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("short.npy") && err.contains("shorter than one model window"), "{err}");
    assert!(!fl.exists(), "no frame labels written for a refused take");
    std::fs::remove_dir_all(&dir).ok();
}

/// The `[default: …]` clap prints for each long option of `motionseg <command> --help`.
fn help_defaults(command: &str) -> std::collections::HashMap<String, String> {
    let out = motionseg(&[command, "--help"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut defaults = std::collections::HashMap::new();
    let mut option = None;
    for line in text(&out.stdout).lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('-') {
            option = trimmed
                .split_whitespace()
                .find(|w| w.starts_with("--"))
                .map(|w| w.trim_start_matches("--").trim_end_matches(',').to_owned());
        }
        if let (Some(name), Some(i)) = (&option, line.find("[default: ")) {
            let value = line[i + 10..].split(']').next().unwrap_or("").to_owned();
            defaults.insert(name.clone(), value);
        }
    }
    defaults
}

#[test]
fn cli_defaults_are_the_library_defaults() {
    // The CLI states its defaults in its own argument definitions; they must not drift from
    // the library's when the defaults are chosen again (as the merge threshold and the
    // penalty were).
    use motionseg::cluster::segments::SegmentParams;
    use motionseg::labeler::{LabelerParams, Method};
    let lib = LabelerParams::new(None);
    let Method::Segments(seg) = lib.method else { panic!("segments is the default method") };
    assert_eq!(seg, SegmentParams { change_split: 0, change_shift: 0, ..SegmentParams::default() });
    for command in ["segment", "eval"] {
        let d = help_defaults(command);
        let num = |k: &str| -> f32 {
            d.get(k)
                .unwrap_or_else(|| panic!("{command} --help: no default for --{k}: {d:?}"))
                .parse()
                .unwrap_or_else(|e| panic!("{command} --{k}: {e}"))
        };
        assert_eq!(num("merge-threshold"), seg.threshold, "{command}");
        assert_eq!(num("penalty"), seg.penalty, "{command}");
        assert_eq!(num("quantile"), seg.quantile, "{command}");
        assert_eq!(num("context"), seg.context as f32, "{command}");
        assert_eq!(num("lag"), seg.lag as f32, "{command}");
        assert_eq!(num("hop"), lib.engine.hop as f32, "{command}");
        assert_eq!(num("min-segment"), lib.min_segment_frames as f32, "{command}");
        assert_eq!(d.get("summary").map(String::as_str), Some("mean-pose"), "{command}");
        assert_eq!(d.get("method").map(String::as_str), Some("segments"), "{command}");
    }
}
