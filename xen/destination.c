/* The Xen driver's destination side: Prepare starts a receiver that waits
 * for the stream and restores the domain, paused, under a name of its own;
 * Finish gives it its name back and unpauses it, or destroys it. */
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

#define FACT_RECEIVER_PID     "receiver-pid"
#define FACT_RECEIVER_START   "receiver-pid-start"
#define FACT_PORT             "port"
#define FACT_RECEIVER_OUTCOME "receiver"
#define FACT_DOMID            "domid"

pid_t
xen_recorded_receiver(const struct mp_journal_record *record)
{
    const char *pid_s = mp_journal_record_get_fact(record, FACT_RECEIVER_PID);
    const char *start_s = mp_journal_record_get_fact(record, FACT_RECEIVER_START);
    uint64_t pid = 0, start = 0, now = 0;
    if (!pid_s || mp_parse_u64(pid_s, &pid) < 0 || pid == 0 || pid > INT32_MAX)
        return 0;
    /* A pid outlives its process: trust it only while the start time matches. */
    if (!start_s || mp_parse_u64(start_s, &start) < 0 || mp_proc_start_time((pid_t)pid, &now) < 0 ||
        now != start)
        return 0;
    return mp_proc_alive((pid_t)pid) ? (pid_t)pid : 0;
}

static void
record_receiver(struct mp_journal_record *record, pid_t pid)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%ld", (long)pid);
    mp_journal_record_set_fact(record, FACT_RECEIVER_PID, buf);
    uint64_t start;
    if (mp_proc_start_time(pid, &start) == 0) {
        snprintf(buf, sizeof(buf), "%llu", (unsigned long long)start);
        mp_journal_record_set_fact(record, FACT_RECEIVER_START, buf);
    }
}

/* Stop the receiver and libxl's restore helper with it: the receiver leads
 * a process group of its own (see xen/receiver.c). */
static int
stop_receiver(const struct mp_step_ctx *ctx, struct mp_error **err)
{
    pid_t pid = xen_recorded_receiver(ctx->record);
    if (pid <= 0)
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
write_incoming_config(struct mp_step_ctx *ctx, struct xen_ctx *x, const char *incoming,
                      const char *path, struct mp_error **err)
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
    _cleanup_free_ char *json = libxl_domain_config_to_json(xen_libxl(x), &cfg);
    libxl_domain_config_dispose(&cfg);
    if (!json)
        return mp_error_set(err, EIO, "cannot write the incoming domain's configuration");
    return mp_write_file(path, json, strlen(json), err);
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

int
xen_prepare(struct mp_step_ctx *ctx, struct mp_error **err)
{
    int r = check_cookie(ctx->in, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *incoming = xen_name_with(ctx->record->domain, XEN_SUFFIX_INCOMING);
    r = mp_journal_check_domain(incoming, err);
    if (r < 0)
        return r;
    _cleanup_xen_ctx_ struct xen_ctx *x = NULL;
    r = xen_ctx_open(&x, err);
    if (r < 0)
        return r;
    /* The receiver of an interrupted Prepare of this migration: its cookie
     * never went out, so nothing was sent to it. */
    r = stop_receiver(ctx, err);
    if (r < 0)
        return mp_error_left_state(err);
    _cleanup_xen_domain_ struct xen_domain old = { 0 };
    if (xen_domain_find(x, incoming, NULL, &old, NULL) == 0)
        return mp_error_set(err, EEXIST,
                            "a domain named %s already exists on this host (domid %u): an earlier "
                            "migration left it; see migphase-status or destroy it",
                            incoming, old.domid);

    _cleanup_free_ char *config = mp_journal_path(ctx->journal, XEN_RECEIVER_CONFIG);
    _cleanup_free_ char *result = mp_journal_path(ctx->journal, XEN_RECEIVER_RESULT);
    _cleanup_free_ char *log_path = mp_journal_path(ctx->journal, XEN_RECEIVER_LOG);
    r = write_incoming_config(ctx, x, incoming, config, err);
    if (r < 0)
        return r;
    (void)unlink(result);
    (void)unlink(log_path);

    _cleanup_strv_ char **argv = receiver_argv(ctx, config, result);
    _cleanup_strv_ char **launcher =
        ctx->opts->launcher ? mp_proc_split_command(ctx->opts->launcher) : NULL;
    pid_t pid;
    r = mp_proc_launch_detached(launcher, argv, log_path, &pid, err);
    if (r < 0)
        return mp_error_prefix(err, "starting the receiver");
    record_receiver(ctx->record, pid);
    r = mp_step_checkpoint(ctx, MP_PHASE_STARTED, err);
    uint16_t port = 0;
    if (r == 0)
        r = wait_listening(ctx, pid, result, log_path, &port, err);
    if (r == 0) {
        ctx->out->uri = mp_stream_uri(ctx->opts->listen_addr, ctx->out->destination.hostname, port);
        char buf[8];
        snprintf(buf, sizeof(buf), "%u", port);
        mp_journal_record_set_fact(ctx->record, FACT_PORT, buf);
        mp_cookie_set_data(ctx->out, "incoming-name", incoming);
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

/* ---- Finish --------------------------------------------------------------- */

/* The incoming domain: the one the receiver reported, else the one under
 * the incoming name (a receiver stopped halfway leaves it unreported). */
static int
incoming_domain(struct mp_step_ctx *ctx, struct xen_ctx *x, struct xen_domain *d,
                struct mp_error **err)
{
    const char *uuid = ctx->record->uuid;
    uint32_t domid = xen_recorded_domid(ctx->record, FACT_DOMID);
    if (domid == 0) {
        _cleanup_free_ char *path = mp_journal_path(ctx->journal, XEN_RECEIVER_RESULT);
        _cleanup_xen_result_ struct xen_result res = { 0 };
        if (xen_result_read(path, &res, NULL) == 0 && res.state == XEN_RECEIVER_RESTORED)
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
        bool alive = xen_recorded_receiver(ctx->record) > 0;
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

int
xen_finish(struct mp_step_ctx *ctx, struct mp_error **err)
{
    _cleanup_xen_ctx_ struct xen_ctx *x = NULL;
    int r = xen_ctx_open(&x, err);
    if (r < 0)
        return mp_error_left_state(err);
    if (ctx->cancel) {
        r = discard_incoming(ctx, x, err);
        if (r == 0)
            ctx->out->outcome = MP_OUTCOME_CANCELLED;
        return r;
    }
    _cleanup_xen_result_ struct xen_result res = { 0 };
    r = wait_restored(ctx, &res, err);
    /* How the stream ended, for whoever reads the journal later. */
    mp_journal_record_set_fact(ctx->record, FACT_RECEIVER_OUTCOME,
                               xen_receiver_state_name(res.state));
    if (r < 0)
        return fail_incoming(ctx, x, err);
    xen_record_domid(ctx->record, FACT_DOMID, res.domid);
    r = mp_step_checkpoint(ctx, MP_PHASE_STARTED, err);
    if (r == 0)
        r = complete_incoming(ctx, x, err);
    if (r < 0)
        return fail_incoming(ctx, x, err);
    return 0;
}
