//! The live service over loopback gRPC: a replayed real take gives the batch labeling's final
//! segments, concurrent sessions stay independent, and every kind of bad input gets a clear
//! status without disturbing other sessions. Needs the ONNX Runtime library
//! (`scripts/setup.sh`; `MOTIONSEG_ORT_LIB` overrides) and the shipped model.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use motionseg::embed::ort::{find_runtime, init_runtime, OrtEmbedder};
use motionseg::engine::EngineModel;
use motionseg::features::motion_features;
use motionseg::ingest::{self, Input, LoadOptions};
use motionseg::labeler::{label_take, LabelerParams, Labeling};
use motionseg::segment::{Segment, SegmentEvent};
use motionseg::service::proto::{
    self, client_message::Msg, segmentation_client::SegmentationClient,
};
use motionseg::service::{
    replay, spawn_server, EndReason, LiveMessage, Models, ReplayOptions, ServerHandle,
    ServiceConfig,
};
use motionseg::Error;
use ndarray::{s, Array2};
use tokio_stream::StreamExt as _;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The shipped model with its basis, loaded once (the runtime is process-wide anyway).
fn model() -> EngineModel {
    static MODEL: OnceLock<EngineModel> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let lib = find_runtime(None).expect("ONNX Runtime library (run scripts/setup.sh)");
            init_runtime(&lib).expect("load ONNX Runtime");
            EngineModel::load(
                &repo("models/motionseg_default.json"),
                Some(&repo("models/motionseg_default.basis.json")),
            )
            .expect("shipped model and basis")
        })
        .clone()
}

struct Take {
    frames: Array2<f32>,
    fps: f64,
    joints: Vec<String>,
}

/// The bundled real take, CMU 86_01 (4579 frames at 120 fps).
fn take() -> &'static Take {
    static TAKE: OnceLock<Take> = OnceLock::new();
    TAKE.get_or_init(|| {
        let asf = repo("examples/data/86.asf");
        let opts = LoadOptions { asf: Some(&asf), fps: None };
        let Input::Motion(m) = ingest::load(&repo("examples/data/86_01.amc"), &opts).expect("take")
        else {
            panic!("an AMC take is motion");
        };
        let f = motion_features(&m).expect("features");
        Take { frames: f.data, fps: m.fps(), joints: f.joints }
    })
}

fn config() -> ServiceConfig {
    ServiceConfig::new(Models::new("default", model()).expect("models"))
}

fn start(config: ServiceConfig) -> ServerHandle {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("ephemeral port");
    spawn_server(listener, config).expect("server")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime")
}

fn batch_labeling(frames: &Array2<f32>, fps: f64, params: &LabelerParams) -> Labeling {
    let model = model();
    let emb = OrtEmbedder::new(model.model_bytes(), model.manifest(), 1).expect("session");
    label_take(&model, emb, frames.view(), fps, params, |_| {}).expect("batch labeling")
}

/// Applies events to id -> (start, end, label), as a client would.
fn apply(map: &mut BTreeMap<u64, (usize, usize, Option<usize>)>, e: &SegmentEvent) {
    match e {
        SegmentEvent::Opened { id, label, start } => {
            map.insert(*id, (*start, *start, *label));
        }
        SegmentEvent::Extended { id, end } | SegmentEvent::Closed { id, end } => {
            map.get_mut(id).expect("known id").1 = *end;
        }
        SegmentEvent::Relabel { to, segments, .. } => {
            for id in segments {
                map.get_mut(id).expect("known id").2 = Some(*to);
            }
        }
        SegmentEvent::Merged { into, absorbed, end } => {
            map.remove(absorbed).expect("absorbed id");
            map.get_mut(into).expect("into id").1 = *end;
        }
        SegmentEvent::Revised { segments } => {
            map.clear();
            map.extend(segments.iter().map(|s| (s.id, (s.start, s.end, s.label))));
        }
        SegmentEvent::Finalized { .. } => {}
        other => panic!("unexpected event {other:?}"),
    }
}

