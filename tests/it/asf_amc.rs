//! Integration tests: the ASF/AMC reader on the real CMU files, a malformed-input table, and
//! never-panic properties.

use motionseg::ingest::asf_amc::{
    parse_amc, parse_amc_with_frame_time, parse_asf, read_amc, read_asf, AmcReader,
    DEFAULT_FRAME_TIME_S,
};
use motionseg::{AngleUnit, Channel, Skeleton};
use proptest::prelude::*;
use std::sync::OnceLock;

use crate::common::data;

fn skeleton_86() -> Skeleton {
    static SKELETON: OnceLock<Skeleton> = OnceLock::new();
    SKELETON.get_or_init(|| read_asf(&data("cmu/86/86.asf")).expect("86.asf reads")).clone()
}

#[test]
fn reads_86_asf() {
    let s = skeleton_86();
    assert_eq!(s.joints.len(), 31);
    assert_eq!(s.channel_count(), 62);
    assert_eq!(s.angle_unit, AngleUnit::Degrees);
    assert!((s.metres_per_unit.expect("units length") - 0.056444).abs() < 1e-6);
    let root = &s.joints[0];
    assert_eq!(root.name, "root");
    assert_eq!(root.parent, None);
    assert_eq!(
        root.channels,
        [
            Channel::Xposition,
            Channel::Yposition,
            Channel::Zposition,
            Channel::Xrotation,
            Channel::Yrotation,
            Channel::Zrotation
        ]
    );
    let names: Vec<&str> = s.joints.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names[1..6], ["lhipjoint", "lfemur", "ltibia", "lfoot", "ltoes"]);
    assert_eq!(names[30], "rthumb");
    let idx = |n: &str| s.joint_index(n).expect(n);
    assert_eq!(s.joints[idx("lfemur")].parent, Some(idx("lhipjoint")));
    assert_eq!(s.joints[idx("lclavicle")].parent, Some(idx("thorax")));
    assert_eq!(s.joints[idx("lthumb")].parent, Some(idx("lwrist")));
    let lfemur = &s.joints[idx("lfemur")];
    assert_eq!(lfemur.channels.len(), 3);
    assert_eq!(lfemur.limits, [(-160.0, 20.0), (-70.0, 70.0), (-60.0, 70.0)]);
    assert_eq!(lfemur.axis.expect("axis").angles_deg, [0.0, 0.0, 20.0]);
    let off = lfemur.offset;
    assert!(
        (off[0] - 0.34202 * 7.95556).abs() < 1e-9 && (off[1] + 0.939693 * 7.95556).abs() < 1e-9
    );
    assert!(s.joints[idx("lhipjoint")].channels.is_empty());
}

#[test]
fn reads_86_amc_frame_counts() {
    let s = skeleton_86();
    for (name, frames) in [("86_01", 4579), ("86_09", 4794)] {
        let m = read_amc(&data(&format!("cmu/86/{name}.amc")), &s).expect("amc reads");
        assert_eq!(m.frame_count(), frames, "{name}");
        assert_eq!(m.frames.ncols(), 62);
        assert_eq!(m.frame_time_s, DEFAULT_FRAME_TIME_S);
        if name == "86_01" {
            // Frame 1: root 17.3866 18.0959 0.17894 -88.1261 -87.8338 101.641.
            assert_eq!(
                m.frames.row(0).as_slice().expect("row")[..6],
                [17.3866, 18.0959, 0.17894, -88.1261, -87.8338, 101.641]
            );
        }
    }
}

#[test]
fn reads_mocap6_with_86_skeleton() {
    let s = skeleton_86();
    for (name, frames) in
        [("13_29", 4592), ("13_30", 2465), ("13_31", 3017), ("14_14", 4653), ("14_20", 4644)]
    {
        let m = read_amc(&data(&format!("cmu/mocap6/amc/{name}.amc")), &s).expect("amc reads");
        assert_eq!(m.frame_count(), frames, "{name}");
    }
}

#[test]
fn frame_time_override() {
    let s = skeleton_86();
    let bytes = std::fs::read(data("cmu/86/86_01.amc")).expect("read");
    let m = parse_amc_with_frame_time(&bytes, "x.amc", &s, 1.0 / 60.0).expect("parses");
    assert!((m.fps() - 60.0).abs() < 1e-9);
    assert!(parse_amc_with_frame_time(&bytes, "x.amc", &s, 0.0).is_err());
    assert!(parse_amc_with_frame_time(&bytes, "x.amc", &s, f64::NAN).is_err());
}

