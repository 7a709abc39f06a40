//! NumPy `.npy` feature matrices `[frames, channels]` (float32 or float64, C or Fortran order),
//! read with the maintained `ndarray-npy` crate.

use std::io::Cursor;
use std::path::Path;

use ndarray::{Array2, ArrayView2};
use ndarray_npy::{ReadNpyError, ReadNpyExt};

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
    let data: Array2<f32> = match Array2::<f32>::read_npy(Cursor::new(bytes)) {
        Ok(a) => a,
        Err(ReadNpyError::WrongDescriptor(_)) => {
            match Array2::<f64>::read_npy(Cursor::new(bytes)) {
                Ok(a) => a.mapv(|v| v as f32),
                Err(e) => return Err(npy_error(file, e)),
            }
        }
        Err(e) => return Err(npy_error(file, e)),
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

fn npy_error(file: &str, e: ReadNpyError) -> Error {
    let (expected, found) = match &e {
        ReadNpyError::WrongNdim(expected, found) => (
            format!("a {}-D array [frames, channels]", expected.unwrap_or(2)),
            format!("{found}-D"),
        ),
        ReadNpyError::WrongDescriptor(d) => {
            ("dtype float32 or float64".to_owned(), format!("{d:?}"))
        }
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
