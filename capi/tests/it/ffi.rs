//! The extern functions called directly: streaming equals batch, and every error path gives a
//! nonzero code and a message naming the thing.

use std::collections::BTreeMap;
use std::ffi::{c_void, CString};
use std::ptr::{null, null_mut};

use motionseg::segment::Segment;
use motionseg_capi::*;

use crate::common::*;

/// Everything a stream delivered, applied like a C consumer would.
#[derive(Default)]
struct Collected {
    events: Vec<MsEvent>,
    /// id -> (start, end, label): the provisional segments, from the live events.
    live: BTreeMap<u64, (u64, u64, i64)>,
    revised: Vec<MsEvent>,
    /// When set, the callback calls back into this stream (an address, so that `Collected`
    /// stays `Send`), and what those calls returned.
    reentrant: Option<usize>,
    reentrant_codes: Vec<i32>,
}

unsafe extern "C" fn collect(e: *const MsEvent, user: *mut c_void) {
    // SAFETY: `user` is the &mut Collected passed with the call; `e` is valid during the call.
    let (c, e) = unsafe { (&mut *user.cast::<Collected>(), *e) };
    c.events.push(e);
    match e.kind {
        MS_EVENT_OPENED => {
            c.live.insert(e.segment_id, (e.start_frame, e.start_frame, e.label));
        }
        MS_EVENT_EXTENDED | MS_EVENT_CLOSED => {
            if let Some(s) = c.live.get_mut(&e.segment_id) {
                s.1 = e.end_frame;
            }
        }
        MS_EVENT_RELABEL => {
            if let Some(s) = c.live.get_mut(&e.segment_id) {
                assert_eq!(s.2, e.from_label, "relabel of segment {}", e.segment_id);
                s.2 = e.label;
            }
        }
        MS_EVENT_MERGED => {
            c.live.remove(&e.other_id);
            if let Some(s) = c.live.get_mut(&e.segment_id) {
                s.1 = e.end_frame;
            }
        }
        MS_EVENT_REVISED => c.revised.push(e),
        _ => {}
    }
    if let Some(s) = c.reentrant {
        let s = s as *mut MsStream;
        let frame = [0.0f32; 96];
        // SAFETY: a live stream; the call must be refused, not run.
        c.reentrant_codes.push(unsafe { ms_stream_push(s, frame.as_ptr(), 96, None, null_mut()) });
    }
}

fn user(c: &mut Collected) -> *mut c_void {
    (c as *mut Collected).cast()
}

/// Streams the first `frames` frames of the bundled take (all when `None`) and finishes.
fn stream_take(actions: usize, frames: Option<usize>) -> Collected {
    stream_take_with(actions, frames, None)
}

/// [`stream_take`] with settings (`None`: `ms_stream_new`, the defaults).
fn stream_take_with(
    actions: usize,
    frames: Option<usize>,
    settings: Option<&MsSettings>,
) -> Collected {
    let t = take();
    let mut c = Collected::default();
    // SAFETY: a live model; settings NULL or readable.
    let s = unsafe {
        match settings {
            Some(st) => ms_stream_new_with(model(), t.fps, t.frames.ncols(), actions, st),
            None => ms_stream_new(model(), t.fps, t.frames.ncols(), actions),
        }
    };
    assert!(!s.is_null(), "ms_stream_new: {}", last_error());
    for row in t.frames.rows().into_iter().take(frames.unwrap_or(usize::MAX)) {
        let row = row.to_vec();
        // SAFETY: a live stream, a frame of row.len() floats, our callback and its data.
        let rc = unsafe { ms_stream_push(s, row.as_ptr(), row.len(), Some(collect), user(&mut c)) };
        assert_eq!(rc, MS_OK, "ms_stream_push: {}", last_error());
    }
    // SAFETY: as above.
    let rc = unsafe { ms_stream_finish(s, Some(collect), user(&mut c)) };
    assert_eq!(rc, MS_OK, "ms_stream_finish: {}", last_error());
    // SAFETY: freed once.
    unsafe { ms_stream_free(s) };
    c
}

