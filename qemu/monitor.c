/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "monitor.h"

#include "log.h"
#include "proc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int
qemu_monitor_open(const char *socket, const struct mp_options *opts, struct qemu_qmp **out,
                  struct mp_error **err)
{
    if (!socket)
        return mp_error_input(err, EINVAL, "no QMP socket: give --qmp SOCKET");
    int r = qemu_qmp_connect(socket, opts->qmp_timeout_ms, out, err);
    if (r < 0)
        return r;
    qemu_qmp_set_interrupt(*out, &mp_interrupted);
    return 0;
}

static int
status_from_reply(json_object *ret, char **status, struct mp_error **err)
{
    json_object *st = NULL;
    if (!json_object_object_get_ex(ret, "status", &st) ||
        !json_object_is_type(st, json_type_string))
        return mp_error_set(err, EPROTO, "query-status answered without a status");
    *status = xstrdup(json_object_get_string(st));
    return 0;
}

int
qemu_monitor_status(struct qemu_qmp *qmp, char **status, struct mp_error **err)
{
    _cleanup_json_ json_object *ret = NULL;
    int r = qemu_qmp_execute(qmp, "query-status", NULL, &ret, err);
    if (r < 0)
        return r;
    return status_from_reply(ret, status, err);
}

static json_object *
capability(const char *name, bool state)
{
    json_object *c = json_object_new_object();
    json_object_object_add(c, "capability", json_object_new_string(name));
    json_object_object_add(c, "state", json_object_new_boolean(state));
    return c;
}

/* Off unless a feature asks for it: each persists in the QEMU process. The
 * tuning's capabilities (tuned_capabilities) are said on or off apart. */
static const char *const capabilities_off[] = {
    "compress",
    "release-ram",
    "return-path",
    "pause-before-switchover",
    "late-block-activate",
    "x-ignore-shared",
    "validate-uuid",
};

/* The state QEMU reports for a capability; absent when this QEMU lacks it. */
static bool
capability_state(json_object *reported, const char *name, bool *state)
{
    for (size_t i = 0; reported && i < json_object_array_length(reported); i++) {
        json_object *c = json_object_array_get_idx(reported, i), *v = NULL;
        if (json_object_object_get_ex(c, "capability", &v) &&
            mp_streq0(json_object_get_string(v), name) &&
            json_object_object_get_ex(c, "state", &v)) {
            *state = json_object_get_boolean(v);
            return true;
        }
    }
    return false;
}

/* Add name=want to caps unless QEMU reports it already so. A capability
 * this QEMU lacks cannot be on, so one we want off is left out; one we want
 * on is asked for all the same, for QEMU to refuse. */
static void
want_capability(json_object *caps, json_object *reported, const char *name, bool want)
{
    bool now = false;
    bool known = reported && capability_state(reported, name, &now);
    if (!reported || (known ? now != want : want))
        json_object_array_add(caps, capability(name, want));
}

/* The capabilities a tuning turns on or off, the option that asks, and
 * whether only the sending QEMU reads it (the receiving one is left as it
 * is: see qemu_monitor_setup_migration). */
struct tuned_capability {
    const char *name;
    const char *option;
    bool (*wanted)(const struct mp_tuning *t);
    bool outgoing_only;
};

static bool
wants_multifd(const struct mp_tuning *t)
{
    return t->parallel > 0;
}

static bool
wants_xbzrle(const struct mp_tuning *t)
{
    return t->xbzrle_bytes > 0;
}

static bool
wants_auto_converge(const struct mp_tuning *t)
{
    return t->auto_converge;
}

/* Postcopy is set on both sides: the destination must be ready to fetch
 * pages on demand (userfaultfd) before the source may switch. */
static bool
wants_postcopy(const struct mp_tuning *t)
{
    return t->postcopy;
}

static const struct tuned_capability tuned_capabilities[] = {
    { "xbzrle", "--xbzrle", wants_xbzrle, false },
    { "postcopy-ram", "--postcopy", wants_postcopy, false },
    /* It throttles the vCPUs of the VM that sends. */
    { "auto-converge", "--auto-converge", wants_auto_converge, true },
    { "multifd", "--parallel", wants_multifd, false },
};

