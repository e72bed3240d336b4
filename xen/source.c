/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Xen driver's source side: Begin, Perform, Confirm. */
#include "config.h"

#include "log.h"
#include "proc.h"
#include "progress.h"
#include "tls.h"
#include "xen-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GUARD_INTERVAL_MS 100

/* ---- Begin ---------------------------------------------------------------- */

/* libxl's save stream has no bandwidth or downtime knob in 4.17: say so
 * rather than migrate without the limit that was asked for. */
static int
check_params(const struct mp_params *params, struct mp_error **err)
{
    if (params->bandwidth_mib)
        return mp_error_input(err, ENOTSUP, "the xen driver cannot limit the stream's bandwidth");
    if (params->downtime_ms)
        return mp_error_input(err, ENOTSUP, "the xen driver cannot bound the downtime");
    /* libxl 4.17 sends one stream, uncompressed, and cannot throttle. */
    const struct mp_tuning *t = &params->tuning;
    if (t->parallel)
        return mp_error_input(err, ENOTSUP, "the xen driver cannot send parallel channels");
    if (t->xbzrle_bytes)
        return mp_error_input(err, ENOTSUP, "the xen driver has no XBZRLE cache");
    if (t->auto_converge)
        return mp_error_input(err, ENOTSUP, "the xen driver cannot throttle the guest");
    /* libxl's stream is pre-copy only: no demand paging on the receiver. */
    if (t->postcopy)
        return mp_error_input(err, ENOTSUP, "the xen driver cannot switch to postcopy");
    return 0;
}

static int
check_state(const struct xen_domain *d, struct mp_error **err)
{
    if (d->domid == 0)
        return mp_error_input(err, EINVAL, "domain 0 cannot migrate");
    if (strstr(d->name, XEN_SUFFIX_INCOMING) || strstr(d->name, XEN_SUFFIX_MIGRATEDAWAY))
        return mp_error_set(err, EBUSY,
                            "domain %s is in the middle of a migration (its name says so); see "
                            "migphase-status",
                            d->name);
    if (d->info.dying || d->info.shutdown)
        return mp_error_set(err, EINVAL, "domain %s is %s; only a running domain can move", d->name,
                            d->info.dying ? "dying" : "shut down");
    /* Resuming a cancelled migration unpauses the guest: a paused domain
     * would come back running. */
    if (d->info.paused)
        return mp_error_set(err, EINVAL,
                            "domain %s is paused; only a running domain can move (unpause it)",
                            d->name);
    return 0;
}

/* Devices bound to this host's hardware cannot follow the domain. */
static int
check_devices(const libxl_domain_config *cfg, const char *name, struct mp_error **err)
{
    const char *what = cfg->num_pcidevs > 0   ? "PCI"
                       : cfg->num_dtdevs > 0  ? "device-tree"
                       : cfg->num_usbdevs > 0 ? "USB"
                                              : NULL;
    if (what)
        return mp_error_set(
            err, EPERM, "domain %s has %s devices passed through: it cannot migrate", name, what);
    return 0;
}

/* A live migration tracks dirty memory: HAP log-dirty for PVH and HVM, but
 * shadow paging for PV, which some hypervisors (Debian's) are built without.
 * Without it the stream fails at its first pass, so refuse here. */
static int
check_live(struct xen_ctx *x, const libxl_domain_config *cfg, const struct mp_params *params,
           const char *name, struct mp_error **err)
{
    if (!params->live || cfg->c_info.type != LIBXL_DOMAIN_TYPE_PV)
        return 0;
    libxl_physinfo info;
    libxl_physinfo_init(&info);
    int rc = libxl_get_physinfo(xen_libxl(x), &info);
    bool shadow = info.cap_shadow;
    libxl_physinfo_dispose(&info);
    if (rc != 0)
        return xen_fail(x, err, rc, "asking Xen what it can do");
    if (!shadow)
        return mp_error_set(err, ENOTSUP,
                            "domain %s is PV and this hypervisor has no shadow paging, which a "
                            "live migration of a PV domain needs: use --offline",
                            name);
    return 0;
}