fn label_file(actions: usize) -> Vec<MsSegment> {
    label_file_with(actions, None)
}

/// [`label_file`] with settings (`None`: `ms_label_file`, the defaults).
fn label_file_with(actions: usize, settings: Option<&MsSettings>) -> Vec<MsSegment> {
    let (take, asf) = (cstr(&repo(TAKE)), cstr(&repo(ASF)));
    let (mut out, mut n) = (null_mut(), 0usize);
    let (model, take, asf) = (model(), take.as_ptr(), asf.as_ptr());
    // SAFETY: live model, valid strings, settings NULL or readable, writable out-parameters.
    let rc = unsafe {
        match settings {
            Some(st) => ms_label_file_with(model, take, asf, 0.0, actions, st, &mut out, &mut n),
            None => ms_label_file(model, take, asf, 0.0, actions, &mut out, &mut n),
        }
    };
    assert_eq!(rc, MS_OK, "ms_label_file: {}", last_error());
    assert!(n > 0 && !out.is_null());
    // SAFETY: out holds n segments until freed.
    let segs = unsafe { std::slice::from_raw_parts(out, n) }.to_vec();
    // SAFETY: the pointer and count ms_label_file gave.
    unsafe { ms_segments_free(out, n) };
    segs
}

fn key(s: &Segment) -> (u64, u64, i64, f32) {
    (s.start as u64, s.end as u64, s.label.map_or(-1, |l| l as i64), s.confidence)
}

fn assert_stream_equals_batch(c: &Collected, reference: &[Segment], frames: usize) {
    let got: Vec<_> =
        c.revised.iter().map(|e| (e.start_frame, e.end_frame, e.label, e.confidence)).collect();
    let want: Vec<_> = reference.iter().map(key).collect();
    assert_eq!(got, want, "streamed final segments differ from the Rust batch labeling");
    let ids: Vec<u64> = c.revised.iter().map(|e| e.segment_id).collect();
    assert_eq!(ids, reference.iter().map(|s| s.id).collect::<Vec<_>>());
    assert!(c.revised.iter().all(|e| e.is_final == 1));
    let last = c.events.last().expect("events");
    assert_eq!((last.kind, last.end_frame, last.is_final), (MS_EVENT_FINALIZED, frames as u64, 1));
    // Live provisional events came before the end, and they are marked provisional.
    let first_revised = c.events.iter().position(|e| e.kind == MS_EVENT_REVISED).expect("revised");
    let live = &c.events[..first_revised];
    assert!(live.iter().any(|e| e.kind == MS_EVENT_OPENED), "no live OPENED event");
    assert!(live.iter().any(|e| e.kind == MS_EVENT_EXTENDED), "no live EXTENDED event");
    assert!(live.iter().all(|e| e.is_final == 0));
    assert!(!c.live.is_empty());
}

#[test]
fn streaming_equals_batch_with_k_given() {
    let t = take();
    let reference = reference(4);
    assert!(reference.len() >= 4, "{} segments", reference.len());
    let streamed = stream_take(4, None);
    assert_stream_equals_batch(&streamed, reference, t.frames.nrows());
    let batch = label_file(4);
    let got: Vec<_> =
        batch.iter().map(|s| (s.start_frame, s.end_frame, s.label, s.confidence)).collect();
    assert_eq!(got, reference.iter().map(key).collect::<Vec<_>>(), "ms_label_file");
    for (s, r) in batch.iter().zip(reference) {
        assert_eq!((s.start_s, s.end_s), (r.start_s(t.fps), r.end_s(t.fps)));
    }
    assert_eq!(batch.last().map(|s| s.end_frame), Some(t.frames.nrows() as u64));
}

