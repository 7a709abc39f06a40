//! The `motionseg` command-line tool. `anyhow` lives here only; the library returns
//! `motionseg::Error`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use motionseg::basis::{modes_for_energy, Modes, PodBasis};
use motionseg::cluster::segments::SegmentParams;
use motionseg::cluster::{Cut, Linkage};
use motionseg::embed::ort::{find_runtime, init_runtime, OrtEmbedder};
use motionseg::embed::Summary;
use motionseg::engine::{
    with_row, Engine, EngineConfig, EngineModel, WindowEmbedding, WindowStates,
};
use motionseg::eval::{
    evaluate, evaluate_partial, ResultsTable, Tolerance, ACTIONS8, ACTIONS8_FPS,
};
use motionseg::features::{motion_features, FeatureMatrix};
use motionseg::ingest::asf_amc::read_asf;
use motionseg::ingest::{self, Input, LoadOptions};
use motionseg::labeler::{label_take, LabelerParams, Labeling, Method};
use motionseg::labels::{read_su, truth_labels};
use motionseg::plot::{timeline_svg, trajectories_svg, Colouring, TimelineRow};
use motionseg::{Channel, Motion, Skeleton};
use ndarray::Array2;

/// Streaming unsupervised action segmentation of human motion capture.
#[derive(Debug, Parser)]
#[command(name = "motionseg", version, about, propagate_version = true)]
struct Cli {
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Summarise a motion file: skeleton, frame count, frame rate, channel layout.
    Inspect(InspectArgs),
    /// Fit the frozen POD basis: run the model over calibration takes, stack encoder and decoder
    /// states, take the thin SVD, report singular values and mode counts, save the basis.
    FitBasis(FitBasisArgs),
    /// Write per-window embeddings (projected decoder states) of a take, optionally the PC3 picture.
    Embed(EmbedArgs),
    /// Label takes with action segments (batch labeling; --stream runs the streaming engine).
    Segment(SegmentArgs),
    /// Measure segmentation accuracy on the labelled development trials of CMU subject 86.
    Eval(EvalArgs),
    /// Run the live segmentation service (gRPC, proto/motionseg/v1) until ctrl-c.
    #[cfg(feature = "serve")]
    Serve(ServeArgs),
    /// Stream a take to a running service at its frame rate; print events as JSON lines, then
    /// the final segments.
    #[cfg(feature = "serve")]
    Replay(ReplayArgs),
}

#[cfg(feature = "serve")]
#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address to listen on (loopback by default; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:50051")]
    addr: std::net::SocketAddr,
    /// Most concurrent sessions (more get RESOURCE_EXHAUSTED).
    #[arg(long, default_value_t = 16)]
    max_sessions: usize,
    /// Seconds a session may stay silent before it is ended (DEADLINE_EXCEEDED).
    #[arg(long, default_value_t = 30.0)]
    idle_timeout: f64,
    /// Capacity of each queue between a session's stages.
    #[arg(long, default_value_t = 256)]
    queue: usize,
    /// Most windows per model call when a session falls behind.
    #[arg(long, default_value_t = 16)]
    max_batch: usize,
    /// Frozen POD basis fitted on the model.
    #[arg(long, default_value = DEFAULT_BASIS)]
    basis: PathBuf,
    /// Name clients use for the model (default: the manifest's file stem).
    #[arg(long)]
    name: Option<String>,
    /// Model runners built at start-up (sessions reuse idle ones; more are built on demand).
    #[arg(long, default_value_t = 2)]
    warm: usize,
    #[command(flatten)]
    model: ModelArgs,
}

#[cfg(feature = "serve")]
#[derive(Debug, clap::Args)]
struct ReplayArgs {
    /// The take (.amc with --asf, .bvh, .npy/.csv with --fps).
    file: PathBuf,
    /// The service's URL.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    server: String,
    /// Playback speed: 1 = the take's frame rate, 4 = four times faster, 0 = as fast as possible.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    #[command(flatten)]
    input: InputArgs,
    /// Number of actions, when known.
    #[arg(long, short = 'k')]
    actions: Option<u32>,
    /// Model frames between windows (default: the server's).
    #[arg(long)]
    hop: Option<u32>,
    /// Minimum segment length in input frames (default: the server's).
    #[arg(long)]
    min_segment: Option<u32>,
    /// Model name (default: the server's default model).
    #[arg(long, default_value = "")]
    model: String,
    /// Ask the server to drop windows rather than slow the stream when it falls behind.
    #[arg(long)]
    drop: bool,
    /// Also print one line per processed window.
    #[arg(long)]
    progress: bool,
    /// Send only the first N frames.
    #[arg(long)]
    max_frames: Option<usize>,
    /// Live (provisional) segment events every N windows; 0 = only the final segments.
    #[arg(long)]
    provisional_every: Option<u32>,
    /// Boundaries by optimal partitioning with this cost per segment; 0 = change-score peaks,
    /// final sooner (default: the server's, partitioning).
    #[arg(long)]
    penalty: Option<f32>,
}

/// Labeling settings shared by `segment` and `eval`.
#[derive(Debug, Clone, clap::Args)]
struct LabelArgs {
    /// Frozen POD basis fitted on this model.
    #[arg(long, default_value = DEFAULT_BASIS)]
    basis: PathBuf,
    /// Model frames between windows (the window counts below are for hop 4; the boundary
    /// penalty is scaled to the hop, and on the development trials hops 2 and 8 measured within
    /// 0.6 points of hop 4, at twice and half the cost).
    #[arg(long, default_value_t = 4)]
    hop: usize,
    /// Per-window embedding: `mean-pose` (the mean projected decoder state and the window's
    /// pose statistics, equal weight), or the projected decoder states alone: mean, first,
    /// last or trajectory.
    #[arg(long, default_value = "mean-pose")]
    summary: String,
    /// Minimum segment length in input frames (hysteresis against flicker).
    #[arg(long, default_value_t = 60)]
    min_segment: usize,
    /// Clustering: `segments` (cut where the embedding changes, then single linkage over the
    /// segments) or `windows` (robust single linkage over single windows).
    #[arg(long, default_value = "segments")]
    method: String,
    /// Segments method: windows on each side of a candidate boundary.
    #[arg(long, default_value_t = 12)]
    context: usize,
    /// Segments method: windows between a change peak and the boundary placed for it.
    #[arg(long, default_value_t = 3)]
    lag: usize,
    /// Segments method: quantile of nearest-window distances in the segment distance.
    #[arg(long, default_value_t = 0.25)]
    quantile: f32,
    /// Segments method, K inferred: segments closer than this share a label. Live (both modes):
    /// it also groups undecided stretches with the labelled segments (none near: a new label,
    /// with --actions while one is free).
    #[arg(long, default_value_t = 0.28)]
    merge_threshold: f32,
    /// Segments method: boundaries by penalised optimal partitioning with this cost per
    /// segment, stated for hop 4 and scaled by 4 / hop (5–7.5 measured alike on the development
    /// trials); 0 places them at change-score peaks instead (decided sooner, less accurately;
    /// see the README).
    #[arg(long, default_value_t = 6.5)]
    penalty: f32,
    /// Windows method: neighbours for the core distance (0 = plain single linkage).
    #[arg(long, default_value_t = 10)]
    min_samples: usize,
    /// Windows method: clusters smaller than this many windows are noise.
    #[arg(long, default_value_t = 20)]
    min_cluster_size: usize,
    /// Windows method: how the number of actions is inferred when not given (stability or gap).
    #[arg(long, default_value = "stability")]
    infer: String,
    /// Run the streaming engine (frame by frame) instead of batch; results are the same.
    #[arg(long)]
    stream: bool,
}

