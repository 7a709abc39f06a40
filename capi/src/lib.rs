//! # motionseg-capi
//!
//! The C ABI of [`motionseg`]: load a model once, label files in batch or stream pose frames one
//! at a time and receive segment events through a callback. The declarations are in
//! `capi/include/motionseg.h` (hand-written; a test checks that every exported function is
//! declared there and that the structs have the same layout in C and Rust).
//!
//! This file is the whole FFI boundary: every `unsafe` block and every `extern "C"` function of
//! the project lives here. Every exported function
//!
//! * runs its body under [`std::panic::catch_unwind`], so a panic (a bug) never unwinds into C:
//!   it becomes [`MS_ERR_PANIC`] with a message;
//! * checks its pointers for NULL, strings for UTF-8, frames for their length and finite values;
//! * reports failure by its return value (NULL or a nonzero `MS_ERR_*` code) and leaves a
//!   message naming the file, line, field or argument in a thread-local buffer
//!   ([`ms_last_error`], [`ms_last_error_code`]).
//!
//! Handles: [`MsModel`] (`ms_model`) is immutable and shared between threads; [`MsStream`]
//! (`ms_stream`) is one live stream, used by one thread at a time. The streaming path is the
//! live service's (`motionseg::service`): the same validation, the same labeling settings and
//! the same provisional events, one frame at a time.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use motionseg::cluster::segments::SegmentParams;
use motionseg::embed::ort::{find_runtime, init_runtime, OrtEmbedder, SessionPool};
use motionseg::embed::Embedder;
use motionseg::engine::{Engine, EngineModel, WindowEmbedding};
use motionseg::features::motion_features;
use motionseg::ingest::{self, Input, LoadOptions};
use motionseg::labeler::{label_take, LabelerParams, Method, StreamLabeler};
use motionseg::model::Manifest;
use motionseg::segment::{Segment, SegmentEvent};
use motionseg::Error;

/// Success.
pub const MS_OK: c_int = 0;
/// A required pointer argument was NULL.
pub const MS_ERR_NULL: c_int = 1;
/// An argument had an invalid value: channel count, frame rate, a NaN or infinite frame value,
/// a path that is not UTF-8, a number of actions the take cannot give.
pub const MS_ERR_ARGUMENT: c_int = 2;
/// A file could not be read (missing, unreadable).
pub const MS_ERR_IO: c_int = 3;
/// A file was read but its content is wrong: a parse error, an inconsistent take, a model or
/// basis that does not match, a take whose channels or joints do not match the model.
pub const MS_ERR_FORMAT: c_int = 4;
/// ONNX Runtime failed: library missing or of the wrong version, session or inference error.
pub const MS_ERR_RUNTIME: c_int = 5;
/// The stream cannot take this call: it was finished, failed earlier, or is delivering events
/// (the call came from its own callback).
pub const MS_ERR_STATE: c_int = 6;
/// An internal error (a bug in motionseg, caught before it could cross into C).
pub const MS_ERR_PANIC: c_int = 7;

/// A segment began. `segment_id`, `label`, `start_frame` (`end_frame` = `start_frame`).
pub const MS_EVENT_OPENED: c_int = 1;
/// The open segment now ends at `end_frame` (exclusive). `segment_id`, `end_frame`.
pub const MS_EVENT_EXTENDED: c_int = 2;
/// A segment ended at `end_frame` (exclusive). `segment_id`, `end_frame`.
pub const MS_EVENT_CLOSED: c_int = 3;
/// Segment `segment_id` changed label from `from_label` to `label` (clusters merged).
pub const MS_EVENT_RELABEL: c_int = 4;
/// Segment `other_id` was merged into its predecessor `segment_id`, which now ends at
/// `end_frame`.
pub const MS_EVENT_MERGED: c_int = 5;
/// One final segment (`segment_id`, `start_frame`, `end_frame`, `label`, `confidence`), in time
/// order; the first `REVISED` event of a call replaces every provisional segment.
pub const MS_EVENT_REVISED: c_int = 6;
/// Frames before `end_frame` will never change again.
pub const MS_EVENT_FINALIZED: c_int = 7;

/// Live provisional events every this many windows: the live service's default
/// (`DEFAULT_PROVISIONAL_EVERY` in `service/grpc.rs`), about once a second at hop 4.
const PROVISIONAL_EVERY: usize = 8;
/// Idle ONNX Runtime sessions a model keeps for reuse by later streams and files.
const MAX_IDLE_RUNNERS: usize = 4;
/// ONNX Runtime intra-op threads per session (streams, not sessions, are the unit of
/// parallelism here, as in the live service).
const ORT_THREADS: usize = 1;

// ---------------------------------------------------------------------------------------------
// Errors

/// A failure on its way to C: the code returned and the message kept for `ms_last_error`.
struct Fail {
    code: c_int,
    message: String,
}

impl Fail {
    fn new(code: c_int, message: impl Into<String>) -> Fail {
        Fail { code, message: message.into() }
    }

    fn null(arg: &str) -> Fail {
        Fail::new(MS_ERR_NULL, format!("{arg}: NULL pointer"))
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        let code = match &e {
            Error::Io { .. } => MS_ERR_IO,
            Error::Parse { .. } | Error::Invalid { .. } | Error::Shape { .. } => MS_ERR_FORMAT,
            Error::Param { .. } | Error::Session { .. } => MS_ERR_ARGUMENT,
            _ => MS_ERR_RUNTIME,
        };
        Fail::new(code, e.to_string())
    }
}

thread_local! {
    static LAST_ERROR: RefCell<(c_int, CString)> = RefCell::new((MS_OK, CString::default()));
}

fn set_error(f: Fail) {
    // An interior NUL would end the C string early: show it instead.
    let message = CString::new(f.message.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = (f.code, message));
}