int
qemu_monitor_check_tuning(json_object *reported, const char *version, const struct mp_tuning *t,
                          struct mp_error **err)
{
    for (size_t i = 0; reported && i < ARRAY_SIZE(tuned_capabilities); i++) {
        const struct tuned_capability *c = &tuned_capabilities[i];
        bool state;
        if (c->wanted(t) && !capability_state(reported, c->name, &state))
            return mp_error_input(err, ENOTSUP,
                                  "%s needs the migration capability %s, which this QEMU (%s) "
                                  "does not have",
                                  c->option, c->name, version ? version : "?");
    }
    return 0;
}

/* migrate-set-capabilities for what differs from QEMU's report (everything
 * when there is no report), or NULL when nothing does. */
static json_object *
capabilities_to_set(json_object *reported, const struct mp_params *params, enum qemu_stream_end end)
{
    const struct mp_tuning *t = &params->tuning;
    json_object *caps = json_object_new_array();
    want_capability(caps, reported, "events", true);
    /* A disk copy completes its mirrors while the source is paused, before
     * QEMU sends the devices' state (qemu/storage.c). */
    bool storage = params->copy_storage != MP_COPY_STORAGE_NONE && end == QEMU_OUTGOING;
    for (size_t i = 0; i < ARRAY_SIZE(capabilities_off); i++)
        want_capability(caps, reported, capabilities_off[i],
                        storage && strcmp(capabilities_off[i], "pause-before-switchover") == 0);
    for (size_t i = 0; i < ARRAY_SIZE(tuned_capabilities); i++) {
        const struct tuned_capability *c = &tuned_capabilities[i];
        if (c->outgoing_only && end == QEMU_INCOMING)
            continue;
        bool want = c->wanted(t), now;
        /* The held-back throttle of --converge auto, where this QEMU has it
         * (a QEMU without it converges without it). */
        if (c->wanted == wants_auto_converge && qemu_monitor_throttle_held(params))
            want = capability_state(reported, c->name, &now);
        want_capability(caps, reported, c->name, want);
    }
    if (json_object_array_length(caps) == 0) {
        json_object_put(caps);
        return NULL;
    }
    json_object *args = json_object_new_object();
    json_object_object_add(args, "capabilities", caps);
    return args;
}

static void
want_int(json_object *args, json_object *reported, const char *key, int64_t want)
{
    json_object *v = NULL;
    if (!reported || !json_object_object_get_ex(reported, key, &v) ||
        json_object_get_int64(v) != want)
        json_object_object_add(args, key, json_object_new_int64(want));
}

static void
want_string(json_object *args, json_object *reported, const char *key, const char *want)
{
    json_object *v = NULL;
    if (!want)
        want = "";
    if (!reported || !json_object_object_get_ex(reported, key, &v) ||
        !json_object_is_type(v, json_type_string) || strcmp(json_object_get_string(v), want) != 0)
        json_object_object_add(args, key, json_object_new_string(want));
}

bool
qemu_monitor_throttle_held(const struct mp_params *params)
{
    return params->live && params->tuning.converge == MP_CONVERGE_AUTO &&
           !params->tuning.auto_converge;
}

/* The throttle's parameters. Held back for --converge auto: QEMU takes the
 * auto-converge capability only before the stream starts, and throttles by
 * itself from then on whenever the guest outruns the stream; at 1% and no
 * more it throttles nothing that matters, until Perform raises the cap as a
 * later step (qemu/source.c). */
static void
want_throttle(json_object *args, json_object *reported, const struct mp_params *params)
{
    const struct mp_tuning *t = &params->tuning;
    bool held = qemu_monitor_throttle_held(params);
    /* 0: a tuning nobody filled in (QEMU refuses 0). */
    int64_t initial =
        t->throttle_initial ? (int64_t)t->throttle_initial : MP_TUNING_THROTTLE_INITIAL;
    int64_t step = t->throttle_step ? (int64_t)t->throttle_step : MP_TUNING_THROTTLE_STEP;
    want_int(args, reported, "cpu-throttle-initial", held ? 1 : initial);
    want_int(args, reported, "cpu-throttle-increment", held ? 1 : step);
    want_int(args, reported, "max-cpu-throttle", held ? 1 : 99);
}

/* The tuning's parameters, QEMU's defaults when not asked for: an earlier
 * migration's channels or cache stay in the process otherwise. The
 * throttle is not among them: see qemu_monitor_throttle_args. */
