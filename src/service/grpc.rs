//! `motionseg.v1.Segmentation` on tonic: the server, its Rust client and the generated protocol
//! types. The only module that imports tonic.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ndarray::Array2;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};

use super::pipeline::{
    self, EndReason, Frame, Inbound, Output, Pipeline, PipelineConfig, WhenFull,
};
use super::ServiceConfig;
use crate::embed::ort::SessionPool;
use crate::engine::EngineModel;
use crate::error::{Error, Result, SessionErrorKind};
use crate::labeler::LabelerParams;
use crate::segment::{Segment, SegmentEvent};
use crate::window::WindowSpan;

/// The protocol types generated from `proto/motionseg/v1/motionseg.proto` (prost messages,
/// tonic client and server), for Rust clients that speak the protocol directly.
#[allow(missing_docs, clippy::all, clippy::pedantic, rustdoc::all)]
pub mod proto {
    tonic::include_proto!("motionseg.v1");
}

use proto::client_message::Msg as ClientMsg;
use proto::segment_event::Kind;
use proto::segmentation_server::{Segmentation, SegmentationServer};
use proto::server_message::Msg as ServerMsg;
use proto::{ClientMessage, ServerMessage};

// ------------------------------------------------------------------------------------ errors

fn status(e: &Error) -> Status {
    let msg = e.to_string();
    match e {
        Error::Session { kind, .. } => match kind {
            SessionErrorKind::InvalidInput => Status::invalid_argument(msg),
            SessionErrorKind::UnknownModel => Status::not_found(msg),
            SessionErrorKind::Busy => Status::resource_exhausted(msg),
            SessionErrorKind::IdleTimeout => Status::deadline_exceeded(msg),
            SessionErrorKind::Disconnected => Status::cancelled(msg),
            SessionErrorKind::ShuttingDown => Status::unavailable(msg),
        },
        // Settings the client chose (fps, hop, K) that the engine refused.
        Error::Param { .. } | Error::Shape { .. } => Status::invalid_argument(msg),
        _ => Status::internal(msg),
    }
}

/// A status the server sent, as the crate's error (client side).
fn from_status(s: &Status) -> Error {
    let kind = match s.code() {
        tonic::Code::InvalidArgument => SessionErrorKind::InvalidInput,
        tonic::Code::NotFound => SessionErrorKind::UnknownModel,
        tonic::Code::ResourceExhausted => SessionErrorKind::Busy,
        tonic::Code::DeadlineExceeded => SessionErrorKind::IdleTimeout,
        tonic::Code::Cancelled => SessionErrorKind::Disconnected,
        tonic::Code::Unavailable => SessionErrorKind::ShuttingDown,
        code => {
            return Error::Runtime {
                context: "motionseg server".to_owned(),
                message: format!("{code:?}: {}", s.message()),
            }
        }
    };
    Error::session(0, kind, format!("server status {:?}", s.code()), s.message())
}

// ------------------------------------------------------------------------------------ server

struct Inner {
    config: ServiceConfig,
    /// Idle model runners per model, reused across sessions (see [`SessionPool`]).
    pools: Vec<(String, Arc<SessionPool>)>,
    permits: Arc<Semaphore>,
    next_id: AtomicU64,
    shutdown: watch::Receiver<bool>,
}

struct Service {
    inner: Arc<Inner>,
}

type ServerItem = std::result::Result<ServerMessage, Status>;

#[tonic::async_trait]
impl Segmentation for Service {
    type SegmentStream = ReceiverStream<ServerItem>;