fn panic_fail(payload: Box<dyn std::any::Any + Send>) -> Fail {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    Fail::new(MS_ERR_PANIC, format!("internal error in motionseg (please report it): {what}"))
}

/// Runs `f` without letting a panic escape; on failure records the error and returns
/// `on_error`.
fn guard<T>(on_error: T, f: impl FnOnce() -> Result<T, Fail>) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => v,
        Ok(Err(fail)) => {
            set_error(fail);
            on_error
        }
        Err(payload) => {
            set_error(panic_fail(payload));
            on_error
        }
    }
}

/// [`guard`] for functions that return a status code.
fn status(f: impl FnOnce() -> Result<(), Fail>) -> c_int {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => MS_OK,
        Ok(Err(fail)) => {
            let code = fail.code;
            set_error(fail);
            code
        }
        Err(payload) => {
            set_error(panic_fail(payload));
            MS_ERR_PANIC
        }
    }
}

/// The message of the last failed call on this thread ("" before any failure). The pointer
/// stays valid until the next failing call on this thread.
#[no_mangle]
pub extern "C" fn ms_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().1.as_ptr())
}

/// The `MS_ERR_*` code of the last failed call on this thread ([`MS_OK`] before any failure).
#[no_mangle]
pub extern "C" fn ms_last_error_code() -> c_int {
    LAST_ERROR.with(|e| e.borrow().0)
}

/// Version of the C ABI: the header's `MS_ABI_VERSION` as this library was built. It goes up
/// whenever a struct layout, a constant or a function signature of `motionseg.h` changes, so a
/// program can refuse a library it was not compiled for (`ms_settings` grew from 24 to 32 bytes
/// before 0.1.0 without one; this is version 1).
pub const MS_ABI_VERSION: u32 = 1;

/// The C ABI version of this library ([`MS_ABI_VERSION`]). A program compares it with the
/// `MS_ABI_VERSION` of the header it was compiled with before any other call.
#[no_mangle]
pub extern "C" fn ms_abi_version() -> u32 {
    MS_ABI_VERSION
}

/// The version of this library (and of motionseg), e.g. `"0.1.0"`. A static string.
#[no_mangle]
pub extern "C" fn ms_version() -> *const c_char {
    static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    VERSION.as_ptr().cast()
}

/// A text argument: `None` for NULL; an error naming `arg` for a string that is not UTF-8.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string that outlives `'a`.
unsafe fn str_arg<'a>(p: *const c_char, arg: &str) -> Result<Option<&'a str>, Fail> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: the caller promises a NUL-terminated string.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().map(Some).map_err(|e| {
        Fail::new(
            MS_ERR_ARGUMENT,
            format!("{arg}: not valid UTF-8 ({e}): {:?}", String::from_utf8_lossy(s.to_bytes())),
        )
    })
}

/// A path argument: `None` for NULL; an error for a string that is empty or not UTF-8.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string.
unsafe fn path_arg(p: *const c_char, arg: &str) -> Result<Option<PathBuf>, Fail> {
    // SAFETY: NULL or NUL-terminated (caller's promise).
    let Some(s) = (unsafe { str_arg(p, arg) })? else { return Ok(None) };
    if s.is_empty() {
        return Err(Fail::new(MS_ERR_ARGUMENT, format!("{arg}: empty path")));
    }
    Ok(Some(PathBuf::from(s)))
}

// ---------------------------------------------------------------------------------------------
// Model

/// Borrows a warm session of `pool` (building one for the shipped model takes most of a
/// second, so streams and files reuse them).
fn runner(pool: &Arc<SessionPool>) -> Result<Runner, Error> {
    Ok(Runner { emb: Some(pool.take()?), pool: Arc::clone(pool), broken: false })
}

/// A session borrowed from the pool; it goes back when dropped unless it failed once.
#[derive(Debug)]
struct Runner {
    emb: Option<OrtEmbedder>,
    pool: Arc<SessionPool>,
    broken: bool,
}

impl Embedder for Runner {
    fn run(
        &mut self,
        windows: &[f32],
        batch: usize,
        encoder: &mut Vec<f32>,
        decoder: &mut Vec<f32>,
    ) -> motionseg::Result<()> {
        let emb = self.emb.as_mut().ok_or_else(|| Error::Runtime {
            context: "model runner".to_owned(),
            message: "used after release".to_owned(),
        })?;
        let r = emb.run(windows, batch, encoder, decoder);
        self.broken |= r.is_err();
        r
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        if let (Some(e), false) = (self.emb.take(), self.broken) {
            self.pool.give_back(e);
        }
    }
}

/// `ms_model`: a loaded model with its frozen basis and warm runtime sessions. Immutable from
/// C's point of view and safe to share between threads.
#[derive(Debug)]
pub struct MsModel {
    model: EngineModel,
    pool: Arc<SessionPool>,
    /// The raw channel names as C strings, for [`ms_model_channel_name`].
    channel_names: Vec<CString>,
}

/// `models/x.json` -> `models/x.basis.json`: where `motionseg fit-basis` output is shipped.
fn default_basis(manifest: &Path) -> PathBuf {
    let stem = manifest.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    manifest.with_file_name(format!("{stem}.basis.json"))
}