fn shape(segs: &[Segment]) -> Vec<(u64, usize, usize, Option<usize>)> {
    segs.iter().map(|s| (s.id, s.start, s.end, s.label)).collect()
}

#[test]
fn replayed_take_gives_the_batch_labeling() {
    let take = take();
    let server = start(config());
    // The default boundaries (optimal partitioning), then change-score peaks asked for by the
    // client: each replay equals the batch labeling with the same setting.
    let mut finals = Vec::new();
    for boundary_penalty in [None, Some(0.0)] {
        let options = ReplayOptions {
            actions: Some(4),
            speed: 0.0,
            joints: take.joints.clone(),
            boundary_penalty,
            ..Default::default()
        };
        let mut events = BTreeMap::new();
        let mut windows = 0u64;
        let mut live_events = 0usize;
        let mut started = None;
        let report = rt()
            .block_on(replay(&server.url(), take.frames.clone(), take.fps, &options, |m| match m {
                LiveMessage::Event { event, window } => {
                    live_events += usize::from(window.is_some());
                    apply(&mut events, event);
                }
                LiveMessage::Window { span, .. } => {
                    assert_eq!(span.index, windows, "windows arrive in order");
                    windows += 1;
                }
                LiveMessage::Started { window_frames, .. } => started = Some(*window_frames),
                _ => {}
            }))
            .expect("replay");

        let mut params = LabelerParams::new(Some(4));
        if let (Some(p), motionseg::labeler::Method::Segments(sp)) =
            (boundary_penalty, &mut params.method)
        {
            sp.penalty = p;
        }
        let batch = batch_labeling(&take.frames, take.fps, &params);
        let live = &report.summary;
        assert_eq!(live.frames_received, take.frames.nrows() as u64);
        assert_eq!(report.frames_sent, take.frames.nrows() as u64);
        assert_eq!(live.windows, batch.windows.len() as u64);
        assert_eq!((live.windows_dropped, live.reason), (0, EndReason::ClientEnd));
        assert_eq!(live.segments.len(), batch.segments.len());
        for (a, b) in live.segments.iter().zip(&batch.segments) {
            assert_eq!((a.id, a.start, a.end, a.label), (b.id, b.start, b.end, b.label));
            assert!((a.confidence - b.confidence).abs() < 1e-6);
        }
        // The events alone rebuild the final segments.
        let rebuilt: Vec<_> = events.into_iter().map(|(id, (s, e, l))| (id, s, e, l)).collect();
        assert_eq!(rebuilt, shape(&batch.segments));
        assert_eq!(windows, live.windows);
        assert!(live_events > 0, "provisional events flow while the take streams");
        assert_eq!(started, Some(200), "T_e = 50 model frames at 30 fps = 200 input frames");
        assert_eq!(report.latencies.len() as u64, live.windows);
        finals.push(shape(&batch.segments));
    }
    server.shutdown().expect("shutdown");
    assert_ne!(finals[0], finals[1], "the two boundary methods differ on this take");
}

/// Sends `msgs` as one session (keeping the request stream open for `hold` afterwards) and
/// returns what came back: the messages, then the status that ended the call (if any).
async fn raw_session(
    url: &str,
    msgs: Vec<proto::ClientMessage>,
    hold: Duration,
) -> (Vec<proto::server_message::Msg>, Option<tonic::Status>) {
    let mut client = SegmentationClient::connect(url.to_owned()).await.expect("connect");
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        for m in msgs {
            if tx.send(m).await.is_err() {
                return;
            }
        }
        tokio::time::sleep(hold).await;
    });
    let mut got = Vec::new();
    let mut stream = match client.segment(tokio_stream::wrappers::ReceiverStream::new(rx)).await {
        Ok(r) => r.into_inner(),
        Err(s) => return (got, Some(s)),
    };
    while let Some(item) = stream.next().await {
        match item {
            Ok(m) => got.extend(m.msg),
            Err(s) => return (got, Some(s)),
        }
    }
    (got, None)
}

