/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The support matrix at run time: which release first implemented each
 * operation and feature of each driver. docs/hvsupport.pl generates the data
 * (engine/support-matrix.gen.c) from the annotated driver tables, the same
 * data as docs/hvsupport.html, so `--version --verbose` and the page agree. */
#pragma once

#include "options.h"

#include <stdio.h>

struct mp_driver;

/* More drivers than any build has. */
#define MP_SUPPORT_MAX_DRIVERS 16

/* One driver's support for one operation or feature. */
struct mp_support_cell {
    const char *since;   /* release that first implemented it; NULL: never */
    const char *removed; /* release that took it out again; NULL: still there */
};

struct mp_support_driver {
    const char *name;                         /* the driver table's .name */
    const struct mp_support_cell *operations; /* one per mp_support_operations[] */
    const struct mp_support_cell *features;   /* one per mp_support_features[] */
};

/* Generated. Row names in the order of struct mp_driver's function pointers
 * and struct mp_driver_features' bools; every driver the generator read,
 * whether or not it is compiled in. Each list ends with a NULL name. */
extern const char *const mp_support_operations[];
extern const char *const mp_support_features[];
extern const struct mp_support_driver mp_support_drivers[];

/* Print the plain-text matrix for the drivers this build has (mp_driver_name()),
 * the same text as `docs/hvsupport.pl --text`. */
void mp_support_print(FILE *out);

/* Same for a NULL-terminated list of driver names. A driver the matrix does not
 * know (its source is missing from HVSUPPORT_DRIVER_FILES in docs/local.mk)
 * shows "?" in every cell rather than a guess. */
void mp_support_print_drivers(FILE *out, const char *const *drivers);

/* mp_options_parse(), and with --version --verbose the support matrix of
 * the drivers this build has after the version line. Same returns. */
int mp_support_parse_options(struct mp_options *opts, enum mp_program program, const char *usage,
                             int argc, char **argv, struct mp_error **err);