    async fn segment(
        &self,
        request: Request<Streaming<ClientMessage>>,
    ) -> std::result::Result<Response<Self::SegmentStream>, Status> {
        let inner = &self.inner;
        let id = inner.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        if *inner.shutdown.borrow() {
            let e = Error::session(id, SessionErrorKind::ShuttingDown, "server", "shutting down");
            return Err(status(&e));
        }
        let Ok(permit) = inner.permits.clone().try_acquire_owned() else {
            let max = inner.config.max_sessions;
            tracing::warn!(session = id, max, "session refused: at the session cap");
            let e = Error::session(
                id,
                SessionErrorKind::Busy,
                "sessions",
                format!("the server already runs its maximum of {max} sessions; try again later"),
            );
            return Err(status(&e));
        };
        let (tx, rx) = mpsc::channel(inner.config.queue_capacity);
        tokio::spawn(session(inner.clone(), id, request.into_inner(), tx, permit));
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn list_models(
        &self,
        _request: Request<proto::ListModelsRequest>,
    ) -> std::result::Result<Response<proto::ListModelsResponse>, Status> {
        let models = self.inner.config.models.iter().enumerate().map(|(i, (name, model))| {
            let m = model.manifest();
            // The labeling default's layout: decoder modes, then the pose statistics.
            let dim = LabelerParams::new(None).bind_model(model).unwrap_or(0);
            proto::ModelInfo {
                name: name.to_owned(),
                is_default: i == 0,
                channels: m.raw_columns.len() as u32,
                raw_columns: m.raw_columns.clone(),
                joints: m.raw_joints.clone(),
                model_fps: m.model_fps,
                t_e: m.t_e as u32,
                t_d: m.t_d as u32,
                state_dim: m.state_dim as u32,
                embedding_dim: dim as u32,
                onnx_sha256: m.onnx_sha256.clone(),
            }
        });
        Ok(Response::new(proto::ListModelsResponse { models: models.collect() }))
    }

    async fn health(
        &self,
        _request: Request<proto::HealthRequest>,
    ) -> std::result::Result<Response<proto::HealthResponse>, Status> {
        let inner = &self.inner;
        let max = inner.config.max_sessions;
        let active = max.saturating_sub(inner.permits.available_permits());
        let serving = if *inner.shutdown.borrow() {
            proto::health_response::Status::NotServing
        } else {
            proto::health_response::Status::Serving
        };
        Ok(Response::new(proto::HealthResponse {
            status: serving as i32,
            active_sessions: active as u32,
            max_sessions: max as u32,
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }))
    }
}

/// One session, from its first message to its last output; holds a slot of the session cap.
async fn session(
    inner: Arc<Inner>,
    id: u64,
    inbound: Streaming<ClientMessage>,
    tx: mpsc::Sender<ServerItem>,
    permit: OwnedSemaphorePermit,
) {
    let started = Instant::now();
    match start_session(&inner, id, inbound, tx.clone()).await {
        Ok(pipeline) => {
            // The stages are plain threads: wait for them off the async workers.
            if tokio::task::spawn_blocking(move || pipeline.join()).await.is_err() {
                tracing::error!(session = id, "joining the session's stages failed");
            }
        }
        Err(e) => {
            tracing::warn!(session = id, error = %e, "session refused");
            let _ = tx.send(Err(status(&e))).await;
        }
    }
    drop(permit);
    tracing::info!(session = id, seconds = started.elapsed().as_secs_f64(), "session ended");
}

async fn start_session(
    inner: &Inner,
    id: u64,
    mut inbound: Streaming<ClientMessage>,
    tx: mpsc::Sender<ServerItem>,
) -> Result<Pipeline> {
    let config = &inner.config;
    let mut shutdown = inner.shutdown.clone();
    let first = next_message(id, &mut inbound, config.idle_timeout, &mut shutdown, None).await?;
    let start = match first {
        Next::Message(ClientMsg::Start(s)) => s,
        Next::Message(_) => {
            return Err(invalid(id, "start", "the first message must be a SessionStart"));
        }
        Next::End(_) => {
            return Err(invalid(id, "start", "the stream ended before a SessionStart"));
        }
    };
    let (name, model) = config.models.get(&start.model).ok_or_else(|| {
        let names: Vec<&str> = config.models.iter().map(|(n, _)| n).collect();
        Error::session(
            id,
            SessionErrorKind::UnknownModel,
            "start.model",
            format!("no model {:?}; this server has {}", start.model, names.join(", ")),
        )
    })?;
    let params = session_params(id, &start, model)?;
    let when_full = match proto::DropPolicy::try_from(start.drop_policy) {
        Ok(proto::DropPolicy::Block) => WhenFull::Block,
        Ok(proto::DropPolicy::Drop) => WhenFull::Drop,
        Err(_) => {
            return Err(invalid(
                id,
                "start.drop_policy",
                format!("unknown value {}", start.drop_policy),
            ))
        }
    };
    let m = model.manifest();
    // The engine's ratio (a rounded rate snaps to the whole multiple), checked with the start.
    let ratio = crate::window::input_ratio(start.fps, m.model_fps)?;
    let started = proto::SessionStarted {
        session_id: id,
        model: name.to_owned(),
        window_frames: (m.t_e as f64 * ratio).round() as u32,
        hop_frames: params.engine.hop as f64 * ratio,
    };
    tracing::info!(
        session = id,
        model = name,
        fps = start.fps,
        skeleton = %start.skeleton,
        actions = ?start.actions,
        policy = ?when_full,
        "session started"
    );
    if tx.send(Ok(server(ServerMsg::Started(started)))).await.is_err() {
        return Err(Error::session(id, SessionErrorKind::Disconnected, "stream", "client gone"));
    }
    let (done_tx, done_rx) = watch::channel(false);
    let source = GrpcSource {
        id,
        handle: tokio::runtime::Handle::current(),
        inbound,
        idle: config.idle_timeout,
        shutdown,
        done: done_rx,
    };
    let sink = GrpcSink { id, tx, done: done_tx, fps: start.fps };
    let cfg = PipelineConfig {
        session: id,
        fps: start.fps,
        params,
        queue_capacity: config.queue_capacity,
        max_batch: config.max_batch,
        when_full,
    };
    let pool =
        inner.pools.iter().find(|(n, _)| n == name).map(|(_, p)| p.clone()).ok_or_else(|| {
            Error::Runtime {
                context: format!("session {id}"),
                message: format!("no runner pool for model {name:?}"),
            }
        })?;
    let back = pool.clone();
    Pipeline::start(
        cfg,
        model.clone(),
        move || pool.take(),
        move |e| back.give_back(e),
        source,
        sink,
    )
}

fn invalid(id: u64, field: &str, message: impl Into<String>) -> Error {
    Error::session(id, SessionErrorKind::InvalidInput, field, message)
}

/// Live segment events every this many windows unless the session says otherwise: about once
/// a second at the default hop (7.5 windows/s), which keeps the relabeling cost small.
const DEFAULT_PROVISIONAL_EVERY: usize = 8;

/// Checks a `SessionStart` against the model and builds the session's labeling settings.
fn session_params(
    id: u64,
    start: &proto::SessionStart,
    model: &EngineModel,
) -> Result<LabelerParams> {
    let m = model.manifest();
    let want = m.raw_columns.len();
    if start.channels as usize != want {
        return Err(invalid(
            id,
            "start.channels",
            format!(
                "expected {want} (the model's raw channels: {}), found {}",
                m.raw_columns.join(" "),
                start.channels
            ),
        ));
    }
    if let Err(e) = m.check_input("start", want, &start.joints) {
        return Err(invalid(id, "start.joints", e.to_string()));
    }
    // The engine's own rate check (a rounded 29.99994 fps is the model's 30).
    if crate::window::input_ratio(start.fps, m.model_fps).is_err() {
        return Err(invalid(
            id,
            "start.fps",
            format!(
                "expected a frame rate of at least {} (the model's), found {}",
                m.model_fps,
                crate::error::num(start.fps)
            ),
        ));
    }
    if start.actions == Some(0) {
        return Err(invalid(
            id,
            "start.actions",
            "K must be at least 1 (leave it out to infer it)",
        ));
    }
    let mut params = LabelerParams::new(start.actions.map(|k| k as usize));
    params.streaming = true;
    params.engine.batch = 1;
    if let Some(hop) = start.hop {
        if hop == 0 {
            return Err(invalid(id, "start.hop", "must be at least 1 model frame"));
        }
        params.engine.hop = hop as usize;
    }
    params.provisional_every =
        start.provisional_every.map_or(DEFAULT_PROVISIONAL_EVERY, |n| n as usize);
    if let Some(min) = start.min_segment_frames {
        if min == 0 {
            return Err(invalid(id, "start.min_segment_frames", "must be at least 1 frame"));
        }
        params.min_segment_frames = min as usize;
    }
    if let Some(penalty) = start.boundary_penalty {
        if !(penalty.is_finite() && penalty >= 0.0) {
            return Err(invalid(
                id,
                "start.boundary_penalty",
                format!("expected a finite value of at least 0, found {penalty}"),
            ));
        }
        if let crate::labeler::Method::Segments(sp) = &mut params.method {
            sp.penalty = penalty;
        }
    }
    Ok(params)
}

enum Next {
    Message(ClientMsg),
    End(EndReason),
}

/// The next client message, or the end of input (half-close, shutdown, session over).
async fn next_message(
    id: u64,
    inbound: &mut Streaming<ClientMessage>,
    idle: Duration,
    shutdown: &mut watch::Receiver<bool>,
    done: Option<&mut watch::Receiver<bool>>,
) -> Result<Next> {
    let done = async {
        match done {
            Some(d) => signalled(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        biased;
        () = signalled(shutdown) => Ok(Next::End(EndReason::ServerShutdown)),
        () = done => Ok(Next::End(EndReason::ClientEnd)),
        got = tokio::time::timeout(idle, inbound.message()) => match got {
            Err(_) => Err(Error::session(
                id,
                SessionErrorKind::IdleTimeout,
                "stream",
                format!("no message for {:.1} s (the server's idle timeout)", idle.as_secs_f64()),
            )),
            Ok(Err(s)) => Err(Error::session(
                id,
                SessionErrorKind::Disconnected,
                "stream",
                format!("the client went away mid-stream ({:?}: {})", s.code(), s.message()),
            )),
            Ok(Ok(None)) => Ok(Next::End(EndReason::ClientEnd)),
            Ok(Ok(Some(ClientMessage { msg: None }))) => {
                Err(invalid(id, "message", "an empty ClientMessage (no start, frame or end)"))
            }
            Ok(Ok(Some(ClientMessage { msg: Some(m) }))) => Ok(Next::Message(m)),
        },
    }
}

/// Resolves once the flag is set; never if its sender is gone without setting it.
async fn signalled(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|v| *v).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The request stream as a pipeline [`Source`](pipeline::Source); runs on the ingest thread.
struct GrpcSource {
    id: u64,
    handle: tokio::runtime::Handle,
    inbound: Streaming<ClientMessage>,
    idle: Duration,
    shutdown: watch::Receiver<bool>,
    /// Set by the sink once the session's last output went out.
    done: watch::Receiver<bool>,
}

impl pipeline::Source for GrpcSource {
    fn next(&mut self) -> Result<Inbound> {
        let GrpcSource { id, handle, inbound, idle, shutdown, done } = self;
        let next = handle.block_on(next_message(*id, inbound, *idle, shutdown, Some(done)));
        match next {
            Ok(Next::Message(ClientMsg::Frame(f))) => {
                Ok(Inbound::Frame(Frame { seq: f.seq, values: f.values }))
            }
            Ok(Next::Message(ClientMsg::End(_))) => Ok(Inbound::End(EndReason::ClientEnd)),
            Ok(Next::Message(ClientMsg::Start(_))) => {
                Err(invalid(*id, "start", "a second SessionStart in one session"))
            }
            Ok(Next::End(reason)) => Ok(Inbound::End(reason)),
            Err(e) => {
                tracing::warn!(session = *id, error = %e, "session input failed");
                Err(e)
            }
        }
    }
}

/// The response stream as a pipeline [`Sink`](pipeline::Sink); runs on the emit thread.
struct GrpcSink {
    id: u64,
    tx: mpsc::Sender<ServerItem>,
    done: watch::Sender<bool>,
    fps: f64,
}

impl pipeline::Sink for GrpcSink {
    fn send(&mut self, out: Output) -> bool {
        let mut items: Vec<ServerItem> = Vec::new();
        let mut last = false;
        match out {
            Output::Window { span, completed_by_seq, events } => {
                for e in &events {
                    items.push(Ok(server(ServerMsg::Event(event_to_proto(
                        Some(span.index),
                        e,
                        self.fps,
                    )))));
                }
                items.push(Ok(server(ServerMsg::Window(proto::WindowProcessed {
                    window: span.index,
                    first_frame: span.first_frame as u64,
                    last_frame: span.last_frame as u64,
                    completed_by_seq,
                }))));
            }
            Output::Finished(s) => {
                last = true;
                for e in &s.final_events {
                    items.push(Ok(server(ServerMsg::Event(event_to_proto(None, e, self.fps)))));
                }
                let reason = match s.reason {
                    EndReason::ClientEnd => proto::EndReason::ClientEnd,
                    EndReason::ServerShutdown => proto::EndReason::ServerShutdown,
                };
                tracing::info!(
                    session = self.id,
                    frames = s.frames,
                    windows = s.windows,
                    dropped = s.windows_dropped,
                    segments = s.labeling.segments.len(),
                    reason = ?s.reason,
                    "session finished"
                );
                items.push(Ok(server(ServerMsg::Summary(proto::SessionSummary {
                    segments: s
                        .labeling
                        .segments
                        .iter()
                        .map(|g| segment_to_proto(g, self.fps))
                        .collect(),
                    frames_received: s.frames,
                    windows: s.windows,
                    windows_dropped: s.windows_dropped,
                    reason: reason as i32,
                }))));
            }
            Output::Failed(e) => {
                last = true;
                tracing::warn!(session = self.id, error = %e, "session failed");
                items.push(Err(status(&e)));
            }
        }
        for item in items {
            if self.tx.blocking_send(item).is_err() {
                let _ = self.done.send(true);
                return false;
            }
        }
        if last {
            let _ = self.done.send(true);
        }
        true
    }
}

fn server(msg: ServerMsg) -> ServerMessage {
    ServerMessage { msg: Some(msg) }
}

fn label_to_proto(l: Option<usize>) -> Option<u32> {
    l.map(|l| l as u32)
}

fn segment_to_proto(s: &Segment, fps: f64) -> proto::Segment {
    proto::Segment {
        id: s.id,
        start_frame: s.start as u64,
        end_frame: s.end as u64,
        start_s: s.start_s(fps),
        end_s: s.end_s(fps),
        label: label_to_proto(s.label),
        confidence: s.confidence,
    }
}

fn segment_from_proto(g: &proto::Segment) -> Segment {
    Segment {
        id: g.id,
        start: g.start_frame as usize,
        end: g.end_frame as usize,
        label: g.label.map(|l| l as usize),
        confidence: g.confidence,
    }
}

fn event_to_proto(window: Option<u64>, e: &SegmentEvent, fps: f64) -> proto::SegmentEvent {
    let kind = match e {
        SegmentEvent::Opened { id, label, start } => Kind::Opened(proto::Opened {
            id: *id,
            label: label_to_proto(*label),
            start_frame: *start as u64,
        }),
        SegmentEvent::Extended { id, end } => {
            Kind::Extended(proto::Extended { id: *id, end_frame: *end as u64 })
        }
        SegmentEvent::Closed { id, end } => {
            Kind::Closed(proto::Closed { id: *id, end_frame: *end as u64 })
        }
        SegmentEvent::Relabel { from, to, segments } => Kind::Relabel(proto::Relabel {
            from: *from as u32,
            to: *to as u32,
            segments: segments.clone(),
        }),
        SegmentEvent::Merged { into, absorbed, end } => {
            Kind::Merged(proto::Merged { into: *into, absorbed: *absorbed, end_frame: *end as u64 })
        }
        SegmentEvent::Finalized { through } => {
            Kind::Finalized(proto::Finalized { through_frame: *through as u64 })
        }
        SegmentEvent::Revised { segments } => Kind::Revised(proto::Revised {
            segments: segments.iter().map(|s| segment_to_proto(s, fps)).collect(),
        }),
    };
    proto::SegmentEvent { window, kind: Some(kind) }
}

fn event_from_proto(e: &proto::SegmentEvent) -> Option<SegmentEvent> {
    let label = |l: Option<u32>| l.map(|l| l as usize);
    Some(match e.kind.as_ref()? {
        Kind::Opened(o) => {
            SegmentEvent::Opened { id: o.id, label: label(o.label), start: o.start_frame as usize }
        }
        Kind::Extended(x) => SegmentEvent::Extended { id: x.id, end: x.end_frame as usize },
        Kind::Closed(c) => SegmentEvent::Closed { id: c.id, end: c.end_frame as usize },
        Kind::Relabel(r) => SegmentEvent::Relabel {
            from: r.from as usize,
            to: r.to as usize,
            segments: r.segments.clone(),
        },
        Kind::Merged(m) => {
            SegmentEvent::Merged { into: m.into, absorbed: m.absorbed, end: m.end_frame as usize }
        }
        Kind::Finalized(f) => SegmentEvent::Finalized { through: f.through_frame as usize },
        Kind::Revised(r) => {
            SegmentEvent::Revised { segments: r.segments.iter().map(segment_from_proto).collect() }
        }
    })
}

/// Serves `config` on `listener` until `shutdown` resolves; then ends every session's input,
/// sends each client its final segments and returns once all connections have closed.
pub async fn serve(
    listener: std::net::TcpListener,
    config: ServiceConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    serve_when_ready(listener, config, shutdown, |_| {}).await
}

/// [`serve`], calling `ready` with the address once the model runners are warm and the server
/// is about to accept sessions.
pub async fn serve_when_ready(
    listener: std::net::TcpListener,
    config: ServiceConfig,
    shutdown: impl Future<Output = ()> + Send,
    ready: impl FnOnce(SocketAddr),
) -> Result<()> {
    config.validate()?;
    let addr = listener.local_addr().map_err(|e| Error::io("<listener>", e))?;
    listener.set_nonblocking(true).map_err(|e| Error::io(addr.to_string(), e))?;
    let listener =
        tokio::net::TcpListener::from_std(listener).map_err(|e| Error::io(addr.to_string(), e))?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let pools: Vec<(String, Arc<SessionPool>)> = config
        .models
        .iter()
        .map(|(name, model)| {
            let pool = SessionPool::new(model.clone(), config.ort_threads, config.max_sessions);
            (name.to_owned(), Arc::new(pool))
        })
        .collect();
    // Runners made before the first client arrives (off the async workers: it is slow).
    let warm = config.warm_runners.min(config.max_sessions);
    let to_warm = pools.clone();
    tokio::task::spawn_blocking(move || -> Result<()> {
        for (_, pool) in &to_warm {
            let runners = (0..warm).map(|_| pool.take()).collect::<Result<Vec<_>>>()?;
            runners.into_iter().for_each(|r| pool.give_back(r));
        }
        Ok(())
    })
    .await
    .map_err(|e| Error::Runtime {
        context: "warming model runners".to_owned(),
        message: e.to_string(),
    })??;
    let inner = Arc::new(Inner {
        permits: Arc::new(Semaphore::new(config.max_sessions)),
        pools,
        config,
        next_id: AtomicU64::new(0),
        shutdown: stop_rx,
    });
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: ending every session and sending its final segments");
        let _ = stop_tx.send(true);
    };
    tracing::info!(%addr, "motionseg service listening");
    ready(addr);
    tonic::transport::Server::builder()
        .add_service(SegmentationServer::new(Service { inner }))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), signal)
        .await
        .map_err(|e| Error::Runtime {
            context: format!("serving on {addr}"),
            message: e.to_string(),
        })
}

