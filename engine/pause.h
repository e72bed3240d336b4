/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The guest's pause, end to end: from the source VM's stop (Perform) to
 * the destination VM's resume (Finish), two moments on two hosts' clocks. */
#pragma once

#include "cookie.h"

#include <stdbool.h>
#include <stdint.h>

/* A step read its input at read_us: noted in the cookie it writes, with
 * when that input was written, for the next host's clock estimate. */
void mp_timing_note_read(struct mp_cookie *out, const struct mp_cookie *in, uint64_t read_us);

/* The pause from Perform's cookie (its stop time, and the write and read
 * times that bound the hosts' clock offset), the moment Finish read it
 * (finish_read_us) and the destination's resume (resume_us), both on the
 * destination's clock. The offset theta = destination - source lies in
 * [prepare written - perform read, finish read - perform written]: each
 * cookie took a non-negative time to travel. The pause uses the middle of
 * that range, and is off by at most half its width (*uncertainty_us).
 * false when a time is missing or the bounds contradict each other. */
bool mp_pause_estimate(const struct mp_timing *perform, uint64_t finish_read_us, uint64_t resume_us,
                       uint64_t *pause_us, uint64_t *uncertainty_us);