fn start_msg(actions: Option<u32>) -> proto::ClientMessage {
    let take = take();
    proto::ClientMessage {
        msg: Some(Msg::Start(proto::SessionStart {
            channels: take.frames.ncols() as u32,
            fps: take.fps,
            actions,
            ..Default::default()
        })),
    }
}

fn frame_msg(seq: u64, values: Vec<f32>) -> proto::ClientMessage {
    proto::ClientMessage {
        msg: Some(Msg::Frame(proto::PoseFrame { seq, timestamp_us: 0, values })),
    }
}

/// The take's first `n` frames with sequence numbers 0..n.
fn frames(n: usize) -> Vec<proto::ClientMessage> {
    take()
        .frames
        .rows()
        .into_iter()
        .take(n)
        .enumerate()
        .map(|(i, r)| frame_msg(i as u64, r.to_vec()))
        .collect()
}

fn expect_status(
    got: &(Vec<proto::server_message::Msg>, Option<tonic::Status>),
    code: tonic::Code,
    needles: &[&str],
) {
    let s = got.1.as_ref().unwrap_or_else(|| panic!("expected {code:?}, the call ended cleanly"));
    assert_eq!(s.code(), code, "{s:?}");
    for n in needles {
        assert!(s.message().contains(n), "{:?} lacks {n:?}", s.message());
    }
}

