/*
 * motionseg.h - C ABI of motionseg: streaming unsupervised action segmentation of motion capture.
 *
 * Build: cargo build --release -p motionseg-capi
 *   -> target/release/libmotionseg_capi.so (shared) and libmotionseg_capi.a (static; link it
 *      with -lpthread -ldl -lm). ONNX Runtime 1.31 is loaded at run time (see ms_model_load).
 *
 * Usage: load a model once (ms_model_load), then either label whole files (ms_label_file) or
 * open one stream per live take (ms_stream_new), push raw frames (ms_stream_push) and read segment
 * events from a callback; ms_stream_finish gives the final segments. ms_model_check_joints checks
 * a rig's joint order once; the *_with variants take ms_settings.
 *
 * Threads: an ms_model is immutable and may be shared by any number of threads (streams and
 * ms_label_file calls on several threads at once are fine). An ms_stream must be used by one
 * thread at a time. Event callbacks run on the calling thread, inside the call; they must not
 * call back into the same stream (such a call is refused with MS_ERR_STATE).
 *
 * Errors: every fallible function returns NULL or a nonzero MS_ERR_* code and leaves a message
 * naming the file, line, field or argument in a thread-local buffer, read with ms_last_error().
 * No function lets a Rust panic reach C: an internal bug is reported as MS_ERR_PANIC.
 */
#ifndef MOTIONSEG_H
#define MOTIONSEG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version of this header's ABI (struct layouts, constants, signatures); it goes up with any
 * change to them. Check ms_abi_version() == MS_ABI_VERSION before any other call: a library of
 * another ABI version must not be used with this header. */
#define MS_ABI_VERSION 1

/* Status codes. */
#define MS_OK 0           /* success */
#define MS_ERR_NULL 1     /* a required pointer argument was NULL */
#define MS_ERR_ARGUMENT 2 /* bad value: channel count, frame rate, NaN/inf in a frame, non-UTF-8 path */
#define MS_ERR_IO 3       /* a file could not be read (missing, unreadable) */
#define MS_ERR_FORMAT 4   /* a file's content is wrong: parse error, model/basis/take mismatch */
#define MS_ERR_RUNTIME 5  /* ONNX Runtime: library missing or wrong version, session failure */
#define MS_ERR_STATE 6    /* the stream was finished, failed earlier, or is in its own callback */
#define MS_ERR_PANIC 7    /* internal error (a bug in motionseg), caught before reaching C */

/* Event kinds (ms_event.kind). Fields not listed for a kind are 0, labels -1. */
#define MS_EVENT_OPENED 1    /* segment_id began: label, start_frame (end_frame = start_frame) */
#define MS_EVENT_EXTENDED 2  /* the open segment_id now ends at end_frame (exclusive) */
#define MS_EVENT_CLOSED 3    /* segment_id ended at end_frame (exclusive) */
#define MS_EVENT_RELABEL 4   /* segment_id changed label from from_label to label */
#define MS_EVENT_MERGED 5    /* other_id was merged into segment_id, which now ends at end_frame */
#define MS_EVENT_REVISED 6   /* one final segment (segment_id, start_frame, end_frame, label,
                                confidence), in time order; the first REVISED event of a call
                                replaces every provisional segment */
#define MS_EVENT_FINALIZED 7 /* frames before end_frame will never change again */

/* A loaded model (manifest, ONNX model, POD basis, warm runtime sessions). Thread-safe. */
typedef struct MsModel ms_model;
/* One live stream. Not thread-safe: one thread at a time. */
typedef struct MsStream ms_stream;

/* One segment event. Events with is_final = 0 are provisional (live, may be revised); the
 * REVISED and FINALIZED events that ms_stream_finish delivers have is_final = 1. */
typedef struct ms_event {
    int kind;             /* MS_EVENT_* */
    int is_final;         /* 1: part of the final result; 0: provisional */
    uint64_t segment_id;  /* segments are numbered 0, 1, 2, ... as they open */
    uint64_t other_id;    /* MERGED: the absorbed segment */
    uint64_t start_frame; /* first frame (OPENED, REVISED) */
    uint64_t end_frame;   /* one past the last frame; FINALIZED: the watermark */
    int64_t label;        /* cluster label, -1 for none */
    int64_t from_label;   /* RELABEL: the label before */
    float confidence;     /* REVISED: fraction of frames whose label agreed, in [0, 1] */
} ms_event;