/// Loads a model: its manifest (the ONNX file it names is read and its sha256 checked), the
/// POD basis fitted on it (NULL: `<manifest stem>.basis.json` beside the manifest), and the
/// ONNX Runtime library (NULL: `$MOTIONSEG_ORT_LIB`, `$ORT_DYLIB_PATH`, then `.venv` searched
/// upwards from the current directory and the executable). Builds one runtime session, so a
/// missing or wrong runtime fails here. Returns NULL on failure.
///
/// # Safety
/// Each argument is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ms_model_load(
    manifest_json: *const c_char,
    basis_json_or_null: *const c_char,
    ort_lib_or_null: *const c_char,
) -> *mut MsModel {
    guard(std::ptr::null_mut(), || {
        // SAFETY: the caller promises NULL or NUL-terminated strings.
        let (manifest, basis, lib) = unsafe {
            (
                path_arg(manifest_json, "manifest_json")?,
                path_arg(basis_json_or_null, "basis_json")?,
                path_arg(ort_lib_or_null, "ort_lib")?,
            )
        };
        let manifest = manifest.ok_or_else(|| Fail::null("manifest_json"))?;
        let basis = match basis {
            Some(b) => b,
            None => {
                let b = default_basis(&manifest);
                if !b.is_file() {
                    // A missing or broken manifest is the error to report, not its basis.
                    Manifest::load(&manifest)?;
                    return Err(Fail::new(
                        MS_ERR_IO,
                        format!(
                            "basis_json: NULL and the default {} does not exist: pass the basis \
                             fitted on {} (motionseg fit-basis)",
                            b.display(),
                            manifest.display()
                        ),
                    ));
                }
                b
            }
        };
        let model = EngineModel::load(&manifest, Some(&basis))?;
        // The runtime is loaded once per process: later models share the first library.
        let lib = find_runtime(lib.as_deref())?;
        init_runtime(&lib)?;
        let pool = Arc::new(SessionPool::new(model.clone(), ORT_THREADS, MAX_IDLE_RUNNERS));
        // One warm session now: runtime and model errors surface at load, not mid-stream.
        drop(runner(&pool)?);
        let channel_names = model
            .manifest()
            .raw_columns
            .iter()
            .map(|c| {
                CString::new(c.as_str()).map_err(|_| {
                    Fail::new(
                        MS_ERR_FORMAT,
                        format!("{}: raw column name {c:?} holds a NUL", manifest.display()),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Box::into_raw(Box::new(MsModel { model, pool, channel_names })))
    })
}

/// Frees a model (NULL: nothing). Streams already made from it keep what they need.
///
/// # Safety
/// `model` is NULL or a pointer from [`ms_model_load`] not freed before.
#[no_mangle]
pub unsafe extern "C" fn ms_model_free(model: *mut MsModel) {
    if model.is_null() {
        return;
    }
    guard((), || {
        // SAFETY: from Box::into_raw in ms_model_load, freed once (caller's promise).
        drop(unsafe { Box::from_raw(model) });
        Ok(())
    });
}

/// Raw channels per frame the model expects (the layout `motionseg inspect --features`
/// writes), or 0 when `model` is NULL.
///
/// # Safety
/// `model` is NULL or a live pointer from [`ms_model_load`].
#[no_mangle]
pub unsafe extern "C" fn ms_model_channels(model: *const MsModel) -> usize {
    // SAFETY: NULL or live (caller's promise).
    let Some(m) = (unsafe { model.as_ref() }) else { return 0 };
    guard(0, || Ok(m.model.manifest().raw_columns.len()))
}

/// The model's frame rate (frames per second); streams need at least this rate. 0 for NULL.
///
/// # Safety
/// `model` is NULL or a live pointer from [`ms_model_load`].
#[no_mangle]
pub unsafe extern "C" fn ms_model_fps(model: *const MsModel) -> f64 {
    // SAFETY: NULL or live (caller's promise).
    let Some(m) = (unsafe { model.as_ref() }) else { return 0.0 };
    guard(0.0, || Ok(m.model.manifest().model_fps))
}

/// The name of raw channel `index` of each frame: `"root.tx"`, `"root.ty"`, `"root.tz"` (root
/// translation), then `"<joint>.e0"`, `".e1"`, `".e2"` (exponential map, radians) per joint, so
/// a capture application can place its values by name. NULL when `model` is NULL or `index` is
/// not below [`ms_model_channels`] (with an error). The string lives as long as the model.
///
/// # Safety
/// `model` is NULL or a live pointer from [`ms_model_load`].
#[no_mangle]
pub unsafe extern "C" fn ms_model_channel_name(
    model: *const MsModel,
    index: usize,
) -> *const c_char {
    guard(std::ptr::null(), || {
        // SAFETY: NULL or live (caller's promise).
        let m = unsafe { model.as_ref() }.ok_or_else(|| Fail::null("model"))?;
        let name = m.channel_names.get(index).ok_or_else(|| {
            Fail::new(
                MS_ERR_ARGUMENT,
                format!(
                    "index: {index} is not below the model's {} raw channels",
                    m.channel_names.len()
                ),
            )
        })?;
        Ok(name.as_ptr())
    })
}

/// Checks a rig's joint names, in the order its frames list them, against the joints the model
/// expects (root first, then the bones in the layout of [`ms_model_channel_name`]). Frames carry
/// no names, so a stream checks only their length: call this once before streaming a rig to
/// catch a wrong joint order, which would otherwise label silently wrong. `MS_OK` when they
/// match; `MS_ERR_FORMAT` naming the first joint that differs; `MS_ERR_ARGUMENT` for an empty
/// list or a non-UTF-8 name; `MS_ERR_NULL` for NULL pointers.
///
/// # Safety
/// `model` is NULL or a live pointer from [`ms_model_load`]; `joints` is NULL or points to
/// `n_joints` pointers, each NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ms_model_check_joints(
    model: *const MsModel,
    joints: *const *const c_char,
    n_joints: usize,
) -> c_int {
    status(|| {
        // SAFETY: NULL or live (caller's promise).
        let m = unsafe { model.as_ref() }.ok_or_else(|| Fail::null("model"))?;
        if joints.is_null() {
            return Err(Fail::null("joints"));
        }
        if n_joints == 0 {
            return Err(Fail::new(MS_ERR_ARGUMENT, "n_joints: the list is empty"));
        }
        // A count no array can have (a C-side bug) must not reach from_raw_parts.
        if n_joints > isize::MAX as usize / std::mem::size_of::<*const c_char>() {
            return Err(Fail::new(MS_ERR_ARGUMENT, format!("n_joints: {n_joints} is not a count")));
        }
        // SAFETY: `joints` points to `n_joints` pointers (caller's promise).
        let ptrs = unsafe { std::slice::from_raw_parts(joints, n_joints) };
        let mut names = Vec::with_capacity(n_joints);
        for (i, &p) in ptrs.iter().enumerate() {
            let arg = format!("joints[{i}]");
            // SAFETY: NULL or a NUL-terminated string (caller's promise).
            let name = unsafe { str_arg(p, &arg) }?.ok_or_else(|| Fail::null(&arg))?;
            names.push(name.to_owned());
        }
        let manifest = m.model.manifest();
        if manifest.raw_joints.is_empty() {
            return Ok(()); // the model names no joints: nothing to compare
        }
        if names.len() != manifest.raw_joints.len() {
            return Err(Fail::new(
                MS_ERR_FORMAT,
                format!(
                    "joints: expected {} joints ({}), found {}",
                    manifest.raw_joints.len(),
                    manifest.raw_joints.join(" "),
                    names.len()
                ),
            ));
        }
        manifest.check_input("joints", manifest.raw_columns.len(), &names)?;
        Ok(())
    })
}

/// `ms_settings`: the labeling settings a stream or file may change. Start from
/// [`ms_settings_default`] and change fields.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MsSettings {
    /// A new label must last this many input frames before a segment boundary is declared
    /// (hysteresis against flicker); at least 1. Default 60 (0.5 s at 120 fps).
    pub min_segment_frames: u64,
    /// With the number of actions inferred (`actions` = 0): segments closer than this cosine
    /// segment distance share a label, in [0, 2]. Default 0.28, calibrated on CMU subject 86;
    /// lower it for takes far from the training data (one label for the whole take).
    pub merge_threshold: f32,
    /// Streams: provisional live events every this many windows (0: only the final events of
    /// `ms_stream_finish`). Default 8, about once a second at 120 fps. Files ignore it.
    pub provisional_every: u64,
    /// Segment boundaries by optimal partitioning with this cost per segment (the C ABI labels
    /// at hop 4, where it was chosen; the CLI and the service scale it by 4 / hop) (default 6.5:
    /// the most accurate; a boundary is final 18–27 s after
    /// the change), or 0 for change-score
    /// peaks (final after about 4 s). Finite, at least 0.
    pub boundary_penalty: f32,
}

impl Default for MsSettings {
    fn default() -> MsSettings {
        let p = LabelerParams::new(None);
        let sp = match p.method {
            Method::Segments(sp) => sp,
            Method::Windows => SegmentParams::default(),
        };
        MsSettings {
            min_segment_frames: p.min_segment_frames as u64,
            merge_threshold: sp.threshold,
            provisional_every: PROVISIONAL_EVERY as u64,
            boundary_penalty: sp.penalty,
        }
    }
}

/// The default settings (those of [`ms_stream_new`] and [`ms_label_file`], the live service's).
#[no_mangle]
pub extern "C" fn ms_settings_default() -> MsSettings {
    MsSettings::default()
}

/// Labeler parameters for `actions` clusters (0: inferred) and `settings` (NULL: defaults),
/// each setting checked and named when out of range.
///
/// # Safety
/// `settings` is NULL or points to a readable `ms_settings`.
unsafe fn labeler_params(
    actions: usize,
    settings: *const MsSettings,
) -> Result<LabelerParams, Fail> {
    // SAFETY: NULL or readable (caller's promise).
    let s = unsafe { settings.as_ref() }.copied().unwrap_or_default();
    let bad =
        |field: &str, why: String| Fail::new(MS_ERR_ARGUMENT, format!("settings.{field}: {why}"));
    let min_segment =
        usize::try_from(s.min_segment_frames).ok().filter(|&m| m >= 1).ok_or_else(|| {
            bad(
                "min_segment_frames",
                format!("expected at least 1, found {}", s.min_segment_frames),
            )
        })?;
    if !(s.merge_threshold.is_finite() && (0.0..=2.0).contains(&s.merge_threshold)) {
        return Err(bad(
            "merge_threshold",
            format!("expected a cosine distance in [0, 2], found {}", s.merge_threshold),
        ));
    }
    if !(s.boundary_penalty.is_finite() && s.boundary_penalty >= 0.0) {
        return Err(bad(
            "boundary_penalty",
            format!("expected a finite value of at least 0, found {}", s.boundary_penalty),
        ));
    }
    let every = usize::try_from(s.provisional_every)
        .map_err(|_| bad("provisional_every", format!("{} is too large", s.provisional_every)))?;
    let mut p = LabelerParams::new((actions > 0).then_some(actions));
    p.min_segment_frames = min_segment;
    p.provisional_every = every;
    if let Method::Segments(sp) = &mut p.method {
        sp.threshold = s.merge_threshold;
        sp.penalty = s.boundary_penalty;
    }
    Ok(p)
}

// ---------------------------------------------------------------------------------------------
// Events and segments

/// `ms_event`: one segment event. Which fields are meaningful depends on `kind` (see the
/// `MS_EVENT_*` constants); the others are 0, labels -1.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MsEvent {
    /// One of `MS_EVENT_*`.
    pub kind: c_int,
    /// 1 when the event belongs to the stream's final result (`REVISED`, `FINALIZED`), 0 for
    /// provisional live events that later events may change.
    pub is_final: c_int,
    /// The segment concerned (segments are numbered 0, 1, 2, ... as they open).
    pub segment_id: u64,
    /// `MERGED`: the absorbed segment.
    pub other_id: u64,
    /// First frame (`OPENED`, `REVISED`).
    pub start_frame: u64,
    /// One past the last frame (`EXTENDED`, `CLOSED`, `MERGED`, `REVISED`), or the watermark
    /// (`FINALIZED`).
    pub end_frame: u64,
    /// Cluster label, -1 for none (frames without a label).
    pub label: i64,
    /// `RELABEL`: the label before.
    pub from_label: i64,
    /// `REVISED`: fraction of the segment's frames whose label agreed, in [0, 1].
    pub confidence: f32,
}

impl MsEvent {
    fn empty(kind: c_int) -> MsEvent {
        MsEvent {
            kind,
            is_final: 0,
            segment_id: 0,
            other_id: 0,
            start_frame: 0,
            end_frame: 0,
            label: -1,
            from_label: -1,
            confidence: 0.0,
        }
    }
}

/// `ms_event_cb`: receives each event; `user` is the caller's pointer, passed through.
pub type MsEventCb = Option<unsafe extern "C" fn(event: *const MsEvent, user: *mut c_void)>;

fn label_c(l: Option<usize>) -> i64 {
    l.map_or(-1, |l| l as i64)
}

/// The C events of one Rust event (a relabel or a revision gives several).
fn events_c(e: &SegmentEvent, out: &mut Vec<MsEvent>) {
    match e {
        SegmentEvent::Opened { id, label, start } => out.push(MsEvent {
            segment_id: *id,
            label: label_c(*label),
            start_frame: *start as u64,
            end_frame: *start as u64,
            ..MsEvent::empty(MS_EVENT_OPENED)
        }),
        SegmentEvent::Extended { id, end } => out.push(MsEvent {
            segment_id: *id,
            end_frame: *end as u64,
            ..MsEvent::empty(MS_EVENT_EXTENDED)
        }),
        SegmentEvent::Closed { id, end } => out.push(MsEvent {
            segment_id: *id,
            end_frame: *end as u64,
            ..MsEvent::empty(MS_EVENT_CLOSED)
        }),
        SegmentEvent::Relabel { from, to, segments } => {
            out.extend(segments.iter().map(|id| MsEvent {
                segment_id: *id,
                from_label: *from as i64,
                label: *to as i64,
                ..MsEvent::empty(MS_EVENT_RELABEL)
            }))
        }
        SegmentEvent::Merged { into, absorbed, end } => out.push(MsEvent {
            segment_id: *into,
            other_id: *absorbed,
            end_frame: *end as u64,
            ..MsEvent::empty(MS_EVENT_MERGED)
        }),
        SegmentEvent::Revised { segments } => out.extend(segments.iter().map(|s| MsEvent {
            is_final: 1,
            segment_id: s.id,
            start_frame: s.start as u64,
            end_frame: s.end as u64,
            label: label_c(s.label),
            confidence: s.confidence,
            ..MsEvent::empty(MS_EVENT_REVISED)
        })),
        SegmentEvent::Finalized { through } => out.push(MsEvent {
            is_final: 1,
            end_frame: *through as u64,
            ..MsEvent::empty(MS_EVENT_FINALIZED)
        }),
        // SegmentEvent is non_exhaustive: a kind added later is not delivered until it has a
        // C representation.
        _ => {}
    }
}

/// `ms_segment`: one labeled segment, frames `[start_frame, end_frame)`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MsSegment {
    /// First frame.
    pub start_frame: u64,
    /// One past the last frame.
    pub end_frame: u64,
    /// Start time in seconds.
    pub start_s: f64,
    /// End time in seconds (exclusive, like `end_frame`).
    pub end_s: f64,
    /// Cluster label (0, 1, 2, ... by first appearance), -1 for none.
    pub label: i64,
    /// Fraction of the segment's frames whose label agreed, in [0, 1].
    pub confidence: f32,
}

