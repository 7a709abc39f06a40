//! A whole take (or stream) from frames to labeled segments: [`Engine`] embeddings, online
//! [`Clusterer`](crate::cluster::Clusterer), then the [`Segmenter`](crate::segment::Segmenter).
//!
//! Streaming feeds frames one at a time and inserts each window into the clusterer as soon as the
//! model has run on it; batch embeds everything first with large model batches. Both insert the
//! same windows in the same order, and the final labels are read from the clusterer once the
//! input ends, so both give the same final segments (tested).

use ndarray::ArrayView2;

use crate::cluster::{ClusterParams, Cut, Linkage};
use crate::embed::Embedder;
use crate::engine::{with_row, Engine, EngineConfig, EngineModel, WindowEmbedding};
use crate::error::{Error, Result};
use crate::segment::{Segment, SegmenterParams};
use crate::window::WindowSpan;

/// Settings of a labeling run, validated by [`label_take`].
#[derive(Debug, Clone)]
pub struct LabelerParams {
    /// Hop, model batch and per-window summary.
    pub engine: EngineConfig,
    /// Clustering; `dim` is set from the model and basis.
    pub cluster: ClusterParams,
    /// A new label must hold this many frames before a boundary is declared.
    pub min_segment_frames: usize,
    /// Feed frames one at a time (streaming) rather than embedding all windows first (batch).
    pub streaming: bool,
}

impl LabelerParams {
    /// Defaults, chosen with `motionseg eval` on the development trials: hop 2, mean summary,
    /// robust single linkage with 20 neighbours for the core distance and clusters of at least
    /// 40 windows (about 2.7 s at hop 2), `actions` clusters when given (else K inferred by
    /// stability), segments of at least half a second at 120 fps.
    pub fn new(actions: Option<usize>) -> LabelerParams {
        let mut cluster = ClusterParams::new(1);
        cluster.linkage = Linkage::Robust { min_samples: 20 };
        cluster.min_cluster_size = 40;
        if let Some(k) = actions {
            cluster.cut = Cut::Count(k);
        }
        LabelerParams {
            engine: EngineConfig { hop: 2, batch: 64, ..Default::default() },
            cluster,
            min_segment_frames: 60,
            streaming: false,
        }
    }
}

/// The result of labeling a take.
#[derive(Debug, Clone)]
pub struct Labeling {
    /// Every window, in order.
    pub windows: Vec<WindowSpan>,
    /// The final cluster label of each window (`None`: noise).
    pub window_labels: Vec<Option<usize>>,
    /// One label per input frame (`None` where none could be given).
    pub frame_labels: Vec<Option<usize>>,
    /// Final segments.
    pub segments: Vec<Segment>,
}

/// Labels `frames` (raw canonical rows at `fps`) with `model` (which needs a basis).
pub fn label_take<E: Embedder>(
    model: &EngineModel,
    embedder: E,
    frames: ArrayView2<'_, f32>,
    fps: f64,
    params: &LabelerParams,
    mut progress: impl FnMut(usize),
) -> Result<Labeling> {
    let mut engine_cfg = params.engine;
    if params.streaming {
        engine_cfg.batch = 1;
    }
    let mut engine = Engine::new(model.clone(), embedder, fps, engine_cfg)?;
    let dim = engine.embedding_len().ok_or_else(|| Error::Param {
        name: "basis",
        message: "labeling needs a POD basis (fit one with `motionseg fit-basis`)".to_owned(),
    })?;
    let mut cp = params.cluster.clone();
    cp.dim = dim;
    // A take is finite: keep every window (no thinning), so final labels cover all of them.
    cp.max_points = cp.max_points.max(frames.nrows() + 16);
    let mut clusterer = cp.build()?;
    let mut events = Vec::new();
    let mut windows = Vec::new();
    let mut insert = |w: &WindowEmbedding, windows: &mut Vec<WindowSpan>| -> Result<()> {
        events.clear();
        clusterer.insert(w.span.index, &w.values, &mut events)?;
        windows.push(w.span);
        Ok(())
    };
    let mut out = Vec::new();
    for (i, row) in frames.rows().into_iter().enumerate() {
        with_row(row, |r| engine.push_frame(r, &mut out))?;
        if params.streaming {
            for w in out.drain(..) {
                insert(&w, &mut windows)?;
            }
        }
        if i % 256 == 0 {
            progress(i);
        }
    }
    engine.flush(&mut out)?;
    for w in out.drain(..) {
        insert(&w, &mut windows)?;
    }
    progress(frames.nrows());
    if let Cut::Count(k) = cp.cut {
        if k > windows.len() {
            return Err(Error::Param {
                name: "actions",
                message: format!("{k} actions but the take gives only {} windows", windows.len()),
            });
        }
    }
    let labels = clusterer.labels();
    let mut window_labels = vec![None; windows.len()];
    for (id, l) in labels {
        if let Some(slot) = window_labels.get_mut(id as usize) {
            *slot = l.map(|c| c.0 as usize);
        }
    }
    let mut segmenter = SegmenterParams::new(params.min_segment_frames.max(1)).build()?;
    let mut seg_events = Vec::new();
    for (span, label) in windows.iter().zip(&window_labels) {
        segmenter.push(*span, *label, &mut seg_events)?;
    }
    segmenter.finish_at(frames.nrows(), &mut seg_events)?;
    Ok(Labeling {
        windows,
        window_labels,
        frame_labels: segmenter.frame_labels(),
        segments: segmenter.segments(),
    })
}
