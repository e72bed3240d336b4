/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Progress of a migration stream for people (a bar on a terminal) and for
 * tools (one JSON object per line). Written to a descriptor other than the
 * cookie's: standard error by default. */
#pragma once

#include "options.h"

#include <stdint.h>

struct mp_progress_sample {
    const char *status; /* hypervisor's word: setup, active, device, completed... */
    uint64_t elapsed_ms;
    uint64_t total_bytes; /* guest RAM */
    uint64_t transferred_bytes;
    uint64_t remaining_bytes;
    uint64_t iterations;       /* dirty-sync passes */
    uint64_t dirty_pages_rate; /* pages per second */
    uint64_t mbps;             /* current throughput, Mbit/s */
    /* Disks copied with the VM (0: none): their mirrors' size and what the
     * mirrors have yet to copy. */
    uint64_t disk_total_bytes;
    uint64_t disk_remaining_bytes;
};

struct mp_progress;

/* NULL when mode is none (or auto and fd is not a terminal); every function
 * accepts NULL. */
struct mp_progress *mp_progress_new(enum mp_progress_mode mode, int fd);
/* Report a sample; the bar redraws at most ten times a second. */
void mp_progress_update(struct mp_progress *progress, const struct mp_progress_sample *sample);
/* Report the last sample and end the bar's line. */
void mp_progress_finish(struct mp_progress *progress, const struct mp_progress_sample *sample);
/* Report a decision or an observation that is not a sample: a line of its
 * own on the terminal ("event: text"), or {"event":..,"elapsed_ms":..,
 * "detail":..} in JSON. event is a fixed word of the caller's; text is
 * escaped. */
void mp_progress_note(struct mp_progress *progress, const char *event, uint64_t elapsed_ms,
                      const char *text);
void mp_progress_free(struct mp_progress *progress);