fn runtime(name: &str) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().thread_name(name).build().map_err(
        |e| Error::Runtime {
            context: format!("starting the {name} runtime"),
            message: e.to_string(),
        },
    )
}

/// Serves on `listener` until ctrl-c (then shuts down gracefully, see [`serve`]); calls
/// `ready` once sessions are accepted. Blocks.
pub fn run_until_ctrl_c(
    listener: std::net::TcpListener,
    config: ServiceConfig,
    ready: impl FnOnce(SocketAddr),
) -> Result<()> {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            // Without a signal handler the server runs until killed.
            std::future::pending::<()>().await;
        }
    };
    runtime("motionseg-serve")?.block_on(serve_when_ready(listener, config, ctrl_c, ready))
}

/// A server running on its own thread and runtime (tests, benchmarks, embedding).
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

/// Starts [`serve`] on `listener` in a background thread and returns once it accepts
/// sessions; stop it with [`ServerHandle::shutdown`] (or by dropping the handle).
pub fn spawn_server(
    listener: std::net::TcpListener,
    config: ServiceConfig,
) -> Result<ServerHandle> {
    let addr = listener.local_addr().map_err(|e| Error::io("<listener>", e))?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let rt = runtime("motionseg-serve")?;
    let thread = std::thread::Builder::new()
        .name("motionseg-serve".to_owned())
        .spawn(move || {
            let stopped = async {
                let _ = stopped.await;
            };
            rt.block_on(serve_when_ready(listener, config, stopped, move |_| {
                let _ = ready_tx.send(());
            }))
        })
        .map_err(|e| Error::Runtime {
            context: "starting the server thread".to_owned(),
            message: e.to_string(),
        })?;
    let mut handle = ServerHandle { addr, stop: Some(stop), thread: Some(thread) };
    if ready_rx.recv().is_err() {
        // The server stopped before it was ready: its error says why.
        handle.stop_and_join()?;
        return Err(Error::Runtime {
            context: format!("starting the server on {addr}"),
            message: "it stopped before accepting sessions".to_owned(),
        });
    }
    Ok(handle)
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, for [`replay`].
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Shuts down gracefully (every client gets its final segments) and waits for the server.
    pub fn shutdown(mut self) -> Result<()> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(Error::Runtime {
                context: "motionseg server".to_owned(),
                message: "the server thread panicked".to_owned(),
            }),
            None => Ok(()),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Err(e) = self.stop_and_join() {
            tracing::error!(error = %e, "server shutdown failed");
        }
    }
}