static void
describe(struct mp_cookie *out, const struct xen_domain *d, const libxl_domain_config *cfg,
         char *json)
{
    out->domain_name = xstrdup(d->name);
    out->domain_uuid = xstrdup(d->uuid);
    out->description_format = xstrdup("xl-json");
    out->description_text = json;
    mp_cookie_set_data(out, "stream-version", XEN_STREAM_VERSION_STRING);
    mp_cookie_set_data(out, "domain-type", libxl_domain_type_to_string(cfg->c_info.type));
    char buf[32];
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)d->info.max_memkb);
    mp_cookie_set_data(out, "memory-kib", buf);
}

/* Begin only looks: its plan has no act. The cookie and the journal name
 * the domain as it was at Begin; its domid names it while it lives here. */
int
xen_begin(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err)
{
    (void)plan;
    const struct mp_options *opts = ctx->opts;
    if (!opts->domain)
        return mp_error_input(err, EINVAL, "which domain? give --domain NAME");
    int r = check_params(&ctx->out->params, err);
    if (r < 0)
        return r;
    _cleanup_xen_ctx_ struct xen_ctx *x = NULL;
    r = xen_ctx_open(&x, err);
    if (r < 0)
        return r;
    _cleanup_xen_domain_ struct xen_domain d = { 0 };
    r = xen_domain_find(x, opts->domain, NULL, &d, err);
    if (r == -ENOENT)
        return mp_error_set(err, ENOENT, "no domain named %s on this host", opts->domain);
    if (r < 0)
        return r;
    if (!d.name)
        d.name = xstrdup(opts->domain);
    r = check_state(&d, err);
    if (r < 0)
        return r;

    libxl_domain_config cfg;
    libxl_domain_config_init(&cfg);
    int rc = libxl_retrieve_domain_configuration(xen_libxl(x), d.domid, &cfg, NULL);
    if (rc != 0) {
        libxl_domain_config_dispose(&cfg);
        return xen_fail(x, err, rc, "retrieving the configuration of domain %s", d.name);
    }
    r = check_devices(&cfg, d.name, err);
    if (r == 0)
        r = check_live(x, &cfg, &ctx->out->params, d.name, err);
    char *json = r == 0 ? libxl_domain_config_to_json(xen_libxl(x), &cfg) : NULL;
    if (r == 0 && !json)
        r = mp_error_set(err, EIO, "cannot write the configuration of domain %s as JSON", d.name);
    if (r == 0)
        describe(ctx->out, &d, &cfg, json);
    libxl_domain_config_dispose(&cfg);
    if (r < 0)
        return r;
    xen_record_domid(ctx->record, XEN_FACT_DOMID, d.domid);
    return 0;
}

/* ---- Perform -------------------------------------------------------------- */

/* libxl_domain_suspend cannot be told to give up: a guard thread shuts the
 * socket down on a timeout, a stall or an interruption, which fails the
 * stream, and meanwhile reports progress from what TCP says the peer
 * received. */
enum guard_reason {
    GUARD_NONE,
    GUARD_INTERRUPTED,
    GUARD_TIMEOUT,
    GUARD_STALLED,
};

struct stream_guard {
    int fd;
    uint64_t started_ms;
    uint64_t deadline_ms; /* 0: none */
    uint64_t stall_ms;    /* 0: none */
    uint64_t total_bytes;
    struct mp_progress *progress;
    pthread_t thread;
    atomic_bool stop;
    atomic_int reason; /* enum guard_reason: why the guard shut the socket */
};

static void
guard_sample(struct stream_guard *g, struct mp_progress_sample *s, const char *status)
{
    uint64_t done = xen_stream_bytes_acked(g->fd);
    uint64_t elapsed = mp_now_ms() - g->started_ms;
    *s = (struct mp_progress_sample){
        .status = status,
        .elapsed_ms = elapsed,
        .total_bytes = g->total_bytes,
        .transferred_bytes = done,
        .remaining_bytes = g->total_bytes > done ? g->total_bytes - done : 0,
        .mbps = elapsed ? done * 8 / 1000 / elapsed : 0,
    };
}

