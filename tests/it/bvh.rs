//! Integration tests for the BVH reader: every sample in `data/bvh-samples/`, a table of
//! malformed inputs, and property tests that no bytes make it panic.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use motionseg::ingest::bvh::{parse_bvh, parse_bvh_take, read_bvh, BvhReader};
use motionseg::{Channel, Error};
use proptest::prelude::*;

use crate::common::data;

/// `(file, joints, channels, frames, frame time)` from the data README's `bvh-samples/` table.
const SAMPLES: [(&str, usize, usize, usize, f64); 9] = [
    ("cmu_131_03_3dsmax-friendly.bvh", 31, 96, 1102, 0.0083333),
    ("bvhpython_test_freebvh.bvh", 55, 168, 69, 0.0333333),
    ("bvhpython_test_mocapbank_crlf.bvh", 19, 60, 455, 0.033333),
    ("bvhanim_test_mocapbank.bvh", 19, 60, 455, 0.033333),
    ("bvhanim_test_simple.bvh", 2, 9, 2, 0.033333333),
    ("bandainamco_dataset-1_run_normal_001.bvh", 22, 132, 24, 0.0333333),
    ("bandainamco_dataset-1_kick_normal_001.bvh", 22, 132, 358, 0.0333333),
    ("bandainamco_dataset-1_punch_normal_001.bvh", 22, 132, 224, 0.0333333),
    ("bandainamco_dataset-2_walk-turn-left_normal_001.bvh", 22, 132, 102, 0.0333333),
];

fn sample_path(name: &str) -> std::path::PathBuf {
    data(&format!("bvh-samples/{name}"))
}

/// The frame lines of a BVH text, found independently of the reader: the non-blank lines after
/// the `Frame Time` line, split on whitespace.
fn frame_lines_by_hand(text: &str) -> Vec<Vec<f64>> {
    let lines: Vec<&str> = text.split(['\n', '\r']).filter(|l| !l.trim().is_empty()).collect();
    let at = lines.iter().position(|l| l.starts_with("Frame Time")).unwrap();
    lines[at + 1..]
        .iter()
        .map(|l| l.split_whitespace().map(|t| t.parse().unwrap()).collect())
        .collect()
}