// ------------------------------------------------------------------------------------ client

/// How [`replay`] streams a take.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Model name (empty: the server's default).
    pub model: String,
    /// Number of actions K, when known.
    pub actions: Option<u32>,
    /// Model frames between windows (None: the server's default).
    pub hop: Option<u32>,
    /// Minimum segment length in input frames (None: the server's default).
    pub min_segment_frames: Option<u32>,
    /// The session's policy when the server's model falls behind.
    pub when_full: WhenFull,
    /// Playback speed: 1 = the take's own frame rate, 2 = twice as fast, 0 = as fast as the
    /// server accepts frames.
    pub speed: f64,
    /// Joint names of the take's layout (checked by the server when given).
    pub joints: Vec<String>,
    /// Skeleton name for the server's log.
    pub skeleton: String,
    /// Send frames only up to this many (None: the whole take).
    pub max_frames: Option<usize>,
    /// Provisional labels every this many windows (None: the server's default; 0: only the
    /// final segments).
    pub provisional_every: Option<u32>,
    /// Boundaries: optimal partitioning with this cost per segment, 0 = change-score peaks
    /// (None: the server's default, partitioning).
    pub boundary_penalty: Option<f32>,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            model: String::new(),
            actions: None,
            hop: None,
            min_segment_frames: None,
            when_full: WhenFull::Block,
            speed: 1.0,
            joints: Vec::new(),
            skeleton: String::new(),
            max_frames: None,
            provisional_every: None,
            boundary_penalty: None,
        }
    }
}

