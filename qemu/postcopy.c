/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The recovery of a paused postcopy (--resume): the destination's Prepare
 * listens again (migrate-recover), the source's Perform resumes the stream
 * to that new address (migrate with resume). Neither side may undo anything
 * once postcopy started, so both act only on a stream QEMU says is paused.
 * The new connection has the first stream's TLS: both QEMUs keep their
 * TLS credentials and the migration's tls-* parameters. */
#include "config.h"

#include "facts.h"
#include "log.h"
#include "monitor.h"
#include "proc.h"
#include "progress.h"
#include "qemu-internal.h"

#include <errno.h>
#include <string.h>

#define RESUME_POLL_MS 100

/* The monitor of the record's VM, and what its migration does. */
struct paused_vm {
    struct qemu_qmp *qmp;
    char *listen_addr; /* Prepare: where the first stream came in */
};

static void
paused_vm_free(void *state)
{
    struct paused_vm *vm = state;
    qemu_qmp_close(vm->qmp);
    free(vm->listen_addr);
    free(vm);
}

/* Open the recorded VM's monitor and check its stream is paused: the only
 * state a resume may touch. */
static int
open_paused(struct mp_step_ctx *ctx, struct paused_vm *vm, struct mp_error **err)
{
    const char *socket = mp_journal_record_get_fact(ctx->record, QEMU_FACT_QMP);
    if (!socket)
        return mp_error_input(err, ENOENT, "the journal does not say where the VM's monitor is");
    int r = qemu_monitor_open(socket, ctx->opts, &vm->qmp, err);
    if (r < 0)
        return r;
    struct qemu_migration_info info;
    r = qemu_monitor_query_migrate(vm->qmp, &info, err);
    if (r < 0)
        return r;
    if (strcmp(info.status, "postcopy-paused") != 0)
        return mp_error_input(err, EINVAL,
                              "the %s's stream is %s, not postcopy-paused: nothing to resume "
                              "(see migphase-status)",
                              mp_role_name(mp_step_role(ctx->step)), info.status);
    return 0;
}

/* The address the first stream came to ("tcp:ADDR:PORT" or
 * "tcp:[ADDR]:PORT" in the journal): the source can reach it. */
static char *
recorded_listen_addr(const struct mp_journal_record *record)
{
    const char *uri = mp_journal_record_get_fact(record, QEMU_FACT_URI);
    if (!uri || !mp_str_has_prefix(uri, "tcp:"))
        return NULL;
    const char *host = uri + 4, *colon = strrchr(host, ':');
    if (!colon || colon == host)
        return NULL;
    if (host[0] == '[' && colon[-1] == ']')
        return xstrndup(host + 1, (size_t)(colon - host) - 2);
    return xstrndup(host, (size_t)(colon - host));
}

/* Whether the destination's QEMU still holds the first stream's TLS
 * settings, which the new connection gets too. */
static bool
stream_has_tls(struct qemu_qmp *qmp)
{
    _cleanup_json_ json_object *ret = NULL;
    json_object *creds = NULL;
    if (qemu_qmp_execute(qmp, "query-migrate-parameters", NULL, &ret, NULL) < 0)
        return false;
    return json_object_object_get_ex(ret, "tls-creds", &creds) &&
           json_object_is_type(creds, json_type_string) && *json_object_get_string(creds);
}

/* migrate-recover on the first free port of the range. A port taken is
 * tried no further; any other refusal leaves the stream paused, as it was. */
static int
recover_act(struct mp_step_ctx *ctx, void *state, struct mp_error **err)
{
    struct paused_vm *vm = state;
    const struct mp_options *opts = ctx->opts;
    for (unsigned port = opts->port_lo; port <= opts->port_hi; port++) {
        _cleanup_free_ char *uri = mp_tcp_uri(vm->listen_addr, port);
        json_object *args = json_object_new_object();
        json_object_object_add(args, "uri", json_object_new_string(uri));
        struct mp_error *e = NULL;
        int r = qemu_qmp_execute(vm->qmp, "migrate-recover", args, NULL, &e);
        r = qemu_listen_result(ctx, vm->listen_addr, port, r, e,
                               "listening again for the postcopy stream", err);
        if (r < 0)
            return r;
        if (r > 0) {
            mp_info("the paused postcopy waits for the source on %s", uri);
            return 0;
        }
    }
    return mp_error_set(err, EADDRINUSE, "no free port in %u-%u on %s", opts->port_lo,
                        opts->port_hi, vm->listen_addr);
}

