//! NumPy `.npy` feature matrices `[frames, channels]` (float32 or float64, C or Fortran order),
//! read with the maintained `ndarray-npy` crate.

use std::io::Cursor;
use std::path::Path;

use ndarray::{Array2, ArrayView2};
use ndarray_npy::npy::header::Header;
use ndarray_npy::{ReadNpyError, ReadNpyExt, WriteNpyExt};

use crate::error::{Error, Result};
use crate::features::FeatureMatrix;

/// Reads a `.npy` file holding a 2-D float array. `fps` is the frame rate, which NPY files do
/// not carry.
pub fn read_npy(path: &Path, fps: Option<f64>) -> Result<FeatureMatrix> {
    let bytes = super::read_bytes(path)?;
    parse_npy(&bytes, &path.display().to_string(), fps)
}

/// Parses NPY bytes; `file` names the input in errors.
pub fn parse_npy(bytes: &[u8], file: &str, fps: Option<f64>) -> Result<FeatureMatrix> {
    let data: Array2<f32> = if check_header(bytes, file)? {
        Array2::<f64>::read_npy(Cursor::new(bytes))
            .map_err(|e| npy_error(file, e))?
            .mapv(|v| v as f32)
    } else {
        Array2::<f32>::read_npy(Cursor::new(bytes)).map_err(|e| npy_error(file, e))?
    };
    check_matrix(file, data.view())?;
    let columns = (0..data.ncols()).map(|c| format!("c{c}")).collect();
    Ok(FeatureMatrix {
        source: file.to_owned(),
        data,
        columns,
        joints: Vec::new(),
        frame_time_s: fps.map(|f| 1.0 / f),
    })
}

/// Writes a `[frames, channels]` float32 matrix as `.npy` (what `motionseg inspect --features`
/// produces; NumPy reads it with `numpy.load`).
pub fn write_npy(path: &Path, data: ArrayView2<'_, f32>) -> Result<()> {
    let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut w = std::io::BufWriter::new(file);
    data.write_npy(&mut w).map_err(|e| match e {
        ndarray_npy::WriteNpyError::Io(io) => Error::io(path, io),
        other => Error::invalid(&path.display().to_string(), None, other.to_string()),
    })?;
    std::io::Write::flush(&mut w).map_err(|e| Error::io(path, e))
}

/// Checks the header against the bytes present before anything is allocated from it: ndarray-npy
/// allocates the header length and then the declared array (before even checking the dtype),
/// so a tiny file declaring a huge shape would abort the process. Returns whether the data is
/// float64 (otherwise float32).
fn check_header(bytes: &[u8], file: &str) -> Result<bool> {
    // Preamble: magic, version (1, 2 or 3 .0), then the header length as little-endian u16 (v1)
    // or u32. Anything else is left to ndarray-npy, which rejects it without allocating.
    if let (Some(b"\x93NUMPY"), Some(&[major @ 1..=3, 0])) = (bytes.get(..6), bytes.get(6..8)) {
        let len_end = if major == 1 { 10 } else { 12 };
        if let Some(raw) = bytes.get(8..len_end) {
            let header_len = raw.iter().rev().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
            let present = (bytes.len() - len_end) as u64;
            if header_len > present {
                return Err(Error::invalid(
                    file,
                    None,
                    format!(
                        "npy header declares a {header_len}-byte header but the file holds only \
                         {present} bytes after the preamble (truncated or corrupt file?)"
                    ),
                ));
            }
        }
    }
    let mut cursor = Cursor::new(bytes);
    let header = Header::from_reader(&mut cursor).map_err(|e| npy_error(file, e.into()))?;
    let (elem, float64) = match header.type_descriptor.as_string().map(String::as_str) {
        Some("<f4" | ">f4") => (4usize, false),
        Some("<f8" | ">f8") => (8, true),
        _ => return Err(dtype_error(file, format!("{:?}", header.type_descriptor))),
    };
    let shape = &header.shape;
    let declared = shape.iter().try_fold(elem, |acc, &d| acc.checked_mul(d)).ok_or_else(|| {
        Error::invalid(
            file,
            None,
            format!(
                "npy header declares shape {shape:?} of {elem}-byte values, too large to address"
            ),
        )
    })?;
    // The cursor stopped at the end of the header, where the data starts.
    let present =
        bytes.len().saturating_sub(usize::try_from(cursor.position()).unwrap_or(usize::MAX));
    if declared != present {
        return Err(Error::invalid(
            file,
            None,
            format!(
                "npy header declares {declared} bytes of data (shape {shape:?} of {elem}-byte \
                 values) but the file holds {present} bytes after the header (truncated or \
                 corrupt file?)"
            ),
        ));
    }
    Ok(float64)
}