static void *
guard_main(void *arg)
{
    struct stream_guard *g = arg;
    struct timespec tick = { .tv_sec = 0, .tv_nsec = GUARD_INTERVAL_MS * 1000000L };
    uint64_t last_bytes = 0, last_change_ms = g->started_ms;
    while (!atomic_load(&g->stop)) {
        struct mp_progress_sample s;
        guard_sample(g, &s, "active");
        uint64_t now = mp_now_ms();
        if (s.transferred_bytes != last_bytes) {
            last_bytes = s.transferred_bytes;
            last_change_ms = now;
        }
        /* A cut network does not fail a TCP stream for many minutes; and
         * the receiver answers within moments of the stream's end. */
        enum guard_reason reason = GUARD_NONE;
        if (mp_interrupted)
            reason = GUARD_INTERRUPTED;
        else if (g->deadline_ms && now >= g->deadline_ms)
            reason = GUARD_TIMEOUT;
        else if (g->stall_ms && now - last_change_ms > g->stall_ms)
            reason = GUARD_STALLED;
        if (reason != GUARD_NONE) {
            atomic_store(&g->reason, reason);
            shutdown(g->fd, SHUT_RDWR);
            break;
        }
        mp_progress_update(g->progress, &s);
        nanosleep(&tick, NULL);
    }
    return NULL;
}

static int
guard_start(struct stream_guard *g, struct mp_error **err)
{
    int e = pthread_create(&g->thread, NULL, guard_main, g);
    if (e != 0)
        return mp_error_set_errno(err, e, "cannot start the stream's guard thread");
    return 0;
}

/* Stop the guard; if it shut the socket and so failed the stream, replace
 * the error with why. */
static int
guard_stop(struct stream_guard *g, int r, const struct mp_params *params, struct mp_error **err)
{
    atomic_store(&g->stop, true);
    pthread_join(g->thread, NULL);
    enum guard_reason reason = atomic_load(&g->reason);
    if (reason == GUARD_NONE || r == 0)
        return r;
    mp_error_free(steal_ptr(err));
    switch (reason) {
    case GUARD_TIMEOUT:
        return mp_error_set(err, ETIMEDOUT, "the stream did not complete within %llu s",
                            (unsigned long long)params->timeout_s);
    case GUARD_STALLED:
        return mp_error_set(err, ETIMEDOUT, "the stream sent nothing for %llu ms",
                            (unsigned long long)g->stall_ms);
    case GUARD_INTERRUPTED:
    case GUARD_NONE:
        break;
    }
    return mp_error_set(err, EINTR, "interrupted by signal %d", (int)mp_interrupted);
}

/* The source domain recorded by Begin, still alive under one of its two
 * names. */
static int
recorded_domain(struct xen_ctx *x, const struct mp_journal_record *record, struct xen_domain *d,
                struct mp_error **err)
{
    uint32_t domid = xen_recorded_domid(record, XEN_FACT_DOMID);
    if (domid == 0)
        return mp_error_set(err, ENOENT, "the journal does not say which domain %s is",
                            record->domain);
    int r = xen_domain_get(x, domid, record->uuid, d, err);
    if (r == -ENOENT)
        return mp_error_set(err, ENOENT, "domain %s (domid %u) is gone", record->domain, domid);
    return r;
}

/* Read the receiver's answer: it restored the domain, or says why not. */
static int
receive_answer(int fd, uint64_t timeout_ms, struct mp_error **err)
{
    char line[XEN_STREAM_LINE_MAX];
    int r = xen_stream_read_line(fd, timeout_ms, line, sizeof(line), err);
    if (r < 0)
        return mp_error_prefix(err, "the stream was sent but the destination did not confirm it");
    if (mp_str_has_prefix(line, "ok "))
        return 0;
    if (mp_str_has_prefix(line, "failed "))
        return mp_error_set(err, EIO, "the destination could not restore the domain: %s",
                            line + strlen("failed "));
    return mp_error_set(err, EPROTO, "unexpected answer from the destination: '%s'", line);
}

/* Give the source back its name and its vCPUs after a stream that did not
 * complete. Only a domain that really suspended is resumed (a live stream
 * that failed before its last pass leaves it running; resuming that would
 * corrupt it); one left paused by libxl is unpaused. A suspend request still
 * on its way is settled first (the watch Perform kept, if any), so that the
 * state read here is the one the domain keeps. A live stream's sender that
 * died left the domain's dirty-memory tracking on (seen on the test bed
 * after every receiver killed mid-stream): it goes off before the guest
 * runs on. */