/// What the server sent, as the client sees it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum LiveMessage {
    /// The session was accepted.
    Started {
        /// Server-assigned session id.
        session: u64,
        /// The model used.
        model: String,
        /// Input frames per window (the algorithmic delay).
        window_frames: u32,
        /// Input frames between windows.
        hop_frames: f64,
    },
    /// A segment event; `window` is the window that caused it (None at the end of input).
    Event {
        /// The window whose processing produced the event.
        window: Option<u64>,
        /// The event.
        event: SegmentEvent,
    },
    /// A window was clustered.
    Window {
        /// The window.
        span: WindowSpan,
        /// Sequence number of the frame that completed it.
        completed_by_seq: u64,
    },
    /// The session ended; the last message.
    Summary(LiveSummary),
}

/// The end of a live session.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveSummary {
    /// Final segments, in time order.
    pub segments: Vec<Segment>,
    /// Frames the server received.
    pub frames_received: u64,
    /// Windows clustered.
    pub windows: u64,
    /// Windows dropped by the drop policy.
    pub windows_dropped: u64,
    /// Why the session ended.
    pub reason: EndReason,
}

impl LiveMessage {
    /// One JSON object per message (for JSON-lines output).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            LiveMessage::Started { session, model, window_frames, hop_frames } => {
                serde_json::json!({"type": "started", "session": session, "model": model,
                    "window_frames": window_frames, "hop_frames": hop_frames})
            }
            LiveMessage::Event { window, event } => {
                serde_json::json!({"type": "event", "window": window, "event": event})
            }
            LiveMessage::Window { span, completed_by_seq } => serde_json::json!({
                "type": "window", "window": span.index, "first_frame": span.first_frame,
                "last_frame": span.last_frame, "completed_by_seq": completed_by_seq}),
            LiveMessage::Summary(s) => serde_json::json!({
                "type": "summary", "segments": s.segments.len(), "frames_received": s.frames_received,
                "windows": s.windows, "windows_dropped": s.windows_dropped,
                "reason": match s.reason { EndReason::ClientEnd => "client_end", EndReason::ServerShutdown => "server_shutdown" }}),
        }
    }
}