impl MsSegment {
    fn new(s: &Segment, fps: f64) -> MsSegment {
        MsSegment {
            start_frame: s.start as u64,
            end_frame: s.end as u64,
            start_s: s.start_s(fps),
            end_s: s.end_s(fps),
            label: label_c(s.label),
            confidence: s.confidence,
        }
    }
}

/// Marks the hidden element in front of every array [`ms_label_file`] returns.
const SEGMENTS_MAGIC: u64 = 0x6d73_5345_474d_454e; // "msSEGMEN"

/// Hands `segs` to C: one hidden header element (magic, count) in front of the segments, so
/// that [`ms_segments_free`] can check its arguments instead of freeing the wrong size.
fn segments_to_c(segs: Vec<MsSegment>) -> (*mut MsSegment, usize) {
    let n = segs.len();
    if n == 0 {
        return (std::ptr::null_mut(), 0);
    }
    let header = MsSegment {
        start_frame: SEGMENTS_MAGIC,
        end_frame: n as u64,
        start_s: 0.0,
        end_s: 0.0,
        label: -1,
        confidence: 0.0,
    };
    let mut all = Vec::with_capacity(n + 1);
    all.push(header);
    all.extend(segs);
    let ptr = Box::into_raw(all.into_boxed_slice()).cast::<MsSegment>();
    // SAFETY: the allocation holds n + 1 elements.
    (unsafe { ptr.add(1) }, n)
}

