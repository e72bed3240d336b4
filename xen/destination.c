/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Xen driver's destination side: Prepare starts a receiver that waits
 * for the stream and restores the domain, paused, under a name of its own;
 * Finish gives it its name back and unpauses it, or destroys it.
 *
 * A step commits no fact while it acts, and the receiver's pid is known only
 * once Prepare's act started it: so the receiver names itself (pid, start
 * time, migration) in its result file before anything else, and the next
 * plan records what that file says (docs/xen.md, "Plan and act"). */
#include "config.h"

#include "log.h"
#include "proc.h"
#include "xen-internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define RECEIVE_POLL_MS 100

/* Read the receiver's result file into the record's receiver facts: what an
 * act that did not conclude learned is recorded by the next plan. */
static void
observe_receiver(struct mp_step_ctx *ctx)
{
    _cleanup_free_ char *path = mp_journal_path(ctx->journal, XEN_RECEIVER_RESULT);
    _cleanup_xen_result_ struct xen_result res = { 0 };
    if (xen_result_read(path, &res, NULL) == 0)
        xen_receiver_observe(ctx->record, &res);
}

/* Stop the receiver the record names, and libxl's restore helper with it:
 * the receiver leads a process group of its own (see xen/receiver.c). */
static int
stop_receiver(const struct mp_step_ctx *ctx, struct mp_error **err)
{
    pid_t pid;
    if (mp_proc_recorded(ctx->record, XEN_FACT_RECEIVER_PID, &pid) != MP_PROC_ALIVE)
        return 0;
    mp_info("stopping the receiver (pid %ld)", (long)pid);
    pid_t target = getpgid(pid) == pid ? -pid : pid;
    kill(target, SIGTERM);
    if (mp_proc_wait_gone(pid, ctx->opts->exit_timeout_ms, NULL) == 0)
        return 0;
    kill(target, SIGKILL);
    int r = mp_proc_wait_gone(pid, ctx->opts->exit_timeout_ms, err);
    if (r < 0)
        return mp_error_prefix(err, "stopping the receiver (pid %ld)", (long)pid);
    return 0;
}

/* ---- Prepare -------------------------------------------------------------- */

/* Beside the helper (installed, or MIGPHASE_HELPER_DIR), else in the build
 * tree, where the receiver is built in xen/ and the helpers in helpers/. */
static char *
receiver_path(void)
{
    char *path = mp_helper_path(XEN_RECEIVER_PROGRAM);
    if (access(path, X_OK) == 0)
        return path;
    _cleanup_free_ char *self = mp_self_dir();
    if (!self)
        return path;
    char *built = xasprintf("%s/../xen/%s", self, XEN_RECEIVER_PROGRAM);
    if (access(built, X_OK) == 0) {
        free(path);
        return built;
    }
    free(built);
    return path;
}

static const char *
log_level_name(void)
{
    static const char *const names[] = {
        [MP_LOG_ERROR] = "error",
        [MP_LOG_WARNING] = "warning",
        [MP_LOG_INFO] = "info",
        [MP_LOG_DEBUG] = "debug",
    };
    enum mp_log_level level = mp_log_get_level();
    return (unsigned)level < ARRAY_SIZE(names) ? names[level] : "warning";
}

/* The configuration the receiver restores: the source's, renamed. */
static int
incoming_config(const struct mp_step_ctx *ctx, struct xen_ctx *x, const char *incoming, char **json,
                struct mp_error **err)
{
    libxl_domain_config cfg;
    libxl_domain_config_init(&cfg);
    int rc = libxl_domain_config_from_json(xen_libxl(x), &cfg, ctx->in->description_text);
    if (rc != 0) {
        libxl_domain_config_dispose(&cfg);
        xen_forget_error(x);
        return mp_error_input(err, EINVAL, "the cookie's domain configuration is not libxl JSON");
    }
    free(cfg.c_info.name);
    cfg.c_info.name = xstrdup(incoming);
    *json = libxl_domain_config_to_json(xen_libxl(x), &cfg);
    libxl_domain_config_dispose(&cfg);
    if (!*json)
        return mp_error_set(err, EIO, "cannot write the incoming domain's configuration");
    return 0;
}

