//! # motionseg
//!
//! Streaming, unsupervised action segmentation of human motion capture. A GRU Seq2Seq model
//! trained only to predict the next poses organises its decoder hidden states into one attractor
//! per kind of movement; projected onto a frozen POD basis and clustered with single linkage under
//! cosine distance, those states segment the motion.
//!
//! ## Layout
//!
//! | module | role |
//! | --- | --- |
//! | [`error`] | the one [`Error`] type, with file / line / field context |
//! | [`types`] | [`Skeleton`], [`Joint`], [`Channel`], [`Motion`] |
//! | [`ingest`] | readers: ASF/AMC, BVH, NPY, CSV — never panic on any bytes |
//! | [`features`] | canonical feature vectors: root translation + per-joint exponential maps |
//! | [`model`] | the model manifest (shapes, frame rate, input transform), validated once |
//! | [`window`] | resampling, root transform, normalisation, ring buffer with hop |
//! | [`embed`] | the [`embed::Embedder`] trait; ONNX Runtime behind it (the only `ort` import) |
//! | [`basis`] | frozen POD basis: thin SVD (`faer`), energy mode count, save/load, projection |
//! | [`engine`] | [`engine::EngineModel`] (shared, immutable) and [`engine::Engine`] (per stream) |
//! | [`plot`] | SVG pictures |
//! | [`labels`] | ground-truth labels: ACA / Time2State CSV, Su & Shlizerman tolerance windows |
//! | [`labeler`] | a take from frames to labeled segments: engine, clusterer, segmenter |
//! | [`segment`] | online segmenter: window labels -> frame labels, segments and events |
//! | [`eval`] | metrics (Hungarian / first-appearance accuracy, ARI, NMI, boundary F1, covering), concatenated-clip benchmark, results table |
//! | [`cluster`] | segment-level single linkage with boundaries by online optimal partitioning (the default; [`cluster::segments`], [`cluster::partition`]); online robust single linkage (HDBSCAN*-style) over window embeddings |
//! | [`baseline`] | model-free comparators (no network): window pose statistics, pose POD |
//! | `service` | (feature `serve`) the live gRPC service: staged per-session pipeline, server, replay client |
//!
//! ## Features
//!
//! * `ort` (default): ONNX inference through ONNX Runtime 1.31, loaded at run time from the
//!   library the `onnxruntime` PyPI wheel ships ([`embed`]'s `ort` module).
//! * `cli` (default, implies `ort`): the `motionseg` command-line tool.
//! * `hnsw` (default): approximate nearest neighbours (`hnsw_rs`) for the windows method's
//!   large point sets; without it the exact linear-scan index serves every size.
//! * `serve` (default, implies `ort`): the live gRPC service (`service`: tonic, prost, tokio),
//!   `motionseg serve` and `motionseg replay`.
//!
//! Without features the library still reads every format, computes features, windows, fits and
//! applies POD bases; only running the network needs `ort`.
//!
//! ## Example
//!
//! ```
//! use motionseg::ingest::csv::parse_csv;
//!
//! let m = parse_csv(b"x,y\n0,1\n2,3\n", "inline.csv", Some(30.0))?;
//! assert_eq!((m.frame_count(), m.channel_count()), (2, 2));
//! # Ok::<(), motionseg::Error>(())
//! ```

#![warn(missing_docs)]

pub mod baseline;
pub mod basis;
pub mod cluster;
pub mod embed;
pub mod engine;
pub mod error;
pub mod eval;
pub mod features;
pub mod ingest;
pub mod labeler;
pub mod labels;
pub mod model;
pub mod plot;
pub mod segment;
#[cfg(feature = "serve")]
pub mod service;
pub mod types;
pub mod window;

pub use error::{Error, Result};
pub use features::FeatureMatrix;
pub use types::{AngleUnit, Axis, Channel, FrameIndex, Joint, Motion, Skeleton};