/* Labeling settings for ms_stream_new_with and ms_label_file_with. Start from
 * ms_settings_default() and change fields; a value out of range is refused (MS_ERR_ARGUMENT,
 * naming the field). The struct grew by `boundary_penalty` (32 bytes, was 24) before any
 * release and before MS_ABI_VERSION existed: programs built against an older copy of this
 * header must be rebuilt. */
typedef struct ms_settings {
    uint64_t min_segment_frames; /* a new label must last this many input frames before a segment
                                    boundary is declared (>= 1; default 60: 0.5 s at 120 fps) */
    float merge_threshold;       /* actions = 0: segments closer than this cosine distance share a
                                    label, in [0, 2] (default 0.28, calibrated on CMU subject 86;
                                    lower it for takes far from the training data); in both
                                    modes it also groups provisional stretches with the labelled
                                    segments (none near: a new label; with actions > 0 while one
                                    of them is free) */
    uint64_t provisional_every;  /* streams: provisional events every this many windows (0: only
                                    the final events of ms_stream_finish; default 8, about once a
                                    second); files ignore it */
    float boundary_penalty;      /* segment boundaries by optimal partitioning with this cost per
                                    segment (the C ABI labels at hop 4, where it was
                                    chosen; the CLI and the service scale it by 4 / hop)
                                    (default 6.5: the most accurate, a boundary is final
                                    18-27 s after the change), or 0 for change-score peaks (final
                                    after about 4 s); finite, >= 0 */
} ms_settings;

/* Receives each event of a call, on the calling thread; `user` is passed through. The event
 * pointer is valid only during the callback. */
typedef void (*ms_event_cb)(const ms_event *event, void *user);

/* One labeled segment, frames [start_frame, end_frame). */
typedef struct ms_segment {
    uint64_t start_frame; /* first frame */
    uint64_t end_frame;   /* one past the last frame */
    double start_s;       /* start time in seconds */
    double end_s;         /* end time in seconds (exclusive) */
    int64_t label;        /* cluster label (0, 1, 2, ... by first appearance), -1 for none */
    float confidence;     /* fraction of frames whose label agreed, in [0, 1] */
} ms_segment;

/* The ABI version the library was built with (compare with MS_ABI_VERSION). */
uint32_t ms_abi_version(void);

/* The library version, e.g. "0.1.0" (a static string; never NULL). */
const char *ms_version(void);

/* The message of the last failed call on this thread ("" before any failure). Valid until the
 * next failing call on this thread; never NULL. */
const char *ms_last_error(void);

/* The MS_ERR_* code of the last failed call on this thread (MS_OK before any failure); useful
 * after a function that returns NULL. */
int ms_last_error_code(void);

/* Loads a model from its manifest JSON (the ONNX file it names is read and its sha256 checked),
 * the POD basis fitted on it (NULL: "<manifest stem>.basis.json" beside the manifest) and the
 * ONNX Runtime 1.31 library (NULL: $MOTIONSEG_ORT_LIB, $ORT_DYLIB_PATH, then
 * .venv/lib/python3*\/site-packages/onnxruntime/capi/ searched upwards from the current
 * directory and the executable's). The runtime is loaded once per process; later models use the
 * first library. Returns NULL on failure (see ms_last_error). Free with ms_model_free. */
ms_model *ms_model_load(const char *manifest_json, const char *basis_json_or_null,
                        const char *ort_lib_or_null);

/* Frees a model (NULL: nothing). Streams made from it stay usable until freed. */
void ms_model_free(ms_model *model);

/* Raw channels per frame the model expects (what ms_stream_new needs); 0 for NULL. */
size_t ms_model_channels(const ms_model *model);

/* The model's frame rate; streams need an input rate at least this high. 0 for NULL. */
double ms_model_fps(const ms_model *model);