static void
want_tuning(json_object *args, json_object *reported, const struct mp_params *params,
            enum qemu_stream_end end)
{
    const struct mp_tuning *t = &params->tuning;
    want_int(args, reported, "multifd-channels", t->parallel ? (int64_t)t->parallel : 2);
    want_string(args, reported, "multifd-compression", mp_compress_name(t->compress));
    if (end == QEMU_INCOMING)
        return; /* the delta cache is the sender's */
    want_int(args, reported, "xbzrle-cache-size",
             t->xbzrle_bytes ? (int64_t)t->xbzrle_bytes : 64 << 20);
}

json_object *
qemu_monitor_throttle_args(json_object *const *reported, const struct mp_params *params)
{
    json_object *args = json_object_new_object();
    want_throttle(args, reported ? reported[1] : NULL, params);
    if (json_object_object_length(args) == 0) {
        json_object_put(args);
        return NULL;
    }
    return args;
}

/* The sender's bounds: its bandwidth and the pause it may take. */
static void
want_bounds(json_object *args, json_object *reported, const struct mp_params *params)
{
    /* QEMU's default limit (128 MiB/s) never converges for a guest that
     * dirties memory quickly: no limit unless the user asked for one. */
    int64_t bandwidth = params->bandwidth_mib ? (int64_t)(params->bandwidth_mib << 20) : INT64_MAX;
    int64_t downtime = params->downtime_ms ? (int64_t)params->downtime_ms : 300;
    want_int(args, reported, "max-bandwidth", bandwidth);
    /* The bound holds under postcopy too (0 there means none), where this
     * QEMU knows the parameter (QEMU 3.0 and later); a migration that
     * cannot switch to postcopy leaves it alone. */
    json_object *v = NULL;
    if (params->tuning.postcopy && reported &&
        json_object_object_get_ex(reported, "max-postcopy-bandwidth", &v))
        want_int(args, reported, "max-postcopy-bandwidth",
                 params->bandwidth_mib ? (int64_t)(params->bandwidth_mib << 20) : 0);
    want_int(args, reported, "downtime-limit", downtime);
}

/* migrate-set-parameters for what differs from QEMU's report, or NULL. */
static json_object *
parameters_to_set(json_object *reported, const struct mp_params *params,
                  const struct qemu_tls_params *tls, enum qemu_stream_end end)
{
    json_object *args = json_object_new_object();
    if (end == QEMU_OUTGOING)
        want_bounds(args, reported, params);
    want_tuning(args, reported, params, end);
    /* An earlier migration's TLS settings stay in the process: always said. */
    want_string(args, reported, "tls-creds", tls ? tls->creds : NULL);
    want_string(args, reported, "tls-hostname", tls ? tls->hostname : NULL);
    want_string(args, reported, "tls-authz", tls ? tls->authz : NULL);
    if (json_object_object_length(args) == 0) {
        json_object_put(args);
        return NULL;
    }
    return args;
}

int
qemu_monitor_setup_migration(struct qemu_qmp *qmp, enum qemu_stream_end end,
                             const struct mp_params *params, const struct qemu_tls_params *tls,
                             json_object *const *reported, struct qemu_qmp_call *then,
                             struct mp_error **err)
{
    /* Set only what differs from what QEMU reports: QEMU reads a command a
     * byte per turn of its main loop, and the whole list of capabilities
     * costs it milliseconds. If it cannot report, set everything. */
    struct qemu_qmp_call queries[] = { QEMU_MONITOR_MIGRATION_QUERIES };
    if (!reported)
        (void)qemu_qmp_execute_all(qmp, queries, ARRAY_SIZE(queries), NULL);
    json_object *caps = reported ? reported[0] : queries[0].ret;
    json_object *values = reported ? reported[1] : queries[1].ret;
    int r = qemu_monitor_check_tuning(caps, qemu_qmp_version(qmp), &params->tuning, err);
    json_object *cap_args = r == 0 ? capabilities_to_set(caps, params, end) : NULL;
    json_object *param_args = r == 0 ? parameters_to_set(values, params, tls, end) : NULL;
    qemu_qmp_calls_free(queries, ARRAY_SIZE(queries));
    if (r < 0) {
        if (then)
            json_object_put(steal_ptr(&then->args));
        return r;
    }