#[test]
fn streaming_equals_batch_with_k_inferred_on_two_threads_at_once() {
    let t = take();
    let reference = reference(0);
    // Two streams of one shared model on two threads at the same time.
    let streams: Vec<Collected> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..2).map(|_| sc.spawn(|| stream_take(0, None))).collect();
        hs.into_iter().map(|h| h.join().expect("stream thread")).collect()
    });
    for c in &streams {
        assert_stream_equals_batch(c, reference, t.frames.nrows());
    }
    let batch = label_file(0);
    let got: Vec<_> =
        batch.iter().map(|s| (s.start_frame, s.end_frame, s.label, s.confidence)).collect();
    assert_eq!(got, reference.iter().map(key).collect::<Vec<_>>(), "ms_label_file, K inferred");
}

#[test]
fn handles_are_thread_safe_and_version_is_the_crate_version() {
    fn shared<T: Send + Sync>() {}
    fn sent<T: Send>() {}
    shared::<MsModel>();
    sent::<MsStream>();
    // SAFETY: a static NUL-terminated string.
    let v = unsafe { std::ffi::CStr::from_ptr(ms_version()) };
    assert_eq!(v.to_str().expect("UTF-8"), env!("CARGO_PKG_VERSION"));
}

/// Runs `f`, which must fail with `code`, and returns the message.
fn fails(code: i32, got: i32) -> String {
    assert_eq!(got, code, "return code (message: {})", last_error());
    assert_eq!(ms_last_error_code(), code);
    let m = last_error();
    assert!(!m.is_empty());
    m
}

#[test]
fn model_load_errors_name_the_file() {
    let ok = cstr(&repo(MANIFEST));
    let load = |m: &CString, b: Option<&CString>, lib: Option<&CString>| {
        // SAFETY: valid strings or NULL.
        let p = unsafe {
            ms_model_load(
                m.as_ptr(),
                b.map_or(null(), |b| b.as_ptr()),
                lib.map_or(null(), |l| l.as_ptr()),
            )
        };
        if p.is_null() {
            ms_last_error_code()
        } else {
            // SAFETY: freed once.
            unsafe { ms_model_free(p) };
            MS_OK
        }
    };
    // SAFETY: NULL manifest is refused.
    assert!(unsafe { ms_model_load(null(), null(), null()) }.is_null());
    assert!(fails(MS_ERR_NULL, ms_last_error_code()).contains("manifest_json"));

    let missing = cstr(&repo("models/no_such_model.json"));
    let m = fails(MS_ERR_IO, load(&missing, None, None));
    assert!(m.contains("no_such_model.json: ") && !m.contains("basis"), "{m}");
    let m = fails(MS_ERR_IO, load(&missing, Some(&cstr(&repo(BASIS))), None));
    assert!(m.contains("no_such_model.json: "), "{m}");

    let not_json = cstr(&repo(TAKE));
    let m = fails(MS_ERR_FORMAT, load(&not_json, Some(&cstr(&repo(BASIS))), None));
    assert!(m.contains("86_01.amc:"), "{m}");

    let bad_basis = cstr(&repo("models/no_such.basis.json"));
    let m = fails(MS_ERR_IO, load(&ok, Some(&bad_basis), None));
    assert!(m.contains("no_such.basis.json"), "{m}");

    let bad_lib = cstr(&repo("no/libonnxruntime.so.1.31.1"));
    let m = fails(MS_ERR_RUNTIME, load(&ok, None, Some(&bad_lib)));
    assert!(m.contains("no/libonnxruntime.so.1.31.1"), "{m}");

    let bad_utf8 = CString::new(b"models/\xff.json".to_vec()).expect("no NUL");
    let m = fails(MS_ERR_ARGUMENT, load(&bad_utf8, None, None));
    assert!(m.contains("manifest_json") && m.contains("UTF-8"), "{m}");

    // The default basis beside the manifest is found when none is given.
    assert_eq!(load(&ok, None, None), MS_OK, "{}", last_error());
    // SAFETY: NULL is fine for the free functions and the accessors.
    unsafe {
        ms_model_free(null_mut());
        assert_eq!(ms_model_channels(null()), 0);
        assert_eq!(ms_model_channels(model()), 96);
        assert!(ms_model_fps(model()) > 0.0);
    }
}

