//! Writes every `cmu/actions8` clip in the canonical CMU raw layout at 120 fps, the input of
//! `models/seq2seq.py train --extra-npy` (the model card's "actions8 clips" training run).
//!
//! ```sh
//! cargo run --release --example actions8_raw -- [DATA_DIR] [OUT_DIR]
//! # defaults: $MOTIONSEG_DATA (else ../shared/data) and models/runs/a8clips
//! ```
//!
//! Each clip is converted as `eval` converts its concatenations (`ConcatActions::to_raw` with
//! `86.asf`'s axes), then every 60 fps row is written twice: the trainer reads 120 fps takes and
//! keeps every 4th row, so each decimation phase sees every other clip row, as `eval` does.

use std::path::PathBuf;

use anyhow::Context;
use motionseg::eval::{ClipSource, ConcatActions, ACTIONS8};
use motionseg::ingest::asf_amc::read_asf;
use motionseg::ingest::npy::{read_npy, write_npy};
use ndarray::Array2;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let data = args
        .next()
        .or_else(|| std::env::var_os("MOTIONSEG_DATA").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("../shared/data"));
    let out = args.next().unwrap_or_else(|| PathBuf::from("models/runs/a8clips"));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let skeleton = read_asf(&data.join("cmu/86/86.asf"))?;
    let (mut clips, mut rows) = (0, 0);
    for (label, action) in ACTIONS8.iter().enumerate() {
        let dir = data.join("cmu/actions8").join(action);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        files.retain(|p| p.extension().is_some_and(|e| e == "npy"));
        files.sort();
        for file in files {
            let clip = read_npy(&file, None)?.data;
            let n = clip.nrows();
            let one = ConcatActions {
                frames: clip,
                truth: vec![label; n],
                clips: vec![ClipSource {
                    path: file.display().to_string(),
                    label,
                    start: 0,
                    end: n,
                }],
            };
            let raw = one.to_raw(&skeleton)?;
            let doubled = Array2::from_shape_fn((2 * n, raw.ncols()), |(i, j)| raw[[i / 2, j]]);
            let name = file.file_name().context("clip without a file name")?;
            write_npy(&out.join(name), doubled.view())?;
            clips += 1;
            rows += n;
        }
    }
    println!(
        "wrote {clips} clips ({rows} rows at 60 fps, {:.1} min) to {}",
        rows as f64 / 3600.0,
        out.display()
    );
    Ok(())
}
