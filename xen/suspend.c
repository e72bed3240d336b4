/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A suspend request that outlives its sender.
 *
 * libxl asks a guest to suspend through xenstore: it writes "suspend" to the
 * domain's control/shutdown node; the guest takes the request by clearing
 * the node, then freezes and suspends itself, which Xen shows as a shutdown
 * for suspension. A sender that dies in between (libxl 4.17 crashes there
 * when its save helper fails) leaves a request on its way: the domain looks
 * running when Perform rolls back, and suspends a moment later with no one
 * to resume it. So Perform watches the node for the length of the stream
 * and, when the stream fails, withdraws a request the guest has not taken,
 * or waits for a guest that took one to finish suspending, so that the
 * rollback that follows sees the domain's final state. */
#include "config.h"

#include "log.h"
#include "xen-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xenstore.h>

#define WATCH_TOKEN "migphase-suspend"
#define POLL_MS     10

struct xen_suspend_watch {
    struct xs_handle *xs;
    char *path;
    unsigned events; /* seen so far, the one xs_watch fires at once included */
};

static char *
shutdown_node(struct xs_handle *xs, uint32_t domid)
{
    _cleanup_free_ char *dom_path = xs_get_domain_path(xs, domid);
    return dom_path ? xasprintf("%s/control/shutdown", dom_path) : NULL;
}

struct xen_suspend_watch *
xen_suspend_watch_start(uint32_t domid)
{
    struct xen_suspend_watch *w = xzalloc(sizeof(*w));
    w->xs = xs_open(0);
    if (w->xs)
        w->path = shutdown_node(w->xs, domid);
    if (!w->path || !xs_watch(w->xs, w->path, WATCH_TOKEN)) {
        mp_debug("cannot watch domain %u's suspend requests in xenstore: %s", domid,
                 strerror(errno));
        xen_suspend_watch_free(w);
        return NULL;
    }
    return w;
}

void
xen_suspend_watch_free(struct xen_suspend_watch *w)
{
    if (!w)
        return;
    xs_close(w->xs);
    free(w->path);
    free(w);
}

/* Whether anyone wrote the node since the watch began: during a stream, only
 * libxl's request and the guest taking it do. */
static bool
request_seen(struct xen_suspend_watch *w)
{
    char **event;
    while ((event = xs_check_watch(w->xs)) != NULL) {
        w->events++;
        free(event);
    }
    return w->events > 1;
}

/* Clear a "suspend" the guest has not taken, in a transaction, so that a
 * guest taking it at the same moment makes one of the two retry. */
static int
withdraw(struct xs_handle *xs, const char *path, bool *withdrawn, struct mp_error **err)
{
    for (;;) {
        xs_transaction_t t = xs_transaction_start(xs);
        if (t == XBT_NULL)
            return mp_error_set_errno(err, errno, "cannot start a xenstore transaction");
        unsigned len = 0;
        _cleanup_free_ char *value = xs_read(xs, t, path, &len);
        bool pending = value && strcmp(value, "suspend") == 0;
        if (pending && !xs_write(xs, t, path, "", 0)) {
            int e = errno;
            xs_transaction_end(xs, t, true);
            return mp_error_set_errno(err, e, "cannot withdraw the suspend request in %s", path);
        }
        if (xs_transaction_end(xs, t, false)) {
            *withdrawn = pending;
            return 0;
        }
        if (errno != EAGAIN)
            return mp_error_set_errno(err, errno, "cannot end a xenstore transaction");
    }
}

/* The guest took the request: wait, as long as libxl would have, until it
 * has suspended; one that thought better of it goes on running. */
static int
wait_suspended(struct xen_ctx *x, uint32_t domid, struct mp_error **err)
{
    struct timespec tick = { .tv_sec = 0, .tv_nsec = POLL_MS * 1000000L };
    uint64_t deadline = mp_now_ms() + XEN_SUSPEND_WAIT_MS;
    for (bool said = false;; said = true) {
        _cleanup_xen_domain_ struct xen_domain d = { 0 };
        int r = xen_domain_get(x, domid, NULL, &d, err);
        if (r == -ENOENT)
            return 0;
        if (r < 0)
            return r;
        if (d.info.shutdown || d.info.dying)
            return 0;
        if (!said)
            mp_info("domain %u took a suspend request; waiting for it to suspend", domid);
        if (mp_now_ms() >= deadline) {
            mp_warn("domain %u took a suspend request but did not suspend within %d s", domid,
                    XEN_SUSPEND_WAIT_MS / 1000);
            return 0;
        }
        nanosleep(&tick, NULL);
    }
}

int
xen_suspend_settle(struct xen_ctx *x, uint32_t domid, struct xen_suspend_watch *w,
                   struct mp_error **err)
{
    bool requested = w && request_seen(w);
    /* Without a watch, a connection of its own for the one transaction. */
    struct xs_handle *own = w ? NULL : xs_open(0);
    _cleanup_free_ char *own_path = own ? shutdown_node(own, domid) : NULL;
    struct xs_handle *xs = w ? w->xs : own;
    const char *path = w ? w->path : own_path;
    bool withdrawn = false;
    int r = path ? withdraw(xs, path, &withdrawn, err)
                 : mp_error_set_errno(err, errno, "cannot read domain %u in xenstore", domid);
    xs_close(own);
    if (r < 0)
        return r;
    if (withdrawn) {
        mp_info("withdrew the suspend request of domain %u", domid);
        return 0;
    }
    return requested ? wait_suspended(x, domid, err) : 0;
}