#[test]
fn settings_change_the_labeling_and_streams_still_equal_files() {
    let d = ms_settings_default();
    assert_eq!((d.min_segment_frames, d.merge_threshold, d.provisional_every), (60, 0.28, 8));
    assert_eq!(d.boundary_penalty, 6.5);
    let labels = |segs: &[(u64, u64, i64)]| {
        segs.iter().map(|s| s.2).collect::<std::collections::BTreeSet<_>>().len()
    };
    let file = |settings: Option<&MsSettings>| -> Vec<(u64, u64, i64)> {
        label_file_with(0, settings).iter().map(|s| (s.start_frame, s.end_frame, s.label)).collect()
    };
    // A lower merge threshold (K inferred) splits the take into more labels; streamed with no
    // provisional updates, the stream gives only its final events, equal to the file's.
    let st = MsSettings { merge_threshold: 0.25, provisional_every: 0, ..d };
    let (default, lower) = (file(None), file(Some(&st)));
    assert!(labels(&lower) > labels(&default), "{lower:?} vs {default:?}");
    let c = stream_take_with(0, None, Some(&st));
    let streamed: Vec<_> =
        c.revised.iter().map(|e| (e.start_frame, e.end_frame, e.label)).collect();
    assert_eq!(streamed, lower);
    assert!(c.events.iter().all(|e| matches!(e.kind, MS_EVENT_REVISED | MS_EVENT_FINALIZED)));
    // Change-score peaks instead of optimal partitioning: other boundaries, and again the
    // stream's final segments equal the file's.
    let peaks = MsSettings { boundary_penalty: 0.0, provisional_every: 0, ..d };
    let by_peaks = file(Some(&peaks));
    assert_ne!(by_peaks, default);
    let c = stream_take_with(0, None, Some(&peaks));
    let streamed: Vec<_> =
        c.revised.iter().map(|e| (e.start_frame, e.end_frame, e.label)).collect();
    assert_eq!(streamed, by_peaks);
    // Out-of-range settings are refused by name, for streams and files.
    let t = take();
    for (bad, field) in [
        (MsSettings { merge_threshold: f32::NAN, ..d }, "settings.merge_threshold"),
        (MsSettings { merge_threshold: 2.5, ..d }, "settings.merge_threshold"),
        (MsSettings { min_segment_frames: 0, ..d }, "settings.min_segment_frames"),
        (MsSettings { boundary_penalty: -1.0, ..d }, "settings.boundary_penalty"),
        (MsSettings { boundary_penalty: f32::INFINITY, ..d }, "settings.boundary_penalty"),
    ] {
        // SAFETY: a live model and readable settings.
        let s = unsafe { ms_stream_new_with(model(), t.fps, t.frames.ncols(), 0, &bad) };
        assert!(s.is_null());
        assert!(fails(MS_ERR_ARGUMENT, ms_last_error_code()).contains(field));
        // Files too, and before the file is read: a missing file does not hide the setting.
        let asf = cstr(&repo(ASF));
        for path in [cstr(&repo(TAKE)), cstr(&repo("examples/data/no_such.amc"))] {
            let (mut out, mut n) = (null_mut(), 0usize);
            // SAFETY: as above, writable out-parameters.
            let rc = unsafe {
                ms_label_file_with(
                    model(),
                    path.as_ptr(),
                    asf.as_ptr(),
                    0.0,
                    0,
                    &bad,
                    &mut out,
                    &mut n,
                )
            };
            assert!(fails(MS_ERR_ARGUMENT, rc).contains(field));
            assert!(out.is_null() && n == 0);
        }
    }
}

