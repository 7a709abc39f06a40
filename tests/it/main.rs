//! The one integration-test binary. Tests that need real data read it from `../shared/data`
//! (override with `MOTIONSEG_DATA`) and fail loudly when it is missing.

mod common;

mod asf_amc;
mod bvh;
#[cfg(feature = "cli")]
mod cli;
mod cluster;
#[cfg(feature = "ort")]
mod embed;
mod eval;
mod features;
mod ingest_limits;
mod partition;
mod segment;
mod segments;
#[cfg(feature = "serve")]
mod service;
