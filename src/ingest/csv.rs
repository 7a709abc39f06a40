//! CSV feature matrices: one frame per line, comma-separated numbers, an optional header line of
//! column names. Written by hand: the grammar is tiny and every error must name its line.

use std::path::Path;

use ndarray::Array2;

use crate::error::{Error, Result};
use crate::features::FeatureMatrix;

/// Reads a CSV file of numbers. `fps` is the frame rate, which CSV files do not carry.
pub fn read_csv(path: &Path, fps: Option<f64>) -> Result<FeatureMatrix> {
    let bytes = super::read_bytes(path)?;
    parse_csv(&bytes, &path.display().to_string(), fps)
}

/// Parses CSV bytes; `file` names the input in errors. A leading UTF-8 byte-order mark is
/// skipped. The first line is taken as a header only when every field is a name (none is a
/// number or looks like a garbled one); otherwise it is data, and a bad field in it is an error.
/// Blank lines are ignored; `#` starts a comment line.
pub fn parse_csv(bytes: &[u8], file: &str, fps: Option<f64>) -> Result<FeatureMatrix> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
        Error::parse(file, line, "text", "UTF-8 text", "invalid UTF-8 bytes")
    })?;
    // Editors on Windows often write a BOM; left in, it would make the first number unreadable.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut columns: Option<Vec<String>> = None;
    let mut values: Vec<f32> = Vec::new();
    let mut width: Option<usize> = None;
    let mut rows = 0usize;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if rows == 0 && columns.is_none() && (is_header(&fields) || is_numbered_header(&fields)) {
            columns = Some(fields.iter().map(|s| s.trim_matches('"').to_owned()).collect());
            width = Some(fields.len());
            continue;
        }
        let w = *width.get_or_insert(fields.len());
        if fields.len() != w {
            return Err(Error::parse(
                file,
                line_no,
                "row",
                format!("{w} comma-separated values"),
                &format!("{} values", fields.len()),
            ));
        }
        for (c, f) in fields.iter().enumerate() {
            let v: f32 = f.parse().map_err(|_| {
                let found = if f.is_empty() { "an empty field" } else { f };
                Error::parse(file, line_no, format!("column {}", c + 1), "a number", found)
            })?;
            if !v.is_finite() {
                return Err(Error::parse(
                    file,
                    line_no,
                    format!("column {}", c + 1),
                    "a finite number",
                    f,
                ));
            }
            values.push(v);
        }
        rows += 1;
    }
    let width = width.unwrap_or(0);
    if rows == 0 {
        return Err(Error::invalid(
            file,
            None,
            "no data rows: expected at least one line of numbers",
        ));
    }
    let data = Array2::from_shape_vec((rows, width), values)
        .map_err(|e| Error::invalid(file, None, format!("internal shape error: {e}")))?;
    let columns = columns.unwrap_or_else(|| (0..width).map(|c| format!("c{c}")).collect());
    Ok(FeatureMatrix {
        source: file.to_owned(),
        data,
        columns,
        joints: Vec::new(),
        frame_time_s: fps.map(|f| 1.0 / f),
    })
}

/// Whether a first line is a header of column names rather than a (possibly bad) data row. A
/// single number, or a field that looks like a garbled one (`1.2.3`, `-4e`), makes it data, so
/// the bad field is reported instead of being silently taken as a name (which would drop a frame
/// and shift every later one).
fn is_header(fields: &[&str]) -> bool {
    fields.iter().all(|f| {
        let numberish = f.bytes().any(|b| b.is_ascii_digit())
            && f.bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'+' | b'-' | b'e' | b'E'));
        f.parse::<f32>().is_err() && !numberish
    })
}

/// Whether a first line reads `0,1,2,…,n-1` (n ≥ 2): the column names pandas writes for an
/// unnamed matrix (`to_csv(index=False)`), not a frame of motion.
fn is_numbered_header(fields: &[&str]) -> bool {
    fields.len() >= 2 && fields.iter().enumerate().all(|(i, f)| *f == i.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_rows() {
        let m = parse_csv(b"a,b\n1,2\r\n\n3,4.5\n", "t.csv", Some(30.0)).expect("valid");
        assert_eq!(m.columns, ["a", "b"]);
        assert_eq!(m.data.shape(), [2, 2]);
        assert_eq!(m.data[[1, 1]], 4.5);
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = parse_csv(b"1,2\n3\n", "t.csv", None).unwrap_err().to_string();
        assert_eq!(e, "t.csv:2: row: expected 2 comma-separated values, found \"1 values\"");
        let e = parse_csv(b"1,2\n3,x\n", "t.csv", None).unwrap_err().to_string();
        assert!(e.starts_with("t.csv:2: column 2"), "{e}");
        let e = parse_csv(b"1,nan\n", "t.csv", None).unwrap_err().to_string();
        assert!(e.contains("finite"), "{e}");
        assert!(parse_csv(b"", "t.csv", None).is_err());
        assert!(parse_csv(b"a,b\n", "t.csv", None).is_err());
        let e = parse_csv(b"1,2\n\xff\xfe\n", "t.csv", None).unwrap_err().to_string();
        assert!(e.starts_with("t.csv:2"), "{e}");
        let e = parse_csv(b"1,2,3\n4,,6\n", "t.csv", None).unwrap_err().to_string();
        assert_eq!(e, "t.csv:2: column 2: expected a number, found \"an empty field\"");
    }

    #[test]
    fn numbered_column_names_are_a_header() {
        // pandas' names for an unnamed matrix; read as data they would add a frame.
        let m = parse_csv(b"0,1,2\n0.5,1.5,2.5\n", "t.csv", None).expect("valid");
        assert_eq!(m.data.nrows(), 1);
        assert_eq!(m.columns, ["0", "1", "2"]);
        // Anything else numeric stays a frame.
        for text in [&b"0,1,3\n0.5,1.5,2.5\n"[..], b"1,2,3\n0.5,1.5,2.5\n", b"0\n1\n"] {
            let m = parse_csv(text, "t.csv", None).expect("valid");
            assert_eq!(m.data.nrows(), 2, "{}", String::from_utf8_lossy(text));
        }
    }
}