    /* The settings, which do not depend on each other, and the caller's
     * command if any: one round trip. */
    struct qemu_qmp_call calls[3];
    const char *what[3];
    size_t n = 0;
    if (cap_args) {
        what[n] = "setting migration capabilities";
        calls[n++] =
            (struct qemu_qmp_call){ .command = "migrate-set-capabilities", .args = cap_args };
    }
    if (param_args) {
        what[n] = "setting migration parameters";
        calls[n++] =
            (struct qemu_qmp_call){ .command = "migrate-set-parameters", .args = param_args };
    }
    size_t settings = n;
    if (then)
        calls[n++] = *then;
    if (n > 0)
        (void)qemu_qmp_execute_all(qmp, calls, n, NULL);
    if (then)
        *then = calls[settings];
    for (size_t i = 0; i < settings && r == 0; i++)
        if (calls[i].result < 0)
            r = mp_error_set(err, -calls[i].result, "%s: %s", what[i], calls[i].error->message);
    qemu_qmp_calls_free(calls, settings);
    return r;
}

static uint64_t
get_u64(json_object *obj, const char *key)
{
    json_object *v = NULL;
    if (!obj || !json_object_object_get_ex(obj, key, &v))
        return 0;
    int64_t n = json_object_get_int64(v);
    return n > 0 ? (uint64_t)n : 0;
}

uint64_t
qemu_monitor_event_time_us(struct qemu_qmp *qmp, const char *name, uint64_t wait_ms)
{
    json_object *event = NULL, *stamp = NULL;
    if (qemu_qmp_wait_event(qmp, name, wait_ms, &event, NULL) < 0)
        return 0;
    uint64_t us = 0;
    if (json_object_object_get_ex(event, "timestamp", &stamp)) {
        uint64_t s = get_u64(stamp, "seconds"), frac = get_u64(stamp, "microseconds");
        if (s > 0 && frac < 1000000)
            us = s * 1000000 + frac;
    }
    json_object_put(event);
    return us;
}

const char *
qemu_monitor_migration_event_status(json_object *event)
{
    json_object *data = NULL, *status = NULL;
    if (!json_object_object_get_ex(event, "data", &data) ||
        !json_object_object_get_ex(data, "status", &status) ||
        !json_object_is_type(status, json_type_string))
        return NULL;
    return json_object_get_string(status);
}

bool
qemu_monitor_event_ends_incoming(json_object *event, bool *postcopy)
{
    const char *status = qemu_monitor_migration_event_status(event);
    if (!status || (strcmp(status, "completed") != 0 && !qemu_migration_postcopy(status)))
        return false;
    *postcopy = qemu_migration_postcopy(status);
    return true;
}

bool
qemu_monitor_incoming_ended(struct qemu_qmp *qmp, bool *postcopy)
{
    bool ended = false, switched = false;
    json_object *event = NULL;
    while (qemu_qmp_wait_event(qmp, "MIGRATION", 0, &event, NULL) == 0) {
        /* One that failed after postcopy-active is left for query-migrate,
         * which says why. */
        if (qemu_monitor_migration_event_status(event))
            ended = qemu_monitor_event_ends_incoming(event, &switched);
        json_object_put(steal_ptr(&event));
    }
    if (ended)
        *postcopy = switched;
    return ended;
}

static void
copy_string(char *dst, size_t size, json_object *obj, const char *key)
{
    json_object *v = NULL;
    if (obj && json_object_object_get_ex(obj, key, &v) && json_object_is_type(v, json_type_string))
        snprintf(dst, size, "%s", json_object_get_string(v));
}

/* QEMU 6.0 and later list what blocks an outgoing migration in
 * "blocked-reasons", present only when something does. (A "blocked" flag
 * beside it was in 6.0's development tree only; honoured if seen.) */
static void
collect_blockers(struct qemu_migration_info *info, json_object *ret)
{
    json_object *blocked = NULL, *reasons = NULL;
    bool listed = json_object_object_get_ex(ret, "blocked-reasons", &reasons) &&
                  json_object_is_type(reasons, json_type_array) &&
                  json_object_array_length(reasons) > 0;
    bool flagged =
        json_object_object_get_ex(ret, "blocked", &blocked) && json_object_get_boolean(blocked);
    if (!listed && !flagged)
        return;
    info->blocked = true;
    if (!listed)
        return;
    size_t used = 0;
    for (size_t i = 0; i < json_object_array_length(reasons); i++) {
        const char *reason = json_object_get_string(json_object_array_get_idx(reasons, i));
        int n = snprintf(info->blocked_reasons + used, sizeof(info->blocked_reasons) - used, "%s%s",
                         i ? "; " : "", reason ? reason : "?");
        if (n < 0 || (size_t)n >= sizeof(info->blocked_reasons) - used)
            break;
        used += (size_t)n;
    }
}

