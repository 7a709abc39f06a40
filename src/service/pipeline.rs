//! One live session as threaded stages over bounded queues (no tonic here).
//!
//! ```text
//! Source ─> ingest ─frames─> window ─windows─> infer ─embeddings─> cluster ─outputs─> emit ─> Sink
//!           validate          Windowing  (policy)  WindowInference    StreamLabeler
//! ```
//!
//! Each stage is a named thread (`s{session}-{stage}`) and each arrow a bounded
//! `crossbeam-channel` queue. Every queue blocks when full except `windows`, the one in front of
//! the expensive model, whose policy is [`WhenFull`]: `Block` passes backpressure back to the
//! source (and so to the client), `Drop` discards whole windows and counts them. Dropping a
//! window rather than a frame keeps the windowing and frame numbering intact: the frames of a
//! dropped window are labeled by the next window that gets through.
//!
//! A stage that fails sends its error on a side channel straight to `emit` (so the client hears
//! of it without waiting behind queued windows), raises the shared cancel flag and exits; the
//! stages after it see their input queue disconnect and exit too.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, select, Receiver, Sender, TrySendError};

use crate::embed::Embedder;
use crate::engine::{EngineModel, WindowEmbedding, WindowInference, Windowing};
use crate::error::{Error, Result, SessionErrorKind};
use crate::labeler::{LabelerParams, Labeling, StreamLabeler};
use crate::segment::SegmentEvent;
use crate::window::WindowSpan;

/// What the queue in front of the model does when it is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhenFull {
    /// Wait: backpressure reaches the source; nothing is lost.
    #[default]
    Block,
    /// Discard the window and count it ([`Summary::windows_dropped`]). The queues before and
    /// after the model then hold at most `max_batch` windows each, which bounds the latency.
    Drop,
}

/// Settings of one session's pipeline.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Session id, for thread names, logs and errors.
    pub session: u64,
    /// Input frame rate.
    pub fps: f64,
    /// Labeling settings (hop, summary, clustering, segment length); `engine.batch` is ignored:
    /// the infer stage batches whatever windows are waiting, up to `max_batch`.
    pub params: LabelerParams,
    /// Capacity of each queue between stages (at least 1).
    pub queue_capacity: usize,
    /// Most windows per model call when the infer stage has fallen behind (at least 1).
    pub max_batch: usize,
    /// Policy of the queue in front of the model.
    pub when_full: WhenFull,
}

/// One pose frame as received.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// The sender's sequence number (strictly increasing).
    pub seq: u64,
    /// Raw canonical values (the model's raw layout).
    pub values: Vec<f32>,
}

/// Why a session's input ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The client said so (or closed its side of the stream).
    ClientEnd,
    /// The server is shutting down.
    ServerShutdown,
}

/// What a [`Source`] yields.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// The next frame.
    Frame(Frame),
    /// No more frames.
    End(EndReason),
}

/// Where frames come from (the gRPC request stream in `service::grpc`). Called on the ingest
/// thread only; may block.
pub trait Source: Send + 'static {
    /// The next frame or the end of input; an error (idle client, broken connection, a message
    /// the protocol does not allow here) fails the session.
    fn next(&mut self) -> Result<Inbound>;
}

/// What a session produces, in order.
#[derive(Debug)]
#[non_exhaustive]
pub enum Output {
    /// One window was clustered: the provisional segment events it caused (possibly none).
    Window {
        /// The window.
        span: WindowSpan,
        /// Sequence number of the frame whose arrival completed the window.
        completed_by_seq: u64,
        /// Segment events, in order.
        events: Vec<SegmentEvent>,
    },
    /// The input ended and the final segments are known. The last output of a session.
    Finished(Box<Summary>),
    /// The session failed. The last output of a session.
    Failed(Error),
}

/// The end of a session.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The events that finishing caused (closing the open segment, final relabels, the
    /// watermark), in order.
    pub final_events: Vec<SegmentEvent>,
    /// The final labeling of every frame received.
    pub labeling: Labeling,
    /// Frames received.
    pub frames: u64,
    /// Windows clustered.
    pub windows: u64,
    /// Windows discarded by [`WhenFull::Drop`].
    pub windows_dropped: u64,
    /// Why the input ended.
    pub reason: EndReason,
}

/// Where outputs go (the gRPC response stream in `service::grpc`). Called on the emit thread
/// only; may block.
pub trait Sink: Send + 'static {
    /// Delivers one output; `false` when the client is gone (the session then stops).
    fn send(&mut self, out: Output) -> bool;
}