#[derive(Debug, clap::Args)]
struct SegmentArgs {
    /// Takes to label.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    label: LabelArgs,
    /// Number of actions, when known.
    #[arg(long, short = 'k')]
    actions: Option<usize>,
    /// Output format for segments: jsonl or csv.
    #[arg(long, default_value = "jsonl")]
    format: String,
    /// Write one line per input frame, `frame,label` (-1: no label).
    #[arg(long, value_name = "OUT.csv")]
    frame_labels: Option<PathBuf>,
    /// Draw the timeline (SVG).
    #[arg(long, value_name = "OUT.svg")]
    plot: Option<PathBuf>,
    /// Ground-truth segments (CSV start,end,label; one input file): the labeling is scored
    /// against them (Hungarian frame accuracy, ARI, NMI, boundary F1 within ±0.5 s, covering;
    /// printed to stderr), and with `--plot` they are drawn under the timeline, the labels
    /// coloured after the true labels they match, the legend keeping their numbers.
    #[arg(long, value_name = "TRUTH.csv")]
    truth: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct EvalArgs {
    /// Trials of CMU subject 86 with development labels (exp-map .npy in the shared data).
    #[arg(long, value_delimiter = ',', default_value = "01,03,05,07")]
    trials: Vec<String>,
    /// The shared data folder (default $MOTIONSEG_DATA, else ../shared/data).
    #[arg(long)]
    data: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    label: LabelArgs,
    /// Write every score as JSON.
    #[arg(long, value_name = "OUT.json")]
    json: Option<PathBuf>,
    /// Only the selected method in batch: no streaming run, no comparators (for sweeps).
    #[arg(long)]
    quick: bool,
    /// Also score this many concatenated `cmu/actions8` sequences (the paper's case (i)), seeds
    /// `--actions8-first-seed`, the next, ...; 0 skips them.
    #[arg(long, default_value_t = 5)]
    actions8: u64,
    /// First seed of the concatenated sequences. Seeds 0–11 helped choose the defaults
    /// (README); from 12 on they are a check that did not.
    #[arg(long, default_value_t = 0)]
    actions8_first_seed: u64,
    /// Clips per concatenated `cmu/actions8` sequence.
    #[arg(long, default_value_t = 8)]
    actions8_clips: usize,
    /// Draw each sequence's timeline into this folder (`<sequence>.svg`): the truth, then the
    /// batch labels with K given and K inferred, coloured by their Hungarian match to the truth.
    #[arg(long, value_name = "DIR")]
    plots: Option<PathBuf>,
}

/// Where the model and the ONNX Runtime library come from.
#[derive(Debug, clap::Args)]
struct ModelArgs {
    /// Model manifest (JSON beside the ONNX file).
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: PathBuf,
    /// ONNX Runtime library (else $MOTIONSEG_ORT_LIB, $ORT_DYLIB_PATH, then .venv from scripts/setup.sh).
    #[arg(long, value_name = "LIB")]
    ort_lib: Option<PathBuf>,
    /// ONNX Runtime intra-op threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// Input file options shared by commands that read takes.
#[derive(Debug, Clone, clap::Args)]
struct InputArgs {
    /// ASF skeleton for AMC files.
    #[arg(long, value_name = "SKELETON")]
    asf: Option<PathBuf>,
    /// Frame rate: needed for NPY/CSV inputs; for AMC files (default 120, CMU's); a BVH file
    /// states its own (a different value is refused).
    #[arg(long)]
    fps: Option<f64>,
}

#[derive(Debug, clap::Args)]
struct FitBasisArgs {
    /// Calibration takes (.amc with --asf, .bvh, .npy/.csv with --fps).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// Where to save the basis.
    #[arg(long, short)]
    out: PathBuf,
    /// Keep the fewest modes reaching this fraction of singular-value energy.
    #[arg(long, default_value_t = 0.90, conflicts_with = "modes")]
    energy: f64,
    /// Keep exactly this many modes instead.
    #[arg(long)]
    modes: Option<usize>,
    /// Model frames between calibration windows.
    #[arg(long, default_value_t = 4)]
    hop: usize,
}

#[derive(Debug, clap::Args)]
struct EmbedArgs {
    /// The take (.amc with --asf, .bvh, .npy/.csv with --fps).
    file: PathBuf,
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// Frozen POD basis fitted on this model.
    #[arg(long, default_value = DEFAULT_BASIS)]
    basis: PathBuf,
    /// Model frames between windows.
    #[arg(long, default_value_t = 1)]
    hop: usize,
    /// Windows per model call.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Per-window summary of the projected decoder states: mean, first, last or trajectory.
    #[arg(long, default_value = "mean")]
    summary: String,
    /// Embeddings [windows, dim] as .npy; frame indices go to the same name with .frames.csv.
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Draw the decoder trajectories on the first three POD modes (SVG).
    #[arg(long, value_name = "OUT.svg")]
    plot: Option<PathBuf>,
    /// Colour the plot by these ground-truth segments (CSV start,end,label) instead of by time.
    #[arg(long, value_name = "LABELS.csv")]
    labels: Option<PathBuf>,
}

/// The shipped model and its basis, relative to the repository root.
const DEFAULT_MODEL: &str = "models/motionseg_default.json";
const DEFAULT_BASIS: &str = "models/motionseg_default.basis.json";

#[derive(Debug, clap::Args)]
struct InspectArgs {
    /// A .bvh, .amc (with --asf), .npy or .csv file.
    file: PathBuf,
    /// ASF skeleton for an AMC file.
    #[arg(long, value_name = "SKELETON")]
    asf: Option<PathBuf>,
    /// Frame rate of an NPY/CSV input (they carry none).
    #[arg(long)]
    fps: Option<f64>,
    /// Write the canonical feature matrix [frames, channels] (float32) to this .npy file.
    #[arg(long, value_name = "OUT.npy")]
    features: Option<PathBuf>,
    /// Print every joint with its channels (the full hierarchy).
    #[arg(long)]
    joints: bool,
}

/// A failed write to stdout. A closed pipe (`motionseg ... | head`) ends the command quietly;
/// anything else (a full disk) is an error like any other.
#[derive(Debug)]
struct StdoutError(std::io::Error);

impl std::fmt::Display for StdoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "writing to stdout: {}", self.0)
    }
}

impl std::error::Error for StdoutError {}

/// `print!` that returns a [`StdoutError`] instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*).map_err(StdoutError)?;
    }};
}