/// A small, valid AMC for 86.asf: the first two frames of 86_01 (header + 2 x 30 lines).
fn snippet() -> String {
    static SNIPPET: OnceLock<String> = OnceLock::new();
    SNIPPET
        .get_or_init(|| {
            let text = std::fs::read_to_string(data("cmu/86/86_01.amc")).expect("read");
            text.lines().take(3 + 2 * 30).map(|l| format!("{l}\n")).collect()
        })
        .clone()
}

#[test]
fn snippet_parses_and_streams() {
    let s = skeleton_86();
    let m = parse_amc(snippet().as_bytes(), "s.amc", &s).expect("parses");
    assert_eq!(m.frame_count(), 2);
    // Streaming line by line gives the same frames.
    let mut r = AmcReader::new(&s, "s.amc");
    let mut frames = Vec::new();
    for l in snippet().lines() {
        if let Some(f) = r.push_line(l).expect("line") {
            frames.push(f);
        }
    }
    r.finish().expect("complete");
    assert_eq!(frames.len(), 2);
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(*f, m.frames.row(i).to_vec(), "frame {i}");
    }
    // A bone without DOFs (lhipjoint) may be listed anywhere in a frame, also after its last
    // bone with values (the frame is complete by then; that line used to be refused as a bone
    // line before any frame number).
    let mut listed = String::new();
    for (i, l) in snippet().lines().enumerate() {
        let frame_line = l.trim().parse::<u64>().is_ok();
        if frame_line && listed.contains("\n1\n") {
            listed.push_str("lhipjoint\n");
        }
        listed.push_str(l);
        listed.push('\n');
        if frame_line && i > 0 {
            listed.push_str("lhipjoint\n");
        }
    }
    listed.push_str("lhipjoint\n");
    assert_eq!(listed.matches("lhipjoint").count(), 4, "{listed}");
    let again = parse_amc(listed.as_bytes(), "l.amc", &s).expect("DOF-less bones listed");
    assert_eq!(again.frames, m.frames);
    // One with values is still refused there.
    let e = parse_amc(format!("{listed}lhipjoint 1\n").as_bytes(), "v.amc", &s).unwrap_err();
    assert!(e.to_string().contains("bone lhipjoint"), "{e}");
}

const TINY_ASF: &str = ":version 1.10\n:name T\n:units\n  mass 1.0\n  length 0.45\n  angle deg\n\
:root\n  order TX TY TZ RX RY RZ\n  axis XYZ\n  position 0 0 0\n  orientation 0 0 0\n\
:bonedata\n  begin\n    id 1\n    name a\n    direction 0 1 0\n    length 2\n    axis 0 0 0 XYZ\n\
    dof rx rz\n    limits (-160.0 20.0)\n           (-70.0 70.0)\n  end\n\
:hierarchy\n  begin\n    root a\n  end\n";