int
qemu_prepare_resume(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err)
{
    struct paused_vm *vm = xzalloc(sizeof(*vm));
    int r = open_paused(ctx, vm, err);
    if (r < 0) {
        paused_vm_free(vm);
        return r;
    }
    /* This host's own facts first: where the first stream came in. */
    vm->listen_addr = recorded_listen_addr(ctx->record);
    if (!vm->listen_addr)
        vm->listen_addr = xstrdup(ctx->opts->listen_addr);
    ctx->out->stream_tls = stream_has_tls(vm->qmp);
    *plan = (struct mp_step_plan){ .act = recover_act, .state = vm, .free_state = paused_vm_free };
    return 0;
}

/* The stream is resumed once QEMU says postcopy-active again (or completed:
 * the last pages may go at once). QEMU 7.2 stays postcopy-paused until the
 * new connection is up, then says postcopy-recover while both sides agree
 * on what is missing: paused after recover means the connection failed;
 * paused until the bound, that it never came up. */
static int
await_resumed(struct mp_step_ctx *ctx, struct qemu_qmp *qmp, struct mp_error **err)
{
    uint64_t started = mp_now_ms();
    uint64_t bound =
        ctx->opts->stall_timeout_ms ? ctx->opts->stall_timeout_ms : MP_DEFAULT_STALL_TIMEOUT_MS;
    bool recovering = false;
    for (;;) {
        struct qemu_migration_info info;
        int r = qemu_monitor_query_migrate(qmp, &info, err);
        if (r < 0)
            return r;
        if (strcmp(info.status, "postcopy-active") == 0 || strcmp(info.status, "completed") == 0) {
            mp_progress_note(ctx->progress, "postcopy-resumed", mp_now_ms() - started,
                             "the postcopy stream goes on over the new connection");
            return 0;
        }
        bool paused = strcmp(info.status, "postcopy-paused") == 0;
        if (strcmp(info.status, "postcopy-recover") == 0)
            recovering = true;
        else if (!paused || recovering)
            return mp_error_set(err, EIO,
                                "the postcopy stream is %s again%s%s: the new connection "
                                "failed; run migphase-status for the commands to retry",
                                info.status, *info.error_desc ? ": " : "", info.error_desc);
        if (mp_now_ms() - started > bound)
            return mp_error_set(err, ETIMEDOUT, "the postcopy stream is still %s after %llu ms",
                                info.status, (unsigned long long)bound);
        qemu_qmp_wait_event(qmp, "MIGRATION", RESUME_POLL_MS, NULL, NULL);
        if (mp_interrupted)
            return mp_error_set(err, EINTR, "interrupted by signal %d", (int)mp_interrupted);
    }
}

/* migrate with resume to the address of Prepare's new cookie. The source
 * stays paused whatever happens: it has been since the switch. */
static int
resume_act(struct mp_step_ctx *ctx, void *state, struct mp_error **err)
{
    struct paused_vm *vm = state;
    mp_journal_record_set_fact(ctx->record, MP_FACT_POSTCOPY, MP_FACT_POSTCOPY_STARTED);
    json_object *args = json_object_new_object();
    json_object_object_add(args, "uri", json_object_new_string(ctx->in->uri));
    json_object_object_add(args, "resume", json_object_new_boolean(true));
    int r = qemu_qmp_execute(vm->qmp, "migrate", args, NULL, err);
    if (r < 0)
        return mp_error_prefix(err, "resuming the postcopy stream to %s", ctx->in->uri);
    r = await_resumed(ctx, vm->qmp, err);
    if (r < 0)
        return r;
    ctx->out->stats.present = true;
    ctx->out->stats.convergence.present = true;
    ctx->out->stats.convergence.postcopy = true;
    return 0;
}

int
qemu_perform_resume(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err)
{
    if (!ctx->in->uri)
        return mp_error_input(err, EINVAL, "Prepare's cookie names no destination URI");
    struct paused_vm *vm = xzalloc(sizeof(*vm));
    int r = open_paused(ctx, vm, err);
    if (r < 0) {
        paused_vm_free(vm);
        return r;
    }
    *plan = (struct mp_step_plan){ .act = resume_act, .state = vm, .free_state = paused_vm_free };
    return 0;
}
