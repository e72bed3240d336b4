/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The libxl context of a step: opened once, with a logger that forwards
 * libxl's messages to ours and keeps the last error for the step's message. */
#include "config.h"

#include "log.h"
#include "xen-internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct xen_logger {
    xentoollog_logger vtable; /* first: libxl hands us back this pointer */
    char last_error[512];
};

struct xen_ctx {
    libxl_ctx *ctx;
    struct xen_logger logger;
};

/* libxl forks libxl-save-helper for every save and restore. Owning SIGCHLD
 * outright (the default) would make libxl reap our own children too, such
 * as the intermediate process of a detached launch: it must reap only its
 * own. The hooks must outlive every context, hence static. */
static const libxl_childproc_hooks childproc_hooks = {
    .chldowner = libxl_sigchld_owner_libxl_always_selective_reap,
};

/* libxl starts its messages with where they come from
 * ("libxl_create.c:1234:domcreate_complete: "): useful in a debug log, noise
 * in the one error line a person reads. */
static const char *
skip_location(const char *msg)
{
    const char *p = strstr(msg, ".c:");
    if (!p || strchr(msg, ' ') < p)
        return msg;
    p += 3;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p != ':')
        return msg;
    const char *end = strstr(p + 1, ": ");
    return end && !memchr(p + 1, ' ', (size_t)(end - p - 1)) ? end + 2 : msg;
}

/* libxl's callback: format is libxl's printf format for al. */
static void logger_vmessage(xentoollog_logger *logger, xentoollog_level level, int errnoval,
                            const char *context, const char *format, va_list al)
    __attribute__((format(printf, 5, 0)));

static void
logger_vmessage(xentoollog_logger *logger, xentoollog_level level, int errnoval,
                const char *context, const char *format, va_list al)
{
    struct xen_logger *l = (struct xen_logger *)logger;
    char buf[sizeof(l->last_error)];
    vsnprintf(buf, sizeof(buf), format, al);
    const char *msg = skip_location(buf);
    /* Cut to size if need be: the start of the message says enough. */
    if (level >= XTL_ERROR &&
        snprintf(l->last_error, sizeof(l->last_error), "%s%s%s", msg, errnoval >= 0 ? ": " : "",
                 errnoval >= 0 ? strerror(errnoval) : "") >= (int)sizeof(l->last_error))
        mp_debug("libxl's message was cut to %zu bytes", sizeof(l->last_error) - 1);
    /* The step prints its error once, with libxl's last one in it: libxl's
     * own lines are only for --log-level debug. */
    if (level >= XTL_VERBOSE)
        mp_debug("%s: %s", context ? context : "libxl", buf);
}

static void
logger_destroy(xentoollog_logger *logger)
{
    (void)logger; /* embedded in struct xen_ctx */
}

int
xen_ctx_open(struct xen_ctx **out, struct mp_error **err)
{
    struct xen_ctx *x = xzalloc(sizeof(*x));
    x->logger.vtable.vmessage = logger_vmessage;
    x->logger.vtable.destroy = logger_destroy;
    int rc = libxl_ctx_alloc(&x->ctx, LIBXL_VERSION, 0, &x->logger.vtable);
    if (rc != 0) {
        const char *why = x->logger.last_error[0] ? x->logger.last_error : "is this a Xen dom0?";
        mp_error_set(err, EIO, "cannot open libxenlight: %s", why);
        free(x);
        return -EIO;
    }
    libxl_childproc_setmode(x->ctx, &childproc_hooks, NULL);
    *out = x;
    return 0;
}

void
xen_ctx_close(struct xen_ctx *x)
{
    if (!x)
        return;
    libxl_ctx_free(x->ctx);
    free(x);
}

libxl_ctx *
xen_libxl(struct xen_ctx *x)
{
    return x->ctx;
}

void
xen_forget_error(struct xen_ctx *x)
{
    x->logger.last_error[0] = '\0';
}

static int
errno_of(int rc)
{
    switch (rc) {
    case ERROR_DOMAIN_NOTFOUND:
    case ERROR_NOTFOUND:
        return ENOENT;
    case ERROR_TIMEDOUT:
    case ERROR_GUEST_TIMEDOUT:
        return ETIMEDOUT;
    case ERROR_NOMEM:
        return ENOMEM;
    case ERROR_INVAL:
        return EINVAL;
    case ERROR_NI:
    case ERROR_FEATURE_REMOVED:
        return ENOTSUP;
    default:
        return EIO;
    }
}

int
xen_fail(struct xen_ctx *x, struct mp_error **err, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *what = xvasprintf(fmt, ap);
    va_end(ap);
    int e = errno_of(rc);
    if (x->logger.last_error[0])
        mp_error_set(err, e, "%s: %s", what, x->logger.last_error);
    else
        mp_error_set(err, e, "%s: %s", what, libxl_error_to_string(rc));
    xen_forget_error(x);
    return -e;
}