static void
migration_info_from_reply(json_object *ret, struct qemu_migration_info *info)
{
    memset(info, 0, sizeof(*info));
    snprintf(info->status, sizeof(info->status), "none");
    copy_string(info->status, sizeof(info->status), ret, "status");
    copy_string(info->error_desc, sizeof(info->error_desc), ret, "error-desc");
    info->total_ms = get_u64(ret, "total-time");
    info->downtime_ms = get_u64(ret, "downtime");
    info->setup_ms = get_u64(ret, "setup-time");
    /* There is no "ram" member during setup. */
    json_object *ram = NULL;
    if (json_object_object_get_ex(ret, "ram", &ram)) {
        info->transferred_bytes = get_u64(ram, "transferred");
        info->remaining_bytes = get_u64(ram, "remaining");
        info->total_bytes = get_u64(ram, "total");
        info->iterations = get_u64(ram, "dirty-sync-count");
        info->dirty_pages_rate = get_u64(ram, "dirty-pages-rate");
        json_object *mbps = NULL;
        if (json_object_object_get_ex(ram, "mbps", &mbps))
            info->mbps = (uint64_t)json_object_get_double(mbps);
    }
    collect_blockers(info, ret);
}

int
qemu_monitor_query_migrate(struct qemu_qmp *qmp, struct qemu_migration_info *info,
                           struct mp_error **err)
{
    _cleanup_json_ json_object *ret = NULL;
    int r = qemu_qmp_execute(qmp, "query-migrate", NULL, &ret, err);
    if (r < 0)
        return r;
    migration_info_from_reply(ret, info);
    return 0;
}

/* Wait for the reply to command id while the monitor shows life. QEMU
 * answers the monitor from its main loop, which a TCG vCPU holding the big
 * lock can starve for seconds while the migration thread sends on: a late
 * reply is a slow monitor, not a failed migration. */
static int
await_patiently(struct qemu_qmp *qmp, const char *command, uint64_t id,
                const struct qemu_patience *p, json_object **ret, struct mp_error **err)
{
    uint64_t asked = mp_now_ms(), heard = asked, seen = qemu_qmp_messages(qmp);
    uint64_t slice = p->first_ms ? p->first_ms : 1000, told = 0;
    for (;;) {
        struct mp_error *e = NULL;
        int r = qemu_qmp_await(qmp, command, id, slice, ret, &e);
        if (r == -EINTR)
            qemu_qmp_forget(qmp, id);
        if (r != -ETIMEDOUT) {
            if (r < 0 && err && !*err)
                *err = steal_ptr(&e);
            mp_error_free(e);
            return r;
        }
        mp_error_free(e);
        uint64_t now = mp_now_ms();
        if (qemu_qmp_messages(qmp) != seen) {
            seen = qemu_qmp_messages(qmp);
            heard = now;
        }
        if (now - heard >= p->silence_ms) {
            qemu_qmp_forget(qmp, id);
            return mp_error_set(err, ETIMEDOUT,
                                "monitor said nothing for %llu ms (no reply to %s, no event)",
                                (unsigned long long)(now - heard), command);
        }
        if (p->slow && now - asked >= told + p->first_ms) {
            told = now - asked;
            p->slow(p->data, told);
        }
        /* Short slices from here on: a sign of life is noticed at once. */
        slice = p->silence_ms - (now - heard) < 1000 ? p->silence_ms - (now - heard) : 1000;
    }
}

int
qemu_monitor_query_migrate_patient(struct qemu_qmp *qmp, const struct qemu_patience *patience,
                                   struct qemu_migration_info *info, struct mp_error **err)
{
    uint64_t id;
    int r = qemu_qmp_send(qmp, "query-migrate", NULL, &id, err);
    if (r < 0)
        return r;
    _cleanup_json_ json_object *ret = NULL;
    r = await_patiently(qmp, "query-migrate", id, patience, &ret, err);
    if (r < 0)
        return r;
    migration_info_from_reply(ret, info);
    return 0;
}