static char **
receiver_argv(const struct mp_step_ctx *ctx, const char *config, const char *result)
{
    const struct mp_options *opts = ctx->opts;
    char ports[32], timeout[32];
    snprintf(ports, sizeof(ports), "%u-%u", opts->port_lo, opts->port_hi);
    snprintf(timeout, sizeof(timeout), "%llu", (unsigned long long)opts->incoming_timeout_ms);
    _cleanup_free_ char *program = receiver_path();
    const char *const options[][2] = {
        { "--config", config },
        { "--result", result },
        { "--migration-id", ctx->record->migration_id },
        { "--listen", opts->listen_addr },
        { "--port-range", ports },
        { "--stream-version", XEN_STREAM_VERSION_STRING },
        { "--accept-timeout-ms", timeout },
        { "--log-level", log_level_name() },
    };
    char **v = mp_strv_append(NULL, program);
    for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
        v = mp_strv_append(v, options[i][0]);
        v = mp_strv_append(v, options[i][1]);
    }
    /* The engine decided (engine/stream-tls.c); the stream is taken only
     * from the host the Begin cookie's verified signature names. */
    if (ctx->out->stream_tls) {
        v = mp_strv_append(v, "--tls");
        v = mp_strv_append(v, "--pki-dir");
        v = mp_strv_append(v, opts->pki_dir ? opts->pki_dir : MP_DEFAULT_PKI_DIR);
        v = mp_strv_append(v, "--peer");
        v = mp_strv_append(v, ctx->in->source.hostname);
    }
    return v;
}

/* Wait until the receiver listens (or fails) and say where. */
static int
wait_listening(struct mp_step_ctx *ctx, pid_t pid, const char *result_path, const char *log_path,
               uint16_t *port, struct mp_error **err)
{
    uint64_t deadline = mp_now_ms() + ctx->opts->qmp_timeout_ms;
    for (;;) {
        _cleanup_xen_result_ struct xen_result res = { 0 };
        int r = xen_result_read(result_path, &res, err);
        if (r < 0)
            return r;
        if (res.state == XEN_RECEIVER_FAILED)
            return mp_error_set(err, EIO, "the receiver failed: %s",
                                res.message ? res.message : "no message");
        if (res.state != XEN_RECEIVER_STARTING) {
            *port = res.port;
            return 0;
        }
        r = mp_proc_wait_starting(pid, "the receiver", log_path, deadline,
                                  ctx->opts->qmp_timeout_ms, err);
        if (r < 0)
            return r;
    }
}

static int
check_cookie(const struct mp_cookie *in, struct mp_error **err)
{
    if (!mp_streq0(in->description_format, "xl-json") || !in->description_text)
        return mp_error_input(err, EINVAL, "the cookie does not describe a Xen domain");
    const char *version = mp_cookie_get_data(in, "stream-version");
    if (!mp_streq0(version, XEN_STREAM_VERSION_STRING))
        return mp_error_input(err, EPROTO,
                              "the source sends libxl stream version %s; this "
                              "destination reads version " XEN_STREAM_VERSION_STRING,
                              version ? version : "(unknown)");
    return 0;
}

/* What Prepare's plan made ready for its act: the receiver's command line
 * and files, and the incoming domain's name and configuration. */
struct receiver_launch {
    char *incoming;
    char *config_json;
    char *config;
    char *result;
    char *log_path;
    char **argv;
};

static void
receiver_launch_free(void *state)
{
    struct receiver_launch *l = state;
    free(l->incoming);
    free(l->config_json);
    free(l->config);
    free(l->result);
    free(l->log_path);
    mp_strv_free(l->argv);
    free(l);
}

static int
launch_receiver(const struct mp_step_ctx *ctx, const struct receiver_launch *l, pid_t *pid,
                struct mp_error **err)
{
    int r = mp_write_file(l->config, l->config_json, strlen(l->config_json), err);
    if (r < 0)
        return r;
    /* The result file names the receiver recovery looks for: none until the
     * new one writes it, first thing. */
    (void)unlink(l->result);
    (void)unlink(l->log_path);
    _cleanup_strv_ char **launcher =
        ctx->opts->launcher ? mp_proc_split_command(ctx->opts->launcher) : NULL;
    r = mp_proc_launch_detached(launcher, l->argv, l->log_path, pid, err);
    if (r < 0)
        return mp_error_prefix(err, "starting the receiver");
    return 0;
}