/// A running session: its stage threads.
#[derive(Debug)]
pub struct Pipeline {
    session: u64,
    threads: Vec<JoinHandle<()>>,
    cancel: Arc<AtomicBool>,
}

enum FrameMsg {
    Frame(Frame),
    End(EndReason),
}

enum WindowMsg {
    Window { span: WindowSpan, seq: u64, values: Vec<f32> },
    End { frames: u64, reason: EndReason },
}

enum EmbeddingMsg {
    Window { embedding: WindowEmbedding, seq: u64 },
    End { frames: u64, reason: EndReason },
}

/// State every stage shares.
#[derive(Clone)]
struct Shared {
    session: u64,
    cancel: Arc<AtomicBool>,
    fail: Sender<Error>,
    dropped: Arc<AtomicU64>,
}

impl Shared {
    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// Reports a stage's error (the first few are kept) and stops the other stages.
    fn fail(&self, e: Error) {
        let _ = self.fail.try_send(e);
        self.cancel.store(true, Ordering::Relaxed);
    }
}

impl Pipeline {
    /// Starts the stages of one session over `model`. `embedder` gets the session's model
    /// runner; it is called on the infer thread (so a slow model load does not hold up the
    /// caller) and its error ends the session like any stage error. `release` gets the runner
    /// back when the session ends without a model error (for reuse by a later session).
    pub fn start<E, F, R>(
        config: PipelineConfig,
        model: EngineModel,
        embedder: F,
        release: R,
        source: impl Source,
        sink: impl Sink,
    ) -> Result<Pipeline>
    where
        E: Embedder + 'static,
        F: FnOnce() -> Result<E> + Send + 'static,
        R: FnOnce(E) + Send + 'static,
    {
        if config.queue_capacity == 0 || config.max_batch == 0 {
            return Err(Error::Param {
                name: "queue_capacity",
                message: format!(
                    "queue capacity and max batch must be at least 1 (got {} and {})",
                    config.queue_capacity, config.max_batch
                ),
            });
        }
        let m = model.manifest();
        let channels = m.raw_columns.len();
        let mut config = config;
        let dim = config.params.bind_model(&model)?;
        // Built here, not on the stage threads, so that bad settings (fps below the model's,
        // hop 0, K = 0) are refused before anything starts.
        let windowing = Windowing::new(&model, config.fps, config.params.engine.hop)?;
        let labeler = StreamLabeler::new(&config.params, dim, config.fps)?;

        let cap = config.queue_capacity;
        // Under Drop the queues around the model hold one batch each, so that what waits
        // there (and so the latency) stays bounded: beyond it windows are dropped.
        let model_cap = match config.when_full {
            WhenFull::Block => cap,
            WhenFull::Drop => config.max_batch,
        };
        let (frames_tx, frames_rx) = bounded::<FrameMsg>(cap);
        let (windows_tx, windows_rx) = bounded::<WindowMsg>(model_cap);
        let (emb_tx, emb_rx) = bounded::<EmbeddingMsg>(model_cap);
        let (out_tx, out_rx) = bounded::<Output>(cap);
        let (fail_tx, fail_rx) = bounded::<Error>(4);
        let shared = Shared {
            session: config.session,
            cancel: Arc::new(AtomicBool::new(false)),
            fail: fail_tx,
            dropped: Arc::new(AtomicU64::new(0)),
        };
        let id = config.session;
        let mut pipeline =
            Pipeline { session: id, threads: Vec::new(), cancel: shared.cancel.clone() };

        let sh = shared.clone();
        pipeline.spawn("ingest", move || ingest(sh, channels, source, frames_tx))?;
        let sh = shared.clone();
        let when_full = config.when_full;
        pipeline
            .spawn("window", move || window(sh, windowing, when_full, frames_rx, windows_tx))?;
        let sh = shared.clone();
        let (summary, max_batch) = (config.params.engine.summary, config.max_batch);
        pipeline.spawn("infer", move || {
            let mut inference = match embedder() {
                Ok(e) => WindowInference::new(model, e, summary),
                Err(e) => return sh.fail(e),
            };
            if infer(&sh, &mut inference, max_batch, windows_rx, emb_tx).is_ok() {
                release(inference.into_embedder());
            }
        })?;
        let sh = shared.clone();
        pipeline.spawn("cluster", move || cluster(sh, labeler, emb_rx, out_tx))?;
        let sh = shared;
        pipeline.spawn("emit", move || emit(sh, out_rx, fail_rx, sink))?;
        Ok(pipeline)
    }

