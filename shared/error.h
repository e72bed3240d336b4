/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The error object: filled once where an error starts, given context on the
 * way up, printed once by main, and mapped to an exit status in one place. */
#pragma once

#include "util.h"

/* Exit statuses of every helper (DESIGN.md, "Exit status"). */
enum mp_exit {
    MP_EXIT_OK = 0,
    MP_EXIT_FAILED = 1, /* step failed, nothing left to recover */
    MP_EXIT_INPUT = 2,  /* usage, configuration or input error, nothing touched */
    MP_EXIT_STATE = 3,  /* step failed and left state behind: see migphase-status */
};

/* What an error means for the step, which decides the exit status. */
enum mp_error_kind {
    MP_ERR_FAILED = 1, /* the step failed cleanly */
    MP_ERR_INPUT,      /* bad usage, configuration or input */
    MP_ERR_STATE,      /* the step failed and left state behind */
};

struct mp_error {
    int errnum; /* positive errno value */
    enum mp_error_kind kind;
    char *message;
};

/* Fill *err (if err is non-NULL and *err is still empty) and return -errnum.
 * The kind is MP_ERR_FAILED; see mp_error_input() and mp_error_state(). */
int mp_error_set(struct mp_error **err, int errnum, const char *fmt, ...) _printf_(3, 4);
/* Same, appending ": strerror(errnum)" to the message. */
int mp_error_set_errno(struct mp_error **err, int errnum, const char *fmt, ...) _printf_(3, 4);
/* Same as mp_error_set with kind MP_ERR_INPUT. */
int mp_error_input(struct mp_error **err, int errnum, const char *fmt, ...) _printf_(3, 4);
/* Prefix the message with context ("reading the cookie: "); returns -errnum. */
int mp_error_prefix(struct mp_error **err, const char *fmt, ...) _printf_(2, 3);
/* Mark an existing error as having left state behind (exit status 3). */
int mp_error_left_state(struct mp_error **err);
/* Free an error; NULL is fine. */
void mp_error_free(struct mp_error *err);
static inline void
mp_error_freep(struct mp_error **e)
{
    mp_error_free(*e);
}
#define _cleanup_error_ _cleanup_(mp_error_freep)

/* The one mapping from a step's result to the exit status table. */
enum mp_exit mp_exit_status(int rc, const struct mp_error *err);