// ---------------------------------------------------------------------------------------------
// Streams

#[derive(Debug, Clone, PartialEq)]
enum StreamState {
    /// Takes frames.
    Live,
    /// Inside a call (or delivering its events); seen from a callback or after a panic.
    Busy,
    /// `ms_stream_finish` succeeded.
    Finished,
    /// An internal step failed; the message.
    Failed(String),
}

/// `ms_stream`: one live stream (engine, clusterer, segmenter). One thread at a time.
#[derive(Debug)]
pub struct MsStream {
    engine: Engine<Runner>,
    labeler: StreamLabeler,
    channels: usize,
    frames: u64,
    state: StreamState,
    windows: Vec<WindowEmbedding>,
    events: Vec<SegmentEvent>,
    c_events: Vec<MsEvent>,
}

/// Starts a stream of raw canonical frames (root translation, then three exp-map values per
/// joint: the layout `motionseg inspect --features` writes) at `input_fps` frames per second
/// (at least the model's), with `channels` values per frame (must equal
/// [`ms_model_channels`]) and `actions` clusters (0: infer the number), with the default
/// settings (the live service's; [`ms_stream_new_with`] changes them). Returns NULL on failure.
///
/// # Safety
/// `model` is NULL or a live pointer from [`ms_model_load`].
#[no_mangle]
pub unsafe extern "C" fn ms_stream_new(
    model: *const MsModel,
    input_fps: f64,
    channels: usize,
    actions: usize,
) -> *mut MsStream {
    // SAFETY: the caller's promise, and NULL settings.
    unsafe { ms_stream_new_with(model, input_fps, channels, actions, std::ptr::null()) }
}

