//! The `motionseg` command-line tool. `anyhow` lives here only; the library returns
//! `motionseg::Error`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use motionseg::features::{motion_features, FeatureMatrix};
use motionseg::ingest::{self, Input, LoadOptions};
use motionseg::{Channel, Motion, Skeleton};

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
}

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

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Inspect(args) => inspect(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, no backtrace: the library's errors already name file, line and field.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
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
    print!("{out}");
    if let (Some(path), Some(f)) = (&args.features, features) {
        ingest::npy::write_npy(path, f.data.view())
            .with_context(|| format!("writing features to {}", path.display()))?;
        println!(
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
    if let Some(asf) = asf {
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
    let mut depth = vec![0usize; sk.joints.len()];
    let mut s = String::new();
    let offsets = sk.channel_offsets();
    for (i, j) in sk.joints.iter().enumerate() {
        // Parents come first in both formats' file order, so depth is known by now.
        depth[i] = j.parent.and_then(|p| depth.get(p).map(|d| d + 1)).unwrap_or(0);
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
        let _ = write!(s, "{}{} [{}] {cols}", "  ".repeat(depth[i]), j.name, chans.join(" "));
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
