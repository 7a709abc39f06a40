//! Helpers shared by the integration tests.

use std::path::PathBuf;

/// The shared real-data folder: `$MOTIONSEG_DATA`, else `../shared/data` beside the repository.
/// Panics with a clear message when it is missing: tests never skip silently.
pub fn data_dir() -> PathBuf {
    let dir = std::env::var_os("MOTIONSEG_DATA").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("shared").join("data")
    });
    assert!(
        dir.join("README.md").is_file(),
        "real test data not found at {} — set MOTIONSEG_DATA to the shared data folder",
        dir.display()
    );
    dir
}

/// A file inside the shared data folder.
#[allow(dead_code)]
pub fn data(rel: &str) -> PathBuf {
    data_dir().join(rel)
}
