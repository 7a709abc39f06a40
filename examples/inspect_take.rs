//! Smallest end-to-end program: read the bundled CMU take and turn it into canonical features.
//!
//! ```sh
//! cargo run --example inspect_take
//! ```

use std::path::Path;

use motionseg::features::motion_features;
use motionseg::ingest::asf_amc::{read_amc, read_asf};

fn main() -> anyhow::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data");
    let skeleton = read_asf(&dir.join("86.asf"))?;
    let motion = read_amc(&dir.join("86_01.amc"), &skeleton)?;
    let features = motion_features(&motion)?;
    println!(
        "{} frames at {:.0} fps, {} joints -> features [{} x {}]",
        motion.frame_count(),
        motion.fps(),
        skeleton.joints.len(),
        features.frame_count(),
        features.channel_count()
    );
    Ok(())
}