    fn spawn(&mut self, stage: &str, f: impl FnOnce() + Send + 'static) -> Result<()> {
        let name = format!("s{}-{stage}", self.session);
        match std::thread::Builder::new().name(name.clone()).spawn(f) {
            Ok(h) => {
                self.threads.push(h);
                Ok(())
            }
            Err(e) => {
                // Stop the stages already running: they see the flag or their queues close.
                self.cancel.store(true, Ordering::Relaxed);
                Err(Error::Runtime {
                    context: format!("starting thread {name}"),
                    message: e.to_string(),
                })
            }
        }
    }

    /// Asks every stage to stop soon (used when the session must end without a summary).
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// Waits for every stage to finish. A stage that panicked is logged (its session already
    /// got an error from `emit`).
    pub fn join(self) {
        for h in self.threads {
            let name = h.thread().name().unwrap_or("?").to_owned();
            if h.join().is_err() {
                tracing::error!(thread = %name, "session stage panicked");
            }
        }
    }
}

fn invalid(session: u64, field: String, message: String) -> Error {
    Error::session(session, SessionErrorKind::InvalidInput, field, message)
}

/// Validates frames: channel count, finite values, strictly increasing sequence numbers.
fn ingest(sh: Shared, channels: usize, mut source: impl Source, tx: Sender<FrameMsg>) {
    let mut last_seq: Option<u64> = None;
    loop {
        if sh.cancelled() {
            return;
        }
        let msg = match source.next() {
            Ok(Inbound::Frame(f)) => {
                if let Err(e) = check_frame(sh.session, channels, last_seq, &f) {
                    return sh.fail(e);
                }
                last_seq = Some(f.seq);
                FrameMsg::Frame(f)
            }
            Ok(Inbound::End(reason)) => {
                let _ = tx.send(FrameMsg::End(reason));
                return;
            }
            Err(e) => return sh.fail(e),
        };
        if tx.send(msg).is_err() {
            return; // a later stage stopped
        }
    }
}

fn check_frame(session: u64, channels: usize, last_seq: Option<u64>, f: &Frame) -> Result<()> {
    let seq = f.seq;
    if let Some(last) = last_seq {
        if seq <= last {
            let what = if seq == last { "duplicate" } else { "out of order" };
            return Err(invalid(
                session,
                format!("frame seq={seq} seq"),
                format!("{what}: sequence numbers must increase strictly (the previous frame had {last})"),
            ));
        }
    }
    if f.values.len() != channels {
        return Err(invalid(
            session,
            format!("frame seq={seq} values"),
            format!(
                "expected {channels} values (the session's channels), found {}",
                f.values.len()
            ),
        ));
    }
    if let Some(i) = crate::window::first_bad_raw(&f.values) {
        return Err(invalid(
            session,
            format!("frame seq={seq} values[{i}]"),
            format!(
                "expected a finite number within ±{:e}, found {}",
                crate::window::MAX_RAW_VALUE,
                crate::error::num32(f.values[i])
            ),
        ));
    }
    Ok(())
}

/// Resampling, input transform and windowing; applies the [`WhenFull`] policy.
fn window(
    sh: Shared,
    mut windowing: Windowing,
    when_full: WhenFull,
    rx: Receiver<FrameMsg>,
    tx: Sender<WindowMsg>,
) {
    for (frames, msg) in (0u64..).zip(rx) {
        if sh.cancelled() {
            return;
        }
        let f = match msg {
            FrameMsg::Frame(f) => f,
            FrameMsg::End(reason) => {
                let _ = tx.send(WindowMsg::End { frames, reason });
                return;
            }
        };
        let (span, values) = match windowing.push(&f.values) {
            Ok(Some((span, w))) => (span, w.to_vec()),
            Ok(None) => continue,
            Err(e) => return sh.fail(e),
        };
        let msg = WindowMsg::Window { span, seq: f.seq, values };
        let sent = match when_full {
            WhenFull::Block => tx.send(msg).is_ok(),
            WhenFull::Drop => match tx.try_send(msg) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    sh.dropped.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Err(TrySendError::Disconnected(_)) => false,
            },
        };
        if !sent {
            return;
        }
    }
}