/// [`ms_stream_new`] with `settings` (NULL: the defaults); a setting out of range is refused
/// with `MS_ERR_ARGUMENT` naming it.
///
/// # Safety
/// `model` is NULL or a live pointer from [`ms_model_load`]; `settings` is NULL or points to a
/// readable `ms_settings`.
#[no_mangle]
pub unsafe extern "C" fn ms_stream_new_with(
    model: *const MsModel,
    input_fps: f64,
    channels: usize,
    actions: usize,
    settings: *const MsSettings,
) -> *mut MsStream {
    guard(std::ptr::null_mut(), || {
        // SAFETY: NULL or live (caller's promise).
        let m = unsafe { model.as_ref() }.ok_or_else(|| Fail::null("model"))?;
        let manifest = m.model.manifest();
        let want = manifest.raw_columns.len();
        if channels != want {
            return Err(Fail::new(
                MS_ERR_ARGUMENT,
                format!(
                    "channels: expected {want} (the raw channels of model {}), found {channels}",
                    manifest.path.display()
                ),
            ));
        }
        // The engine's own rate check (a rounded 29.99994 fps is the model's 30).
        if let Err(e) = motionseg::window::input_ratio(input_fps, manifest.model_fps) {
            return Err(Fail::new(MS_ERR_ARGUMENT, e.to_string()));
        }
        // SAFETY: NULL or readable (caller's promise).
        let mut params = unsafe { labeler_params(actions, settings) }?;
        params.streaming = true;
        params.engine.batch = 1;
        if m.model.basis().is_none() {
            return Err(Fail::new(
                MS_ERR_FORMAT,
                "the model has no POD basis (fit one with motionseg fit-basis)",
            ));
        }
        // The embedding layout (and the change score's part of it) comes from the model.
        let dim = params.bind_model(&m.model)?;
        let engine = Engine::new(m.model.clone(), runner(&m.pool)?, input_fps, params.engine)?;
        let labeler = StreamLabeler::new(&params, dim, input_fps)?;
        Ok(Box::into_raw(Box::new(MsStream {
            engine,
            labeler,
            channels,
            frames: 0,
            state: StreamState::Live,
            windows: Vec::new(),
            events: Vec::new(),
            c_events: Vec::new(),
        })))
    })
}

/// Checks that `stream` can take a call and marks it busy.
fn begin(s: &mut MsStream) -> Result<(), Fail> {
    let why = match &s.state {
        StreamState::Live => {
            s.state = StreamState::Busy;
            return Ok(());
        }
        StreamState::Busy => "is busy: called from its own event callback, or an earlier call \
                              failed with an internal error"
            .to_owned(),
        StreamState::Finished => "was finished already".to_owned(),
        StreamState::Failed(m) => format!("failed earlier: {m}"),
    };
    Err(Fail::new(MS_ERR_STATE, format!("stream: {why}")))
}

/// Runs one call on a stream: checks its state, runs `work` (validation failures leave the
/// stream usable; internal failures fail it), then delivers the events with no Rust reference
/// to the stream alive, so a callback that calls back into the stream is refused, not UB.
///
/// # Safety
/// `stream` is NULL or a live pointer from [`ms_stream_new`].
unsafe fn stream_call(
    stream: *mut MsStream,
    cb: MsEventCb,
    user: *mut c_void,
    after: StreamState,
    work: impl FnOnce(&mut MsStream) -> Result<Result<(), Fail>, Fail>,
) -> c_int {
    status(|| {
        let mut events = {
            // SAFETY: NULL or live (caller's promise); this is the only reference.
            let s = unsafe { stream.as_mut() }.ok_or_else(|| Fail::null("stream"))?;
            begin(s)?;
            match work(s) {
                // Refused input: nothing changed.
                Ok(Err(refused)) => {
                    s.state = StreamState::Live;
                    return Err(refused);
                }
                Err(failed) => {
                    s.state = StreamState::Failed(failed.message.clone());
                    return Err(failed);
                }
                Ok(Ok(())) => {}
            }
            s.c_events.clear();
            for e in s.events.drain(..) {
                events_c(&e, &mut s.c_events);
            }
            std::mem::take(&mut s.c_events)
        };
        if let Some(cb) = cb {
            for e in &events {
                // SAFETY: the caller's callback, called with a valid event and its own pointer.
                unsafe { cb(e, user) };
            }
        }
        events.clear();
        // SAFETY: as above; the callback's own calls into the stream are over.
        let s = unsafe { stream.as_mut() }.ok_or_else(|| Fail::null("stream"))?;
        s.c_events = events;
        s.state = after;
        Ok(())
    })
}