/* Stop the receiver of an interrupted run, start the new one and wait until
 * it listens. The new receiver's pid goes on the record for the engine's
 * closing commit; until then its result file names it. */
static int
prepare_act(struct mp_step_ctx *ctx, void *state, struct mp_error **err)
{
    struct receiver_launch *l = state;
    /* The receiver of an interrupted Prepare of this migration: its cookie
     * never went out, so nothing was sent to it. */
    int r = stop_receiver(ctx, err);
    if (r < 0)
        return mp_error_left_state(err);
    pid_t pid;
    r = launch_receiver(ctx, l, &pid, err);
    if (r < 0)
        return r;
    mp_proc_record(ctx->record, XEN_FACT_RECEIVER_PID, pid);
    uint16_t port = 0;
    r = wait_listening(ctx, pid, l->result, l->log_path, &port, err);
    if (r == 0) {
        ctx->out->uri = mp_stream_uri(ctx->opts->listen_addr, ctx->out->destination.hostname, port);
        char buf[8];
        snprintf(buf, sizeof(buf), "%u", port);
        mp_journal_record_set_fact(ctx->record, XEN_FACT_PORT, buf);
        mp_cookie_set_data(ctx->out, "incoming-name", l->incoming);
        return 0;
    }
    /* On any failure the receiver must be gone. */
    struct mp_error *stop_err = NULL;
    if (stop_receiver(ctx, &stop_err) < 0) {
        mp_error_prefix(err, "%s; and the receiver could not be stopped", stop_err->message);
        mp_error_free(stop_err);
        return mp_error_left_state(err);
    }
    return r;
}

/* A domain under the incoming name is another migration's: the receiver of
 * an interrupted Prepare of this one had no source to restore from. */
static int
check_name_free(struct xen_ctx *x, const char *incoming, struct mp_error **err)
{
    _cleanup_xen_domain_ struct xen_domain old = { 0 };
    if (xen_domain_find(x, incoming, NULL, &old, NULL) != 0)
        return 0;
    return mp_error_set(err, EEXIST,
                        "a domain named %s already exists on this host (domid %u): an earlier "
                        "migration left it; see migphase-status or destroy it",
                        incoming, old.domid);
}

/* Check the cookie and the host, and make the receiver's command line and
 * configuration; record the receiver of an interrupted earlier run, which
 * the act stops. */
int
xen_prepare(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err)
{
    int r = check_cookie(ctx->in, err);
    if (r < 0)
        return r;
    if (ctx->out->stream_tls && !ctx->in->source.hostname)
        return mp_error_input(err, EINVAL,
                              "a TLS stream needs the source's host name in the cookie");
    _cleanup_free_ char *incoming = xen_name_with(ctx->record->domain, XEN_SUFFIX_INCOMING);
    r = mp_journal_check_domain(incoming, err);
    if (r < 0)
        return r;
    _cleanup_xen_ctx_ struct xen_ctx *x = NULL;
    r = xen_ctx_open(&x, err);
    if (r == 0)
        r = check_name_free(x, incoming, err);
    _cleanup_free_ char *json = NULL;
    if (r == 0)
        r = incoming_config(ctx, x, incoming, &json, err);
    if (r < 0)
        return r;
    observe_receiver(ctx);

    struct receiver_launch *l = xzalloc(sizeof(*l));
    l->incoming = steal_ptr(&incoming);
    l->config_json = steal_ptr(&json);
    l->config = mp_journal_path(ctx->journal, XEN_RECEIVER_CONFIG);
    l->result = mp_journal_path(ctx->journal, XEN_RECEIVER_RESULT);
    l->log_path = mp_journal_path(ctx->journal, XEN_RECEIVER_LOG);
    l->argv = receiver_argv(ctx, l->config, l->result);
    *plan =
        (struct mp_step_plan){ .act = prepare_act, .state = l, .free_state = receiver_launch_free };
    return 0;
}

