//! BVH (Biovision hierarchy) motion files.

use std::path::Path;

use crate::error::{Error, Result};
use crate::types::Motion;

/// Reads a BVH file.
pub fn read_bvh(path: &Path) -> Result<Motion> {
    Err(Error::invalid(&path.display().to_string(), None, "BVH reader not written yet"))
}
