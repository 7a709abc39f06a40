/*
 * segment.c - the motionseg C ABI end to end.
 *
 *   segment MODEL.json TAKE [SKELETON.asf|-] [ACTIONS] [FRAMES.f32 FPS]
 *
 * Labels TAKE in batch with ms_label_file and prints one line per segment:
 *   batch INDEX START_FRAME END_FRAME START_S END_S LABEL CONFIDENCE
 * Given FRAMES.f32 (raw canonical frames as little-endian float32, ms_model_channels() values per
 * frame, e.g. `motionseg inspect TAKE --features` rows) and its frame rate, it also streams them
 * one frame at a time with ms_stream_push, counts the live events and prints the final segments
 * from ms_stream_finish:
 *   stream INDEX START_FRAME END_FRAME START_S END_S LABEL CONFIDENCE
 *   events OPENED EXTENDED CLOSED RELABEL MERGED REVISED FINALIZED
 * ACTIONS is the number of actions (0 or absent: inferred). Before that it prints the model's
 * frame layout, read by name, and checks the joint order a rig would declare against it:
 *   layout CHANNELS JOINTS ok
 * Exit status 1 on any error, with ms_last_error() on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "motionseg.h"

struct collect {
    double fps;
    unsigned long count[8]; /* events per kind */
    unsigned long revised;  /* REVISED events seen so far */
};

static void on_event(const ms_event *e, void *user) {
    struct collect *c = (struct collect *)user;
    if (e->kind > 0 && e->kind < 8) {
        c->count[e->kind]++;
    }
    if (e->kind == MS_EVENT_REVISED) {
        printf("stream %lu %llu %llu %.3f %.3f %lld %.3f\n", c->revised++,
               (unsigned long long)e->start_frame, (unsigned long long)e->end_frame,
               (double)e->start_frame / c->fps, (double)e->end_frame / c->fps,
               (long long)e->label, (double)e->confidence);
    }
}

static int fail(const char *what) {
    fprintf(stderr, "error: %s: %s\n", what, ms_last_error());
    return 1;
}

/* The joints of the frame layout, read from the channel names ("<joint>.e0" starts a joint's
 * three exp-map values), then checked with ms_model_check_joints as a rig's own list would be. */
#define MAX_JOINTS 128
static int check_layout(const ms_model *model) {
    static char names[MAX_JOINTS][64];
    const char *joints[MAX_JOINTS];
    size_t channels = ms_model_channels(model), n = 0, i;
    for (i = 0; i < channels; i++) {
        const char *name = ms_model_channel_name(model, i);
        const char *dot = name ? strrchr(name, '.') : NULL; /* joint names may hold dots */
        size_t len = dot ? (size_t)(dot - name) : 0;
        if (!name) {
            return fail("ms_model_channel_name");
        }
        if (dot && strcmp(dot, ".e0") == 0) {
            if (n == MAX_JOINTS || len >= sizeof names[0]) {
                fprintf(stderr, "error: more than %d joints or a joint name of 64+ characters\n",
                        MAX_JOINTS);
                return 1;
            }
            memcpy(names[n], name, len);
            names[n][len] = '\0';
            joints[n] = names[n];
            n++;
        }
    }
    if (ms_model_check_joints(model, joints, n) != MS_OK) {
        return fail("ms_model_check_joints");
    }
    printf("layout %lu %lu ok\n", (unsigned long)channels, (unsigned long)n);
    return 0;
}

static int stream_frames(const ms_model *model, const char *path, double fps, size_t actions) {
    size_t channels = ms_model_channels(model);
    float *frame = malloc(channels * sizeof *frame);
    FILE *f = fopen(path, "rb");
    ms_settings settings = ms_settings_default(); /* change fields here, e.g. merge_threshold */
    ms_stream *s = ms_stream_new_with(model, fps, channels, actions, &settings);
    struct collect c = {0};
    int rc = 0;
    c.fps = fps;
    if (!s) {
        rc = fail("ms_stream_new_with");
    } else if (!frame || !f) {
        fprintf(stderr, "error: cannot read %s\n", path);
        rc = 1;
    } else {
        while (fread(frame, sizeof *frame, channels, f) == channels) {
            if (ms_stream_push(s, frame, channels, on_event, &c) != MS_OK) {
                rc = fail("ms_stream_push");
                break;
            }
        }
        if (rc == 0 && ms_stream_finish(s, on_event, &c) != MS_OK) {
            rc = fail("ms_stream_finish");
        }
        if (rc == 0) {
            printf("events %lu %lu %lu %lu %lu %lu %lu\n", c.count[1], c.count[2], c.count[3],
                   c.count[4], c.count[5], c.count[6], c.count[7]);
        }
    }
    ms_stream_free(s);
    if (f) {
        fclose(f);
    }
    free(frame);
    return rc;
}

int main(int argc, char **argv) {
    const char *asf = argc > 3 && argv[3][0] != '-' ? argv[3] : NULL;
    size_t actions = argc > 4 ? (size_t)strtoul(argv[4], NULL, 10) : 0;
    ms_segment *segs = NULL;
    size_t n = 0, i;
    ms_model *model;
    int rc;
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.json TAKE [SKELETON.asf|-] [ACTIONS] [FRAMES.f32 FPS]\n",
                argv[0]);
        return 2;
    }
    /* A library built for another header would misread the structs: refuse it first. */
    if (ms_abi_version() != MS_ABI_VERSION) {
        fprintf(stderr, "libmotionseg_capi has ABI version %u, this program was built for %u\n",
                (unsigned)ms_abi_version(), (unsigned)MS_ABI_VERSION);
        return 1;
    }
    printf("motionseg %s\n", ms_version());
    model = ms_model_load(argv[1], NULL, NULL);
    if (!model) {
        return fail("ms_model_load");
    }
    if (check_layout(model) != 0) {
        ms_model_free(model);
        return 1;
    }
    if (ms_label_file(model, argv[2], asf, 0.0, actions, &segs, &n) != MS_OK) {
        rc = fail("ms_label_file");
        ms_model_free(model);
        return rc;
    }
    for (i = 0; i < n; i++) {
        printf("batch %lu %llu %llu %.3f %.3f %lld %.3f\n", (unsigned long)i,
               (unsigned long long)segs[i].start_frame, (unsigned long long)segs[i].end_frame,
               segs[i].start_s, segs[i].end_s, (long long)segs[i].label,
               (double)segs[i].confidence);
    }
    ms_segments_free(segs, n);
    rc = argc > 6 ? stream_frames(model, argv[5], atof(argv[6]), actions) : 0;
    ms_model_free(model);
    return rc;
}