static int
restore_source(struct xen_ctx *x, const struct mp_journal_record *record, bool live,
               struct xen_suspend_watch *watch, struct mp_error **err)
{
    uint32_t domid = xen_recorded_domid(record, XEN_FACT_DOMID);
    int r = domid ? xen_suspend_settle(x, domid, watch, err) : 0;
    if (r < 0)
        return mp_error_prefix(err, "settling the suspend of domain %s", record->domain);
    _cleanup_xen_domain_ struct xen_domain d = { 0 };
    r = recorded_domain(x, record, &d, err);
    if (r < 0)
        return r;
    r = xen_domain_rename(x, &d, record->domain, err);
    if (r < 0)
        return r;
    struct mp_error *tracking_err = NULL;
    if (live && xen_domain_stop_dirty_tracking(&d, &tracking_err) < 0) {
        /* It costs the guest speed, not its life: the rollback goes on. */
        mp_warn("%s", tracking_err->message);
        mp_error_free(tracking_err);
    }
    if (xen_domain_suspended(&d)) {
        mp_info("resuming domain %s (domid %u)", d.name, d.domid);
        int rc = libxl_domain_resume(xen_libxl(x), d.domid, 1, NULL);
        if (rc != 0)
            return xen_fail(x, err, rc, "resuming domain %s", d.name);
    } else if (d.info.paused) {
        int rc = libxl_domain_unpause(xen_libxl(x), d.domid, NULL);
        if (rc != 0)
            return xen_fail(x, err, rc, "unpausing domain %s", d.name);
    }
    return 0;
}

/* libxl reports neither passes nor downtime: what TCP and the clock say. */
static void
record_stats(struct mp_cookie *out, const struct stream_guard *g)
{
    uint64_t total_ms = mp_now_ms() - g->started_ms;
    uint64_t done = xen_stream_bytes_acked(g->fd);
    out->stats = (struct mp_stats){
        .present = true,
        .total_ms = total_ms,
        .transferred_bytes = done,
        .total_bytes = g->total_bytes,
        .mbps_x1000 = total_ms ? done * 8 / total_ms : 0,
    };
}

/* libxl_domain_suspend runs in a child process of its own. When its save
 * helper dies during libxl's suspend callback (the guard cut the stream, or
 * the network did), libxl 4.17 completes the save twice, the second time
 * through a NULL pointer: on the test bed about one interrupted Perform in
 * fifteen died of SIGSEGV. In a child, that is a failed stream that Perform
 * rolls back. The child may use libxl after libxl_postfork_child_noexec,
 * with a context of its own, and exits at once. Its error goes up a pipe. */
static void
suspend_child(struct xen_ctx *parent, uint32_t domid, int fd, int flags, const char *name,
              int report)
{
    libxl_postfork_child_noexec(xen_libxl(parent));
    struct xen_ctx *x = NULL;
    struct mp_error *e = NULL;
    int rc = xen_ctx_open(&x, &e);
    if (rc == 0) {
        rc = libxl_domain_suspend(xen_libxl(x), domid, fd, flags, NULL);
        if (rc != 0)
            xen_fail(x, &e, rc, "sending domain %s", name);
    }
    if (e)
        (void)!write(report, e->message, strlen(e->message));
    _exit(rc == 0 ? 0 : 1);
}

static int
suspend_in_child(struct xen_ctx *x, uint32_t domid, int fd, int flags, const char *name,
                 pid_t *child, int *report, struct mp_error **err)
{
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) < 0)
        return mp_error_set_errno(err, errno, "cannot make a pipe for the stream's sender");
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        return mp_error_set_errno(err, e, "cannot start the stream's sender");
    }
    if (pid == 0) {
        close(pipe_fds[0]);
        suspend_child(x, domid, fd, flags, name, pipe_fds[1]);
    }
    close(pipe_fds[1]);
    *child = pid;
    *report = pipe_fds[0];
    return 0;
}

/* Wait for the sender; its end is the stream's. */
static int
wait_sender(pid_t pid, int report, const char *name, struct mp_error **err)
{
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return mp_error_set_errno(err, errno, "cannot wait for the stream's sender");
    }
    char why[1024];
    ssize_t n = read(report, why, sizeof(why) - 1);
    why[n > 0 ? n : 0] = '\0';
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFSIGNALED(status))
        return mp_error_set(err, EIO, "sending domain %s: libxenlight died of signal %d", name,
                            WTERMSIG(status));
    return mp_error_set(err, EIO, "%s", *why ? why : "sending the domain failed");
}

/* A stream that failed while its TLS pump had failed: say why the pump did
 * (the sender and our framing only saw their socket close). */
static int
add_pump_error(struct xen_tls *tls, int r, struct mp_error **err)
{
    const char *why = xen_tls_pump_error(tls);
    if (r < 0 && why)
        return mp_error_prefix(err, "TLS: %s; so", why);
    return r;
}