#[test]
fn every_sample_parses_with_the_documented_counts() {
    for (name, joints, channels, frames, frame_time) in SAMPLES {
        let m = read_bvh(&sample_path(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(m.skeleton.joints.len(), joints, "{name}: joints");
        assert_eq!(m.skeleton.channel_count(), channels, "{name}: channels");
        assert_eq!(m.frame_count(), frames, "{name}: frames");
        assert_eq!(m.frames.ncols(), channels, "{name}: columns");
        assert_eq!(m.frame_time_s, frame_time, "{name}: frame time");
        assert_eq!(m.skeleton.joints[0].parent, None, "{name}: root");
        assert!(m.skeleton.joints[1..].iter().all(|j| j.parent.is_some()), "{name}: one root");
        assert!(m.frames.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn every_sample_matches_its_text_value_for_value() {
    for (name, ..) in SAMPLES {
        let path = sample_path(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let m = read_bvh(&path).unwrap();
        let rows = frame_lines_by_hand(&text);
        assert_eq!(rows.len(), m.frame_count(), "{name}");
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(row.as_slice(), m.frames.row(i).as_slice().unwrap(), "{name} frame {i}");
        }
    }
}

#[test]
fn spot_check_values_and_skeletons() {
    // First data line of cmu_131_03: "5.1723 16.9371 -29.1264 -2.2661 1.9474 8.3808 0.0000 ..."
    let m = read_bvh(&sample_path("cmu_131_03_3dsmax-friendly.bvh")).unwrap();
    let first: Vec<f64> = m.frames.row(0).iter().take(6).copied().collect();
    assert_eq!(first, [5.1723, 16.9371, -29.1264, -2.2661, 1.9474, 8.3808]);
    let root = &m.skeleton.joints[0];
    assert_eq!(root.name, "Hips");
    use Channel::*;
    assert_eq!(root.channels, [Xposition, Yposition, Zposition, Zrotation, Yrotation, Xrotation]);
    // Mixed rotation orders: 18 joints ZYX, 12 ZXY.
    let zyx =
        m.skeleton.joints[1..].iter().filter(|j| j.channels == [Zrotation, Yrotation, Xrotation]);
    let zxy =
        m.skeleton.joints[1..].iter().filter(|j| j.channels == [Zrotation, Xrotation, Yrotation]);
    assert_eq!((zyx.count(), zxy.count()), (18, 12));
    let left_hip = m.skeleton.joint_index("LeftHip").unwrap();
    assert_eq!(m.skeleton.joints[left_hip].offset, [1.24777, -1.64261, 0.71711]);
    assert_eq!(m.skeleton.joints[left_hip].parent, m.skeleton.joint_index("LHipJoint"));

    // Mocapbank: "-44.0003 93.5663 229.0256 -7.98 -20.33 -7.46 ..."
    let m = read_bvh(&sample_path("bvhanim_test_mocapbank.bvh")).unwrap();
    assert_eq!(
        m.frames.row(0).as_slice().unwrap()[..6],
        [-44.0003, 93.5663, 229.0256, -7.98, -20.33, -7.46]
    );

    // Mixamo names keep their colon; tab-separated offsets.
    let m = read_bvh(&sample_path("bvhpython_test_freebvh.bvh")).unwrap();
    assert_eq!(m.skeleton.joints[0].name, "mixamorig:Hips");
    assert_eq!(m.skeleton.joints[1].name, "mixamorig:Spine");
    assert_eq!(m.skeleton.joints[1].offset, [0.0, 9.9235, -1.2273]);

    // Bandai Namco: every joint has 6 channels.
    let m = read_bvh(&sample_path("bandainamco_dataset-1_run_normal_001.bvh")).unwrap();
    assert_eq!(m.skeleton.joints[0].name, "joint_Root");
    assert!(m.skeleton.joints.iter().all(|j| j.channels.len() == 6));

    // The hand-written fixture: frame 0 all zeros, frame 1 all ones; one End Site.
    let t = parse_bvh_take(&std::fs::read(sample_path("bvhanim_test_simple.bvh")).unwrap(), "s")
        .unwrap();
    assert!(t.motion.frames.row(0).iter().all(|&v| v == 0.0));
    assert!(t.motion.frames.row(1).iter().all(|&v| v == 1.0));
    assert_eq!(t.end_sites.len(), 1);
    assert_eq!((t.end_sites[0].parent, t.end_sites[0].offset), (1, [0.0, 0.0, 30.0]));
}

#[test]
fn end_sites_are_kept_apart_from_joints() {
    for (name, joints, ..) in SAMPLES {
        let bytes = std::fs::read(sample_path(name)).unwrap();
        let t = parse_bvh_take(&bytes, name).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(t.end_sites.len(), text.matches("End Site").count(), "{name}");
        assert_eq!(t.motion.skeleton.joints.len(), joints, "{name}");
        assert!(t.end_sites.iter().all(|e| e.parent < joints), "{name}");
    }
}

#[test]
fn crlf_and_lf_mocapbank_give_identical_motion() {
    let crlf = read_bvh(&sample_path("bvhpython_test_mocapbank_crlf.bvh")).unwrap();
    let lf = read_bvh(&sample_path("bvhanim_test_mocapbank.bvh")).unwrap();
    assert_eq!(crlf.skeleton, lf.skeleton);
    assert_eq!(crlf.frame_time_s, lf.frame_time_s);
    assert_eq!(crlf.frames, lf.frames);
}

#[test]
fn line_by_line_reader_equals_whole_file_parse() {
    let path = sample_path("cmu_131_03_3dsmax-friendly.bvh");
    let text = std::fs::read_to_string(&path).unwrap();
    let whole = read_bvh(&path).unwrap();
    let mut reader = BvhReader::new("live");
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(f) = reader.push_line(line).unwrap() {
            rows.push(f.to_vec());
        }
        if rows.is_empty() {
            // The header is known as soon as the Frame Time line is read.
            assert_eq!(reader.header().is_some(), reader.lines_read() >= 187);
        }
    }
    let header = reader.finish().unwrap();
    assert_eq!(header.skeleton, whole.skeleton);
    assert_eq!(rows.len(), whole.frame_count());
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.as_slice(), whole.frames.row(i).as_slice().unwrap());
    }
}

#[test]
fn missing_file_is_an_io_error() {
    let e = read_bvh(&sample_path("no-such-file.bvh")).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
    assert!(e.to_string().contains("no-such-file.bvh"));
}

const HEAD: &str =
    "HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0 0\n  CHANNELS 3 Xposition Yposition Zposition\n  \
                    End Site\n  {\n    OFFSET 0 1 0\n  }\n}\nMOTION\n";

fn good(frames: &str) -> String {
    format!("{HEAD}Frames: 2\nFrame Time: 0.5\n{frames}")
}

/// Malformed inputs: `(what, bytes, substrings the error text must contain)`. Every error must
/// name the file (`bad.bvh`) and a line.
fn malformed() -> Vec<(&'static str, Vec<u8>, Vec<&'static str>)> {
    let s = |x: &str| x.as_bytes().to_vec();
    vec![
        ("empty file", s(""), vec!["bad.bvh:1:", "HIERARCHY", "end of input"]),
        ("blank file", s("\n  \n\t\n"), vec!["bad.bvh:3:", "HIERARCHY", "end of input"]),
        ("missing HIERARCHY", s("ROOT Hips\n{\n"), vec!["bad.bvh:1:", "HIERARCHY", "\"ROOT\""]),
        (
            "missing MOTION",
            s("HIERARCHY\nROOT Hips\n{\nOFFSET 0 0 0\nCHANNELS 1 Xrotation\n}\n"),
            vec!["bad.bvh:6:", "MOTION", "end of input"],
        ),
        (
            "unclosed brace at end of input",
            s("HIERARCHY\nROOT Hips\n{\nOFFSET 0 0 0\nCHANNELS 1 Xrotation\n"),
            vec!["bad.bvh:5:", "`}` closing joint \"Hips\" (opened on line 2)"],
        ),
        (
            "unclosed brace before MOTION",
            s("HIERARCHY\nROOT Hips\n{\nOFFSET 0 0 0\nCHANNELS 1 Xrotation\nMOTION\n"),
            vec!["bad.bvh:6:", "`}` closing joint \"Hips\"", "\"MOTION\""],
        ),
        (
            "extra closing brace",
            s("HIERARCHY\nROOT Hips\n{\nOFFSET 0 0 0\nCHANNELS 1 Xrotation\n}\n}\n"),
            vec!["bad.bvh:7:", "unbalanced `}`"],
        ),
        (
            "missing open brace",
            s("HIERARCHY\nROOT Hips\nOFFSET 0 0 0\n"),
            vec!["bad.bvh:3:", "`{` opening joint \"Hips\" (line 2)", "\"OFFSET\""],
        ),
        (
            "unknown channel name",
            s("HIERARCHY\nROOT Hips\n{\nOFFSET 0 0 0\nCHANNELS 3 Xposition Wrotation Zposition\n"),
            vec!["bad.bvh:5:", "CHANNELS", "a channel name", "\"Wrotation\""],
        ),
        (
            "too few channel names",
            s("HIERARCHY\nROOT Hips\n{\nOFFSET 0 0 0\nCHANNELS 6 Xposition Yposition Zposition\n"),
            vec!["bad.bvh:5:", "CHANNELS", "6 channel names", "3 names"],
        ),
        (
            "too many channel names",
            s("HIERARCHY\nROOT Hips\n{\nOFFSET 0 0 0\nCHANNELS 2 Xposition Yposition Zposition\n"),
            vec!["bad.bvh:5:", "CHANNELS", "2 channel names", "3 names"],
        ),
        (
            "channel count not a number",
            s("HIERARCHY\nROOT Hips\n{\nOFFSET 0 0 0\nCHANNELS x Xposition\n"),
            vec!["bad.bvh:5:", "CHANNELS", "channel count", "\"x\""],
        ),
        (
            "joint without CHANNELS",
            s("HIERARCHY\nROOT Hips\n{\nOFFSET 0 0 0\n}\n"),
            vec!["bad.bvh:5:", "CHANNELS", "joint \"Hips\""],
        ),
        (
            "OFFSET not numeric",
            s("HIERARCHY\nROOT Hips\n{\nOFFSET 0 abc 0\n"),
            vec!["bad.bvh:4:", "OFFSET", "a finite number", "\"abc\""],
        ),
        (
            "OFFSET NaN",
            s("HIERARCHY\nROOT Hips\n{\nOFFSET 0 NaN 0\n"),
            vec!["bad.bvh:4:", "OFFSET", "a finite number", "\"NaN\""],
        ),
        ("ROOT without name", s("HIERARCHY\nROOT\n"), vec!["bad.bvh:2:", "ROOT", "a joint name"]),
        (
            "unknown keyword",
            s("HIERARCHY\nROOT Hips\n{\nOFSET 0 0 0\n"),
            vec!["bad.bvh:4:", "hierarchy", "OFFSET, CHANNELS", "\"OFSET\""],
        ),
        (
            "missing Frames line",
            s(&format!("{HEAD}Frame Time: 0.5\n")),
            vec!["bad.bvh:12:", "Frames", "\"Frame Time: 0.5\""],
        ),
        (
            "negative frame count",
            s(&format!("{HEAD}Frames: -2\n")),
            vec!["bad.bvh:12:", "Frames", "whole number", "\"-2\""],
        ),
        (
            "zero frames",
            s(&format!("{HEAD}Frames: 0\nFrame Time: 0.5\n")),
            vec!["bad.bvh:12:", "Frames", "at least one frame of motion", "\"0\""],
        ),
        (
            "zero frame time",
            s(&format!("{HEAD}Frames: 2\nFrame Time: 0\n")),
            vec!["bad.bvh:13:", "Frame Time", "positive, finite", "\"0\""],
        ),
        (
            "negative frame time",
            s(&format!("{HEAD}Frames: 2\nFrame Time: -0.01\n")),
            vec!["bad.bvh:13:", "Frame Time", "positive", "\"-0.01\""],
        ),
        (
            "infinite frame time",
            s(&format!("{HEAD}Frames: 2\nFrame Time: inf\n")),
            vec!["bad.bvh:13:", "Frame Time", "\"inf\""],
        ),
        (
            "missing Frame Time line",
            s(&format!("{HEAD}Frames: 2\n")),
            vec!["bad.bvh:12:", "Frame Time", "end of input"],
        ),
        (
            "non-numeric frame value",
            s(&good("1 2 3\n4 five 6\n")),
            vec!["bad.bvh:15:", "frame 2 value 2 (Hips Yposition)", "a finite number", "\"five\""],
        ),
        (
            "NaN frame value",
            s(&good("1 2 NaN\n4 5 6\n")),
            vec!["bad.bvh:14:", "frame 1 value 3 (Hips Zposition)", "a finite number", "\"NaN\""],
        ),
        (
            "infinite frame value",
            s(&good("1 2 3\n-inf 5 6\n")),
            vec!["bad.bvh:15:", "frame 2 value 1", "\"-inf\""],
        ),
        (
            "too few values on a frame line",
            s(&good("1 2 3\n4 5\n")),
            vec!["bad.bvh:15:", "frame 2", "3 values", "\"2 values\""],
        ),
        (
            "too many values on a frame line",
            s(&good("1 2 3 4\n4 5 6\n")),
            vec!["bad.bvh:14:", "frame 1", "3 values", "\"4 values\""],
        ),
        (
            "truncated: fewer frames than declared",
            s(&good("1 2 3\n")),
            vec!["bad.bvh:14:", "Frames: line 12 declares 2 frames", "found only 1", "truncated"],
        ),
        (
            "extra frame lines",
            s(&good("1 2 3\n4 5 6\n7 8 9\n")),
            vec!["bad.bvh:16:", "Frames: line 12 declares 2 frames", "extra data"],
        ),
        (
            "binary garbage",
            b"HIERARCHY\nROOT \x00\x01\x02\x03\n".to_vec(),
            vec!["bad.bvh:2:", "text", "printable text", "U+0000 at column 6"],
        ),
        (
            "invalid UTF-8",
            b"HIERARCHY\nROOT Hips\n{\nOFFSET 0 \xff\xfe 0\n".to_vec(),
            vec!["bad.bvh:4:", "text", "UTF-8", "0xff"],
        ),
        (
            "JOINT at top level",
            s("HIERARCHY\nJOINT Hips\n"),
            vec!["bad.bvh:2:", "JOINT", "inside a ROOT or JOINT block"],
        ),
        (
            "JOINT inside End Site",
            s("HIERARCHY\nROOT a\n{\nOFFSET 0 0 0\nCHANNELS 1 Xrotation\nEnd Site\n{\nJOINT b\n"),
            vec!["bad.bvh:8:", "JOINT", "only an OFFSET inside an End Site"],
        ),
        (
            "no channels at all",
            s("HIERARCHY\nROOT a\n{\nOFFSET 0 0 0\nCHANNELS 0\n}\nMOTION\n"),
            vec!["bad.bvh:7:", "CHANNELS", "at least one channel"],
        ),
        (
            "duplicate channel",
            s("HIERARCHY\nROOT a\n{\nOFFSET 0 0 0\nCHANNELS 2 Xrotation xrotation\n"),
            vec!["bad.bvh:5:", "CHANNELS", "distinct channel names"],
        ),
    ]
}

#[test]
fn malformed_inputs_give_errors_naming_file_line_and_field() {
    for (what, bytes, needles) in malformed() {
        let e = match parse_bvh(&bytes, "bad.bvh") {
            Ok(_) => panic!("{what}: parsed, expected an error"),
            Err(e) => e.to_string(),
        };
        for n in needles {
            assert!(e.contains(n), "{what}: error {e:?} lacks {n:?}");
        }
    }
}

#[test]
fn zero_frames_is_an_error_naming_the_frames_line() {
    // From a file, as the CLI reads it, with a blank line and a tab before the count.
    let dir = std::env::temp_dir().join(format!("motionseg-bvh-zero-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("zero.bvh");
    std::fs::write(&path, format!("{HEAD}\nFrames:\t0\nFrame Time: 0.5\n")).unwrap();
    let e = read_bvh(&path).unwrap_err().to_string();
    std::fs::remove_dir_all(&dir).ok();
    assert!(e.contains("zero.bvh:13: Frames: expected at least one frame of motion"), "{e}");
    // The line-by-line reader refuses it on that line, as a live source would see it.
    let mut r = BvhReader::new("live");
    for line in HEAD.lines() {
        assert!(r.push_line(line).unwrap().is_none());
    }
    let e = r.push_line("Frames: 0").unwrap_err().to_string();
    assert!(e.starts_with("live:12: Frames: expected at least one frame"), "{e}");
}

#[test]
fn tolerated_oddities_parse() {
    // Tabs, trailing spaces, mixed line ends, lower-case keywords, a name with spaces and
    // punctuation, `Frames:` with a tab, a frame time without leading zero, blank lines.
    let text = "hierarchy \r\nROOT my:Root-1 (v2)\t{\n\tOFFSET\t1\t2\t3 \r\n\tchannels 3 \
                zrotation Xrotation YROTATION \n\tend site\n\t{\n\t\toffset 0 0 1\n\t}\n}\n\n\
                motion\r\nframes:\t2\rframe time: .0083333\n\n1 2 3 \r\n\n-4e0 +5 .6\n\n";
    let m = parse_bvh(text.as_bytes(), "odd.bvh").unwrap();
    assert_eq!(m.skeleton.joints[0].name, "my:Root-1 (v2)");
    assert_eq!(m.skeleton.joints[0].offset, [1.0, 2.0, 3.0]);
    assert_eq!(m.frame_time_s, 0.0083333);
    assert_eq!(m.frames.row(1).to_vec(), [-4.0, 5.0, 0.6]);
}

fn sample_bytes(name: &str) -> Vec<u8> {
    std::fs::read(sample_path(name)).unwrap()
}

/// A parse of fuzz input: a motion whose frames fit its skeleton and are finite, or an error
/// that names the input.
fn consistent_or_named(
    r: motionseg::Result<motionseg::Motion>,
) -> Result<(), proptest::test_runner::TestCaseError> {
    match r {
        Ok(m) => {
            prop_assert_eq!(m.frames.ncols(), m.skeleton.channel_count());
            prop_assert!(m.frames.iter().all(|v| v.is_finite()));
        }
        Err(e) => prop_assert!(e.to_string().starts_with("fuzz.bvh"), "{}", e),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        consistent_or_named(parse_bvh(&bytes, "fuzz.bvh"))?;
    }

    #[test]
    fn arbitrary_text_after_a_valid_header_never_panics(tail in "[ -~\t\r\n{}]{0,400}") {
        consistent_or_named(parse_bvh(format!("{HEAD}{tail}").as_bytes(), "fuzz.bvh"))?;
        consistent_or_named(parse_bvh(format!("HIERARCHY\n{tail}").as_bytes(), "fuzz.bvh"))?;
    }

    #[test]
    fn truncated_samples_never_panic_and_never_lose_frames(frac in 0.0f64..1.0) {
        let bytes = sample_bytes("bandainamco_dataset-1_run_normal_001.bvh");
        let cut = ((bytes.len() as f64) * frac) as usize;
        match parse_bvh(&bytes[..cut], "cut.bvh") {
            // Only a cut inside the last number can still parse, with every frame present.
            Ok(m) => prop_assert_eq!(m.frame_count(), 24),
            Err(e) => prop_assert!(e.to_string().starts_with("cut.bvh:"), "{}", e),
        }
    }

    #[test]
    fn mutated_samples_never_panic(
        edits in proptest::collection::vec((0.0f64..1.0, any::<u8>()), 1..8),
        which in 0usize..2,
    ) {
        let name = ["bvhanim_test_simple.bvh", "bandainamco_dataset-1_run_normal_001.bvh"][which];
        let mut bytes = sample_bytes(name);
        for (at, b) in edits {
            let i = ((bytes.len() as f64) * at) as usize;
            bytes[i] = b;
        }
        if let Err(e) = parse_bvh(&bytes, "mut.bvh") {
            prop_assert!(e.to_string().starts_with("mut.bvh:"), "{}", e);
        }
    }

    #[test]
    fn reader_never_panics_on_arbitrary_lines(lines in proptest::collection::vec("\\PC{0,40}", 0..40)) {
        let mut r = BvhReader::new("live");
        for l in &lines {
            let _ = r.push_line(l);
        }
        let _ = r.finish();
    }
}
