//! Integration tests: asf_amc (filled in by its owner).