#[test]
fn bad_input_gets_a_clear_status_naming_field_and_sequence() {
    let server = start(config());
    let url = server.url();
    let rt = rt();
    let run =
        |msgs: Vec<proto::ClientMessage>| rt.block_on(raw_session(&url, msgs, Duration::ZERO));
    let c = take().frames.ncols();
    let with = |n: usize, extra: Vec<proto::ClientMessage>| {
        let mut v = vec![start_msg(None)];
        v.extend(frames(n));
        v.extend(extra);
        v
    };

    let mut start = start_msg(None);
    if let Some(Msg::Start(s)) = &mut start.msg {
        s.boundary_penalty = Some(f32::NAN);
    }
    let got = run(vec![start]);
    expect_status(&got, tonic::Code::InvalidArgument, &["start.boundary_penalty", "NaN"]);

    let mut short = take().frames.row(5).to_vec();
    short.pop();
    let got = run(with(5, vec![frame_msg(5, short)]));
    expect_status(
        &got,
        tonic::Code::InvalidArgument,
        &["frame seq=5 values", &format!("expected {c} values"), "found 95"],
    );
    assert!(matches!(got.0.first(), Some(proto::server_message::Msg::Started(_))));

    let mut nan = take().frames.row(7).to_vec();
    nan[3] = f32::NAN;
    let got = run(with(7, vec![frame_msg(7, nan)]));
    expect_status(&got, tonic::Code::InvalidArgument, &["frame seq=7 values[3]", "finite", "NaN"]);

    let mut inf = take().frames.row(7).to_vec();
    inf[0] = f32::INFINITY;
    let got = run(with(7, vec![frame_msg(7, inf)]));
    expect_status(&got, tonic::Code::InvalidArgument, &["frame seq=7 values[0]", "inf"]);

    let mut huge = take().frames.row(7).to_vec();
    huge[2] = 3e30;
    let got = run(with(7, vec![frame_msg(7, huge)]));
    expect_status(&got, tonic::Code::InvalidArgument, &["frame seq=7 values[2]", "±1e6", "3e30"]);

    let got = run(with(10, vec![frame_msg(4, take().frames.row(10).to_vec())]));
    expect_status(
        &got,
        tonic::Code::InvalidArgument,
        &["frame seq=4 seq", "out of order", "previous frame had 9"],
    );

    let got = run(with(10, vec![frame_msg(9, take().frames.row(10).to_vec())]));
    expect_status(&got, tonic::Code::InvalidArgument, &["frame seq=9 seq", "duplicate"]);

    // Session starts.
    let got = run(vec![start_msg(Some(0))]);
    expect_status(&got, tonic::Code::InvalidArgument, &["start.actions", "at least 1"]);
    let mut unknown = start_msg(None);
    if let Some(Msg::Start(s)) = &mut unknown.msg {
        s.model = "walker-3000".to_owned();
    }
    let got = run(vec![unknown]);
    expect_status(&got, tonic::Code::NotFound, &["start.model", "walker-3000", "default"]);
    let mut wide = start_msg(None);
    if let Some(Msg::Start(s)) = &mut wide.msg {
        s.channels = 62;
    }
    expect_status(&run(vec![wide]), tonic::Code::InvalidArgument, &["start.channels", "found 62"]);
    let mut slow = start_msg(None);
    if let Some(Msg::Start(s)) = &mut slow.msg {
        s.fps = 10.0;
    }
    expect_status(&run(vec![slow]), tonic::Code::InvalidArgument, &["start.fps", "found 10"]);
    // A rounded frame time (29.99994 fps) is the model's 30: accepted, windows every 4 frames.
    let mut rounded = start_msg(None);
    if let Some(Msg::Start(s)) = &mut rounded.msg {
        s.fps = 1.0 / 0.033_333_4;
    }
    let mut msgs = vec![rounded];
    msgs.extend(frames(300));
    let got = run(msgs);
    assert!(got.1.is_none(), "{:?}", got.1);
    let Some(proto::server_message::Msg::Started(s)) = got.0.first() else {
        panic!("not started: {:?}", got.0.first());
    };
    assert_eq!((s.hop_frames, s.window_frames), (4.0, 50));
    let mut joints = start_msg(None);
    if let Some(Msg::Start(s)) = &mut joints.msg {
        s.joints = vec!["Hips".to_owned(); 31];
    }
    expect_status(&run(vec![joints]), tonic::Code::InvalidArgument, &["start.joints", "joint 0"]);
    expect_status(
        &run(frames(1)),
        tonic::Code::InvalidArgument,
        &["first message must be a SessionStart"],
    );
    expect_status(
        &run(vec![start_msg(None), start_msg(None)]),
        tonic::Code::InvalidArgument,
        &["second SessionStart"],
    );
    // A take shorter than one window, K given or not: the labeler's error, as a status (as
    // a file of those frames is refused), not an empty summary.
    for actions in [Some(3), None] {
        let mut short_take = vec![start_msg(actions)];
        short_take.extend(frames(20));
        expect_status(
            &run(short_take),
            tonic::Code::InvalidArgument,
            &["frames", "after 20 frames, before its first model window"],
        );
    }

    // The server is still fine.
    let got = run(with(300, vec![]));
    assert!(got.1.is_none(), "{:?}", got.1);
    assert!(matches!(got.0.last(), Some(proto::server_message::Msg::Summary(_))));
    server.shutdown().expect("shutdown");
}

#[test]
fn idle_sessions_time_out_and_the_cap_holds() {
    let mut cfg = config();
    cfg.idle_timeout = Duration::from_millis(400);
    cfg.max_sessions = 1;
    let server = start(cfg);
    let url = server.url();
    let rt = rt();
    // Never sends anything.
    let t = Instant::now();
    let got = rt.block_on(raw_session(&url, vec![], Duration::from_secs(5)));
    expect_status(&got, tonic::Code::DeadlineExceeded, &["idle timeout", "0.4 s"]);
    assert!(t.elapsed() < Duration::from_secs(3));
    // Starts, sends a few frames, then goes quiet.
    let mut msgs = vec![start_msg(None)];
    msgs.extend(frames(30));
    let got = rt.block_on(raw_session(&url, msgs, Duration::from_secs(5)));
    expect_status(&got, tonic::Code::DeadlineExceeded, &["idle timeout"]);

    // The cap: while one session is open, a second is refused.
    rt.block_on(async {
        // The failed sessions' slots are freed once their stages have stopped.
        wait_idle(&url).await;
        let first = tokio::spawn({
            let url = url.clone();
            async move { raw_session(&url, vec![start_msg(None)], Duration::from_secs(5)).await }
        });
        tokio::time::sleep(Duration::from_millis(150)).await;
        let second = raw_session(&url, vec![start_msg(None)], Duration::ZERO).await;
        expect_status(&second, tonic::Code::ResourceExhausted, &["maximum of 1 sessions"]);
        let first = first.await.expect("first");
        expect_status(&first, tonic::Code::DeadlineExceeded, &["idle timeout"]);
        wait_idle(&url).await;
    });
    // The slot is free again.
    let mut msgs = vec![start_msg(None)];
    msgs.extend(frames(300));
    let got = rt.block_on(raw_session(&url, msgs, Duration::ZERO));
    assert!(got.1.is_none(), "{:?}", got.1);
    server.shutdown().expect("shutdown");
}