int
qemu_monitor_state_and(struct qemu_qmp *qmp, char **run_state, struct qemu_migration_info *info,
                       struct qemu_qmp_call *more, size_t n_more, struct mp_error **err)
{
    struct qemu_qmp_call calls[QEMU_QMP_MAX_CALLS] = { { .command = "query-status" },
                                                       { .command = "query-migrate" } };
    if (n_more > QEMU_QMP_MAX_CALLS - 2)
        return mp_error_set(err, E2BIG, "too many QMP queries at once");
    for (size_t i = 0; i < n_more; i++)
        calls[2 + i] = more[i];
    /* The caller's queries answer on their own: only ours decide. */
    (void)qemu_qmp_execute_all(qmp, calls, 2 + n_more, NULL);
    for (size_t i = 0; i < n_more; i++)
        more[i] = calls[2 + i];
    int r = calls[0].result < 0 ? calls[0].result : calls[1].result;
    struct qemu_qmp_call *failed = calls[0].result < 0 ? &calls[0] : &calls[1];
    if (r < 0 && failed->error && err && !*err)
        *err = steal_ptr(&failed->error);
    else if (r < 0)
        mp_error_set(err, -r, "QMP %s was not answered", failed->command);
    if (r == 0)
        r = status_from_reply(calls[0].ret, run_state, err);
    if (r == 0)
        migration_info_from_reply(calls[1].ret, info);
    qemu_qmp_calls_free(calls, 2);
    return r;
}

int
qemu_monitor_state(struct qemu_qmp *qmp, char **run_state, struct qemu_migration_info *info,
                   struct mp_error **err)
{
    return qemu_monitor_state_and(qmp, run_state, info, NULL, 0, err);
}

int
qemu_monitor_quit(struct qemu_qmp *qmp, pid_t pid, const struct mp_options *opts,
                  struct mp_error **err)
{
    struct mp_error *quit_err = NULL;
    /* QEMU may close the socket before its reply arrives: that is success. */
    int r = qemu_qmp_execute(qmp, "quit", NULL, NULL, &quit_err);
    if (r < 0 && r != -ECONNRESET)
        mp_debug("quit: %s", quit_err->message);
    mp_error_free(quit_err);
    if (pid <= 0)
        return 0;
    if (mp_proc_wait_gone(pid, opts->exit_timeout_ms, NULL) == 0)
        return 0;
    mp_info("QEMU (pid %ld) did not quit, terminating it", (long)pid);
    return mp_proc_terminate(pid, opts->exit_timeout_ms, err);
}

bool
qemu_migration_postcopy(const char *status)
{
    return strncmp(status, "postcopy-", 9) == 0;
}

bool
qemu_migration_active(const char *status)
{
    static const char *const active[] = {
        "setup",           "active",           "device",     "pre-switchover", "postcopy-active",
        "postcopy-paused", "postcopy-recover", "cancelling", "wait-unplug",
    };
    for (size_t i = 0; i < ARRAY_SIZE(active); i++)
        if (strcmp(status, active[i]) == 0)
            return true;
    return false;
}

enum mp_vm_state
qemu_monitor_vm_state(const char *run_state, const char *migration_status)
{
    /* First: a VM past postcopy's switch, on either side, must be neither
     * resumed (source) nor killed (destination), whatever it runs. */
    if (mp_streq0(migration_status, "postcopy-active"))
        return MP_VM_POSTCOPY;
    if (mp_streq0(migration_status, "postcopy-paused") ||
        mp_streq0(migration_status, "postcopy-recover"))
        return MP_VM_POSTCOPY_PAUSED;
    if (strcmp(run_state, "inmigrate") == 0)
        return MP_VM_INCOMING;
    if (strcmp(run_state, "postmigrate") == 0)
        return MP_VM_MIGRATED;
    if (migration_status && qemu_migration_active(migration_status))
        return MP_VM_MIGRATING;
    if (strcmp(run_state, "running") == 0)
        return MP_VM_RUNNING;
    if (strcmp(run_state, "finish-migrate") == 0)
        return MP_VM_MIGRATING;
    if (strcmp(run_state, "paused") == 0 || strcmp(run_state, "prelaunch") == 0)
        return MP_VM_PAUSED;
    if (strcmp(run_state, "internal-error") == 0 || strcmp(run_state, "shutdown") == 0)
        return MP_VM_FAILED;
    return MP_VM_UNKNOWN;
}
