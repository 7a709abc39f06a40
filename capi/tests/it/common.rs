//! Helpers shared by the C ABI tests: the shipped model loaded once through the C ABI, the
//! bundled take, and the Rust batch labeling the C results must equal.

use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use motionseg::embed::ort::OrtEmbedder;
use motionseg::engine::EngineModel;
use motionseg::features::motion_features;
use motionseg::ingest::{self, Input, LoadOptions};
use motionseg::labeler::{label_take, LabelerParams};
use motionseg::segment::Segment;
use motionseg_capi::*;
use ndarray::Array2;

/// A path in the repository (the workspace root, one above this crate).
pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

pub fn cstr(p: &Path) -> CString {
    CString::new(p.to_str().expect("UTF-8 path")).expect("no NUL")
}

pub const MANIFEST: &str = "models/motionseg_default.json";
pub const BASIS: &str = "models/motionseg_default.basis.json";
pub const TAKE: &str = "examples/data/86_01.amc";
pub const ASF: &str = "examples/data/86.asf";

/// The message of the last failure on this thread.
pub fn last_error() -> String {
    // SAFETY: ms_last_error never returns NULL.
    unsafe { CStr::from_ptr(ms_last_error()) }.to_string_lossy().into_owned()
}

struct ModelPtr(*mut MsModel);
// SAFETY: ms_model is documented (and checked in `ffi::handles_are_thread_safe`) to be
// shareable between threads.
unsafe impl Send for ModelPtr {}
// SAFETY: as above.
unsafe impl Sync for ModelPtr {}

/// The shipped model and basis, loaded once through `ms_model_load` (ONNX Runtime found the
/// way the root crate's tests find it: `.venv` from scripts/setup.sh, or $MOTIONSEG_ORT_LIB).
pub fn model() -> *const MsModel {
    static MODEL: OnceLock<ModelPtr> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let (m, b) = (cstr(&repo(MANIFEST)), cstr(&repo(BASIS)));
            // SAFETY: valid strings; NULL runtime path = the documented search.
            let p = unsafe { ms_model_load(m.as_ptr(), b.as_ptr(), std::ptr::null()) };
            assert!(
                !p.is_null(),
                "ms_model_load failed (run scripts/setup.sh for ONNX Runtime): {}",
                last_error()
            );
            ModelPtr(p)
        })
        .0
}

pub struct Take {
    pub frames: Array2<f32>,
    pub fps: f64,
    /// Joint names in frame order (from the ASF).
    pub joints: Vec<String>,
}

/// The bundled real take, CMU 86_01 (4579 frames at 120 fps), as raw canonical frames.
pub fn take() -> &'static Take {
    static TAKE_: OnceLock<Take> = OnceLock::new();
    TAKE_.get_or_init(|| {
        let asf = repo(ASF);
        let opts = LoadOptions { asf: Some(&asf), fps: None };
        let Input::Motion(m) = ingest::load(&repo(TAKE), &opts).expect("bundled take") else {
            panic!("an AMC file gives a motion")
        };
        let f = motion_features(&m).expect("features");
        Take { frames: f.data, fps: m.fps(), joints: f.joints }
    })
}

/// What the Rust library gives in batch for the bundled take (the reference for the C ABI).
pub fn rust_batch(actions: Option<usize>) -> Vec<Segment> {
    model(); // loads ONNX Runtime for the process
    let engine_model =
        EngineModel::load(&repo(MANIFEST), Some(&repo(BASIS))).expect("shipped model");
    let emb = OrtEmbedder::new(engine_model.model_bytes(), engine_model.manifest(), 1)
        .expect("runtime session");
    let t = take();
    let params = LabelerParams::new(actions);
    label_take(&engine_model, emb, t.frames.view(), t.fps, &params, |_| {})
        .expect("batch labeling")
        .segments
}

/// Batch reference for K = 4 and K inferred, computed once each.
pub fn reference(actions: usize) -> &'static [Segment] {
    static K4: OnceLock<Vec<Segment>> = OnceLock::new();
    static K0: OnceLock<Vec<Segment>> = OnceLock::new();
    match actions {
        4 => K4.get_or_init(|| rust_batch(Some(4))),
        0 => K0.get_or_init(|| rust_batch(None)),
        _ => panic!("no reference for {actions} actions"),
    }
}