/// Runs the model, batching the windows that queued up while the previous batch ran. An
/// error (reported already) means the model runner may be unusable.
fn infer<E: Embedder>(
    sh: &Shared,
    inference: &mut WindowInference<E>,
    max_batch: usize,
    rx: Receiver<WindowMsg>,
    tx: Sender<EmbeddingMsg>,
) -> std::result::Result<(), ()> {
    let mut inputs: Vec<f32> = Vec::new();
    let mut spans: Vec<WindowSpan> = Vec::with_capacity(max_batch);
    let mut seqs: Vec<u64> = Vec::with_capacity(max_batch);
    let mut out: Vec<WindowEmbedding> = Vec::with_capacity(max_batch);
    while let Ok(first) = rx.recv() {
        let mut end = None;
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                WindowMsg::Window { span, seq, values } => {
                    inputs.extend_from_slice(&values);
                    spans.push(span);
                    seqs.push(seq);
                }
                WindowMsg::End { frames, reason } => {
                    end = Some(EmbeddingMsg::End { frames, reason });
                    break;
                }
            }
            if spans.len() < max_batch {
                next = rx.try_recv().ok();
            }
        }
        if sh.cancelled() {
            return Ok(());
        }
        if let Err(e) = inference.run(&inputs, &spans, &mut out) {
            sh.fail(e);
            return Err(());
        }
        for (embedding, seq) in out.drain(..).zip(seqs.drain(..)) {
            if tx.send(EmbeddingMsg::Window { embedding, seq }).is_err() {
                return Ok(());
            }
        }
        inputs.clear();
        spans.clear();
        if let Some(end) = end {
            let _ = tx.send(end);
            return Ok(());
        }
    }
    Ok(())
}

/// Online clustering and segmentation.
fn cluster(sh: Shared, mut labeler: StreamLabeler, rx: Receiver<EmbeddingMsg>, tx: Sender<Output>) {
    let mut windows = 0u64;
    for msg in rx {
        if sh.cancelled() {
            return;
        }
        match msg {
            EmbeddingMsg::Window { embedding, seq } => {
                let mut events = Vec::new();
                if let Err(e) = labeler.push_window(&embedding, &mut events) {
                    return sh.fail(e);
                }
                windows += 1;
                let out = Output::Window { span: embedding.span, completed_by_seq: seq, events };
                if tx.send(out).is_err() {
                    return;
                }
            }
            EmbeddingMsg::End { frames, reason } => {
                let mut final_events = Vec::new();
                let labeling = if windows == 0 && reason == EndReason::ServerShutdown {
                    // Shut down before the first window: no segments yet, as promised for a
                    // shutdown (the frames so far), not the client's error. A client that ends
                    // a stream shorter than one window gets the labeler's refusal.
                    Labeling {
                        windows: Vec::new(),
                        window_labels: Vec::new(),
                        frame_labels: vec![None; frames as usize],
                        segments: Vec::new(),
                    }
                } else {
                    match labeler.finish(frames as usize, &mut final_events) {
                        Ok(l) => l,
                        Err(e) => return sh.fail(e),
                    }
                };
                let summary = Summary {
                    final_events,
                    labeling,
                    frames,
                    windows,
                    windows_dropped: sh.dropped.load(Ordering::Relaxed),
                    reason,
                };
                let _ = tx.send(Output::Finished(Box::new(summary)));
                return;
            }
        }
    }
}

/// Delivers outputs to the sink; an error from any stage overtakes queued outputs.
fn emit(sh: Shared, rx: Receiver<Output>, fail_rx: Receiver<Error>, mut sink: impl Sink) {
    // The stages hold the error senders; this one is only for the disconnect check below.
    drop(sh.fail);
    loop {
        let out = select! {
            recv(fail_rx) -> e => match e {
                Ok(e) => Output::Failed(e),
                // Every stage has exited; the outputs queue tells the rest.
                Err(_) => match rx.recv() {
                    Ok(o) => o,
                    Err(_) => return stopped(sh.session, &mut sink),
                },
            },
            recv(rx) -> o => match o {
                Ok(o) => o,
                // The cluster stage stopped: a failure reported before it, or a panic.
                Err(_) => match fail_rx.try_recv() {
                    Ok(e) => Output::Failed(e),
                    Err(_) => return stopped(sh.session, &mut sink),
                },
            },
        };
        let last = matches!(out, Output::Finished(_) | Output::Failed(_));
        if !sink.send(out) {
            tracing::info!(session = sh.session, "client gone; stopping the session");
            sh.cancel.store(true, Ordering::Relaxed);
            return;
        }
        if last {
            // Upstream stages may still be draining after a failure.
            sh.cancel.store(true, Ordering::Relaxed);
            return;
        }
    }
}

fn stopped(session: u64, sink: &mut impl Sink) {
    let e = Error::Runtime {
        context: format!("session {session}"),
        message: "the pipeline stopped without a result (a stage panicked; see the server log)"
            .to_owned(),
    };
    sink.send(Output::Failed(e));
}