#[test]
fn channel_names_and_joint_checks_follow_the_model() {
    use motionseg::model::Manifest;
    let manifest = Manifest::load(&repo(MANIFEST)).expect("manifest");
    let m = model();
    // SAFETY: a live model; the returned strings live as long as it.
    let names: Vec<String> = (0..unsafe { ms_model_channels(m) })
        .map(|i| {
            let p = unsafe { ms_model_channel_name(m, i) };
            assert!(!p.is_null(), "channel {i}: {}", last_error());
            unsafe { std::ffi::CStr::from_ptr(p) }.to_str().expect("UTF-8").to_owned()
        })
        .collect();
    assert_eq!(names, manifest.raw_columns);
    assert_eq!((names[0].as_str(), names[3].as_str()), ("root.tx", "root.e0"));
    // SAFETY: out of range and NULL are refused with a message.
    assert!(unsafe { ms_model_channel_name(m, 96) }.is_null());
    assert!(fails(MS_ERR_ARGUMENT, ms_last_error_code()).contains("index: 96"));
    assert!(unsafe { ms_model_channel_name(null(), 0) }.is_null());
    assert!(fails(MS_ERR_NULL, ms_last_error_code()).contains("model"));

    // The bundled take's own joints (from its ASF) match; a swapped pair, a missing joint, an
    // empty list and NULLs are refused, naming what is wrong.
    let check = |names: &[String]| {
        let c: Vec<CString> =
            names.iter().map(|n| CString::new(n.as_str()).expect("no NUL")).collect();
        let ptrs: Vec<*const std::ffi::c_char> = c.iter().map(|s| s.as_ptr()).collect();
        // SAFETY: `ptrs` holds `len` live strings.
        unsafe { ms_model_check_joints(m, ptrs.as_ptr(), ptrs.len()) }
    };
    let joints = take().joints.clone();
    assert_eq!(joints.len(), 31);
    assert_eq!(check(&joints), MS_OK, "{}", last_error());
    let mut swapped = joints.clone();
    swapped.swap(2, 7); // lfemur <-> rfemur
    let e = fails(MS_ERR_FORMAT, check(&swapped));
    assert!(e.contains("joint 2") && e.contains("\"lfemur\"") && e.contains("\"rfemur\""), "{e}");
    let e = fails(MS_ERR_FORMAT, check(&joints[..30]));
    assert!(e.contains("expected 31 joints") && e.contains("found 30"), "{e}");
    let e = fails(MS_ERR_ARGUMENT, check(&[]));
    assert!(e.contains("n_joints"), "{e}");
    // SAFETY: NULL list and NULL entries are refused before any read through them.
    let e = fails(MS_ERR_NULL, unsafe { ms_model_check_joints(m, null(), 3) });
    assert!(e.contains("joints"), "{e}");
    let root = CString::new("root").expect("no NUL");
    let with_null = [root.as_ptr(), null()];
    let e = fails(MS_ERR_NULL, unsafe { ms_model_check_joints(m, with_null.as_ptr(), 2) });
    assert!(e.contains("joints[1]"), "{e}");
    let e = fails(MS_ERR_NULL, unsafe { ms_model_check_joints(null(), with_null.as_ptr(), 1) });
    assert!(e.contains("model"), "{e}");
    let e =
        fails(MS_ERR_ARGUMENT, unsafe { ms_model_check_joints(m, with_null.as_ptr(), usize::MAX) });
    assert!(e.contains("n_joints"), "{e}");
    let bad = CString::new(b"lhip\xffjoint".to_vec()).expect("no NUL");
    let not_utf8 = [root.as_ptr(), bad.as_ptr()];
    let e = fails(MS_ERR_ARGUMENT, unsafe { ms_model_check_joints(m, not_utf8.as_ptr(), 2) });
    assert!(e.contains("joints[1]") && e.contains("UTF-8"), "{e}");
}