/// Waits (at most 10 s) until the server runs no session.
async fn wait_idle(url: &str) {
    let t = Instant::now();
    while active_sessions(url).await > 0 {
        assert!(t.elapsed() < Duration::from_secs(10), "a session was not cleaned up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn active_sessions(url: &str) -> u32 {
    let mut client = SegmentationClient::connect(url.to_owned()).await.expect("connect");
    client.health(proto::HealthRequest {}).await.expect("health").into_inner().active_sessions
}

#[test]
fn a_client_that_disconnects_mid_stream_is_cleaned_up() {
    let server = start(config());
    let url = server.url();
    let mut msgs = vec![start_msg(None)];
    msgs.extend(frames(600));
    // The client runs on a runtime of its own that is then torn down, as when a capture
    // program dies: its connection closes with the session still streaming.
    let client = rt();
    client.spawn({
        let url = url.clone();
        async move { raw_session(&url, msgs, Duration::from_secs(60)).await }
    });
    let rt = rt();
    rt.block_on(async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(active_sessions(&url).await, 1);
    });
    client.shutdown_background();
    rt.block_on(wait_idle(&url));
    // A new session works.
    let mut msgs = vec![start_msg(None)];
    msgs.extend(frames(300));
    let got = rt.block_on(raw_session(&url, msgs, Duration::ZERO));
    assert!(got.1.is_none(), "{:?}", got.1);
    server.shutdown().expect("shutdown");
}

#[test]
fn concurrent_sessions_match_batch_and_ignore_a_failing_neighbour() {
    let take = take();
    let n = 1500;
    let frames_n = take.frames.slice(s![..n, ..]).to_owned();
    let server = start(config());
    let url = server.url();
    let results = rt().block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let (url, f) = (url.clone(), frames_n.clone());
            let options = ReplayOptions { actions: Some(3), speed: 0.0, ..Default::default() };
            tasks.push(tokio::spawn(async move { replay(&url, f, 120.0, &options, |_| {}).await }));
        }
        // A bad neighbour: NaN at frame 700.
        let mut bad = vec![start_msg(None)];
        bad.extend(frames(700));
        let mut nan = take.frames.row(700).to_vec();
        nan[10] = f32::NAN;
        bad.push(frame_msg(700, nan));
        let bad = raw_session(&url, bad, Duration::from_secs(1)).await;
        expect_status(&bad, tonic::Code::InvalidArgument, &["seq=700 values[10]"]);
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("task"));
        }
        out
    });
    let batch = batch_labeling(&frames_n, take.fps, &LabelerParams::new(Some(3)));
    for r in results {
        let r: Result<_, Error> = r;
        let r = r.expect("session");
        assert_eq!(r.summary.frames_received, n as u64);
        assert_eq!(shape(&r.summary.segments), shape(&batch.segments));
    }
    server.shutdown().expect("shutdown");
}

