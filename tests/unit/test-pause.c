/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The guest's pause across two hosts' clocks. */
#include "config.h"

#include "pause.h"

#include <criterion/criterion.h>

/* Hosts whose clocks agree: the pause is resume - stop, and the
 * uncertainty half the cookies' travel times. */
Test(pause, same_clock)
{
    struct mp_timing perform = {
        .input_written_us = 1000000, /* Prepare wrote its cookie */
        .read_us = 1000400,          /* Perform read it 400 us later */
        .stop_us = 3000000,
        .written_us = 3000100,
    };
    uint64_t pause = 0, uncertainty = 0;
    cr_assert(mp_pause_estimate(&perform, 3000700, 3020000, &pause, &uncertainty));
    /* theta in [-400, 600]: the middle, 100, is taken off the resume. */
    cr_expect_eq(pause, 20000 - 100);
    cr_expect_eq(uncertainty, 500);
}

/* The destination's clock runs 5 s ahead: the pause is still ~20 ms. */
Test(pause, destination_clock_ahead)
{
    const int64_t ahead = 5000000;
    struct mp_timing perform = {
        .input_written_us = 1000000 + ahead,
        .read_us = 1000200,
        .stop_us = 3000000,
        .written_us = 3000050,
    };
    uint64_t pause = 0, uncertainty = 0;
    cr_assert(mp_pause_estimate(&perform, 3000250 + ahead, 3020000 + ahead, &pause, &uncertainty));
    cr_expect_leq(pause, 20000 + uncertainty);
    cr_expect_geq(pause + uncertainty, 20000);
    cr_expect_eq(uncertainty, 200);
}

Test(pause, missing_times_are_unknown)
{
    struct mp_timing perform = { .input_written_us = 1, .read_us = 2, .written_us = 4 };
    uint64_t pause = 0, uncertainty = 0;
    cr_expect_not(mp_pause_estimate(&perform, 5, 6, &pause, &uncertainty), "no stop time");
    perform.stop_us = 3;
    cr_expect_not(mp_pause_estimate(&perform, 5, 0, &pause, &uncertainty), "no resume time");
    cr_expect(mp_pause_estimate(&perform, 5, 6, &pause, &uncertainty));
}

/* Bounds that contradict each other (a clock stepped mid-migration) say
 * nothing rather than something wrong. */
Test(pause, contradicting_bounds)
{
    struct mp_timing perform = {
        .input_written_us = 9000000, .read_us = 1000, .stop_us = 2000, .written_us = 3000
    };
    uint64_t pause = 0, uncertainty = 0;
    cr_expect_not(mp_pause_estimate(&perform, 4000, 5000, &pause, &uncertainty));
}

/* Times a forged cookie or a confused QEMU could give, far past any clock:
 * no figure, and no arithmetic overflow (UBSan runs this). */
Test(pause, absurd_times_are_unknown)
{
    struct mp_timing perform = {
        .input_written_us = 1000, .read_us = 2000, .stop_us = UINT64_MAX, .written_us = 3000
    };
    uint64_t pause = 0, uncertainty = 0;
    cr_expect_not(mp_pause_estimate(&perform, 4000, 5000, &pause, &uncertainty));
    perform.stop_us = 2500;
    cr_expect_not(mp_pause_estimate(&perform, 4000, UINT64_MAX / 2, &pause, &uncertainty));
    cr_expect(mp_pause_estimate(&perform, 4000, 5000, &pause, &uncertainty));
}