/// (case, input, expected error prefix `file:line`, text the message must contain).
#[test]
fn malformed_asf_table() {
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        ("empty", b"".to_vec(), "bad.asf", "no :root"),
        ("binary garbage", vec![0x00, 0x01, 0xff, 0xfe, b'\n', 0x02], "bad.asf:1:", "UTF-8"),
        (
            "invalid UTF-8 on line 3",
            [&b":version 1\n:name x\n:units \xc3\x28\n"[..]].concat(),
            "bad.asf:3:",
            "UTF-8",
        ),
        ("text before keywords", b"hello\n".to_vec(), "bad.asf:1:", "ASF header"),
        (
            "missing :hierarchy",
            TINY_ASF.split(":hierarchy").next().unwrap_or("").as_bytes().to_vec(),
            "bad.asf",
            "no :hierarchy",
        ),
        (
            "hierarchy names unknown bone",
            TINY_ASF.replace("root a", "root a zzz").into_bytes(),
            "bad.asf:25:",
            "\"zzz\"",
        ),
        (
            "bone not in hierarchy",
            TINY_ASF.replace("root a\n", "").into_bytes(),
            "bad.asf:13:",
            "bone a is not attached",
        ),
        (
            "non-numeric direction",
            TINY_ASF.replace("direction 0 1 0", "direction 0 x 0").into_bytes(),
            "bad.asf:16:",
            "bone a: direction: expected a number, found \"x\"",
        ),
        (
            "NaN length",
            TINY_ASF.replace("length 2", "length NaN").into_bytes(),
            "bad.asf:17:",
            "expected a finite number",
        ),
        (
            "inf direction",
            TINY_ASF.replace("direction 0 1 0", "direction inf 1 0").into_bytes(),
            "bad.asf:16:",
            "expected a finite number",
        ),
        (
            "wrong number of values",
            TINY_ASF.replace("direction 0 1 0", "direction 0 1").into_bytes(),
            "bad.asf:16:",
            "expected 3 numbers",
        ),
        (
            "limits count differs from dof",
            TINY_ASF.replace("           (-70.0 70.0)\n", "").into_bytes(),
            "bad.asf:20:",
            "2 (min max) pairs",
        ),
        (
            "unknown dof",
            TINY_ASF.replace("dof rx rz", "dof rx qq").into_bytes(),
            "bad.asf:19:",
            "\"qq\"",
        ),
        (
            "truncated bone block",
            TINY_ASF.split("  end\n:hierarchy").next().unwrap_or("").as_bytes().to_vec(),
            "bad.asf:13:",
            "no `end`",
        ),
        (
            "bad angle unit",
            TINY_ASF.replace("angle deg", "angle grad").into_bytes(),
            "bad.asf:6:",
            "deg or rad",
        ),
    ];
    for (case, input, prefix, needle) in cases {
        let err = parse_asf(&input, "bad.asf").expect_err(case).to_string();
        assert!(err.starts_with(prefix), "{case}: {err}");
        assert!(err.contains(needle), "{case}: {err}");
    }
}

#[test]
fn asf_variants_that_are_fine() {
    // A bone with dof but no limits, CRLF, rad angles.
    let text = TINY_ASF.replace("    limits (-160.0 20.0)\n           (-70.0 70.0)\n", "");
    let s = parse_asf(text.as_bytes(), "ok.asf").expect("no limits is fine");
    assert!(s.joints[1].limits.is_empty());
    let crlf = TINY_ASF.replace('\n', "\r\n").replace("angle deg", "angle rad");
    let s = parse_asf(crlf.as_bytes(), "ok.asf").expect("crlf");
    assert_eq!(s.angle_unit, AngleUnit::Radians);
    assert_eq!(s.joints[1].limits.len(), 2);
    // A byte-order mark, as BVH and CSV inputs accept: in the ASF and in the AMC (whole file
    // and line by line).
    let s = parse_asf(format!("\u{feff}{TINY_ASF}").as_bytes(), "bom.asf").expect("bom asf");
    let amc = "\u{feff}:FULLY-SPECIFIED\n:DEGREES\n1\nroot 0 0 0 0 0 0\na 1 2\n";
    let m = parse_amc(amc.as_bytes(), "bom.amc", &s).expect("bom amc");
    assert_eq!(m.frames.row(0).to_vec(), [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0]);
    let mut r = AmcReader::new(&s, "bom.amc");
    let frames: Vec<_> = amc.lines().filter_map(|l| r.push_line(l).expect("line")).collect();
    assert_eq!(frames.len(), 1);
}