/* ---- Finish --------------------------------------------------------------- */

/* The incoming domain: the one the receiver reported, else the one under
 * the incoming name (a receiver stopped halfway leaves it unreported). A
 * result file of an earlier migration names a domain that may run the
 * guest by now under its own name: only this migration's counts. */
static int
incoming_domain(struct mp_step_ctx *ctx, struct xen_ctx *x, struct xen_domain *d,
                struct mp_error **err)
{
    const char *uuid = ctx->record->uuid;
    uint32_t domid = xen_recorded_domid(ctx->record, XEN_FACT_DOMID);
    if (domid == 0) {
        _cleanup_free_ char *path = mp_journal_path(ctx->journal, XEN_RECEIVER_RESULT);
        _cleanup_xen_result_ struct xen_result res = { 0 };
        if (xen_result_read(path, &res, NULL) == 0 && res.state == XEN_RECEIVER_RESTORED &&
            mp_streq0(res.migration_id, ctx->record->migration_id))
            domid = res.domid;
    }
    if (domid != 0) {
        int r = xen_domain_get(x, domid, uuid, d, err);
        if (r != -ENOENT)
            return r;
    }
    _cleanup_free_ char *incoming = xen_name_with(ctx->record->domain, XEN_SUFFIX_INCOMING);
    return xen_domain_find(x, incoming, uuid, d, err);
}

/* Destroy the incoming domain, unless it already runs the guest: past that
 * point the destination holds the only copy that may run. */
static int
discard_incoming(struct mp_step_ctx *ctx, struct xen_ctx *x, struct mp_error **err)
{
    int r = stop_receiver(ctx, err);
    if (r < 0)
        return mp_error_left_state(err);
    _cleanup_xen_domain_ struct xen_domain d = { 0 };
    r = incoming_domain(ctx, x, &d, err);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return mp_error_left_state(err);
    if (xen_domain_running(&d) && mp_streq0(d.name, ctx->record->domain)) {
        mp_error_set(err, EPERM,
                     "the destination domain already runs: the migration completed; run "
                     "migphase-confirm without --cancelled on the source");
        return mp_error_left_state(err);
    }
    mp_info("destroying the incoming domain %s (domid %u)", d.name ? d.name : "", d.domid);
    r = xen_domain_destroy(x, &d, err);
    if (r < 0) {
        mp_error_prefix(err, "destroying the incoming domain");
        return mp_error_left_state(err);
    }
    return 0;
}

static int
fail_incoming(struct mp_step_ctx *ctx, struct xen_ctx *x, struct mp_error **err)
{
    struct mp_error *discard_err = NULL;
    if (discard_incoming(ctx, x, &discard_err) < 0) {
        mp_error_prefix(err, "%s; and then", discard_err->message);
        mp_error_free(discard_err);
        return mp_error_left_state(err);
    }
    return -(*err)->errnum;
}

/* Wait for the receiver's verdict on the stream. */
static int
wait_restored(struct mp_step_ctx *ctx, struct xen_result *res, struct mp_error **err)
{
    _cleanup_free_ char *path = mp_journal_path(ctx->journal, XEN_RECEIVER_RESULT);
    _cleanup_free_ char *log_path = mp_journal_path(ctx->journal, XEN_RECEIVER_LOG);
    uint64_t deadline = mp_now_ms() + ctx->opts->incoming_timeout_ms;
    for (;;) {
        /* Whether it lives is asked first: a receiver that exits between
         * the two questions has written its last result before. */
        pid_t pid;
        bool alive = mp_proc_recorded(ctx->record, XEN_FACT_RECEIVER_PID, &pid) == MP_PROC_ALIVE;
        int r = xen_result_read(path, res, err);
        if (r < 0)
            return r;
        if (res->state == XEN_RECEIVER_RESTORED)
            return 0;
        if (res->state == XEN_RECEIVER_FAILED)
            return mp_error_set(err, EIO, "the incoming stream failed: %s",
                                res->message ? res->message : "no message");
        if (!alive) {
            _cleanup_free_ char *why = mp_file_last_line(log_path, "no message");
            return mp_error_set(err, ECHILD, "the receiver is gone (it was %s): %s",
                                xen_receiver_state_name(res->state), why);
        }
        if (mp_interrupted)
            return mp_error_set(err, EINTR, "interrupted by signal %d", (int)mp_interrupted);
        if (mp_now_ms() >= deadline)
            return mp_error_set(err, ETIMEDOUT,
                                "the incoming stream did not complete within %llu ms",
                                (unsigned long long)ctx->opts->incoming_timeout_ms);
        xen_result_clear(res);
        mp_sleep_ms(RECEIVE_POLL_MS);
    }
}