/// `println!` that returns a [`StdoutError`] instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*).map_err(StdoutError)?;
    }};
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Inspect(args) => inspect(&args),
        Command::FitBasis(args) => fit_basis(&args),
        Command::Embed(args) => embed(&args),
        Command::Segment(args) => segment(&args),
        Command::Eval(args) => eval(&args),
        #[cfg(feature = "serve")]
        Command::Serve(args) => serve(&args),
        #[cfg(feature = "serve")]
        Command::Replay(args) => replay(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e)
            if e.downcast_ref::<StdoutError>()
                .is_some_and(|s| s.0.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            // One line, no backtrace: the library's errors already name file, line and field.
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes joined by `: `, skipping a cause whose text the line already holds
/// (an I/O error names its reason and also exposes it as its source).
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

fn inspect(args: &InspectArgs) -> anyhow::Result<()> {
    let opts = LoadOptions { asf: args.asf.as_deref(), fps: args.fps };
    let input = ingest::load(&args.file, &opts)?;
    let mut out = String::new();
    let features = match &input {
        Input::Motion(m) => {
            describe_motion(&mut out, &args.file, args.asf.as_deref(), m, args.joints);
            if args.features.is_some() {
                Some(motion_features(m)?)
            } else {
                None
            }
        }
        Input::Features(f) => {
            describe_matrix(&mut out, f);
            Some(f.clone())
        }
    };
    out!("{out}");
    if let (Some(path), Some(f)) = (&args.features, features) {
        ingest::npy::write_npy(path, f.data.view())
            .with_context(|| format!("writing features to {}", path.display()))?;
        outln!(
            "wrote {} ({} frames x {} channels, float32)",
            path.display(),
            f.frame_count(),
            f.channel_count()
        );
    }
    Ok(())
}

fn describe_motion(out: &mut String, file: &Path, asf: Option<&Path>, m: &Motion, all: bool) {
    let sk = &m.skeleton;
    let n = m.frame_count();
    let _ = writeln!(out, "file        {}", file.display());
    // Only an AMC file reads the ASF (a BVH file carries its own skeleton).
    let amc = file.extension().is_some_and(|e| e.eq_ignore_ascii_case("amc"));
    if let (Some(asf), true) = (asf, amc) {
        let _ = writeln!(out, "skeleton    {}", asf.display());
    }
    let _ = writeln!(
        out,
        "frames      {n} at {:.3} fps (frame time {:.7} s, duration {:.2} s)",
        m.fps(),
        m.frame_time_s,
        n as f64 * m.frame_time_s
    );
    let rot = sk.joints.iter().filter(|j| j.channels.iter().any(|c| c.is_rotation())).count();
    let units = match sk.metres_per_unit {
        Some(s) => format!(", {s:.6} m per length unit"),
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "skeleton    {} joints ({} rotating), {} channels per frame, root {:?}, angles in {:?}{units}",
        sk.joints.len(),
        rot,
        sk.channel_count(),
        sk.joints.first().map(|j| j.name.as_str()).unwrap_or(""),
        sk.angle_unit,
    );
    let _ = writeln!(
        out,
        "features    {} columns: root translation (3) + {} joints x exp-map (3)",
        3 + 3 * sk.joints.len(),
        sk.joints.len()
    );
    let _ = writeln!(out, "channels    {}", channel_layout(sk, if all { usize::MAX } else { 8 }));
}

/// The channel layout, one joint per line, indented by depth.
fn channel_layout(sk: &Skeleton, max_joints: usize) -> String {
    let mut s = String::new();
    let offsets = sk.channel_offsets();
    for (i, j) in sk.joints.iter().enumerate() {
        // Walk up to the root; ASF file order may list a child before its parent. The readers
        // reject loops, and the bound keeps this finite regardless.
        let mut depth = 0;
        let mut at = j.parent;
        while let Some(p) = at.filter(|_| depth < sk.joints.len()) {
            depth += 1;
            at = sk.joints.get(p).and_then(|q| q.parent);
        }
        if i >= max_joints {
            let _ = write!(
                s,
                "\n            ... {} more joints (--joints lists all)",
                sk.joints.len() - i
            );
            break;
        }
        let chans: Vec<&str> = j.channels.iter().map(|c| short(*c)).collect();
        let cols = if j.channels.is_empty() {
            "no channels".to_owned()
        } else {
            format!("cols {}..{}", offsets[i], offsets[i] + j.channels.len())
        };
        if i > 0 {
            s.push_str("\n            ");
        }
        let _ = write!(s, "{}{} [{}] {cols}", "  ".repeat(depth), j.name, chans.join(" "));
    }
    s
}

fn short(c: Channel) -> &'static str {
    match c {
        Channel::Xposition => "Tx",
        Channel::Yposition => "Ty",
        Channel::Zposition => "Tz",
        Channel::Xrotation => "Rx",
        Channel::Yrotation => "Ry",
        Channel::Zrotation => "Rz",
    }
}

fn describe_matrix(out: &mut String, f: &FeatureMatrix) {
    let _ = writeln!(out, "file        {}", f.source);
    let rate = match f.frame_time_s {
        Some(t) => format!(" at {:.3} fps (duration {:.2} s)", 1.0 / t, f.frame_count() as f64 * t),
        None => " (frame rate unknown: pass --fps)".to_owned(),
    };
    let _ = writeln!(out, "frames      {}{rate}", f.frame_count());
    let constant = f
        .data
        .columns()
        .into_iter()
        .filter(|c| {
            let first = c[0];
            c.iter().all(|&v| v == first)
        })
        .count();
    let _ =
        writeln!(out, "channels    {} ({} constant over the take)", f.channel_count(), constant);
}

/// A relative default path is tried from the current directory, then from the source checkout
/// the binary was built from, so `cargo run` works from anywhere inside the repository.
fn resolve(path: &Path) -> PathBuf {
    if path.is_absolute() || path.exists() {
        return path.to_owned();
    }
    let in_repo = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    if in_repo.exists() {
        in_repo
    } else {
        path.to_owned()
    }
}

/// A take as raw canonical frames `[frames, channels]`, its frame rate and joint names.
struct Take {
    name: String,
    frames: Array2<f32>,
    fps: f64,
    joints: Vec<String>,
}

fn read_take(file: &Path, input: &InputArgs) -> anyhow::Result<Take> {
    let opts = LoadOptions { asf: input.asf.as_deref(), fps: input.fps };
    let name = file.display().to_string();
    match ingest::load(file, &opts)? {
        Input::Motion(m) => {
            let f = motion_features(&m)?;
            Ok(Take { name, frames: f.data, fps: m.fps(), joints: f.joints })
        }
        Input::Features(f) => {
            let fps = f.frame_time_s.map(|t| 1.0 / t).ok_or_else(|| {
                anyhow::anyhow!("{name}: an NPY/CSV input needs its frame rate: pass --fps")
            })?;
            Ok(Take { name, frames: f.data, fps, joints: Vec::new() })
        }
    }
}

fn load_model(args: &ModelArgs, basis: Option<&Path>) -> anyhow::Result<EngineModel> {
    let lib = find_runtime(args.ort_lib.as_deref())?;
    init_runtime(&lib)?;
    let basis = basis.map(resolve);
    Ok(EngineModel::load(&resolve(&args.model), basis.as_deref())?)
}

fn progress(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} frames ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

fn fit_basis(args: &FitBasisArgs) -> anyhow::Result<()> {
    // Checked before the model runs over every take (the fit checks again, against the count).
    match (args.modes, args.energy) {
        (Some(0), _) => anyhow::bail!("--modes must be at least 1"),
        (None, e) if !(e > 0.0 && e <= 1.0) => anyhow::bail!("--energy {e} outside (0, 1]"),
        _ => {}
    }
    let model = load_model(&args.model, None)?;
    let m = model.manifest().clone();
    let mut states: Vec<f32> = Vec::new();
    let mut windows = 0usize;
    for file in &args.files {
        let take = read_take(file, &args.input)?;
        m.check_input(&take.name, take.frames.ncols(), &take.joints)?;
        let emb = OrtEmbedder::new(model.model_bytes(), &m, args.model.threads)?;
        let cfg = EngineConfig { hop: args.hop, batch: 64, summary: Summary::Mean };
        let mut engine = Engine::new(model.clone(), emb, take.fps, cfg)?;
        let bar = progress(take.frames.nrows() as u64, "fit-basis");
        let mut sink = |w: WindowStates<'_>| {
            states.extend_from_slice(w.encoder);
            states.extend_from_slice(w.decoder);
            windows += 1;
            Ok(())
        };
        for (i, row) in take.frames.rows().into_iter().enumerate() {
            with_row(row, |r| engine.push_frame_states(r, &mut sink))?;
            if i % 256 == 0 {
                bar.set_position(i as u64);
            }
        }
        engine.flush_states(&mut sink)?;
        bar.finish_and_clear();
        eprintln!("{}: {} frames", take.name, take.frames.nrows());
    }
    if windows == 0 {
        anyhow::bail!(
            "no model window in {} take(s): each is shorter than one window ({} model frames at \
             {} fps, {:.2} s)",
            args.files.len(),
            m.t_e,
            m.model_fps,
            m.t_e as f64 / m.model_fps
        );
    }
    let rows = states.len() / m.state_dim;
    let s = Array2::from_shape_vec((rows, m.state_dim), states)?;
    let modes = match args.modes {
        Some(k) => Modes::Count(k),
        None => Modes::Energy(args.energy),
    };
    let basis = PodBasis::fit(s.view(), modes, &m.onnx_sha256)?;
    let sv = basis.singular_values();
    outln!("state matrix S: {rows} states x {} (N) from {windows} windows", m.state_dim);
    let shown: Vec<String> = sv.iter().take(12).map(|v| format!("{v:.3}")).collect();
    outln!("singular values (first {} of {}): {}", shown.len(), sv.len(), shown.join(" "));
    outln!(
        "modes for 90 % energy: {}; for 99 %: {}; kept: {}",
        modes_for_energy(sv, 0.90),
        modes_for_energy(sv, 0.99),
        basis.modes()
    );
    basis.save(&args.out)?;
    outln!("wrote {}", args.out.display());
    Ok(())
}

