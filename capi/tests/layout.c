/* Prints the size and field offsets of the header's structs, one "name value" per line; the
 * Rust test `header` compares them with the #[repr(C)] structs. */
#include <stddef.h>
#include <stdio.h>

#include "motionseg.h"

#define SHOW(name, value) printf("%s %lu\n", name, (unsigned long)(value))

int main(void) {
    SHOW("ms_event.size", sizeof(ms_event));
    SHOW("ms_event.kind", offsetof(ms_event, kind));
    SHOW("ms_event.is_final", offsetof(ms_event, is_final));
    SHOW("ms_event.segment_id", offsetof(ms_event, segment_id));
    SHOW("ms_event.other_id", offsetof(ms_event, other_id));
    SHOW("ms_event.start_frame", offsetof(ms_event, start_frame));
    SHOW("ms_event.end_frame", offsetof(ms_event, end_frame));
    SHOW("ms_event.label", offsetof(ms_event, label));
    SHOW("ms_event.from_label", offsetof(ms_event, from_label));
    SHOW("ms_event.confidence", offsetof(ms_event, confidence));
    SHOW("ms_segment.size", sizeof(ms_segment));
    SHOW("ms_segment.start_frame", offsetof(ms_segment, start_frame));
    SHOW("ms_segment.end_frame", offsetof(ms_segment, end_frame));
    SHOW("ms_segment.start_s", offsetof(ms_segment, start_s));
    SHOW("ms_segment.end_s", offsetof(ms_segment, end_s));
    SHOW("ms_segment.label", offsetof(ms_segment, label));
    SHOW("ms_segment.confidence", offsetof(ms_segment, confidence));
    SHOW("ms_settings.size", sizeof(ms_settings));
    SHOW("ms_settings.min_segment_frames", offsetof(ms_settings, min_segment_frames));
    SHOW("ms_settings.merge_threshold", offsetof(ms_settings, merge_threshold));
    SHOW("ms_settings.provisional_every", offsetof(ms_settings, provisional_every));
    SHOW("ms_settings.boundary_penalty", offsetof(ms_settings, boundary_penalty));
    SHOW("MS_ABI_VERSION", MS_ABI_VERSION);
    SHOW("ms_abi_version()", ms_abi_version());
    SHOW("MS_OK", MS_OK);
    SHOW("MS_ERR_NULL", MS_ERR_NULL);
    SHOW("MS_ERR_ARGUMENT", MS_ERR_ARGUMENT);
    SHOW("MS_ERR_IO", MS_ERR_IO);
    SHOW("MS_ERR_FORMAT", MS_ERR_FORMAT);
    SHOW("MS_ERR_RUNTIME", MS_ERR_RUNTIME);
    SHOW("MS_ERR_STATE", MS_ERR_STATE);
    SHOW("MS_ERR_PANIC", MS_ERR_PANIC);
    SHOW("MS_EVENT_OPENED", MS_EVENT_OPENED);
    SHOW("MS_EVENT_EXTENDED", MS_EVENT_EXTENDED);
    SHOW("MS_EVENT_CLOSED", MS_EVENT_CLOSED);
    SHOW("MS_EVENT_RELABEL", MS_EVENT_RELABEL);
    SHOW("MS_EVENT_MERGED", MS_EVENT_MERGED);
    SHOW("MS_EVENT_REVISED", MS_EVENT_REVISED);
    SHOW("MS_EVENT_FINALIZED", MS_EVENT_FINALIZED);
    return 0;
}
