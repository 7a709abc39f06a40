//! ASF skeletons and AMC motion (Acclaim format, as used by the CMU database).

use std::path::Path;

use crate::error::{Error, Result};
use crate::types::{Motion, Skeleton};

/// Reads an ASF skeleton file.
pub fn read_asf(path: &Path) -> Result<Skeleton> {
    Err(Error::invalid(&path.display().to_string(), None, "ASF reader not written yet"))
}

/// Reads an AMC motion file against `skeleton`.
pub fn read_amc(path: &Path, _skeleton: &Skeleton) -> Result<Motion> {
    Err(Error::invalid(&path.display().to_string(), None, "AMC reader not written yet"))
}
