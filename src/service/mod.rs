//! The live segmentation service (feature `serve`): capture software streams poses in over gRPC
//! and gets segment events back as they happen.
//!
//! * [`pipeline`]: one session as named threads over bounded `crossbeam-channel` queues
//!   (ingest → window → infer → cluster → emit), with an explicit policy when the model falls
//!   behind ([`WhenFull`]). No tonic there.
//! * `grpc` (re-exported here): the `motionseg.v1.Segmentation` service from
//!   `proto/motionseg/v1/motionseg.proto` on tonic — [`serve`], [`spawn_server`] — and the Rust
//!   client, [`replay`]. It is the only module importing tonic; [`proto`] holds the generated
//!   protocol types for Rust clients that want to speak the protocol directly.
//!
//! All sessions share the loaded models ([`Models`]: [`EngineModel`]s are immutable and cheap to
//! clone); each session has its own model session, windowing, clusterer and segmenter, so a
//! replayed take gives the same final segments as [`label_take`](crate::labeler::label_take) on
//! the file (tested). The server caps concurrent sessions (`RESOURCE_EXHAUSTED` beyond the cap),
//! ends sessions whose client sends nothing for the idle timeout (`DEADLINE_EXCEEDED`), refuses
//! bad frames with `INVALID_ARGUMENT` naming the field and sequence number, and on shutdown ends
//! every session's input and sends each client its final segments before it exits.

mod grpc;
pub mod pipeline;

use std::time::Duration;

use crate::engine::EngineModel;
use crate::error::{Error, Result};

pub use grpc::{
    proto, replay, replay_blocking, run_until_ctrl_c, serve, serve_when_ready, spawn_server,
    LiveMessage, LiveSummary, ReplayOptions, ReplayReport, ServerHandle,
};
pub use pipeline::{EndReason, WhenFull};

/// The models a server offers, by name; the first added is the default.
#[derive(Debug, Clone)]
pub struct Models {
    entries: Vec<(String, EngineModel)>,
}

impl Models {
    /// A registry holding `model` under `name`, the default. The model needs a POD basis.
    pub fn new(name: impl Into<String>, model: EngineModel) -> Result<Models> {
        let mut m = Models { entries: Vec::new() };
        m.add(name, model)?;
        Ok(m)
    }

    /// Adds `model` under `name` (unique, non-empty). The model needs a POD basis.
    pub fn add(&mut self, name: impl Into<String>, model: EngineModel) -> Result<()> {
        let name = name.into();
        if name.is_empty() || self.entries.iter().any(|(n, _)| *n == name) {
            return Err(Error::Param {
                name: "model name",
                message: format!("{name:?} is empty or already taken"),
            });
        }
        if model.basis().is_none() {
            return Err(Error::Param {
                name: "basis",
                message: format!("model {name:?} has no POD basis; the service needs one"),
            });
        }
        self.entries.push((name, model));
        Ok(())
    }

    /// The model named `name`, or the default for an empty name.
    pub fn get(&self, name: &str) -> Option<(&str, &EngineModel)> {
        let found = if name.is_empty() {
            self.entries.first()
        } else {
            self.entries.iter().find(|(n, _)| n == name)
        };
        found.map(|(n, m)| (n.as_str(), m))
    }

    /// Every model, the default first.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &EngineModel)> {
        self.entries.iter().map(|(n, m)| (n.as_str(), m))
    }
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The models sessions may use.
    pub models: Models,
    /// Most concurrent sessions; more get `RESOURCE_EXHAUSTED`.
    pub max_sessions: usize,
    /// A session whose client sends nothing for this long ends with `DEADLINE_EXCEEDED`.
    pub idle_timeout: Duration,
    /// Capacity of each queue between a session's stages (and of its response stream).
    pub queue_capacity: usize,
    /// Most windows per model call when a session's inference has fallen behind.
    pub max_batch: usize,
    /// ONNX Runtime intra-op threads per session.
    pub ort_threads: usize,
    /// Model runners (ONNX Runtime sessions) made per model at start-up; sessions reuse idle
    /// runners and make new ones only when none is idle, so the first windows of a new stream
    /// do not wait for one to be built.
    pub warm_runners: usize,
}

impl ServiceConfig {
    /// Defaults: 16 sessions, 30 s idle timeout, queues of 256, batches of up to 16 windows,
    /// one ONNX Runtime thread per session (sessions are the parallelism), 2 warm runners.
    pub fn new(models: Models) -> ServiceConfig {
        ServiceConfig {
            models,
            max_sessions: 16,
            idle_timeout: Duration::from_secs(30),
            queue_capacity: 256,
            max_batch: 16,
            ort_threads: 1,
            warm_runners: 2,
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |name, what: &str| {
            Err(Error::Param { name, message: format!("{what} must be at least 1") })
        };
        if self.max_sessions == 0 {
            return bad("max_sessions", "the session cap");
        }
        if self.queue_capacity == 0 {
            return bad("queue_capacity", "the queue capacity");
        }
        if self.max_batch == 0 {
            return bad("max_batch", "the batch size");
        }
        crate::embed::ort::check_threads(self.ort_threads)?;
        if self.idle_timeout.is_zero() {
            return Err(Error::Param {
                name: "idle_timeout",
                message: "must be positive".to_owned(),
            });
        }
        Ok(())
    }
}