/* Send the domain: rename, libxl's stream, the destination's answer. The
 * stream goes over stream: the TCP socket fd, or with TLS the clear end of
 * tls's pump. */
static int
send_domain(struct mp_step_ctx *ctx, struct xen_ctx *x, struct xen_domain *d, int fd, int stream,
            struct xen_tls *tls, struct mp_error **err)
{
    const struct mp_params *params = &ctx->in->params;
    _cleanup_free_ char *away = xen_name_with(ctx->record->domain, XEN_SUFFIX_MIGRATEDAWAY);
    int r = xen_domain_rename(x, d, away, err);
    if (r < 0)
        return r;

    struct stream_guard g = {
        .fd = fd,
        .started_ms = mp_now_ms(),
        .deadline_ms = params->timeout_s ? mp_now_ms() + params->timeout_s * 1000 : 0,
        .stall_ms = ctx->opts->stall_timeout_ms,
        .total_bytes = d->info.max_memkb * 1024,
        .progress = ctx->progress,
    };
    /* Offline: libxl suspends the guest first and sends its memory once.
     * The sender is forked before the guard thread starts. */
    int flags = params->live ? LIBXL_SUSPEND_LIVE : 0;
    pid_t sender = -1;
    _cleanup_close_ int report = -1;
    r = suspend_in_child(x, d->domid, stream, flags, ctx->record->domain, &sender, &report, err);
    if (r < 0)
        return r;
    /* The pump is a thread too: started after the fork. */
    r = tls ? xen_tls_pump_start(tls, err) : 0;
    if (r == 0)
        r = guard_start(&g, err);
    if (r < 0) {
        /* Without a guard the stream cannot be bounded: stop it. */
        shutdown(fd, SHUT_RDWR);
        (void)wait_sender(sender, report, ctx->record->domain, NULL);
        return r;
    }
    r = wait_sender(sender, report, ctx->record->domain, err);
    if (r == 0)
        r = receive_answer(stream, ctx->opts->incoming_timeout_ms, err);
    if (tls)
        r = add_pump_error(tls, r, err);
    r = guard_stop(&g, r, params, err);
    /* A failed stream is over: the receiver learns it now (its restore
     * fails and removes the incoming domain) rather than after the rollback,
     * while our copies of the socket keep it open. */
    if (r < 0)
        shutdown(fd, SHUT_RDWR);
    /* The destination holds the domain: a session that does not end well
     * changes nothing of that. */
    struct mp_error *close_err = NULL;
    if (r == 0 && tls && xen_tls_close(tls, ctx->opts->exit_timeout_ms, &close_err) < 0) {
        mp_warn("%s", close_err->message);
        mp_error_free(close_err);
    }

    struct mp_progress_sample s;
    guard_sample(&g, &s, r == 0 ? "completed" : "failed");
    mp_progress_finish(ctx->progress, &s);
    if (r == 0)
        record_stats(ctx->out, &g);
    return r;
}

/* What a source step's plan found for its act: libxl, and the domain. */
struct source_domain {
    struct xen_ctx *x;
    struct xen_domain d;
};

static void
source_domain_free(void *state)
{
    struct source_domain *s = state;
    xen_domain_clear(&s->d);
    xen_ctx_close(s->x);
    free(s);
}

/* Connect and introduce the stream, then send the domain; undo what a
 * stream that did not complete changed. */