#[test]
fn malformed_amc_table() {
    let s = skeleton_86();
    let good = snippet();
    let lines: Vec<&str> = good.lines().collect();
    let with = |i: usize, new: &str| -> Vec<u8> {
        let mut l = lines.clone();
        l[i] = new;
        l.iter().map(|x| format!("{x}\n")).collect::<String>().into_bytes()
    };
    let truncated: String = lines[..40].iter().map(|x| format!("{x}\n")).collect();
    // Line numbers: 1-3 header, 4 = "1", 5 = root, 6 = lowerback, ..., 34 = "2", 35 = root.
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        ("empty file", b"".to_vec(), "m.amc", "no frames"),
        ("header only", b":FULLY-SPECIFIED\n:DEGREES\n".to_vec(), "m.amc", "no frames"),
        ("truncated mid-frame", truncated.into_bytes(), "m.amc:40:", "truncated: frame 2"),
        (
            "non-numeric token",
            with(5, "lowerback -10.2994 abc 0.238228"),
            "m.amc:6:",
            "bone lowerback value 2: expected a number, found \"abc\"",
        ),
        ("NaN", with(5, "lowerback NaN 0 0"), "m.amc:6:", "expected a finite number"),
        ("inf", with(5, "lowerback 1 inf 0"), "m.amc:6:", "expected a finite number"),
        (
            "too few values",
            with(5, "lowerback 1 2"),
            "m.amc:6:",
            "bone lowerback: expected 3 values (its DOF count), found \"2 values\"",
        ),
        ("too many values", with(9, "rtibia 1 2"), "m.amc:10:", "found \"2 values\""),
        ("unknown bone", with(5, "tail 1 2 3"), "m.amc:6:", "bone: expected the name of a bone"),
        ("duplicated bone", with(6, "lowerback 1 2 3"), "m.amc:7:", "each bone once per frame"),
        ("missing bone", with(32, "# dropped"), "m.amc:34:", "has no line for bone"),
        ("out-of-sequence frame", with(33, "5"), "m.amc:34:", "expected 2"),
        ("first frame not 1", with(3, "7"), "m.amc:4:", "expected 1"),
        (
            "binary garbage",
            vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a],
            "m.amc:1:",
            "UTF-8",
        ),
        ("invalid UTF-8", with(5, "lowerback \u{fffd}").replace_utf8_marker(), "m.amc:6:", "UTF-8"),
        ("unknown header", b":FOO\n".to_vec(), "m.amc:1:", "AMC header"),
        ("bone before frame number", with(3, "root 0 0 0 0 0 0"), "m.amc:4:", "frame number"),
    ];
    for (case, input, prefix, needle) in cases {
        let err = parse_amc(&input, "m.amc", &s).expect_err(case).to_string();
        assert!(err.starts_with(prefix), "{case}: {err}");
        assert!(err.contains(needle), "{case}: {err}");
    }
}

/// Turns the UTF-8 replacement character into a raw invalid byte, to build invalid input.
trait ReplaceMarker {
    fn replace_utf8_marker(self) -> Vec<u8>;
}

impl ReplaceMarker for Vec<u8> {
    fn replace_utf8_marker(self) -> Vec<u8> {
        let marker = "\u{fffd}".as_bytes();
        let mut out = Vec::with_capacity(self.len());
        let mut i = 0;
        while i < self.len() {
            if self[i..].starts_with(marker) {
                out.push(0xff);
                i += marker.len();
            } else {
                out.push(self[i]);
                i += 1;
            }
        }
        out
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn asf_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Err(e) = parse_asf(&bytes, "p.asf") {
            prop_assert!(e.to_string().starts_with("p.asf"), "{}", e);
        }
    }

    #[test]
    fn asf_never_panics_on_mutations(
        cut in 0usize..600,
        edits in proptest::collection::vec((0usize..600, any::<u8>()), 0..8),
    ) {
        let mut b = TINY_ASF.as_bytes().to_vec();
        for (at, v) in edits {
            let n = b.len();
            if n > 0 { b[at % n] = v; }
        }
        b.truncate(cut);
        match parse_asf(&b, "p.asf") {
            Ok(s) => prop_assert!(!s.joints.is_empty() && s.joints[0].parent.is_none()),
            Err(e) => prop_assert!(e.to_string().starts_with("p.asf"), "{}", e),
        }
    }

    #[test]
    fn amc_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let s = skeleton_86();
        match parse_amc(&bytes, "p.amc", &s) {
            Ok(m) => prop_assert_eq!(m.frames.ncols(), 62),
            Err(e) => prop_assert!(e.to_string().starts_with("p.amc"), "{}", e),
        }
    }

    #[test]
    fn amc_never_panics_on_mutations(
        cut in 0usize..5000,
        edits in proptest::collection::vec((0usize..5000, any::<u8>()), 0..8),
        swaps in proptest::collection::vec((0usize..63, 0usize..63), 0..3),
    ) {
        let s = skeleton_86();
        let good = snippet();
        let mut lines: Vec<&str> = good.lines().collect();
        for (a, b) in swaps {
            let n = lines.len();
            lines.swap(a % n, b % n);
        }
        let mut b: Vec<u8> = lines.iter().flat_map(|l| l.bytes().chain([b'\n'])).collect();
        for (at, v) in edits {
            let n = b.len();
            if n > 0 { b[at % n] = v; }
        }
        b.truncate(cut);
        let batch = parse_amc(&b, "p.amc", &s);
        if let Ok(m) = &batch {
            prop_assert_eq!(m.frames.ncols(), 62);
        }
    }
}