/// Feeds one frame of `channels` floats (must be the stream's channel count, all finite).
/// Events it causes are passed to `cb` (may be NULL) before the call returns. A refused frame
/// (NULL, wrong length, NaN or beyond ±1e6) changes nothing and the stream goes on; an internal failure fails
/// the stream. Returns `MS_OK` or an `MS_ERR_*` code.
///
/// # Safety
/// `stream` is NULL or a live pointer from [`ms_stream_new`]; `frame` is NULL or points to
/// `channels` floats; `cb`, if not NULL, is safe to call with `user`.
#[no_mangle]
pub unsafe extern "C" fn ms_stream_push(
    stream: *mut MsStream,
    frame: *const f32,
    channels: usize,
    cb: MsEventCb,
    user: *mut c_void,
) -> c_int {
    // SAFETY: forwarded caller promises.
    unsafe {
        stream_call(stream, cb, user, StreamState::Live, |s| {
            let n = s.frames;
            if frame.is_null() {
                return Ok(Err(Fail::null(&format!("frame {n}"))));
            }
            if channels != s.channels {
                return Ok(Err(Fail::new(
                    MS_ERR_ARGUMENT,
                    format!(
                        "frame {n}: channels: expected {} (the stream's), found {channels}",
                        s.channels
                    ),
                )));
            }
            // SAFETY: the caller promises `channels` readable floats at `frame`.
            let values = std::slice::from_raw_parts(frame, channels);
            if let Some(i) = motionseg::window::first_bad_raw(values) {
                return Ok(Err(Fail::new(
                    MS_ERR_ARGUMENT,
                    format!(
                        "frame {n} values[{i}]: expected a finite number within ±{:e}, found {}",
                        motionseg::window::MAX_RAW_VALUE,
                        motionseg::error::num32(values[i])
                    ),
                )));
            }
            push_frame(s, values).map(Ok)
        })
    }
}

fn push_frame(s: &mut MsStream, values: &[f32]) -> Result<(), Fail> {
    s.engine.push_frame(values, &mut s.windows)?;
    s.frames += 1;
    for w in s.windows.drain(..) {
        s.labeler.push_window(&w, &mut s.events)?;
    }
    Ok(())
}

/// Ends the stream: runs what is pending, computes the final segments and passes them to `cb`
/// as `MS_EVENT_REVISED` events (in time order), then an `MS_EVENT_FINALIZED` through the last
/// frame. Afterwards the stream takes no more frames; free it with [`ms_stream_free`]. A
/// stream that ended before its first model window is refused (`MS_ERR_ARGUMENT`), as
/// [`ms_label_file`] refuses such a take.
///
/// # Safety
/// As for [`ms_stream_push`].
#[no_mangle]
pub unsafe extern "C" fn ms_stream_finish(
    stream: *mut MsStream,
    cb: MsEventCb,
    user: *mut c_void,
) -> c_int {
    // SAFETY: forwarded caller promises.
    unsafe {
        stream_call(stream, cb, user, StreamState::Finished, |s| {
            s.engine.flush(&mut s.windows)?;
            for w in s.windows.drain(..) {
                s.labeler.push_window(&w, &mut s.events)?;
            }
            s.labeler.finish(s.frames as usize, &mut s.events)?;
            Ok(Ok(()))
        })
    }
}