fn dtype_error(file: &str, found: String) -> Error {
    Error::Shape {
        file: file.to_owned(),
        field: "npy array".to_owned(),
        expected: "dtype float32 or float64".to_owned(),
        found,
    }
}

fn npy_error(file: &str, e: ReadNpyError) -> Error {
    let (expected, found) = match &e {
        ReadNpyError::WrongNdim(expected, found) => (
            format!("a {}-D array [frames, channels]", expected.unwrap_or(2)),
            format!("{found}-D"),
        ),
        ReadNpyError::WrongDescriptor(d) => return dtype_error(file, format!("{d:?}")),
        other => ("a valid .npy file".to_owned(), other.to_string()),
    };
    Error::Shape { file: file.to_owned(), field: "npy array".to_owned(), expected, found }
}

/// Refuses empty matrices and non-finite values, naming the first bad cell.
pub(crate) fn check_matrix(file: &str, data: ArrayView2<'_, f32>) -> Result<()> {
    if data.nrows() == 0 || data.ncols() == 0 {
        return Err(Error::Shape {
            file: file.to_owned(),
            field: "matrix".to_owned(),
            expected: "at least one frame and one channel".to_owned(),
            found: format!("shape [{}, {}]", data.nrows(), data.ncols()),
        });
    }
    if let Some(((r, c), v)) = data.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(Error::Shape {
            file: file.to_owned(),
            field: format!("frame {r}, channel {c}"),
            expected: "a finite number".to_owned(),
            found: v.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array1;
    use ndarray_npy::WriteNpyExt;

    fn npy_bytes<T: WriteNpyExt>(a: &T) -> Vec<u8> {
        let mut v = Vec::new();
        a.write_npy(&mut v).expect("write to Vec");
        v
    }

    #[test]
    fn reads_f32_and_f64() {
        let a = Array2::<f32>::from_shape_fn((3, 2), |(r, c)| (r * 2 + c) as f32);
        let m = parse_npy(&npy_bytes(&a), "a.npy", Some(120.0)).expect("f32");
        assert_eq!(m.data, a);
        assert_eq!(m.frame_time_s, Some(1.0 / 120.0));
        let b = a.mapv(f64::from);
        assert_eq!(parse_npy(&npy_bytes(&b), "b.npy", None).expect("f64").data, a);
    }

    #[test]
    fn write_then_read_round_trips() {
        let a = Array2::<f32>::from_shape_fn((4, 3), |(r, c)| r as f32 - c as f32 * 0.5);
        let dir = std::env::temp_dir().join(format!("motionseg-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let p = dir.join("rt.npy");
        write_npy(&p, a.view()).expect("write");
        assert_eq!(read_npy(&p, None).expect("read").data, a);
        let e = write_npy(&dir.join("missing/x.npy"), a.view()).unwrap_err().to_string();
        assert!(e.contains("missing/x.npy"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn rejects_wrong_ndim_dtype_nan_and_garbage() {
        let one_d = Array1::<f32>::zeros(4);
        let e = parse_npy(&npy_bytes(&one_d), "x.npy", None).unwrap_err().to_string();
        assert!(e.contains("x.npy") && e.contains("1-D"), "{e}");
        let ints = Array2::<i32>::zeros((2, 2));
        let e = parse_npy(&npy_bytes(&ints), "i.npy", None).unwrap_err().to_string();
        assert!(e.contains("float32"), "{e}");
        let mut nan = Array2::<f32>::zeros((2, 3));
        nan[[1, 2]] = f32::NAN;
        let e = parse_npy(&npy_bytes(&nan), "n.npy", None).unwrap_err().to_string();
        assert!(e.contains("frame 1, channel 2"), "{e}");
        let e = parse_npy(b"\x93NUMPY garbage", "g.npy", None).unwrap_err().to_string();
        assert!(e.starts_with("g.npy"), "{e}");
        let empty = Array2::<f32>::zeros((0, 3));
        assert!(parse_npy(&npy_bytes(&empty), "e.npy", None).is_err());
    }
}