/// What a [`replay`] measured.
#[derive(Debug, Clone)]
pub struct ReplayReport {
    /// The session's end.
    pub summary: LiveSummary,
    /// Frames sent.
    pub frames_sent: u64,
    /// Per clustered window: from sending the frame that completed it to receiving its
    /// `WindowProcessed` (the latency the service added beyond the window's own length).
    pub latencies: Vec<Duration>,
    /// How far the sender fell behind the take's schedule at worst (0 at speed 0).
    pub max_send_lag: Duration,
    /// Algorithmic delay of a window, in input frames (from `SessionStarted`).
    pub window_frames: u32,
}

fn remote(context: &str, e: impl std::fmt::Display) -> Error {
    Error::Runtime { context: context.to_owned(), message: e.to_string() }
}

/// Streams `frames` (`[frames, channels]` raw canonical rows at `fps`) to the server at `url`
/// in one session, calling `on_message` with every message the server sends, and returns the
/// final summary with timing. A status from the server becomes an [`Error::Session`].
/// A `speed` whose schedule would take longer than a week is refused.
pub async fn replay(
    url: &str,
    frames: Array2<f32>,
    fps: f64,
    options: &ReplayOptions,
    mut on_message: impl FnMut(&LiveMessage),
) -> Result<ReplayReport> {
    if !(options.speed.is_finite() && options.speed >= 0.0) {
        return Err(Error::Param {
            name: "speed",
            message: format!("must be 0 (as fast as possible) or positive, got {}", options.speed),
        });
    }
    let n = options.max_frames.map_or(frames.nrows(), |m| m.min(frames.nrows()));
    if options.speed > 0.0 {
        // The last frame is due at (n - 1) / (fps · speed) s: refuse a schedule that cannot be
        // timed or would take longer than a week, rather than panic or wait for ever.
        let last = n.saturating_sub(1) as f64 / (fps * options.speed);
        if !(last.is_finite() && last <= MAX_REPLAY_SECONDS) {
            return Err(Error::Param {
                name: "speed",
                message: format!(
                    "{} would send the {n} frames at {} fps over {last:.3e} s (at most {} s, \
                     one week)",
                    crate::error::num(options.speed),
                    crate::error::num(fps),
                    MAX_REPLAY_SECONDS
                ),
            });
        }
    }
    let mut client = proto::segmentation_client::SegmentationClient::connect(url.to_owned())
        .await
        .map_err(|e| remote(&format!("connecting to {url}"), e))?;
    let start = proto::SessionStart {
        model: options.model.clone(),
        channels: frames.ncols() as u32,
        joints: options.joints.clone(),
        skeleton: options.skeleton.clone(),
        fps,
        actions: options.actions,
        drop_policy: match options.when_full {
            WhenFull::Block => proto::DropPolicy::Block,
            WhenFull::Drop => proto::DropPolicy::Drop,
        } as i32,
        hop: options.hop,
        min_segment_frames: options.min_segment_frames,
        provisional_every: options.provisional_every,
        boundary_penalty: options.boundary_penalty,
    };
    // A small queue so that a frame counts as sent about when tonic takes it.
    let (tx, rx) = mpsc::channel::<ClientMessage>(4);
    let sent_at: Arc<Mutex<Vec<Instant>>> = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let sent = sent_at.clone();
    let speed = options.speed;
    let producer = tokio::spawn(async move {
        let client_msg = |m: ClientMsg| ClientMessage { msg: Some(m) };
        if tx.send(client_msg(ClientMsg::Start(start))).await.is_err() {
            return Duration::ZERO;
        }
        let t0 = tokio::time::Instant::now();
        let mut lag = Duration::ZERO;
        for (i, row) in frames.rows().into_iter().take(n).enumerate() {
            let due = (speed > 0.0).then(|| t0 + Duration::from_secs_f64(i as f64 / (fps * speed)));
            if let Some(due) = due {
                tokio::time::sleep_until(due).await;
            }
            let frame = proto::PoseFrame {
                seq: i as u64,
                timestamp_us: (i as f64 * 1e6 / fps).round() as i64,
                values: row.to_vec(),
            };
            if tx.send(client_msg(ClientMsg::Frame(frame))).await.is_err() {
                return lag;
            }
            let now = tokio::time::Instant::now();
            if let Ok(mut s) = sent.lock() {
                s.push(now.into_std());
            }
            if let Some(due) = due {
                lag = lag.max(now.saturating_duration_since(due));
            }
        }
        let _ = tx.send(client_msg(ClientMsg::End(proto::EndOfStream {}))).await;
        lag
    });
    let response = client.segment(ReceiverStream::new(rx)).await.map_err(|s| from_status(&s))?;
    let mut inbound = response.into_inner();
    let mut latencies = Vec::new();
    let mut window_frames = 0;
    let mut summary = None;
    loop {
        let msg = match inbound.message().await {
            Ok(Some(ServerMessage { msg: Some(m) })) => m,
            Ok(Some(ServerMessage { msg: None })) => continue,
            Ok(None) => break,
            Err(s) => {
                producer.abort();
                return Err(from_status(&s));
            }
        };
        let arrived = Instant::now();
        let live = match msg {
            ServerMsg::Started(s) => {
                window_frames = s.window_frames;
                LiveMessage::Started {
                    session: s.session_id,
                    model: s.model,
                    window_frames: s.window_frames,
                    hop_frames: s.hop_frames,
                }
            }
            ServerMsg::Event(e) => match event_from_proto(&e) {
                Some(event) => LiveMessage::Event { window: e.window, event },
                None => continue,
            },
            ServerMsg::Window(w) => {
                let sent =
                    sent_at.lock().ok().and_then(|s| s.get(w.completed_by_seq as usize).copied());
                if let Some(t) = sent {
                    latencies.push(arrived.saturating_duration_since(t));
                }
                LiveMessage::Window {
                    span: WindowSpan {
                        index: w.window,
                        first_frame: w.first_frame as usize,
                        last_frame: w.last_frame as usize,
                    },
                    completed_by_seq: w.completed_by_seq,
                }
            }
            ServerMsg::Summary(s) => {
                let segments = s.segments.iter().map(segment_from_proto).collect();
                let reason = match proto::EndReason::try_from(s.reason) {
                    Ok(proto::EndReason::ServerShutdown) => EndReason::ServerShutdown,
                    _ => EndReason::ClientEnd,
                };
                let live = LiveSummary {
                    segments,
                    frames_received: s.frames_received,
                    windows: s.windows,
                    windows_dropped: s.windows_dropped,
                    reason,
                };
                summary = Some(live.clone());
                LiveMessage::Summary(live)
            }
        };
        on_message(&live);
    }
    let max_send_lag =
        producer.await.map_err(|e| remote(&format!("replay to {url}: the frame sender"), e))?;
    let frames_sent = sent_at.lock().map_or(0, |s| s.len() as u64);
    let summary =
        summary.ok_or_else(|| remote(url, "the server closed the session without a summary"))?;
    Ok(ReplayReport { summary, frames_sent, latencies, max_send_lag, window_frames })
}

/// Longest schedule [`replay`] accepts: one week.
pub const MAX_REPLAY_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

/// [`replay`] on a runtime of its own, for synchronous callers (the CLI). Blocks.
pub fn replay_blocking(
    url: &str,
    frames: Array2<f32>,
    fps: f64,
    options: &ReplayOptions,
    on_message: impl FnMut(&LiveMessage),
) -> Result<ReplayReport> {
    runtime("motionseg-replay")?.block_on(replay(url, frames, fps, options, on_message))
}
