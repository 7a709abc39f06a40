//! Bad-input limits of the NPY and CSV readers: headers that lie about the data size, byte-order
//! marks, and first rows that are not really headers (BVH `Frames: 0` is in `bvh.rs`); and property
//! tests of both readers: any bytes give a value or an error naming the file, and what is written
//! reads back exactly.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::PathBuf;
use std::process::Command;

use motionseg::ingest::csv::{parse_csv, read_csv};
use motionseg::ingest::npy::{parse_npy, read_npy};
use ndarray::array;

/// A fresh temp folder for one test.
fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("motionseg-limits-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An NPY v1.0 file, written by hand so the header can say anything: `descr`, order, `shape`
/// (as Python writes it), then `data` verbatim.
fn npy(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
    let order = if fortran { "True" } else { "False" };
    let mut h = format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape}, }}");
    // Pad so that the data starts on a 64-byte boundary, as NumPy does.
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&u16::try_from(h.len()).unwrap().to_le_bytes());
    b.extend_from_slice(h.as_bytes());
    b.extend_from_slice(data);
    b
}

fn f32s_le(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

const CHILD: &str = "MOTIONSEG_INGEST_LIMITS_CHILD";

/// Runs `body` in a child process of this test binary (re-running just `test`), so that a reader
/// which aborts on a failed allocation fails this one test, with its output, instead of
/// killing the whole test binary.
fn in_child(test: &str, body: impl FnOnce()) {
    if std::env::var_os(CHILD).is_some() {
        body();
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child run of {test} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    // A misspelt name would run nothing and succeed.
    assert!(stdout.contains("1 passed"), "child ran no test named {test}:\n{stdout}");
}

#[test]
fn npy_header_declaring_a_huge_shape_is_an_error_not_an_abort() {
    in_child("ingest_limits::npy_header_declaring_a_huge_shape_is_an_error_not_an_abort", || {
        let dir = temp_dir("huge");
        // 1e11 x 96 float32 is 38.4 TB; the file holds 16 bytes of data.
        let path = dir.join("huge.npy");
        std::fs::write(&path, npy("<f4", false, "(100000000000, 96)", &[0; 16])).unwrap();
        let e = read_npy(&path, Some(120.0)).unwrap_err().to_string();
        assert!(e.contains("huge.npy"), "{e}");
        assert!(e.contains("declares 38400000000000 bytes of data"), "{e}");
        assert!(e.contains("holds 16 bytes"), "{e}");
        // The same for a dtype we refuse anyway (ndarray-npy allocates before checking it).
        let ints = npy("<i4", false, "(100000000000, 96)", &[0; 16]);
        let e = parse_npy(&ints, "ints.npy", None).unwrap_err().to_string();
        assert!(e.starts_with("ints.npy") && e.contains("float32"), "{e}");
        // A shape whose byte count overflows usize.
        let over = npy("<f8", false, "(4294967296, 4294967296)", &[0; 8]);
        let e = parse_npy(&over, "over.npy", None).unwrap_err().to_string();
        assert!(e.starts_with("over.npy") && e.contains("too large"), "{e}");
        // A v2.0 preamble declaring a 4 GiB header dictionary in a 22-byte file.
        let mut long = b"\x93NUMPY\x02\x00".to_vec();
        long.extend_from_slice(&u32::MAX.to_le_bytes());
        long.extend_from_slice(b"{'descr': ");
        let e = parse_npy(&long, "long.npy", None).unwrap_err().to_string();
        assert!(e.starts_with("long.npy") && e.contains("4294967295-byte header"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    });
}

#[test]
fn npy_data_shorter_or_longer_than_declared_is_an_error() {
    let six = f32s_le(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let e = parse_npy(&npy("<f4", false, "(2, 3)", &six[..20]), "short.npy", None)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("short.npy") && e.contains("declares 24 bytes of data"), "{e}");
    assert!(e.contains("holds 20 bytes"), "{e}");
    let mut long = six.clone();
    long.extend_from_slice(&[0; 4]);
    let e =
        parse_npy(&npy("<f4", false, "(2, 3)", &long), "long.npy", None).unwrap_err().to_string();
    assert!(e.starts_with("long.npy") && e.contains("holds 28 bytes"), "{e}");
}

#[test]
fn valid_npy_still_reads_in_every_layout_and_dtype() {
    let want = array![[0.0f32, 1.0, 2.0], [3.0, 4.0, 5.0]];
    let c_order = f32s_le(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let f_order = f32s_le(&[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    let f8_be: Vec<u8> =
        [0.0f64, 1.0, 2.0, 3.0, 4.0, 5.0].iter().flat_map(|x| x.to_be_bytes()).collect();
    let f8_f: Vec<u8> =
        [0.0f64, 3.0, 1.0, 4.0, 2.0, 5.0].iter().flat_map(|x| x.to_le_bytes()).collect();
    let f4_be: Vec<u8> =
        [0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0].iter().flat_map(|x| x.to_be_bytes()).collect();
    for (what, bytes) in [
        ("<f4 C", npy("<f4", false, "(2, 3)", &c_order)),
        ("<f4 Fortran", npy("<f4", true, "(2, 3)", &f_order)),
        (">f4 C", npy(">f4", false, "(2, 3)", &f4_be)),
        (">f8 C", npy(">f8", false, "(2, 3)", &f8_be)),
        ("<f8 Fortran", npy("<f8", true, "(2, 3)", &f8_f)),
    ] {
        let m = parse_npy(&bytes, "ok.npy", Some(120.0)).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(m.data, want, "{what}");
    }
    // And from a file, as the CLI reads it.
    let dir = temp_dir("valid");
    let path = dir.join("ok.npy");
    std::fs::write(&path, npy("<f4", false, "(2, 3)", &c_order)).unwrap();
    let m = read_npy(&path, Some(120.0)).unwrap();
    assert_eq!(m.data, want);
    assert_eq!(m.frame_time_s, Some(1.0 / 120.0));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn csv_with_a_byte_order_mark_keeps_every_row() {
    let m = parse_csv(b"\xef\xbb\xbf1,2\n3,4\n5,6\n", "bom.csv", None).unwrap();
    assert_eq!(m.data, array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]]);
    assert_eq!(m.columns, ["c0", "c1"]);
    // A BOM before a real header is skipped too, not kept in the first name.
    let m = parse_csv(b"\xef\xbb\xbfx,y\r\n1,2\r\n", "bomh.csv", None).unwrap();
    assert_eq!(m.columns, ["x", "y"]);
    assert_eq!(m.data, array![[1.0f32, 2.0]]);
}

#[test]
fn csv_with_a_garbled_first_field_is_an_error_naming_line_1() {
    let dir = temp_dir("garbled");
    let path = dir.join("garbled.csv");
    std::fs::write(&path, "1.2.3,2\n3,4\n5,6\n").unwrap();
    let e = read_csv(&path, Some(30.0)).unwrap_err().to_string();
    assert!(e.contains("garbled.csv:1: column 1"), "{e}");
    assert!(e.contains("\"1.2.3\""), "{e}");
    std::fs::remove_dir_all(&dir).ok();
    // A bad field later in the first row, and a garbled single column, are data errors too.
    let e = parse_csv(b"1,x\n3,4\n", "t.csv", None).unwrap_err().to_string();
    assert!(e.starts_with("t.csv:1: column 2"), "{e}");
    let e = parse_csv(b"1.2.3\n2\n3\n", "one.csv", None).unwrap_err().to_string();
    assert!(e.starts_with("one.csv:1: column 1"), "{e}");
}

#[test]
fn csv_with_a_real_header_comments_and_crlf_still_reads() {
    let text = b"# exported by hand\r\n\r\n\"hip x\",hip_y,knee2\r\n1,2,3\r\n# mid comment\r\n\r\n4,5,6.5\r\n";
    let m = parse_csv(text, "h.csv", Some(60.0)).unwrap();
    assert_eq!(m.columns, ["hip x", "hip_y", "knee2"]);
    assert_eq!(m.data, array![[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.5]]);
    assert_eq!(m.frame_time_s, Some(1.0 / 60.0));
    // No header: names are made up and the first row is a frame.
    let m = parse_csv(b"1,2\n3,4\n", "n.csv", None).unwrap();
    assert_eq!(m.columns, ["c0", "c1"]);
    assert_eq!(m.data.nrows(), 2);
}

mod properties {
    //! Property tests of the two readers: any bytes give a value or an error naming the file
    //! (never a panic or an abort), and what is written reads back exactly.

    use super::*;
    use ndarray::Array2;
    use proptest::prelude::*;

    /// A `rows` × `cols` matrix of finite floats of every magnitude.
    fn matrix() -> impl Strategy<Value = Array2<f32>> {
        (1usize..12, 1usize..6).prop_flat_map(|(rows, cols)| {
            proptest::collection::vec(
                prop_oneof![any::<f32>().prop_filter("finite", |v| v.is_finite()), -10.0f32..10.0],
                rows * cols,
            )
            .prop_map(move |v| Array2::from_shape_vec((rows, cols), v).unwrap())
        })
    }

    /// A valid float32 NPY of `m`.
    fn npy_bytes(m: &Array2<f32>) -> Vec<u8> {
        let mut bytes = Vec::new();
        ndarray_npy::WriteNpyExt::write_npy(m, &mut bytes).unwrap();
        bytes
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn csv_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Err(e) = parse_csv(&bytes, "p.csv", Some(30.0)) {
                prop_assert!(e.to_string().starts_with("p.csv"), "{}", e);
            }
        }

        #[test]
        fn csv_never_panics_on_csv_like_text(text in "[0-9eE.,+ a-z\\-\n\r#\"\u{feff}]{0,300}") {
            // Mostly numbers and separators, so that the parser gets past UTF-8 and the header.
            match parse_csv(text.as_bytes(), "p.csv", None) {
                Ok(f) => prop_assert!(f.data.iter().all(|v| v.is_finite()) && f.data.nrows() > 0),
                Err(e) => prop_assert!(e.to_string().starts_with("p.csv"), "{}", e),
            }
        }

        #[test]
        fn csv_reads_back_what_was_written(
            m in matrix(), header in any::<bool>(), bom in any::<bool>(), crlf in any::<bool>()
        ) {
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut text = String::new();
            if bom {
                text.push('\u{feff}');
            }
            if header {
                let names: Vec<String> = (0..m.ncols()).map(|c| format!("joint_{c}.rx")).collect();
                text.push_str(&names.join(","));
                text.push_str(eol);
            }
            for row in m.rows() {
                // `{}` prints the shortest text that parses back to the same f32.
                let fields: Vec<String> = row.iter().map(|v| format!("{v}")).collect();
                text.push_str(&fields.join(","));
                text.push_str(eol);
            }
            let got = parse_csv(text.as_bytes(), "p.csv", Some(30.0)).unwrap();
            prop_assert_eq!(&got.data, &m);
            prop_assert_eq!(got.columns.len(), m.ncols());
            prop_assert_eq!(got.columns[0].starts_with("joint_0"), header);
        }

        #[test]
        fn npy_reads_back_what_was_written(m in matrix()) {
            let got = parse_npy(&npy_bytes(&m), "p.npy", Some(30.0)).unwrap();
            prop_assert_eq!(got.data, m);
        }

        #[test]
        fn damaged_npy_gives_an_error_naming_the_file(
            m in matrix(),
            edits in proptest::collection::vec((0usize..160, any::<u8>()), 0..6),
            cut in proptest::option::of(0usize..200),
        ) {
            // Edits land mostly in the preamble and header (the first 64–128 bytes), where a
            // lie about the size or type must not reach an allocation.
            let mut bytes = npy_bytes(&m);
            for (at, b) in edits {
                if at < bytes.len() {
                    bytes[at] = b;
                }
            }
            if let Some(cut) = cut {
                bytes.truncate(cut);
            }
            match parse_npy(&bytes, "p.npy", None) {
                Ok(f) => {
                    prop_assert!(f.data.iter().all(|v| v.is_finite()));
                    prop_assert!(f.data.nrows() > 0 && f.data.ncols() > 0);
                }
                Err(e) => prop_assert!(e.to_string().starts_with("p.npy"), "{}", e),
            }
        }
    }
}
