//! Integration tests: bvh (filled in by its owner).
