//! Reading motion inputs. Each format lives in its own file; every reader returns
//! [`Result`] and names the file, line and field on bad input. No reader panics,
//! whatever the bytes.
//!
//! | format | module | gives |
//! | --- | --- | --- |
//! | ASF skeleton + AMC motion (Acclaim, CMU) | [`asf_amc`] | [`Motion`] |
//! | BVH | [`bvh`] | [`Motion`] |
//! | NPY `[frames, channels]` | [`npy`] | [`FeatureMatrix`] |
//! | CSV `[frames, channels]` | [`csv`] | [`FeatureMatrix`] |

pub mod asf_amc;
pub mod bvh;
pub mod csv;
pub mod npy;

use std::path::Path;

use crate::error::{Error, Result};
use crate::features::FeatureMatrix;
use crate::types::Motion;

/// What a file holds once read: a skeleton-based motion take, or a plain feature matrix.
#[derive(Debug, Clone)]
pub enum Input {
    /// A take with a skeleton (BVH, ASF/AMC).
    Motion(Motion),
    /// A plain `[frames, channels]` matrix (NPY, CSV).
    Features(FeatureMatrix),
}

/// The file formats [`load`] recognises, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.amc` (needs an ASF skeleton).
    Amc,
    /// `.bvh`.
    Bvh,
    /// `.npy`.
    Npy,
    /// `.csv`.
    Csv,
}

impl Format {
    /// Guesses the format from a path's extension (case-insensitive).
    pub fn from_path(path: &Path) -> Result<Format> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        match ext.as_str() {
            "amc" => Ok(Format::Amc),
            "bvh" => Ok(Format::Bvh),
            "npy" => Ok(Format::Npy),
            "csv" => Ok(Format::Csv),
            _ => Err(Error::invalid(
                &path.display().to_string(),
                None,
                format!(
                    "unknown file type {:?}: expected .bvh, .amc (with an ASF skeleton), .npy or .csv",
                    ext
                ),
            )),
        }
    }
}

/// Options for [`load`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions<'a> {
    /// ASF skeleton for an AMC file.
    pub asf: Option<&'a Path>,
    /// Frame rate for inputs that do not carry one: NPY/CSV (required) and AMC (default
    /// [`asf_amc::DEFAULT_FRAME_TIME_S`], CMU's 120 fps). A BVH file states its own; a
    /// different rate here is refused rather than ignored.
    pub fps: Option<f64>,
}

/// Reads any supported file, choosing the reader by extension.
pub fn load(path: &Path, opts: &LoadOptions<'_>) -> Result<Input> {
    let name = path.display().to_string();
    if let Some(fps) = opts.fps {
        // 1 / fps is the frame time: it must be finite too (1e-320 is not).
        if !(fps.is_finite() && fps > 0.0 && (1.0 / fps).is_finite()) {
            return Err(Error::Param {
                name: "fps",
                message: format!("must be > 0, got {}", crate::error::num(fps)),
            });
        }
    }
    match Format::from_path(path)? {
        Format::Amc => {
            let asf = opts.asf.ok_or_else(|| {
                Error::invalid(
                    &name,
                    None,
                    "an AMC file needs its ASF skeleton (pass --asf SKELETON.asf)",
                )
            })?;
            let skeleton = asf_amc::read_asf(asf)?;
            let frame_time = opts.fps.map_or(asf_amc::DEFAULT_FRAME_TIME_S, |f| 1.0 / f);
            Ok(Input::Motion(asf_amc::read_amc_with_frame_time(path, &skeleton, frame_time)?))
        }
        Format::Bvh => {
            let motion = bvh::read_bvh(path)?;
            if let Some(fps) = opts.fps {
                // Within 1e-4 relative: files round their Frame Time (0.0083333 for 120 fps).
                if (fps * motion.frame_time_s - 1.0).abs() > 1e-4 {
                    return Err(Error::Param {
                        name: "fps",
                        message: format!(
                            "{} fps given, but {name} states Frame Time {} s ({:.3} fps); a \
                             BVH file carries its own rate (leave --fps out)",
                            crate::error::num(fps),
                            motion.frame_time_s,
                            motion.fps()
                        ),
                    });
                }
            }
            Ok(Input::Motion(motion))
        }
        Format::Npy => Ok(Input::Features(npy::read_npy(path, opts.fps)?)),
        Format::Csv => Ok(Input::Features(csv::read_csv(path, opts.fps)?)),
    }
}

/// Reads a whole file, mapping the I/O error to one that names it.
pub(crate) fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}
