//! Integration tests: features (filled in by its owner).