static int
perform_act(struct mp_step_ctx *ctx, void *state, struct mp_error **err)
{
    struct source_domain *s = state;
    /* Before the domain is touched: a destination that cannot be reached
     * leaves nothing to undo. */
    _cleanup_close_ int fd = -1;
    int r = xen_stream_connect(ctx->in->uri, ctx->opts->qmp_timeout_ms, &fd, err);
    if (r < 0)
        return r;
    /* With TLS (Prepare decided, engine/stream-tls.c), only the host the
     * Prepare cookie's verified signature names may receive the domain. */
    _cleanup_xen_tls_ struct xen_tls *tls = NULL;
    _cleanup_close_ int plain = -1;
    int stream = fd;
    if (ctx->in->stream_tls) {
        const char *peer = ctx->in->destination.hostname;
        const char *pki = ctx->opts->pki_dir ? ctx->opts->pki_dir : MP_DEFAULT_PKI_DIR;
        r = xen_tls_open(fd, false, pki, peer, ctx->opts->qmp_timeout_ms, &tls, &plain, err);
        if (r < 0)
            return mp_error_prefix(err, "TLS with the destination %s", peer ? peer : "(unnamed)");
        mp_info("TLS with peer %s, its certificate verified", peer);
        stream = plain;
    }
    _cleanup_free_ char *header = xen_stream_header(ctx->record->migration_id);
    r = xen_stream_write_line(stream, header, err);
    if (r < 0)
        return r;

    /* Watched from before the sender starts, so that no request escapes. */
    struct xen_suspend_watch *watch = xen_suspend_watch_start(s->d.domid);
    r = send_domain(ctx, s->x, &s->d, fd, stream, tls, err);
    struct mp_error *undo_err = NULL;
    int undo =
        r < 0 ? restore_source(s->x, ctx->record, ctx->in->params.live, watch, &undo_err) : 0;
    xen_suspend_watch_free(watch);
    if (undo < 0) {
        mp_error_prefix(err, "%s; and then restoring the source failed", undo_err->message);
        mp_error_free(undo_err);
        return mp_error_left_state(err);
    }
    return r;
}

/* The domain Begin recorded must still run, and the cookie must say where
 * to send it. Begin's domid is the fact recovery needs: nothing to add. */
int
xen_perform(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err)
{
    _cleanup_free_ char *host = NULL;
    uint16_t port;
    int r = xen_uri_parse(ctx->in->uri, &host, &port, err);
    if (r < 0)
        return r;
    struct source_domain *s = xzalloc(sizeof(*s));
    libxl_dominfo_init(&s->d.info);
    r = xen_ctx_open(&s->x, err);
    if (r == 0)
        r = recorded_domain(s->x, ctx->record, &s->d, err);
    if (r == 0 && xen_domain_suspended(&s->d)) {
        mp_error_set(err, EBUSY,
                     "domain %s is suspended by an earlier Perform: see migphase-status",
                     ctx->record->domain);
        r = mp_error_left_state(err);
    } else if (r == 0 && !xen_domain_running(&s->d)) {
        r = mp_error_set(err, EINVAL, "domain %s is no longer running", ctx->record->domain);
    }
    if (r < 0) {
        source_domain_free(s);
        return r;
    }
    *plan =
        (struct mp_step_plan){ .act = perform_act, .state = s, .free_state = source_domain_free };
    return 0;
}

/* ---- Confirm -------------------------------------------------------------- */

/* Rename the source back and resume it. */
static int
resume_act(struct mp_step_ctx *ctx, void *state, struct mp_error **err)
{
    struct source_domain *s = state;
    int r = restore_source(s->x, ctx->record, ctx->in->params.live, NULL, err);
    if (r < 0) {
        mp_error_prefix(err, "resuming the source");
        return mp_error_left_state(err);
    }
    return 0;
}

static int
destroy_act(struct mp_step_ctx *ctx, void *state, struct mp_error **err)
{
    (void)ctx;
    struct source_domain *s = state;
    int r = xen_domain_destroy(s->x, &s->d, err);
    if (r < 0) {
        mp_error_prefix(err, "destroying the source domain");
        return mp_error_left_state(err);
    }
    return 0;
}

/* Confirm destroys the source domain, or resumes it (--cancelled). A source
 * already gone leaves nothing to destroy: no act. */
int
xen_confirm(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err)
{
    struct source_domain *s = xzalloc(sizeof(*s));
    libxl_dominfo_init(&s->d.info);
    int r = xen_ctx_open(&s->x, err);
    if (r < 0) {
        source_domain_free(s);
        return mp_error_left_state(err);
    }
    /* Resuming settles a suspend request first, which may change what the
     * domain is: the act looks for itself. */
    if (ctx->cancel) {
        *plan = (struct mp_step_plan){ .act = resume_act,
                                       .state = s,
                                       .free_state = source_domain_free };
        return 0;
    }
    r = recorded_domain(s->x, ctx->record, &s->d, err);
    if (r == -ENOENT) {
        mp_error_free(steal_ptr(err));
        source_domain_free(s);
        return 0;
    }
    if (r < 0) {
        mp_error_prefix(err, "destroying the source domain");
        source_domain_free(s);
        return mp_error_left_state(err);
    }
    *plan =
        (struct mp_step_plan){ .act = destroy_act, .state = s, .free_state = source_domain_free };
    return 0;
}