/* The name of raw channel `index` of a frame: "root.tx", "root.ty", "root.tz" (root translation),
 * then "<joint>.e0", ".e1", ".e2" (exponential map, radians) per joint, so an application can place
 * its values by name. NULL (with an error) for a NULL model or an index not below
 * ms_model_channels(model). The string lives as long as the model. */
const char *ms_model_channel_name(const ms_model *model, size_t index);

/* Checks a rig's joint names, in the order its frames list them, against the model's joints.
 * Frames carry no names, so streams check only their length: call this once per rig to catch a
 * wrong joint order, which would otherwise label silently wrong. MS_OK when they match,
 * MS_ERR_FORMAT naming the first joint that differs, MS_ERR_ARGUMENT (empty list, non-UTF-8
 * name) or MS_ERR_NULL. */
int ms_model_check_joints(const ms_model *model, const char *const *joints, size_t n_joints);

/* Starts a stream of raw canonical frames: root translation, then three exponential-map values
 * (radians) per joint, the layout `motionseg inspect --features` writes. `input_fps` must be at
 * least ms_model_fps(model) (within 1e-4 of a whole multiple counts as it, e.g. 29.99994 from a
 * rounded frame time); `channels` must equal ms_model_channels(model); `actions` is the
 * number of clusters, 0 to infer it. Settings are the live service's defaults. Returns NULL on
 * failure. Free with ms_stream_free. */
ms_stream *ms_stream_new(const ms_model *model, double input_fps, size_t channels, size_t actions);

/* The default settings (those of ms_stream_new and ms_label_file, the live service's). */
ms_settings ms_settings_default(void);

/* ms_stream_new with `settings` (NULL: the defaults). */
ms_stream *ms_stream_new_with(const ms_model *model, double input_fps, size_t channels,
                              size_t actions, const ms_settings *settings);

/* Feeds one frame of `channels` floats (the stream's channel count, all finite, within ±1e6). The
 * events it causes are passed to `cb` (may be NULL) before the call returns. A refused frame
 * (NULL, wrong channel count, NaN, infinite or beyond ±1e6) changes nothing: the stream goes on. Any other failure
 * ends the stream (later calls give MS_ERR_STATE). Returns MS_OK or an MS_ERR_* code. */
int ms_stream_push(ms_stream *stream, const float *frame, size_t channels, ms_event_cb cb,
                   void *user);

/* Ends the stream: the final segments go to `cb` as MS_EVENT_REVISED events in time order
 * (equal to what ms_label_file gives for the same frames), then one MS_EVENT_FINALIZED through
 * the last frame. The stream takes no more frames afterwards. Returns MS_OK or an MS_ERR_* code
 * (MS_ERR_ARGUMENT when the stream ended before its first model window, as ms_label_file
 * refuses such a take, or was too short for `actions` clusters). */
int ms_stream_finish(ms_stream *stream, ms_event_cb cb, void *user);

/* Frees a stream (NULL: nothing), finished or not. */
void ms_stream_free(ms_stream *stream);

/* Labels a whole file in batch: .amc (with `asf_or_null`), .bvh, or .npy / .csv of raw
 * canonical rows (these need `fps_or_0`; .amc takes it, else CMU's 120 fps; a .bvh states its
 * own rate, and a different nonzero `fps_or_0` is refused), with
 * `actions` clusters (0: infer). On success *out holds *n segments in time order (NULL when
 * none), freed with ms_segments_free; on failure *out is NULL and *n is 0. Returns MS_OK or an
 * MS_ERR_* code (MS_ERR_ARGUMENT e.g. for a take shorter than one model window). */
int ms_label_file(const ms_model *model, const char *path, const char *asf_or_null,
                  double fps_or_0, size_t actions, ms_segment **out, size_t *n);

/* ms_label_file with `settings` (NULL: the defaults). */
int ms_label_file_with(const ms_model *model, const char *path, const char *asf_or_null,
                       double fps_or_0, size_t actions, const ms_settings *settings,
                       ms_segment **out, size_t *n);

/* Frees segments from ms_label_file (NULL: nothing); `n` must be the count it gave (a pointer
 * or count that does not match is refused and not freed; see ms_last_error). */
void ms_segments_free(ms_segment *segments, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* MOTIONSEG_H */