/// Frees a stream (NULL: nothing), finished or not.
///
/// # Safety
/// `stream` is NULL or a pointer from [`ms_stream_new`] not freed before, and not in use.
#[no_mangle]
pub unsafe extern "C" fn ms_stream_free(stream: *mut MsStream) {
    if stream.is_null() {
        return;
    }
    guard((), || {
        // SAFETY: from Box::into_raw in ms_stream_new, freed once (caller's promise).
        drop(unsafe { Box::from_raw(stream) });
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Batch

/// Labels a whole file in batch: `.amc` (needs `asf_or_null`), `.bvh`, `.npy` or `.csv`
/// (`[frames, channels]` raw canonical rows; need `fps_or_0`; `.amc` takes it, else 120 fps;
/// a `.bvh` states its own rate and a different nonzero one is refused), with `actions` clusters (0:
/// infer) and the default settings ([`ms_label_file_with`] changes them). On success `*out`
/// holds `*n` segments in time order (NULL when none), to be freed with [`ms_segments_free`];
/// on failure `*out` is NULL and `*n` 0. Returns `MS_OK` or an `MS_ERR_*` code.
///
/// # Safety
/// `model` is NULL or live; `path` and `asf_or_null` are NULL or NUL-terminated strings;
/// `out` and `n` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ms_label_file(
    model: *const MsModel,
    path: *const c_char,
    asf_or_null: *const c_char,
    fps_or_0: f64,
    actions: usize,
    out: *mut *mut MsSegment,
    n: *mut usize,
) -> c_int {
    // SAFETY: the caller's promises, and NULL settings.
    unsafe {
        ms_label_file_with(model, path, asf_or_null, fps_or_0, actions, std::ptr::null(), out, n)
    }
}

/// [`ms_label_file`] with `settings` (NULL: the defaults; `provisional_every` is not used); a
/// setting out of range is refused with `MS_ERR_ARGUMENT` naming it.
///
/// # Safety
/// As [`ms_label_file`]; `settings` is NULL or points to a readable `ms_settings`.
#[allow(clippy::too_many_arguments)] // the C signature: ms_label_file's plus the settings
#[no_mangle]
pub unsafe extern "C" fn ms_label_file_with(
    model: *const MsModel,
    path: *const c_char,
    asf_or_null: *const c_char,
    fps_or_0: f64,
    actions: usize,
    settings: *const MsSettings,
    out: *mut *mut MsSegment,
    n: *mut usize,
) -> c_int {
    status(|| {
        if out.is_null() {
            return Err(Fail::null("out"));
        }
        if n.is_null() {
            return Err(Fail::null("n"));
        }
        // SAFETY: both checked non-NULL; writable (caller's promise).
        unsafe {
            *out = std::ptr::null_mut();
            *n = 0;
        }
        // SAFETY: NULL or live (caller's promise).
        let m = unsafe { model.as_ref() }.ok_or_else(|| Fail::null("model"))?;
        // SAFETY: NULL or NUL-terminated strings (caller's promise).
        let (path, asf) = unsafe { (path_arg(path, "path")?, path_arg(asf_or_null, "asf")?) };
        let path = path.ok_or_else(|| Fail::null("path"))?;
        if fps_or_0 != 0.0 && !(fps_or_0.is_finite() && fps_or_0 > 0.0) {
            return Err(Fail::new(
                MS_ERR_ARGUMENT,
                format!("fps: expected a positive frame rate or 0, found {fps_or_0}"),
            ));
        }
        // Settings first: a bad one is refused before the file is read.
        // SAFETY: NULL or readable (caller's promise).
        let mut params = unsafe { labeler_params(actions, settings) }?;
        params.provisional_every = 0; // a file gets its final labels only
        let fps_opt = (fps_or_0 > 0.0).then_some(fps_or_0);
        let name = path.display().to_string();
        let opts = LoadOptions { asf: asf.as_deref(), fps: fps_opt };
        let (frames, fps, joints) = match ingest::load(&path, &opts)? {
            Input::Motion(mo) => {
                let f = motion_features(&mo)?;
                (f.data, mo.fps(), f.joints)
            }
            Input::Features(f) => {
                let fps = f.frame_time_s.map(|t| 1.0 / t).ok_or_else(|| {
                    Fail::new(
                        MS_ERR_ARGUMENT,
                        format!("{name}: an NPY/CSV input needs its frame rate: pass fps"),
                    )
                })?;
                (f.data, fps, Vec::new())
            }
        };
        m.model.manifest().check_input(&name, frames.ncols(), &joints)?;
        let labeling = label_take(&m.model, runner(&m.pool)?, frames.view(), fps, &params, |_| {})
            .map_err(|e| {
                let f = Fail::from(e);
                Fail::new(f.code, format!("{name}: {}", f.message))
            })?;
        let segs = labeling.segments.iter().map(|s| MsSegment::new(s, fps)).collect();
        let (ptr, count) = segments_to_c(segs);
        // SAFETY: checked non-NULL above.
        unsafe {
            *out = ptr;
            *n = count;
        }
        Ok(())
    })
}

/// Frees segments from [`ms_label_file`] (NULL: nothing). `n` must be the count it returned;
/// a pointer or count that does not match is refused (the memory is then not freed and
/// `ms_last_error` says why).
///
/// # Safety
/// `segments` is NULL or a pointer from [`ms_label_file`] not freed before.
#[no_mangle]
pub unsafe extern "C" fn ms_segments_free(segments: *mut MsSegment, n: usize) {
    if segments.is_null() {
        return;
    }
    guard((), || {
        // SAFETY: every non-NULL array from ms_label_file has its header just before it.
        let base = unsafe { segments.sub(1) };
        // SAFETY: as above.
        let header = unsafe { *base };
        if header.start_frame != SEGMENTS_MAGIC || header.end_frame != n as u64 {
            return Err(Fail::new(
                MS_ERR_ARGUMENT,
                format!(
                    "ms_segments_free: not an array from ms_label_file, or n = {n} is not its \
                     length; not freed"
                ),
            ));
        }
        // SAFETY: the allocation is the boxed slice of n + 1 elements made in segments_to_c;
        // the magic is cleared first so that a second free of it is refused, not repeated.
        unsafe {
            (*base).start_frame = 0;
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(base, n + 1)));
        }
        Ok(())
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last_error() -> String {
        // SAFETY: ms_last_error always returns a valid NUL-terminated string.
        unsafe { CStr::from_ptr(ms_last_error()) }.to_string_lossy().into_owned()
    }

    #[test]
    fn a_panic_becomes_an_error_code() {
        let code = status(|| panic!("boom"));
        assert_eq!(code, MS_ERR_PANIC);
        assert_eq!(ms_last_error_code(), MS_ERR_PANIC);
        assert!(last_error().contains("boom"), "{}", last_error());
        let p: *mut u8 = guard(std::ptr::null_mut(), || panic!("{}", String::from("bang")));
        assert!(p.is_null());
        assert!(last_error().contains("bang"), "{}", last_error());
    }

    #[test]
    fn messages_with_nul_survive() {
        set_error(Fail::new(MS_ERR_ARGUMENT, "a\0b"));
        assert_eq!(last_error(), "a\\0b");
    }

    #[test]
    fn event_conversion_covers_every_field() {
        let mut out = Vec::new();
        events_c(&SegmentEvent::Relabel { from: 2, to: 0, segments: vec![3, 5] }, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!((out[1].kind, out[1].segment_id, out[1].from_label, out[1].label), (4, 5, 2, 0));
        out.clear();
        events_c(&SegmentEvent::Merged { into: 1, absorbed: 2, end: 90 }, &mut out);
        assert_eq!((out[0].segment_id, out[0].other_id, out[0].end_frame), (1, 2, 90));
        out.clear();
        events_c(&SegmentEvent::Opened { id: 7, label: None, start: 12 }, &mut out);
        assert_eq!((out[0].label, out[0].start_frame, out[0].is_final), (-1, 12, 0));
    }

    #[test]
    fn segment_arrays_check_their_count() {
        let seg = MsSegment {
            start_frame: 0,
            end_frame: 10,
            start_s: 0.0,
            end_s: 0.1,
            label: 0,
            confidence: 1.0,
        };
        let (p, n) = segments_to_c(vec![seg; 3]);
        assert_eq!(n, 3);
        // SAFETY: p holds 3 segments.
        assert_eq!(unsafe { *p.add(2) }, seg);
        // SAFETY: p is from segments_to_c; a wrong count is refused.
        unsafe { ms_segments_free(p, 2) };
        assert_eq!(ms_last_error_code(), MS_ERR_ARGUMENT);
        assert!(last_error().contains("n = 2"), "{}", last_error());
        set_error(Fail::new(MS_OK, ""));
        // SAFETY: the right count frees it.
        unsafe { ms_segments_free(p, 3) };
        assert_eq!(ms_last_error_code(), MS_OK);
        assert_eq!(segments_to_c(Vec::new()), (std::ptr::null_mut(), 0));
    }
}
