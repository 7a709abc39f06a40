//! The live service under load (not a timed test; prints a table): N concurrent 120 fps streams
//! of the bundled real take on loopback, each paced at its real frame rate, every window labeled
//! as it arrives (`provisional_every = 1`).
//!
//! Per clustered window: the latency the service added, from sending the frame that completed
//! the window to receiving the window's `WindowProcessed` (sent after its labels and events).
//! Measuring from that frame leaves out the window's algorithmic delay (its own 200 input
//! frames, which cannot be labeled before they have all arrived). Also: frames lost (sent but
//! not received), windows dropped, how far the senders fell behind their schedule, and whether
//! the server kept up: "real time" = nothing lost or dropped, p99 added latency under 0.5 s and
//! no sender more than 0.5 s behind schedule.
//!
//! ```sh
//! cargo bench --bench serve                       # N = 1, 2, 4, 8, 16, 20, 24, 32; 20 s per stream
//! MOTIONSEG_BENCH_N=1,4 MOTIONSEG_BENCH_SECONDS=10 cargo bench --bench serve
//! MOTIONSEG_BENCH_PROVISIONAL=8 cargo bench --bench serve    # the server's default update rate
//! ```
//!
//! The clients run in the same process on the same cores as the server, so the numbers include
//! their cost.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use motionseg::embed::ort::{find_runtime, init_runtime};
use motionseg::engine::EngineModel;
use motionseg::features::motion_features;
use motionseg::ingest::{self, Input, LoadOptions};
use motionseg::service::{replay, spawn_server, Models, ReplayOptions, ServiceConfig, WhenFull};
use ndarray::Array2;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

struct Run {
    n: usize,
    policy: WhenFull,
    sent: u64,
    lost: u64,
    dropped: u64,
    latencies: Vec<Duration>,
    max_lag: Duration,
    errors: usize,
}

impl Run {
    fn quantile(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        self.latencies[i].as_secs_f64() * 1e3
    }

    fn real_time(&self) -> bool {
        self.errors == 0
            && self.lost == 0
            && self.dropped == 0
            && self.quantile(0.99) < 500.0
            && self.max_lag < Duration::from_millis(500)
    }
}

fn run(
    model: &EngineModel,
    frames: &Array2<f32>,
    n: usize,
    policy: WhenFull,
    provisional_every: u32,
) -> anyhow::Result<Run> {
    let mut config = ServiceConfig::new(Models::new("default", model.clone())?);
    config.max_sessions = n;
    // As an operator expecting N streams would: one warm model runner per stream.
    config.warm_runners = n;
    let server = spawn_server(std::net::TcpListener::bind("127.0.0.1:0")?, config)?;
    let url = server.url();
    let clients = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let reports = clients.block_on(async {
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let (url, frames) = (url.clone(), frames.clone());
                let options = ReplayOptions {
                    actions: Some(4),
                    provisional_every: Some(provisional_every),
                    when_full: policy,
                    ..Default::default()
                };
                tokio::spawn(async move { replay(&url, frames, 120.0, &options, |_| {}).await })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await);
        }
        out
    });
    server.shutdown()?;
    let mut r = Run {
        n,
        policy,
        sent: 0,
        lost: 0,
        dropped: 0,
        latencies: Vec::new(),
        max_lag: Duration::ZERO,
        errors: 0,
    };
    for report in reports {
        match report {
            Ok(Ok(rep)) => {
                r.sent += rep.frames_sent;
                r.lost += rep.frames_sent - rep.summary.frames_received.min(rep.frames_sent);
                r.dropped += rep.summary.windows_dropped;
                r.latencies.extend(rep.latencies);
                r.max_lag = r.max_lag.max(rep.max_send_lag);
            }
            Ok(Err(e)) => {
                eprintln!("stream failed: {e}");
                r.errors += 1;
            }
            Err(e) => {
                eprintln!("stream task failed: {e}");
                r.errors += 1;
            }
        }
    }
    r.latencies.sort_unstable();
    Ok(r)
}

fn print(r: &Run) {
    println!(
        "| {:>2} | {:<5} | {:>6} | {:>4} | {:>7} | {:>7.1} | {:>7.1} | {:>7.1} | {:>7.0} | {} |",
        r.n,
        match r.policy {
            WhenFull::Block => "block",
            WhenFull::Drop => "drop",
        },
        r.sent,
        r.lost,
        r.dropped,
        r.quantile(0.5),
        r.quantile(0.99),
        r.quantile(1.0),
        r.max_lag.as_secs_f64() * 1e3,
        if r.real_time() { "yes" } else { "no" },
    );
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; this harness takes its settings from the environment.
    let seconds: f64 = std::env::var("MOTIONSEG_BENCH_SECONDS").map_or(Ok(20.0), |s| s.parse())?;
    let ns: Vec<usize> = std::env::var("MOTIONSEG_BENCH_N")
        .unwrap_or_else(|_| "1,2,4,8,16,20,24,32".to_owned())
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let every: u32 = std::env::var("MOTIONSEG_BENCH_PROVISIONAL").map_or(Ok(1), |s| s.parse())?;
    init_runtime(&find_runtime(None)?)?;
    let model = EngineModel::load(
        &repo("models/motionseg_default.json"),
        Some(&repo("models/motionseg_default.basis.json")),
    )?;
    let asf = repo("examples/data/86.asf");
    let Input::Motion(m) = ingest::load(
        &repo("examples/data/86_01.amc"),
        &LoadOptions { asf: Some(&asf), fps: None },
    )?
    else {
        anyhow::bail!("86_01.amc is not motion");
    };
    let all = motion_features(&m)?.data;
    let take = ((seconds * 120.0) as usize).min(all.nrows());
    let frames = all.slice(ndarray::s![..take, ..]).to_owned();
    println!(
        "serve: {} concurrent streams of CMU 86_01 ({take} frames, {:.1} s at 120 fps), default model, hop {}, labels every {every} window(s)",
        ns.iter().map(ToString::to_string).collect::<Vec<_>>().join("/"),
        take as f64 / 120.0,
        motionseg::labeler::LabelerParams::new(None).engine.hop
    );
    println!("| N | policy | frames sent | lost | windows dropped | p50 ms | p99 ms | max ms | max send lag ms | real time |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let started = Instant::now();
    let mut largest = 0;
    let mut first_failing = None;
    for &n in &ns {
        let r = run(&model, &frames, n, WhenFull::Block, every)?;
        print(&r);
        if r.real_time() {
            largest = largest.max(n);
        } else if first_failing.is_none() {
            first_failing = Some(n);
            break;
        }
    }
    // Beyond capacity, the drop policy keeps latency bounded and counts what it discards.
    if let Some(n) = first_failing {
        print(&run(&model, &frames, n, WhenFull::Drop, every)?);
    }
    println!(
        "largest N sustained in real time (block policy): {largest}; bench took {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