fn embed(args: &EmbedArgs) -> anyhow::Result<()> {
    let summary: Summary = args.summary.parse()?;
    if summary == Summary::MeanPose {
        anyhow::bail!(
            "--summary mean-pose: embed writes decoder states only (mean, first, last or trajectory)"
        );
    }
    // Outputs and labels checked before the model runs.
    if let Some(path) = &args.out {
        if !path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy")) {
            anyhow::bail!("{}: embed writes NPY; name the output *.npy", path.display());
        }
    }
    let label_segments =
        args.labels.as_deref().map(motionseg::labels::read_segments).transpose()?;
    let model = load_model(&args.model, Some(&args.basis))?;
    let m = model.manifest().clone();
    let take = read_take(&args.file, &args.input)?;
    m.check_input(&take.name, take.frames.ncols(), &take.joints)?;
    let emb = OrtEmbedder::new(model.model_bytes(), &m, args.model.threads)?;
    // Trajectories are kept whole so that the picture and any summary come from one run.
    let cfg = EngineConfig { hop: args.hop, batch: args.batch, summary: Summary::Trajectory };
    let mut engine = Engine::new(model.clone(), emb, take.fps, cfg)?;
    let started = std::time::Instant::now();
    let out = embed_take(&mut engine, take.frames.view(), "embed")?;
    let secs = started.elapsed().as_secs_f64();
    let k = model.basis().map_or(0, PodBasis::modes);
    let t_d = m.t_d;
    let dim = summary.len(t_d, k);
    let mut matrix = Array2::<f32>::zeros((out.len(), dim));
    for (mut row, w) in matrix.rows_mut().into_iter().zip(&out) {
        let mut v = vec![0.0; dim];
        summary.write(&w.values, t_d, k, &mut v);
        row.assign(&ndarray::ArrayView1::from(&v));
    }
    let duration = take.frames.nrows() as f64 / take.fps;
    outln!(
        "{}: {} frames ({duration:.1} s) -> {} windows x {dim} ({:?} of {k} POD modes) in {secs:.2} s ({:.0}x real time)",
        take.name,
        take.frames.nrows(),
        out.len(),
        summary,
        duration / secs.max(1e-9)
    );
    if let Some(path) = &args.out {
        ingest::npy::write_npy(path, matrix.view())?;
        let frames_path = path.with_extension("frames.csv");
        let mut csv = String::from("window,first_frame,last_frame\n");
        for w in &out {
            let _ = writeln!(csv, "{},{},{}", w.span.index, w.span.first_frame, w.span.last_frame);
        }
        std::fs::write(&frames_path, csv)
            .with_context(|| format!("writing {}", frames_path.display()))?;
        outln!("wrote {} and {}", path.display(), frames_path.display());
    }
    if let Some(plot) = &args.plot {
        if k < 3 {
            anyhow::bail!(
                "{}: the basis keeps {k} modes; the PC3 picture needs 3",
                args.basis.display()
            );
        }
        let trajectories: Vec<Vec<[f32; 3]>> = out
            .iter()
            .map(|w| w.values.chunks_exact(k).map(|s| [s[0], s[1], s[2]]).collect())
            .collect();
        let colouring = match &label_segments {
            Some(segs) => {
                let (per_frame, names) = motionseg::labels::frame_labels(segs, take.frames.nrows());
                let of = out
                    .iter()
                    .map(|w| per_frame.get(w.span.last_frame).copied().flatten().unwrap_or(0))
                    .collect();
                Colouring::Labels { of, names }
            }
            None => Colouring::Time,
        };
        let title = format!(
            "{}: decoder trajectories on POD modes 1-3 ({} windows)",
            Path::new(&take.name).file_name().and_then(|n| n.to_str()).unwrap_or(&take.name),
            out.len()
        );
        std::fs::write(plot, trajectories_svg(&title, &trajectories, &colouring))
            .with_context(|| format!("writing {}", plot.display()))?;
        outln!("wrote {}", plot.display());
    }
    Ok(())
}

/// Every window embedding of `frames`, with a progress bar named `what`.
fn embed_take<E: motionseg::embed::Embedder>(
    engine: &mut Engine<E>,
    frames: ndarray::ArrayView2<'_, f32>,
    what: &str,
) -> anyhow::Result<Vec<motionseg::engine::WindowEmbedding>> {
    let bar = progress(frames.nrows() as u64, what);
    let mut out = Vec::new();
    for (i, row) in frames.rows().into_iter().enumerate() {
        with_row(row, |r| engine.push_frame(r, &mut out))?;
        if i.is_multiple_of(256) {
            bar.set_position(i as u64);
        }
    }
    engine.flush(&mut out)?;
    bar.finish_and_clear();
    Ok(out)
}

fn labeler_params(l: &LabelArgs, actions: Option<usize>) -> anyhow::Result<LabelerParams> {
    let mut p = LabelerParams::new(actions);
    p.engine.hop = l.hop;
    p.engine.summary = l.summary.parse()?;
    if l.min_segment == 0 {
        // As the live service and the C ABI: 0 would silently mean 1.
        anyhow::bail!("--min-segment must be at least 1 frame");
    }
    p.min_segment_frames = l.min_segment;
    p.streaming = l.stream;
    p.cluster.linkage = if l.min_samples == 0 {
        Linkage::Single
    } else {
        Linkage::Robust { min_samples: l.min_samples }
    };
    p.cluster.min_cluster_size = l.min_cluster_size;
    p.method = match l.method.as_str() {
        "segments" => Method::Segments(SegmentParams {
            context: l.context,
            lag: l.lag,
            quantile: l.quantile,
            threshold: l.merge_threshold,
            penalty: l.penalty,
            ..SegmentParams::default()
        }),
        "windows" => Method::Windows,
        other => anyhow::bail!("--method: expected segments or windows, got {other:?}"),
    };
    if let Method::Segments(sp) = p.method {
        sp.validate()?;
    }
    if actions == Some(0) {
        anyhow::bail!("--actions must be at least 1");
    }
    if actions.is_none() {
        p.cluster.cut = match l.infer.as_str() {
            "stability" => Cut::Stability { allow_single_cluster: false },
            "gap" => Cut::LargestGap,
            other => anyhow::bail!("--infer: expected stability or gap, got {other:?}"),
        };
    }
    Ok(p)
}

fn label_file(
    model: &EngineModel,
    emb: &mut OrtEmbedder,
    take: &Take,
    params: &LabelerParams,
) -> anyhow::Result<Labeling> {
    let m = model.manifest();
    m.check_input(&take.name, take.frames.ncols(), &take.joints)?;
    let bar = progress(take.frames.nrows() as u64, "segment");
    let labeling = label_take(model, emb, take.frames.view(), take.fps, params, |i| {
        bar.set_position(i as u64)
    })
    .with_context(|| take.name.clone())?;
    bar.finish_and_clear();
    Ok(labeling)
}