#[test]
fn stream_errors_are_codes_and_refused_frames_change_nothing() {
    let t = take();
    let fps = t.fps;
    // SAFETY: every call below gets NULL or live handles and valid buffers of the given size.
    unsafe {
        assert!(ms_stream_new(null(), fps, 96, 4).is_null());
        assert!(fails(MS_ERR_NULL, ms_last_error_code()).contains("model"));
        assert!(ms_stream_new(model(), fps, 95, 4).is_null());
        let m = fails(MS_ERR_ARGUMENT, ms_last_error_code());
        assert!(m.contains("channels") && m.contains("96") && m.contains("95"), "{m}");
        for bad in [1.0, f64::NAN, f64::INFINITY] {
            assert!(ms_stream_new(model(), bad, 96, 4).is_null());
            assert!(fails(MS_ERR_ARGUMENT, ms_last_error_code()).contains("input_fps"));
        }
        // A rounded frame time (29.99994 fps) is the model's 30 fps, as for files.
        let rounded = ms_stream_new(model(), 1.0 / 0.033_333_4, 96, 4);
        assert!(!rounded.is_null(), "{}", last_error());
        ms_stream_free(rounded);

        let frame = |i: usize| t.frames.row(i).to_vec();
        assert_eq!(
            ms_stream_push(null_mut(), frame(0).as_ptr(), 96, None, null_mut()),
            MS_ERR_NULL
        );
        let s = ms_stream_new(model(), fps, 96, 4);
        assert!(!s.is_null(), "{}", last_error());
        let m = fails(MS_ERR_NULL, ms_stream_push(s, null(), 96, None, null_mut()));
        assert!(m.contains("frame 0"), "{m}");
        let m = fails(MS_ERR_ARGUMENT, ms_stream_push(s, frame(0).as_ptr(), 94, None, null_mut()));
        assert!(m.contains("frame 0: channels: expected 96") && m.contains("94"), "{m}");
        for i in 0..10 {
            assert_eq!(ms_stream_push(s, frame(i).as_ptr(), 96, None, null_mut()), MS_OK);
        }
        let mut nan = frame(10);
        nan[3] = f32::NAN;
        let m = fails(MS_ERR_ARGUMENT, ms_stream_push(s, nan.as_ptr(), 96, None, null_mut()));
        assert!(m.contains("frame 10 values[3]") && m.contains("NaN"), "{m}");
        nan[3] = f32::NEG_INFINITY;
        assert_eq!(ms_stream_push(s, nan.as_ptr(), 96, None, null_mut()), MS_ERR_ARGUMENT);
        // Finite but absurd: refused as a frame, not a failure of the stream.
        nan[3] = 3e30;
        let m = fails(MS_ERR_ARGUMENT, ms_stream_push(s, nan.as_ptr(), 96, None, null_mut()));
        assert!(m.contains("frame 10 values[3]") && m.contains("±1e6, found 3e30"), "{m}");
        // The stream goes on after refused frames: frame 10 is still next.
        assert_eq!(ms_stream_push(s, frame(10).as_ptr(), 96, None, null_mut()), MS_OK);
        // 11 frames give no window: refused, as ms_label_file refuses such a take.
        let m = fails(MS_ERR_ARGUMENT, ms_stream_finish(s, None, null_mut()));
        assert!(m.contains("after 11 frames, before its first model window"), "{m}");
        // A failed finish fails the stream.
        let m = fails(MS_ERR_STATE, ms_stream_push(s, frame(11).as_ptr(), 96, None, null_mut()));
        assert!(m.contains("failed earlier") && m.contains("first model window"), "{m}");
        ms_stream_free(s);
        // The same with K inferred (it used to finish with no segments and MS_OK).
        let s = ms_stream_new(model(), t.fps, 96, 0);
        for i in 0..11 {
            assert_eq!(ms_stream_push(s, frame(i).as_ptr(), 96, None, null_mut()), MS_OK);
        }
        let m = fails(MS_ERR_ARGUMENT, ms_stream_finish(s, None, null_mut()));
        assert!(m.contains("before its first model window"), "{m}");
        ms_stream_free(s);
        ms_stream_free(null_mut());
        assert_eq!(ms_stream_finish(null_mut(), None, null_mut()), MS_ERR_NULL);
    }
}