/* Give the restored domain its name and, unless asked otherwise, its vCPUs.
 * Renaming first means a name already taken here fails the migration before
 * the point of no return. */
static int
complete_incoming(struct mp_step_ctx *ctx, struct xen_ctx *x, struct mp_error **err)
{
    _cleanup_xen_domain_ struct xen_domain d = { 0 };
    int r = incoming_domain(ctx, x, &d, err);
    if (r == -ENOENT)
        return mp_error_set(err, ENOENT, "the incoming domain is gone");
    if (r < 0)
        return r;
    r = xen_domain_rename(x, &d, ctx->record->domain, err);
    if (r < 0)
        return r;
    if (ctx->in->params.paused || !d.info.paused)
        return 0;
    int rc = libxl_domain_unpause(xen_libxl(x), d.domid, NULL);
    if (rc != 0)
        return xen_fail(x, err, rc, "unpausing domain %s", d.name);
    return 0;
}

/* What Finish's plan found for its act: libxl, and why the stream failed
 * (NULL: it did not). */
struct incoming {
    struct xen_ctx *x;
    struct mp_error *failure;
};

static void
incoming_free(void *state)
{
    struct incoming *inc = state;
    xen_ctx_close(inc->x);
    mp_error_free(inc->failure);
    free(inc);
}

static int
cancel_act(struct mp_step_ctx *ctx, void *state, struct mp_error **err)
{
    struct incoming *inc = state;
    int r = discard_incoming(ctx, inc->x, err);
    if (r == 0)
        ctx->out->outcome = MP_OUTCOME_CANCELLED;
    return r;
}

/* The stream failed: the half-built domain goes, and Finish fails. */
static int
fail_act(struct mp_step_ctx *ctx, void *state, struct mp_error **err)
{
    struct incoming *inc = state;
    *err = steal_ptr(&inc->failure);
    return fail_incoming(ctx, inc->x, err);
}

static int
complete_act(struct mp_step_ctx *ctx, void *state, struct mp_error **err)
{
    struct incoming *inc = state;
    int r = complete_incoming(ctx, inc->x, err);
    if (r < 0)
        return fail_incoming(ctx, inc->x, err);
    return 0;
}

/* Wait for the receiver's verdict and record it: how the stream ended and,
 * if it was restored, which domain holds it, so that the commit before the
 * act names the domain the act renames and unpauses. */
static int
await_restore(struct mp_step_ctx *ctx, struct mp_error **err)
{
    _cleanup_xen_result_ struct xen_result res = { 0 };
    int r = wait_restored(ctx, &res, err);
    mp_journal_record_set_fact(ctx->record, XEN_FACT_RECEIVER_OUTCOME,
                               xen_receiver_state_name(res.state));
    if (r == 0)
        xen_record_domid(ctx->record, XEN_FACT_DOMID, res.domid);
    return r;
}

/* Finish's plan waits (only looking) for the stream's end; the act then
 * completes the migration, or destroys what the stream left. */
int
xen_finish(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err)
{
    struct incoming *inc = xzalloc(sizeof(*inc));
    int r = xen_ctx_open(&inc->x, err);
    if (r < 0) {
        incoming_free(inc);
        return mp_error_left_state(err);
    }
    /* The receiver the act stops, if it must, as Prepare's run left it. */
    observe_receiver(ctx);
    mp_step_act act = cancel_act;
    if (!ctx->cancel)
        act = await_restore(ctx, &inc->failure) == 0 ? complete_act : fail_act;
    *plan = (struct mp_step_plan){ .act = act, .state = inc, .free_state = incoming_free };
    return 0;
}