#[test]
fn shutdown_sends_every_open_session_its_final_segments() {
    let server = start(config());
    let url = server.url();
    let rt = rt();
    let (got, windows, short) = rt.block_on(async {
        let mut msgs = vec![start_msg(Some(2))];
        msgs.extend(frames(900));
        // Holds its stream open: only the shutdown ends the session.
        let session = tokio::spawn({
            let url = url.clone();
            async move { raw_session(&url, msgs, Duration::from_secs(60)).await }
        });
        // A second one that has not reached its first window when the server stops.
        let mut few = vec![start_msg(Some(2))];
        few.extend(frames(20));
        let short = tokio::spawn({
            let url = url.clone();
            async move { raw_session(&url, few, Duration::from_secs(60)).await }
        });
        // Let frames flow for a while, then shut down with the streams still open.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(active_sessions(&url).await, 2);
        let stopper = std::thread::spawn(move || server.shutdown());
        let got = session.await.expect("session");
        let short = short.await.expect("short session");
        stopper.join().expect("join").expect("shutdown");
        let windows =
            got.0.iter().filter(|m| matches!(m, proto::server_message::Msg::Window(_))).count();
        (got, windows, short)
    });
    // The short one ends cleanly too, with no segments yet (a shutdown is not its error).
    assert!(short.1.is_none(), "{:?}", short.1);
    let Some(proto::server_message::Msg::Summary(s)) = short.0.last() else {
        panic!("no summary for the short session: {:?}", short.0.last());
    };
    assert_eq!(s.reason, proto::EndReason::ServerShutdown as i32);
    assert_eq!((s.frames_received, s.windows, s.segments.len()), (20, 0, 0));
    assert!(got.1.is_none(), "{:?}", got.1);
    let Some(proto::server_message::Msg::Summary(s)) = got.0.last() else {
        panic!("no summary: {:?}", got.0.last());
    };
    assert_eq!(s.reason, proto::EndReason::ServerShutdown as i32);
    assert!(s.frames_received > 0 && s.frames_received <= 900, "{}", s.frames_received);
    assert_eq!(s.windows as usize, windows);
    assert_eq!(s.segments.first().map(|g| g.start_frame), Some(0));
    assert_eq!(s.segments.last().map(|g| g.end_frame), Some(s.frames_received));
}

#[test]
fn list_models_and_health() {
    let server = start(config());
    let url = server.url();
    rt().block_on(async {
        let mut client = SegmentationClient::connect(url).await.expect("connect");
        let models =
            client.list_models(proto::ListModelsRequest {}).await.expect("list").into_inner();
        assert_eq!(models.models.len(), 1);
        let m = &models.models[0];
        assert_eq!((m.name.as_str(), m.is_default, m.channels), ("default", true, 96));
        assert_eq!(m.joints, take().joints);
        assert_eq!((m.t_e, m.t_d, m.model_fps), (50, 25, 30.0));
        // The default labeling's layout: 180 POD modes, then mean and std of 66 input channels.
        assert_eq!(m.embedding_dim, 180 + 2 * 66);
        let h = client.health(proto::HealthRequest {}).await.expect("health").into_inner();
        assert_eq!(h.status, proto::health_response::Status::Serving as i32);
        assert_eq!((h.active_sessions, h.max_sessions), (0, 16));
    });
    server.shutdown().expect("shutdown");
}

#[test]
fn replay_refuses_a_speed_it_cannot_schedule() {
    // Checked before connecting: a speed whose schedule overflows (it used to panic in the
    // sender and still exit cleanly with one frame sent) or would take years.
    let frames = take().frames.slice(s![..1000, ..]).to_owned();
    for speed in [1e-300, 1e-9] {
        let options = ReplayOptions { speed, ..Default::default() };
        let e = rt()
            .block_on(replay("http://127.0.0.1:9", frames.clone(), 120.0, &options, |_| {}))
            .expect_err("refused")
            .to_string();
        assert!(e.contains("speed") && e.contains("one week") && e.contains("1000 frames"), "{e}");
    }
    // A slow but possible speed gets as far as connecting.
    let options = ReplayOptions { speed: 1e-3, ..Default::default() };
    let e = rt()
        .block_on(replay("http://127.0.0.1:9", frames, 120.0, &options, |_| {}))
        .expect_err("nothing listens on port 9")
        .to_string();
    assert!(e.contains("connecting to http://127.0.0.1:9"), "{e}");
}
