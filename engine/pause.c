/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "pause.h"

void
mp_timing_note_read(struct mp_cookie *out, const struct mp_cookie *in, uint64_t read_us)
{
    if (!out)
        return;
    out->timing.read_us = read_us;
    out->timing.input_written_us = in->timing.written_us;
}

bool
mp_pause_estimate(const struct mp_timing *perform, uint64_t finish_read_us, uint64_t resume_us,
                  uint64_t *pause_us, uint64_t *uncertainty_us)
{
    const uint64_t times[] = { perform->stop_us,          resume_us,      perform->written_us,
                               perform->input_written_us, finish_read_us, perform->read_us };
    /* A time the cookie or QEMU gave that no clock reads (0: unknown, or
     * past the centuries int64 holds) says nothing. */
    for (size_t i = 0; i < ARRAY_SIZE(times); i++)
        if (times[i] == 0 || times[i] > (uint64_t)INT64_MAX / 4)
            return false;
    /* Signed arithmetic in microseconds: a few centuries fit in int64. */
    int64_t lo = (int64_t)perform->input_written_us - (int64_t)perform->read_us;
    int64_t hi = (int64_t)finish_read_us - (int64_t)perform->written_us;
    if (hi < lo)
        return false;
    int64_t theta = lo + (hi - lo) / 2;
    int64_t pause = (int64_t)resume_us - theta - (int64_t)perform->stop_us;
    if (pause < 0)
        pause = 0;
    *pause_us = (uint64_t)pause;
    *uncertainty_us = (uint64_t)(hi - lo + 1) / 2;
    return true;
}