fn segment(args: &SegmentArgs) -> anyhow::Result<()> {
    if !matches!(args.format.as_str(), "jsonl" | "csv") {
        anyhow::bail!("--format: expected jsonl or csv, got {:?}", args.format);
    }
    if args.files.len() > 1
        && (args.frame_labels.is_some() || args.plot.is_some() || args.truth.is_some())
    {
        anyhow::bail!("--frame-labels, --plot and --truth take one input file");
    }
    // Read before the model runs, so a bad truth file fails at once.
    let truth_segments = match &args.truth {
        Some(t) => Some(motionseg::labels::read_segments(t)?),
        None => None,
    };
    let params = labeler_params(&args.label, args.actions)?;
    let model = load_model(&args.model, Some(&args.label.basis))?;
    // One session for every file.
    let mut emb = OrtEmbedder::new(model.model_bytes(), model.manifest(), args.model.threads)?;
    let mut out = String::new();
    if args.format == "csv" {
        out.push_str("file,segment,start_frame,end_frame,start_s,end_s,label,confidence\n");
    }
    for file in &args.files {
        let take = read_take(file, &args.input)?;
        let n = take.frames.nrows();
        let truth = match (&args.truth, &truth_segments) {
            (Some(path), Some(segs)) => {
                if let Some(s) = segs.iter().find(|s| s.end > n) {
                    // Most likely the labels of another take: refuse rather than clip.
                    anyhow::bail!(
                        "{}: segment {} [{}, {}) runs past the {n} frames of {}",
                        path.display(),
                        s.label,
                        s.start,
                        s.end,
                        file.display()
                    );
                }
                let (t, names) = motionseg::labels::frame_labels(segs, n);
                Some((path, t, names))
            }
            _ => None,
        };
        let labeling = label_file(&model, &mut emb, &take, &params)?;
        if let Some(k) = args.actions {
            let found: std::collections::BTreeSet<usize> =
                labeling.segments.iter().filter_map(|s| s.label).collect();
            if found.len() < k {
                // K given caps the count; too few windows or long segments can leave fewer.
                tracing::warn!(
                    "{}: --actions {k}, but only {} distinct label(s) found over {} windows: \
                     too few windows or segments long enough to form {k} clusters (a smaller \
                     --hop gives more windows)",
                    take.name,
                    found.len(),
                    labeling.windows.len()
                );
            }
        }
        if let Some((path, t, _)) = &truth {
            // Frames the truth leaves unlabelled are left out of the scores (every segment
            // lies inside the take, so at least one frame is labelled).
            let tolerance = (take.fps / 2.0).round() as usize;
            let r = evaluate_partial(t, &labeling.frame_labels, tolerance)?;
            let covered = if r.frames < n {
                format!(" over the {} of {n} frames it labels", r.frames)
            } else {
                String::new()
            };
            eprintln!(
                "{} against {}{covered}: Hungarian frame accuracy {:.1} % ({} true labels, {} \
                 predicted), first-appearance {:.1} %, ARI {:.3}, NMI {:.3}, boundary F1 {:.1} % \
                 (±0.5 s), covering {:.1} %",
                take.name,
                path.display(),
                100.0 * r.hungarian_accuracy,
                r.true_labels,
                r.pred_labels,
                100.0 * r.order_accuracy,
                r.ari,
                r.nmi,
                100.0 * r.boundary.f1,
                100.0 * r.covering
            );
        }
        for s in &labeling.segments {
            let label = s.label.map_or(-1, |l| l as i64);
            if args.format == "csv" {
                let _ = writeln!(
                    out,
                    "{},{},{},{},{:.3},{:.3},{label},{:.3}",
                    take.name,
                    s.id,
                    s.start,
                    s.end,
                    s.start_s(take.fps),
                    s.end_s(take.fps),
                    s.confidence
                );
            } else {
                let _ = writeln!(out, "{}", segment_json(&take.name, s, take.fps));
            }
        }
        if let Some(path) = &args.frame_labels {
            let mut csv = String::from("frame,label\n");
            for (i, l) in labeling.frame_labels.iter().enumerate() {
                let _ = writeln!(csv, "{i},{}", l.map_or(-1, |l| l as i64));
            }
            std::fs::write(path, csv).with_context(|| format!("writing {}", path.display()))?;
        }
        if let Some(path) = &args.plot {
            let truth = truth.as_ref().map(|(_, t, names)| (t, names));
            // With a truth row, the labels take the colours (and names) of the true labels
            // they match, so the two rows read alike.
            let aligned = match &truth {
                Some((t, names)) => Some(aligned_to_truth(t, names, &labeling.frame_labels)?),
                None => None,
            };
            let mut rows = vec![match &aligned {
                Some((labels, names)) => {
                    TimelineRow { name: "motionseg", labels, label_names: names }
                }
                None => TimelineRow {
                    name: "motionseg",
                    labels: &labeling.frame_labels,
                    label_names: &[],
                },
            }];
            if let Some((labels, names)) = &truth {
                rows.push(TimelineRow { name: "truth", labels, label_names: names });
            }
            let title = format!("{}: {} segments", take.name, labeling.segments.len());
            std::fs::write(path, timeline_svg(&title, take.fps, &rows))
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    out!("{out}");
    Ok(())
}

/// One segment as the JSON line `segment` and `replay` print.
fn segment_json(file: &str, s: &motionseg::segment::Segment, fps: f64) -> serde_json::Value {
    serde_json::json!({
        "file": file, "segment": s.id, "start_frame": s.start, "end_frame": s.end,
        "start_s": (s.start_s(fps) * 1000.0).round() / 1000.0,
        "end_s": (s.end_s(fps) * 1000.0).round() / 1000.0,
        "label": s.label.map_or(-1, |l| l as i64),
        "confidence": (f64::from(s.confidence) * 1000.0).round() / 1000.0,
    })
}

#[cfg(feature = "serve")]
fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    use motionseg::service::{Models, ServiceConfig};
    let model = load_model(&args.model, Some(&args.basis))?;
    let name = match &args.name {
        Some(n) => n.clone(),
        None => resolve(&args.model.model)
            .file_stem()
            .map_or_else(|| "default".to_owned(), |s| s.to_string_lossy().into_owned()),
    };
    let mut config = ServiceConfig::new(Models::new(name.clone(), model)?);
    config.max_sessions = args.max_sessions;
    config.idle_timeout =
        std::time::Duration::try_from_secs_f64(args.idle_timeout).map_err(|_| {
            anyhow::anyhow!(
                "--idle-timeout: expected seconds, got {}",
                motionseg::error::num(args.idle_timeout)
            )
        })?;
    config.queue_capacity = args.queue;
    config.max_batch = args.max_batch;
    config.ort_threads = args.model.threads;
    config.warm_runners = args.warm;
    let listener = std::net::TcpListener::bind(args.addr)
        .with_context(|| format!("listening on {}", args.addr))?;
    motionseg::service::run_until_ctrl_c(listener, config, |addr| {
        // The actual address (port 0 picks one), on stdout for scripts that start the server.
        // A closed stdout must not take the server down: the line is for scripts only.
        let _ = std::io::Write::write_fmt(
            &mut std::io::stdout().lock(),
            format_args!("motionseg serve: model {name}, listening on {addr}\n"),
        );
        let _ = std::io::Write::flush(&mut std::io::stdout());
    })?;
    eprintln!("motionseg serve: stopped");
    Ok(())
}

#[cfg(feature = "serve")]
fn replay(args: &ReplayArgs) -> anyhow::Result<()> {
    use motionseg::service::{LiveMessage, ReplayOptions, WhenFull};
    let take = read_take(&args.file, &args.input)?;
    let options = ReplayOptions {
        model: args.model.clone(),
        actions: args.actions,
        hop: args.hop,
        min_segment_frames: args.min_segment,
        when_full: if args.drop { WhenFull::Drop } else { WhenFull::Block },
        speed: args.speed,
        joints: take.joints.clone(),
        skeleton: args.input.asf.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
        max_frames: args.max_frames,
        provisional_every: args.provisional_every,
        boundary_penalty: args.penalty,
    };
    let progress = args.progress;
    let report = motionseg::service::replay_blocking(
        &args.server,
        take.frames.clone(),
        take.fps,
        &options,
        |msg| {
            if progress || !matches!(msg, LiveMessage::Window { .. }) {
                // Events are best effort: a reader that went away does not stop the replay.
                let _ = std::io::Write::write_fmt(
                    &mut std::io::stdout().lock(),
                    format_args!("{}\n", msg.to_json()),
                );
            }
        },
    )
    .with_context(|| format!("replaying {} to {}", take.name, args.server))?;
    for s in &report.summary.segments {
        outln!("{}", segment_json(&take.name, s, take.fps));
    }
    Ok(())
}

/// One method's rows of the evaluation, by mode.
struct MethodScores {
    name: &'static str,
    mode: &'static str,
    table: ResultsTable,
}

fn record(
    scores: &mut Vec<MethodScores>,
    name: &'static str,
    mode: &'static str,
    trial: &str,
    report: motionseg::eval::EvalReport,
) {
    match scores.iter_mut().find(|m| m.name == name && m.mode == mode) {
        Some(m) => m.table.push(trial, report),
        None => {
            let mut table = ResultsTable::default();
            table.push(trial, report);
            scores.push(MethodScores { name, mode, table });
        }
    }
}

/// K-inferred merge threshold of the model-free baselines' segment rows in `eval`: the value
/// they were first measured with, so that re-choosing the model's threshold does not move them.
const BASELINE_MERGE_THRESHOLD: f32 = 0.33;

const MAIN_METHOD: &str = "motionseg (batch)";
const LIVE_METHOD: &str = "motionseg, live: label when first shown";
/// Provisional updates of the live labels in `eval`, as the live service and the C ABI.
const LIVE_PROVISIONAL_EVERY: usize = 8;
const STREAM_METHOD: &str = "motionseg (streaming)";

fn eval(args: &EvalArgs) -> anyhow::Result<()> {
    let data = args
        .data
        .clone()
        .or_else(|| std::env::var_os("MOTIONSEG_DATA").map(PathBuf::from))
        .unwrap_or_else(|| resolve(Path::new("../shared/data")));
    if args.actions8 > 0 && args.actions8_clips == 0 {
        anyhow::bail!("--actions8-clips must be at least 1");
    }
    if let Some(t) =
        args.trials.iter().enumerate().find_map(|(i, t)| args.trials[..i].contains(t).then_some(t))
    {
        anyhow::bail!("--trials: {t} is listed twice (it would count twice in the mean)");
    }
    let first = args.actions8_first_seed;
    let Some(end) = first.checked_add(args.actions8) else {
        anyhow::bail!("--actions8-first-seed {first} + --actions8 {} overflows", args.actions8);
    };
    let model = load_model(&args.model, Some(&args.label.basis))?;
    // One warm session for every sequence and run.
    let mut emb = OrtEmbedder::new(model.model_bytes(), model.manifest(), args.model.threads)?;
    let mut scores: Vec<MethodScores> = Vec::new();
    let mut stream_equal = Vec::new();
    let mut gaps = Vec::new();
    for trial in &args.trials {
        let name = format!("86_{trial}");
        let npy = data.join(format!("cmu/86/expmap/86_{trial}.npy"));
        let truth_path = data.join(format!("cmu/86/labels/aca/86_{trial}.csv"));
        let su_path = data.join(format!("cmu/86/labels/su/86_{trial}.txt"));
        let input = InputArgs { asf: None, fps: Some(120.0) };
        let mut take = read_take(&npy, &input)?;
        take.name = name;
        let n = take.frames.nrows();
        let segs = motionseg::labels::read_segments(&truth_path)?;
        let (truth, names) = truth_labels(&segs, n, &truth_path.display().to_string())?;
        // The Su windows when the file is there (a broken one is an error, not a silent
        // fallback), else the truth's own boundaries ±0.5 s.
        let tolerance = if su_path.exists() {
            Tolerance::Windows(read_su(&su_path)?.with_frame_count(truth.len())?.boundaries)
        } else {
            tracing::warn!(
                "{}: no Su tolerance windows; boundaries scored within ±0.5 s",
                su_path.display()
            );
            Tolerance::Frames(60)
        };
        let k = names.len();
        let case = EvalCase { take, truth, names, k, tolerance };
        eval_case(args, &model, &mut emb, &case, &mut scores, &mut stream_equal, &mut gaps)?;
    }
    let mut scores8: Vec<MethodScores> = Vec::new();
    let mut seqs8 = Vec::new();
    if args.actions8 > 0 {
        let asf = read_asf(&data.join("cmu/86/86.asf"))?;
        for seed in first..end {
            let c = motionseg::eval::concat_actions8(&data, seed, args.actions8_clips)?;
            let name = format!("a8_s{seed}");
            let frames = c.to_raw(&asf)?;
            let k = c.truth.iter().collect::<std::collections::BTreeSet<_>>().len();
            let take = Take { name: name.clone(), frames, fps: ACTIONS8_FPS, joints: Vec::new() };
            // ±0.5 s, as the 86 fallback without Su windows.
            let tolerance = Tolerance::Frames((ACTIONS8_FPS / 2.0) as usize);
            let names = ACTIONS8.iter().map(|a| (*a).to_owned()).collect();
            let case = EvalCase { take, truth: c.truth.clone(), names, k, tolerance };
            eval_case(args, &model, &mut emb, &case, &mut scores8, &mut stream_equal, &mut gaps)?;
            seqs8.push((name, c.clips));
        }
    }

    for mode in ["K given", "K inferred"] {
        if let Some(m) = scores.iter().find(|m| m.name == MAIN_METHOD && m.mode == mode) {
            outln!(
                "== CMU 86 development trials, {mode}: {MAIN_METHOD}, --method {}",
                args.label.method
            );
            outln!("{}", m.table.render());
        }
    }
    if args.label.method == "segments" {
        outln!(
            "== Spanning-tree cut: longest edge kept / shortest edge cut (segment distances; \
             close values are a near tie that a small change can swap)"
        );
        for mode in ["K given", "K inferred"] {
            let cells: Vec<String> = gaps
                .iter()
                .filter(|g| g.mode == mode)
                .map(|g| match g.gap {
                    Some((kept, cut)) => format!("{} {kept:.3}/{cut:.3}", g.sequence),
                    None => format!("{} -", g.sequence),
                })
                .collect();
            outln!("{mode:>10}: {}", cells.join("  "));
        }
        outln!();
    }
    outln!("== All methods (Hungarian frame accuracy %, mean ARI, mean boundary F1 %)");
    out!("{}", comparison_table(&scores));
    if !scores8.is_empty() {
        outln!(
            "\n== Concatenated cmu/actions8 clips ({} per sequence, other CMU subjects, 60 fps, \
             converted to the 86 layout), K = distinct actions in the sequence",
            args.actions8_clips
        );
        for (name, clips) in &seqs8 {
            let order: Vec<&str> = clips.iter().map(|c| ACTIONS8[c.label]).collect();
            outln!("{name}: {}", order.join(" > "));
        }
        out!("{}", comparison_table(&scores8));
    }
    let unequal: Vec<&str> =
        stream_equal.iter().filter(|(_, eq)| !eq).map(|(n, _)| n.as_str()).collect();
    if args.quick {
        outln!("streaming == batch: not checked (--quick)");
    } else if unequal.is_empty() {
        outln!("streaming == batch: identical final segments on every trial and mode");
    } else {
        outln!("streaming != batch on: {}", unequal.join(", "));
    }
    if let Some(path) = &args.json {
        let by_mode = |scores: &[MethodScores]| -> anyhow::Result<serde_json::Map<_, _>> {
            let mut obj = serde_json::Map::new();
            for m in scores {
                let entry = obj
                    .entry(m.mode.to_owned())
                    .or_insert_with(|| serde_json::Value::Object(Default::default()));
                if let serde_json::Value::Object(map) = entry {
                    map.insert(m.name.to_owned(), serde_json::from_str(&m.table.to_json()?)?);
                }
            }
            Ok(obj)
        };
        let mut obj = by_mode(&scores)?;
        if !scores8.is_empty() {
            let mut a8 = by_mode(&scores8)?;
            a8.insert("sequences".to_owned(), serde_json::to_value(&seqs8)?);
            obj.insert("actions8".to_owned(), serde_json::Value::Object(a8));
        }
        obj.insert("cut_gaps".to_owned(), serde_json::to_value(&gaps)?);
        obj.insert(
            "streaming_equals_batch".to_owned(),
            serde_json::Value::Bool(unequal.is_empty()),
        );
        std::fs::write(path, serde_json::to_string_pretty(&serde_json::Value::Object(obj))?)
            .with_context(|| format!("writing {}", path.display()))?;
        outln!("wrote {}", path.display());
    }
    Ok(())
}

/// One labelled sequence for `eval`.
struct EvalCase {
    take: Take,
    truth: Vec<usize>,
    /// Names of the truth labels (indexed by them).
    names: Vec<String>,
    k: usize,
    tolerance: Tolerance,
}

/// The main labeling's spanning-tree cut on one sequence and mode: its longest kept and
/// shortest removed edge (close values: a near tie).
#[derive(Debug, serde::Serialize)]
struct CutGap {
    sequence: String,
    mode: &'static str,
    gap: Option<(f32, f32)>,
}

/// Scores every method on one case (one model pass shared by all of them).
fn eval_case(
    args: &EvalArgs,
    model: &EngineModel,
    emb: &mut OrtEmbedder,
    case: &EvalCase,
    scores: &mut Vec<MethodScores>,
    stream_equal: &mut Vec<(String, bool)>,
    gaps: &mut Vec<CutGap>,
) -> anyhow::Result<()> {
    use motionseg::baseline::{pose_pod, window_stats};
    use motionseg::cluster::{average_linkage, cluster_offline, kmeans};
    use motionseg::labeler::segment_windows;

    let EvalCase { take, truth, k, tolerance, .. } = case;
    let (n, k, name) = (take.frames.nrows(), *k, &take.name);
    let mut given = labeler_params(&args.label, Some(k))?;
    let mut inferred = labeler_params(&args.label, None)?;
    let dim = given.bind_model(model)?;
    inferred.bind_model(model)?;
    let min_seg = given.min_segment_frames;

    // One model pass: every clustering of the decoder embeddings below shares it.
    let m = model.manifest();
    m.check_input(&take.name, take.frames.ncols(), &take.joints)?;
    let windows = {
        let mut engine = Engine::new(model.clone(), &mut *emb, take.fps, given.engine)?;
        embed_take(&mut engine, take.frames.view(), name)?
    };
    let spans: Vec<_> = windows.iter().map(|w| w.span).collect();
    // The comparators see the decoder states alone (the part before any pose statistics).
    let modes = model.basis().map_or(dim, PodBasis::modes);
    let dec_dim = given.engine.summary.len(m.t_d, modes).min(dim);
    let points = Array2::from_shape_fn((windows.len(), dec_dim), |(i, j)| windows[i].values[j]);
    let decoder_only: Vec<WindowEmbedding> = windows
        .iter()
        .map(|w| WindowEmbedding { span: w.span, values: w.values[..dec_dim].to_vec() })
        .collect();
    let score = |labels: Vec<Option<usize>>| -> anyhow::Result<_> {
        let labeling = segment_windows(spans.clone(), labels, n, min_seg)?;
        Ok(evaluate(truth, &labeling.frame_labels, tolerance)?)
    };

    let mut plotted = Vec::new();
    for (mode, params) in [("K given", &given), ("K inferred", &inferred)] {
        let mut p = params.clone();
        p.keep_all(windows.len());
        let (batch, labeler) = label_windows(&p, dim, take.fps, &windows, n)?;
        gaps.push(CutGap { sequence: name.clone(), mode, gap: labeler.cut_gap() });
        let report = evaluate(truth, &batch.frame_labels, tolerance)?;
        plotted.push((mode, report.hungarian_accuracy, batch.frame_labels.clone()));
        record(scores, MAIN_METHOD, mode, name, report);
        if args.quick {
            continue;
        }
        // The streaming engine (frame by frame, model batch 1) on the same take.
        p.streaming = true;
        let live = label_file(model, emb, take, &p)?;
        stream_equal.push((format!("{name} {mode}"), live.segments == batch.segments));
        record(scores, STREAM_METHOD, mode, name, evaluate(truth, &live.frame_labels, tolerance)?);
        // What a live viewer saw: each frame's label when the provisional events first showed
        // it (updates every 8 windows and the hysteresis, as the live service and the C ABI).
        let shown = first_shown_labels(params, dim, take.fps, &windows, &batch.frame_labels)?;
        record(scores, LIVE_METHOD, mode, name, evaluate(truth, &shown, tolerance)?);
        // The other way to place boundaries on the same windows: change-score peaks when the
        // default partitions, optimal partitioning (at the default penalty) when it does not.
        if let Method::Segments(sp) = params.method {
            let (other_penalty, other_name) = if sp.penalty > 0.0 {
                (0.0, "motionseg, boundaries at change-score peaks (--penalty 0)")
            } else {
                (SegmentParams::default().penalty, "motionseg, boundaries by partitioning")
            };
            let mut p = params.clone();
            p.method = Method::Segments(SegmentParams { penalty: other_penalty, ..sp });
            p.keep_all(windows.len());
            let (other, _) = label_windows(&p, dim, take.fps, &windows, n)?;
            record(
                scores,
                other_name,
                mode,
                name,
                evaluate(truth, &other.frame_labels, tolerance)?,
            );
        }
        // Both clustering methods on the decoder states alone (what the pose statistics add).
        let seg = match params.method {
            Method::Segments(sp) => SegmentParams { change_split: 0, change_shift: 0, ..sp },
            Method::Windows => SegmentParams::default(),
        };
        for (method, other_name) in [
            (Method::Segments(seg), "decoder states only: segments, single linkage"),
            (Method::Windows, "decoder states only: windows, robust single linkage"),
        ] {
            let mut p = params.clone();
            (p.method, p.engine.summary) = (method, Summary::Mean);
            p.keep_all(windows.len());
            let (other, _) = label_windows(&p, dec_dim, take.fps, &decoder_only, n)?;
            let report = evaluate(truth, &other.frame_labels, tolerance)?;
            record(scores, other_name, mode, name, report);
        }
        // The pose statistics alone (what the network adds): the same segments method, each
        // window given the statistics of the window `change_shift` later (their middle is
        // its end, as the decoder states describe it) and no lag, so that their boundaries are
        // placed as well as they can be.
        if let Method::Segments(sp) = params.method {
            if sp.change_split > 0 && sp.change_split < dim {
                let last = windows.len() - 1;
                let mut p = params.clone();
                let only = SegmentParams { change_split: 0, change_shift: 0, lag: 0, ..sp };
                (p.method, p.engine.summary) = (Method::Segments(only), Summary::Mean);
                p.keep_all(windows.len());
                let shifted: Vec<WindowEmbedding> = (0..windows.len())
                    .map(|i| {
                        let ahead = &windows[(i + sp.change_shift).min(last)].values;
                        let values = ahead[sp.change_split..].to_vec();
                        WindowEmbedding { span: windows[i].span, values }
                    })
                    .collect();
                let (pose, _) = label_windows(&p, dim - sp.change_split, take.fps, &shifted, n)?;
                let report = evaluate(truth, &pose.frame_labels, tolerance)?;
                record(scores, "pose statistics only (no network): segments", mode, name, report);
            }
        }
    }

    if let Some(dir) = &args.plots {
        plot_case(dir, case, &plotted)?;
    }
    if args.quick {
        return Ok(());
    }
    // Offline comparators on the same decoder embeddings (K given).
    let mut single = given.cluster.clone();
    (single.dim, single.linkage, single.min_cluster_size) = (dec_dim, Linkage::Single, 1);
    single.max_points = single.max_points.max(windows.len() + 16);
    record(
        scores,
        "decoder states: plain single linkage",
        "K given",
        name,
        score(cluster_offline(points.view(), &single)?)?,
    );
    let avg = average_linkage(points.view(), k)?;
    record(
        scores,
        "decoder states: average linkage",
        "K given",
        name,
        score(avg.into_iter().map(Some).collect())?,
    );
    let km = kmeans(points.view(), k, 0, 100)?;
    record(
        scores,
        "decoder states: k-means++",
        "K given",
        name,
        score(km.into_iter().map(Some).collect())?,
    );

    // Model-free baselines on the same windows.
    let stats = window_stats(take.frames.view(), &spans)?;
    let pod = pose_pod(take.frames.view(), &spans, 0.9)?;
    for (label, x) in [("window mean+std (no model)", &stats), ("pose POD (no model)", &pod)] {
        for (mode, params) in [("K given", &given), ("K inferred", &inferred)] {
            let mut c = params.cluster.clone();
            c.dim = x.ncols();
            c.max_points = c.max_points.max(windows.len() + 16);
            let method = if label.starts_with("window") {
                "window mean+std (no model): robust single linkage"
            } else {
                "pose POD (no model): robust single linkage"
            };
            record(scores, method, mode, name, score(cluster_offline(x.view(), &c)?)?);
        }
        for (mode, params) in [("K given", &given), ("K inferred", &inferred)] {
            let mut p = params.clone();
            // Change-score peaks: the partition penalty is calibrated on the model's embedding,
            // not on these features' scale.
            let peaks = SegmentParams {
                penalty: 0.0,
                threshold: BASELINE_MERGE_THRESHOLD,
                ..SegmentParams::default()
            };
            (p.method, p.engine.summary) = (Method::Segments(peaks), Summary::Mean);
            let rows: Vec<WindowEmbedding> = spans
                .iter()
                .zip(x.rows())
                .map(|(span, row)| WindowEmbedding { span: *span, values: row.to_vec() })
                .collect();
            let (labeling, _) = label_windows(&p, x.ncols(), take.fps, &rows, n)?;
            let method = if label.starts_with("window") {
                "window mean+std (no model): segments, single linkage"
            } else {
                "pose POD (no model): segments, single linkage"
            };
            record(scores, method, mode, name, evaluate(truth, &labeling.frame_labels, tolerance)?);
        }
        let avg = average_linkage(x.view(), k)?;
        let method = if label.starts_with("window") {
            "window mean+std (no model): average linkage"
        } else {
            "pose POD (no model): average linkage"
        };
        record(scores, method, "K given", name, score(avg.into_iter().map(Some).collect())?);
    }
    Ok(())
}

/// Labels already embedded `windows` as a take of `frames` frames; the labeler comes back
/// too (for its cut gap). One place for every labeling `eval` runs on the same windows.
fn label_windows(
    params: &LabelerParams,
    dim: usize,
    fps: f64,
    windows: &[WindowEmbedding],
    frames: usize,
) -> anyhow::Result<(Labeling, motionseg::labeler::StreamLabeler)> {
    label_windows_with(params, dim, fps, windows, frames, |_| {})
}

/// [`label_windows`], handing the live events of each pushed window to `on_events` (not the
/// final ones of `finish`).
fn label_windows_with(
    params: &LabelerParams,
    dim: usize,
    fps: f64,
    windows: &[WindowEmbedding],
    frames: usize,
    mut on_events: impl FnMut(&[motionseg::segment::SegmentEvent]),
) -> anyhow::Result<(Labeling, motionseg::labeler::StreamLabeler)> {
    let mut labeler = motionseg::labeler::StreamLabeler::new(params, dim, fps)?;
    let mut events = Vec::new();
    for w in windows {
        labeler.push_window(w, &mut events)?;
        on_events(&events);
        events.clear();
    }
    let labeling = labeler.finish(frames, &mut events)?;
    Ok((labeling, labeler))
}

/// Each frame's label when a live stream's provisional events first showed it
/// ([`motionseg::eval::FirstShown`]); frames the events never reached before the end (the last
/// update's few windows) take `final_labels`.
fn first_shown_labels(
    params: &LabelerParams,
    dim: usize,
    fps: f64,
    windows: &[WindowEmbedding],
    final_labels: &[Option<usize>],
) -> anyhow::Result<Vec<Option<usize>>> {
    let mut p = params.clone();
    p.provisional_every = LIVE_PROVISIONAL_EVERY;
    let mut view = motionseg::eval::FirstShown::default();
    let frames = final_labels.len();
    label_windows_with(&p, dim, fps, windows, frames, |events| view.apply(events))?;
    Ok(view.labels(frames, final_labels))
}

/// `pred` renamed to the true labels they match ([`motionseg::eval::align_to_truth`]), and a
/// legend name per renamed label that keeps the label's own number: `"2 ≈ walk"`, or
/// `"5 (unmatched)"`.
fn aligned_to_truth(
    truth: &[Option<usize>],
    truth_names: &[String],
    pred: &[Option<usize>],
) -> anyhow::Result<(Vec<Option<usize>>, Vec<String>)> {
    let (aligned, extra) = motionseg::eval::align_to_truth(truth, pred)?;
    let true_count = truth.iter().flatten().max().map_or(0, |m| m + 1);
    let mut names = vec![String::new(); true_count + extra];
    for (a, p) in aligned.iter().zip(pred) {
        if let (Some(a), Some(p)) = (a, p) {
            if names[*a].is_empty() {
                names[*a] = match truth_names.get(*a).filter(|_| *a < true_count) {
                    Some(t) => format!("{p} ≈ {t}"),
                    None => format!("{p} (unmatched)"),
                };
            }
        }
    }
    Ok((aligned, names))
}

/// Writes `dir/<sequence>.svg`: the truth, then each labeling of `plotted` (mode, Hungarian
/// accuracy, frame labels) with its labels renamed to the true labels they match.
fn plot_case(
    dir: &Path,
    case: &EvalCase,
    plotted: &[(&str, f64, Vec<Option<usize>>)],
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let truth: Vec<Option<usize>> = case.truth.iter().map(|&t| Some(t)).collect();
    let mut aligned = Vec::new();
    for (mode, acc, labels) in plotted {
        let (labels, names) = aligned_to_truth(&truth, &case.names, labels)?;
        aligned.push((format!("{mode} ({:.1} %)", acc * 100.0), labels, names));
    }
    let mut rows = vec![TimelineRow { name: "truth", labels: &truth, label_names: &case.names }];
    rows.extend(aligned.iter().map(|(name, labels, names)| TimelineRow {
        name,
        labels,
        label_names: names,
    }));
    let title = format!(
        "{}: truth and motionseg (batch; colours matched to the truth, Hungarian accuracy)",
        case.take.name
    );
    let path = dir.join(format!("{}.svg", case.take.name));
    std::fs::write(&path, timeline_svg(&title, case.take.fps, &rows))
        .with_context(|| format!("writing {}", path.display()))
}

/// One line per method and mode: per-trial Hungarian accuracy, then means.
fn comparison_table(scores: &[MethodScores]) -> String {
    let mut lines = vec![{
        let mut h = vec!["method".to_owned(), "K".to_owned()];
        if let Some(m) = scores.first() {
            h.extend(m.table.rows.iter().map(|r| r.name.clone()));
        }
        h.extend(["mean%", "ARI", "bound_F1%"].map(str::to_owned));
        h
    }];
    for m in scores {
        let rows = &m.table.rows;
        let n = rows.len().max(1) as f64;
        let mut l = vec![m.name.to_owned(), m.mode.trim_start_matches("K ").to_owned()];
        l.extend(rows.iter().map(|r| format!("{:.1}", r.report.hungarian_accuracy * 100.0)));
        let mean = |f: &dyn Fn(&motionseg::eval::EvalReport) -> f64| {
            rows.iter().map(|r| f(&r.report)).sum::<f64>() / n
        };
        l.push(format!("{:.1}", mean(&|r| r.hungarian_accuracy) * 100.0));
        l.push(format!("{:.3}", mean(&|r| r.ari)));
        l.push(format!("{:.1}", mean(&|r| r.boundary.f1) * 100.0));
        lines.push(l);
    }
    let cols = lines[0].len();
    let widths: Vec<usize> = (0..cols)
        .map(|c| lines.iter().map(|l| l.get(c).map_or(0, String::len)).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for l in &lines {
        for (c, cell) in l.iter().enumerate() {
            let w = widths[c];
            let _ = if c == 0 { write!(out, "{cell:<w$}") } else { write!(out, "  {cell:>w$}") };
        }
        out.push('\n');
    }
    out
}
