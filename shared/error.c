/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int _printf_(5, 0) error_vset(struct mp_error **err, int errnum, enum mp_error_kind kind,
                                     bool with_errno, const char *fmt, va_list ap)
{
    if (errnum < 0)
        errnum = -errnum;
    if (errnum == 0)
        errnum = EIO;
    if (!err || *err)
        return -errnum; /* first error wins: it is where the trouble started */

    struct mp_error *e = xzalloc(sizeof(*e));
    e->errnum = errnum;
    e->kind = kind;
    _cleanup_free_ char *msg = xvasprintf(fmt, ap);
    e->message = with_errno ? xasprintf("%s: %s", msg, strerror(errnum)) : steal_ptr(&msg);
    *err = e;
    return -errnum;
}

int
mp_error_set(struct mp_error **err, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = error_vset(err, errnum, MP_ERR_FAILED, false, fmt, ap);
    va_end(ap);
    return r;
}

int
mp_error_set_errno(struct mp_error **err, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = error_vset(err, errnum, MP_ERR_FAILED, true, fmt, ap);
    va_end(ap);
    return r;
}

int
mp_error_input(struct mp_error **err, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = error_vset(err, errnum, MP_ERR_INPUT, false, fmt, ap);
    va_end(ap);
    return r;
}

int
mp_error_prefix(struct mp_error **err, const char *fmt, ...)
{
    if (!err || !*err)
        return -EIO;
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *prefix = xvasprintf(fmt, ap);
    va_end(ap);
    char *msg = xasprintf("%s: %s", prefix, (*err)->message);
    free((*err)->message);
    (*err)->message = msg;
    return -(*err)->errnum;
}

int
mp_error_left_state(struct mp_error **err)
{
    if (!err || !*err)
        return -EIO;
    (*err)->kind = MP_ERR_STATE;
    return -(*err)->errnum;
}

void
mp_error_free(struct mp_error *err)
{
    if (!err)
        return;
    free(err->message);
    free(err);
}

enum mp_exit
mp_exit_status(int rc, const struct mp_error *err)
{
    if (rc >= 0)
        return MP_EXIT_OK;
    if (!err)
        return MP_EXIT_FAILED;
    switch (err->kind) {
    case MP_ERR_INPUT:
        return MP_EXIT_INPUT;
    case MP_ERR_STATE:
        return MP_EXIT_STATE;
    case MP_ERR_FAILED:
        break;
    }
    return MP_EXIT_FAILED;
}