#[test]
fn finished_streams_and_reentrant_callbacks_are_refused() {
    let t = take();
    let mut c = Collected::default();
    // SAFETY: live handles, frames of 96 floats, our callback and its data.
    unsafe {
        let s = ms_stream_new(model(), t.fps, 96, 0);
        assert!(!s.is_null(), "{}", last_error());
        for row in t.frames.rows().into_iter().take(600) {
            let row = row.to_vec();
            assert_eq!(ms_stream_push(s, row.as_ptr(), 96, None, null_mut()), MS_OK);
        }
        c.reentrant = Some(s as usize);
        assert_eq!(ms_stream_finish(s, Some(collect), user(&mut c)), MS_OK, "{}", last_error());
        assert!(!c.revised.is_empty());
        assert_eq!(c.reentrant_codes.len(), c.events.len());
        assert!(c.reentrant_codes.iter().all(|&r| r == MS_ERR_STATE), "{:?}", c.reentrant_codes);
        assert!(last_error().contains("own event callback"), "{}", last_error());
        let row = t.frames.row(600).to_vec();
        let m = fails(MS_ERR_STATE, ms_stream_push(s, row.as_ptr(), 96, None, null_mut()));
        assert!(m.contains("finished"), "{m}");
        assert_eq!(ms_stream_finish(s, None, null_mut()), MS_ERR_STATE);
        ms_stream_free(s);
    }
}

#[test]
fn label_file_errors_name_the_file() {
    let run = |path: &CString, asf: Option<&CString>, fps: f64, actions: usize| {
        let (mut out, mut n) = (std::ptr::dangling_mut::<MsSegment>(), 7usize);
        // SAFETY: live model, valid strings, writable out-parameters.
        let rc = unsafe {
            ms_label_file(
                model(),
                path.as_ptr(),
                asf.map_or(null(), |a| a.as_ptr()),
                fps,
                actions,
                &mut out,
                &mut n,
            )
        };
        if rc != MS_OK {
            assert!(out.is_null() && n == 0, "outputs reset on failure");
        } else {
            // SAFETY: as ms_label_file gave them.
            unsafe { ms_segments_free(out, n) };
        }
        rc
    };
    let (take, asf) = (cstr(&repo(TAKE)), cstr(&repo(ASF)));
    let missing = cstr(&repo("examples/data/no_such.amc"));
    let m = fails(MS_ERR_IO, run(&missing, Some(&asf), 0.0, 4));
    assert!(m.contains("no_such.amc"), "{m}");
    let m = fails(MS_ERR_FORMAT, run(&take, None, 0.0, 4));
    assert!(m.contains("86_01.amc") && m.contains("ASF"), "{m}");
    let m = fails(MS_ERR_FORMAT, run(&cstr(&repo("README.md")), None, 0.0, 4));
    assert!(m.contains("README.md") && m.contains("unknown file type"), "{m}");
    let m = fails(MS_ERR_ARGUMENT, run(&take, Some(&asf), f64::NAN, 4));
    assert!(m.contains("fps"), "{m}");
    let m = fails(MS_ERR_ARGUMENT, run(&take, Some(&asf), 0.0, 100_000));
    assert!(m.contains("86_01.amc") && m.contains("actions"), "{m}");
    // SAFETY: NULL out-parameters and paths are refused.
    unsafe {
        let mut n = 0usize;
        let rc = ms_label_file(model(), take.as_ptr(), asf.as_ptr(), 0.0, 4, null_mut(), &mut n);
        assert!(fails(MS_ERR_NULL, rc).contains("out"));
        let mut out = null_mut();
        let rc = ms_label_file(model(), null(), null(), 0.0, 4, &mut out, &mut n);
        assert!(fails(MS_ERR_NULL, rc).contains("path"));
        let rc = ms_label_file(null(), take.as_ptr(), asf.as_ptr(), 0.0, 4, &mut out, &mut n);
        assert!(fails(MS_ERR_NULL, rc).contains("model"));
        ms_segments_free(null_mut(), 0);
    }
}
