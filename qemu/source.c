/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QEMU driver's source side: Begin, Perform, Confirm. */
#include "config.h"

#include "argv.h"
#include "facts.h"
#include "log.h"
#include "monitor.h"
#include "proc.h"
#include "progress.h"
#include "qemu-internal.h"
#include "storage.h"
#include "tls.h"

#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define POLL_INTERVAL_MS 100
/* QEMU sends the STOP event before the migration's completion, but from its
 * migration thread: it can reach us a moment after the reply that said
 * "completed". Waited for only when it is not there yet. */
#define STOP_EVENT_WAIT_MS 20
/* How long the mirrors of a failed Perform may take to end before it says
 * so (exit 3), and how long Confirm --cancelled waits for them. */
#define PERFORM_RELEASE_MS 5000
#define CONFIRM_RELEASE_MS 60000

/* What Begin asks QEMU about the VM beyond its state, in the same round
 * trip. A query that fails leaves its answer NULL: each has a fallback
 * (query-block's: asked again alone, for its error). */
enum vm_query { Q_NAME, Q_UUID, Q_KVM, Q_MEMORY, Q_BLOCK, Q_COUNT };

static int
query_vm(struct qemu_qmp *qmp, char **status, struct qemu_migration_info *info,
         json_object *answers[Q_COUNT], struct mp_error **err)
{
    struct qemu_qmp_call calls[Q_COUNT] = {
        [Q_NAME] = { .command = "query-name" },
        [Q_UUID] = { .command = "query-uuid" },
        [Q_KVM] = { .command = "query-kvm" },
        [Q_MEMORY] = { .command = "query-memory-size-summary" },
        [Q_BLOCK] = { .command = "query-block" },
    };
    int r = qemu_monitor_state_and(qmp, status, info, calls, Q_COUNT, err);
    for (size_t i = 0; i < Q_COUNT; i++)
        answers[i] = steal_ptr(&calls[i].ret);
    qemu_qmp_calls_free(calls, Q_COUNT);
    return r;
}

static void
free_answers(json_object *answers[Q_COUNT])
{
    for (size_t i = 0; i < Q_COUNT; i++)
        json_object_put(steal_ptr(&answers[i]));
}

static char *
string_member(json_object *obj, const char *key)
{
    json_object *v = NULL;
    if (!obj || !json_object_object_get_ex(obj, key, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    return xstrdup(json_object_get_string(v));
}

/* The domain's name: --domain, else QEMU's -name, else the socket's file
 * name without its extension. */
static char *
domain_name(json_object *query_name, const struct mp_options *opts)
{
    if (opts->domain)
        return xstrdup(opts->domain);
    char *name = string_member(query_name, "name");
    if (name)
        return name;
    const char *base = strrchr(opts->qmp_socket, '/');
    char *s = xstrdup(base ? base + 1 : opts->qmp_socket);
    s[strcspn(s, ".")] = '\0';
    return s;
}

/* Refuse what cannot move: a VM neither running nor paused, a migration
 * blocker, a migration already under way. */
static int
check_movable(const char *status, const struct qemu_migration_info *info, struct mp_error **err)
{
    if (strcmp(status, "running") != 0 && strcmp(status, "paused") != 0)
        return mp_error_set(err, EINVAL, "the VM is %s; only a running or paused VM can move",
                            status);
    if (qemu_migration_active(info->status))
        return mp_error_set(err, EBUSY, "a migration of this VM is already under way (%s)",
                            info->status);
    if (info->blocked)
        return mp_error_set(err, EPERM, "QEMU blocks migration of this VM: %s",
                            *info->blocked_reasons ? info->blocked_reasons : "no reason given");
    return 0;
}

/* QEMU before 9.0 can lose writes of a TCG guest during migration when the
 * guest's RAM is a multiple of 256 KiB (a fast path of its dirty bitmap
 * sync; fixed by "physmem: Fix migration dirty bitmap coherency with TCG
 * memory access"). The test guest caught it here: say so before it bites. */
static void
warn_tcg_dirty_bitmap(const char *version, json_object *query_kvm, json_object *query_memory)
{
    unsigned major = 0;
    if (sscanf(version, "%u.", &major) != 1 || major >= 9)
        return;
    json_object *v = NULL;
    bool tcg = query_kvm && json_object_object_get_ex(query_kvm, "enabled", &v) &&
               !json_object_get_boolean(v);
    int64_t ram = 0;
    if (query_memory && json_object_object_get_ex(query_memory, "base-memory", &v))
        ram = json_object_get_int64(v);
    if (tcg && ram > 0 && ram % (256 * 1024) == 0)
        mp_warn("QEMU %s under TCG may lose guest writes while migrating a VM whose RAM is a "
                "multiple of 256 KiB (fixed in QEMU 9.0); give it e.g. -m %lldk",
                version, (long long)(ram / 1024 + 128));
}

/* Whether path is one of the host's emulators (glob patterns). */
static bool
allowed_emulator(const char *path, char *const *emulators)
{
    for (size_t i = 0; emulators && emulators[i]; i++)
        if (fnmatch(emulators[i], path, FNM_PATHNAME) == 0)
            return true;
    return false;
}

static bool
allowed_user(uid_t uid, char *const *users)
{
    for (size_t i = 0; users && users[i]; i++) {
        struct passwd *pw = getpwnam(users[i]);
        if (pw && pw->pw_uid == uid)
            return true;
    }
    return false;
}

/* Whoever answers on a QMP socket gets its command line into the cookie:
 * only a real VM process, an emulator binary the host allows run by a user
 * it allows, is described. */
static int
check_vm_process(const char *socket, pid_t pid, const struct mp_options *opts, char **emulator,
                 struct mp_error **err)
{
    char link[64], exe[PATH_MAX];
    snprintf(link, sizeof(link), "/proc/%ld/exe", (long)pid);
    ssize_t n = readlink(link, exe, sizeof(exe) - 1);
    struct stat st;
    snprintf(link, sizeof(link), "/proc/%ld", (long)pid);
    if (n < 0 || stat(link, &st) < 0)
        return mp_error_input(err, errno, "cannot tell what process %ld behind %s runs: %s",
                              (long)pid, socket, strerror(errno));
    exe[n] = '\0';
    /* A binary replaced by a package upgrade while the VM runs. */
    char *deleted = strstr(exe, " (deleted)");
    if (deleted && deleted[10] == '\0')
        *deleted = '\0';
    if (!allowed_emulator(exe, opts->emulators))
        return mp_error_input(err, EPERM,
                              "refusing to describe process %ld behind %s: it runs %s, which is "
                              "not one of the emulators this host allows (emulators =)",
                              (long)pid, socket, exe);
    if (!allowed_user(st.st_uid, opts->vm_users))
        return mp_error_input(err, EPERM,
                              "refusing to describe process %ld behind %s: it runs as uid %ld, "
                              "not as a user this host allows for VMs (vm-users =)",
                              (long)pid, socket, (long)st.st_uid);
    *emulator = xstrdup(exe);
    return 0;
}

/* The QEMU process behind the socket, and its command line. */
static int
capture_process(const char *socket, struct qemu_qmp *qmp, const struct mp_options *opts, pid_t *pid,
                char ***argv, struct mp_error **err)
{
    int r = qemu_qmp_peer_pid(qmp, pid);
    if (r < 0)
        return mp_error_set_errno(err, -r, "cannot tell which process serves %s", socket);
    _cleanup_free_ char *emulator = NULL;
    r = check_vm_process(socket, *pid, opts, &emulator, err);
    if (r < 0)
        return r;
    r = mp_proc_cmdline(*pid, argv, err);
    if (r < 0)
        return mp_error_prefix(err, "capturing the VM's command line");
    /* The emulator as the kernel knows it, which was checked, rather than
     * argv[0] as whoever started QEMU spelled it (a bare name, a link). */
    free((*argv)[0]);
    (*argv)[0] = steal_ptr(&emulator);
    return 0;
}

/* Begin only looks: its plan is all of it. */
int
qemu_begin(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err)
{
    (void)plan;
    const struct mp_options *opts = ctx->opts;
    _cleanup_qmp_ struct qemu_qmp *qmp = NULL;
    int r = qemu_monitor_open(opts->qmp_socket, opts, &qmp, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *status = NULL;
    struct qemu_migration_info info;
    json_object *answers[Q_COUNT];
    r = query_vm(qmp, &status, &info, answers, err);
    if (r == 0)
        r = check_movable(status, &info, err);
    pid_t pid = 0;
    _cleanup_strv_ char **argv = NULL;
    if (r == 0)
        r = capture_process(opts->qmp_socket, qmp, opts, &pid, &argv, err);
    if (r == 0)
        r = qemu_storage_begin(ctx, qmp, answers[Q_BLOCK], err);
    if (r < 0) {
        free_answers(answers);
        return r;
    }

    struct mp_cookie *out = ctx->out;
    out->domain_name = domain_name(answers[Q_NAME], opts);
    out->domain_uuid = string_member(answers[Q_UUID], "UUID");
    out->description_format = xstrdup("qemu-argv");
    out->description_args = steal_ptr(&argv);
    mp_cookie_set_data(out, "qemu-version", qemu_qmp_version(qmp));
    mp_cookie_set_data(out, "source-state", status);
    warn_tcg_dirty_bitmap(qemu_qmp_version(qmp), answers[Q_KVM], answers[Q_MEMORY]);
    free_answers(answers);
    qemu_record_process(ctx->record, opts->qmp_socket, pid);
    return 0;
}

/* What a Perform or Confirm plan found, for its act. */
struct source_vm {
    struct qemu_qmp *qmp;
    pid_t pid;
    bool was_running;   /* Perform: the VM ran before the migration touched it */
    bool stream_exists; /* Perform: a stream an earlier run started goes on */
    /* Perform: the migration's capabilities and parameters, asked with the
     * VM's state (QEMU_MONITOR_MIGRATION_QUERIES): a round trip less before
     * the stream starts; or asked ahead of the cookie (reported_ahead). */
    json_object *reported[2];
    bool reported_ahead;
    /* Perform: the VM's state asked ahead too (NULL: not asked), good while
     * the monitor stays silent (query_source). */
    char *status_ahead;
    struct qemu_migration_info info_ahead;
};

static void
source_vm_free(void *state)
{
    struct source_vm *vm = state;
    qemu_qmp_close(vm->qmp);
    for (size_t i = 0; i < ARRAY_SIZE(vm->reported); i++)
        json_object_put(vm->reported[i]);
    free(vm->status_ahead);
    free(vm);
}

static void
source_vm_freep(struct source_vm **vm)
{
    if (*vm)
        source_vm_free(*vm);
}
#define _cleanup_source_vm_ _cleanup_(source_vm_freep)

static void
hand_to_act(struct mp_step_plan *plan, mp_step_act act, struct source_vm *vm)
{
    plan->act = act;
    plan->state = vm;
    plan->free_state = source_vm_free;
}

/* The journal remembers which VM this host's role is about. */
static int
open_recorded_vm(struct mp_step_ctx *ctx, struct qemu_qmp **qmp, pid_t *pid, struct mp_error **err)
{
    const char *socket = mp_journal_record_get_fact(ctx->record, QEMU_FACT_QMP);
    *pid = qemu_recorded_pid(ctx->record);
    if (!socket)
        return mp_error_set(err, ENOENT, "the journal does not say where the VM's monitor is");
    return qemu_monitor_open(socket, ctx->opts, qmp, err);
}

static void
fill_sample(struct mp_progress_sample *s, const struct qemu_migration_info *info,
            uint64_t started_ms)
{
    *s = (struct mp_progress_sample){
        .status = info->status,
        .elapsed_ms = mp_now_ms() - started_ms,
        .total_bytes = info->total_bytes,
        .transferred_bytes = info->transferred_bytes,
        .remaining_bytes = info->remaining_bytes,
        .iterations = info->iterations,
        .dirty_pages_rate = info->dirty_pages_rate,
        .mbps = info->mbps,
    };
}

static void
record_stats(struct mp_cookie *out, const struct qemu_migration_info *info)
{
    struct mp_convergence convergence = out->stats.convergence;
    out->stats = (struct mp_stats){
        .convergence = convergence,
        .present = true,
        .total_ms = info->total_ms,
        .downtime_ms = info->downtime_ms,
        .setup_ms = info->setup_ms,
        .transferred_bytes = info->transferred_bytes,
        .total_bytes = info->total_bytes,
        .iterations = info->iterations,
        .mbps_x1000 = info->mbps * 1000,
    };
}

/* The source is paused before QEMU sends the devices' state: the disks'
 * mirrors complete now, in sync with the paused guest, and only then may
 * the migration finish. Completing them earlier would lose the writes the
 * guest made in between. */
static int
switch_over(struct mp_step_ctx *ctx, struct qemu_qmp *qmp, struct mp_error **err)
{
    int r = qemu_storage_complete(ctx->record, qmp, err);
    if (r < 0)
        return r;
    json_object *args = json_object_new_object();
    json_object_object_add(args, "state", json_object_new_string("pre-switchover"));
    r = qemu_qmp_execute(qmp, "migrate-continue", args, NULL, err);
    return r < 0 ? mp_error_prefix(err, "letting the migration finish") : 0;
}

/* A late reply to query-migrate: said once per QMP timeout, on the
 * terminal and as a progress event, so that the operator sees why the
 * numbers stand still. */
static void
monitor_slow(void *data, uint64_t waited_ms)
{
    struct mp_step_ctx *ctx = data;
    mp_info("the source's monitor is slow: no reply to query-migrate for %llu ms; "
            "still following the stream",
            (unsigned long long)waited_ms);
    mp_progress_note(ctx->progress, "monitor-slow", waited_ms, "no reply to query-migrate yet");
}

/* The monitor stayed silent: whether the stream completed, failed or runs
 * on, nobody here can tell, so nothing is undone behind its back. */
static int
monitor_lost(struct mp_step_ctx *ctx, struct mp_error **err)
{
    _cleanup_free_ char *why = xstrdup(*err ? (*err)->message : "no reply");
    mp_error_free(steal_ptr(err));
    mp_error_set(err, ETIMEDOUT,
                 "the stream's fate is unknown: the source's %s; once it answers, "
                 "'migphase-status --state-dir %s' says what to run (migphase-confirm "
                 "--cancelled unless the stream completed)",
                 why, ctx->opts->state_dir);
    return mp_error_left_state(err);
}

/* query-migrate, patient with a slow monitor: a reply later than the QMP
 * timeout is waited for as long as the monitor said something within the
 * stall timeout, which already bounds a stream that moves nothing. */
static int
query_stream(struct mp_step_ctx *ctx, struct qemu_qmp *qmp, struct qemu_migration_info *info,
             struct mp_error **err)
{
    const struct mp_options *o = ctx->opts;
    struct qemu_patience patience = {
        .first_ms = o->qmp_timeout_ms,
        .silence_ms =
            o->stall_timeout_ms > o->qmp_timeout_ms ? o->stall_timeout_ms : o->qmp_timeout_ms,
        .slow = monitor_slow,
        .data = ctx,
    };
    int r = qemu_monitor_query_migrate_patient(qmp, &patience, info, err);
    if (r == -ETIMEDOUT)
        return monitor_lost(ctx, err);
    return r;
}

/* --converge auto: what Perform decided so far. */
struct steering {
    bool on;
    bool throttle_held;  /* the guest's throttle waits for the second step */
    uint64_t limit_ms;   /* the downtime limit QEMU has now */
    uint64_t ceiling_ms; /* and the most it may get */
    uint64_t last_pass;  /* the dirty-sync pass judged last */
    uint64_t last_remaining;
    uint64_t started_ms;
    bool postcopy_allowed;  /* --postcopy: the last step may switch */
    bool postcopy_asked;    /* migrate-start-postcopy was sent: never cancel now */
    uint64_t throttle_pass; /* the pass the throttle was released at; 0: not yet */
};

static void
steering_init(struct steering *st, const struct mp_step_ctx *ctx, uint64_t started_ms)
{
    const struct mp_params *p = &ctx->in->params;
    *st = (struct steering){
        .on = p->live && p->tuning.converge == MP_CONVERGE_AUTO,
        .throttle_held = qemu_monitor_throttle_held(p),
        .limit_ms = p->downtime_ms ? p->downtime_ms : 300,
        .ceiling_ms = ctx->opts->downtime_ceiling_ms,
        .started_ms = started_ms,
        .postcopy_allowed = p->live && p->tuning.postcopy,
    };
    ctx->out->stats.convergence =
        (struct mp_convergence){ .present = st->on, .downtime_limit_ms = st->limit_ms };
}

/* Say a decision on the terminal, as a progress event and in the cookie. */
static void
decided(struct mp_step_ctx *ctx, const struct steering *st, const char *event, const char *what)
{
    mp_info("%s", what);
    mp_progress_note(ctx->progress, event, mp_now_ms() - st->started_ms, what);
    ctx->out->stats.convergence.escalations++;
}

/* The time QEMU would need to send what remains in one go, at the rate the
 * stream moves now; 0 when it cannot tell yet. */
static uint64_t
switchover_ms(const struct qemu_migration_info *info)
{
    uint64_t bytes_per_ms = info->mbps * 125; /* Mbit/s: 10^6 / 8 / 1000 */
    return bytes_per_ms ? info->remaining_bytes / bytes_per_ms : 0;
}

/* migrate-set-parameters during the stream; a refusal is only said. */
static bool
set_parameters(struct qemu_qmp *qmp, json_object *args, const char *what)
{
    struct mp_error *e = NULL;
    if (qemu_qmp_execute(qmp, "migrate-set-parameters", args, NULL, &e) == 0)
        return true;
    mp_warn("could not %s: %s", what, e->message);
    mp_error_free(e);
    return false;
}

/* The second step, once the downtime limit is at its ceiling: release the
 * guest's throttle, held at 1% since the stream started. QEMU then throttles
 * from 1% up by the step each pass while the guest still outruns the stream,
 * to 99% at most. */
static void
release_throttle(struct mp_step_ctx *ctx, struct qemu_qmp *qmp,
                 const struct qemu_migration_info *info, struct steering *st)
{
    const struct mp_tuning *t = &ctx->in->params.tuning;
    uint64_t initial = t->throttle_initial ? t->throttle_initial : MP_TUNING_THROTTLE_INITIAL;
    uint64_t step = t->throttle_step ? t->throttle_step : MP_TUNING_THROTTLE_STEP;
    json_object *args = json_object_new_object();
    json_object_object_add(args, "cpu-throttle-initial", json_object_new_int64((int64_t)initial));
    json_object_object_add(args, "cpu-throttle-increment", json_object_new_int64((int64_t)step));
    json_object_object_add(args, "max-cpu-throttle", json_object_new_int64(99));
    st->throttle_held = false;
    st->throttle_pass = info->iterations;
    if (!set_parameters(qmp, args, "release the guest's throttle"))
        return;
    _cleanup_free_ char *what = xasprintf(
        "still not converging at the downtime ceiling (pass %llu, %.1f MiB left): throttling "
        "the guest, %llu%% more each pass up to 99%%",
        (unsigned long long)info->iterations, (double)info->remaining_bytes / (1 << 20),
        (unsigned long long)step);
    ctx->out->stats.convergence.throttled = true;
    decided(ctx, st, "converge", what);
}

/* Switch the stream to postcopy: the destination runs on and fetches the
 * pages it lacks on demand, so the stream ends whatever the guest dirties.
 * From here the source must never run again: the journal fact and the
 * cookie's flag say so from the command on (committed with the step's end;
 * until then QEMU's own postcopy-* status does, which Confirm checks). */
static void
start_postcopy(struct mp_step_ctx *ctx, struct qemu_qmp *qmp, struct steering *st, const char *what)
{
    struct mp_error *e = NULL;
    st->postcopy_asked = true;
    mp_journal_record_set_fact(ctx->record, MP_FACT_POSTCOPY, MP_FACT_POSTCOPY_STARTED);
    ctx->out->stats.convergence.postcopy = true;
    ctx->out->stats.convergence.present = true;
    if (qemu_qmp_execute(qmp, "migrate-start-postcopy", NULL, NULL, &e) == 0) {
        decided(ctx, st, "postcopy", what);
        return;
    }
    /* QEMU refused at once (it only flags the switch for its migration
     * thread): the stream goes on in pre-copy, bounded as before. */
    mp_warn("could not switch to postcopy: %s", e->message);
    mp_error_free(e);
    st->postcopy_asked = st->postcopy_allowed = false;
    mp_journal_record_set_fact(ctx->record, MP_FACT_POSTCOPY, NULL);
    ctx->out->stats.convergence.postcopy = false;
}

/* --postcopy-after-precopy: once the first pass is sent (QEMU counts the
 * dirty-sync that starts the second), the rest moves by postcopy. */
static void
postcopy_after_first_pass(struct mp_step_ctx *ctx, struct qemu_qmp *qmp,
                          const struct qemu_migration_info *info, struct steering *st)
{
    if (st->postcopy_asked || !ctx->in->params.tuning.postcopy_after_precopy ||
        !st->postcopy_allowed || info->iterations < 2 || strcmp(info->status, "active") != 0)
        return;
    _cleanup_free_ char *what =
        xasprintf("the first pass is sent (%.1f MiB left): switching to postcopy, as asked",
                  (double)info->remaining_bytes / (1 << 20));
    start_postcopy(ctx, qmp, st, what);
}

/* The last resort before the time bound cancels: with three quarters of
 * it gone, a stream still in pre-copy switches when postcopy is allowed. */
static void
postcopy_before_timeout(struct mp_step_ctx *ctx, struct qemu_qmp *qmp,
                        const struct qemu_migration_info *info, struct steering *st,
                        uint64_t elapsed_ms, uint64_t timeout_ms)
{
    if (!st->on || st->postcopy_asked || !st->postcopy_allowed || !timeout_ms ||
        elapsed_ms < timeout_ms / 4 * 3 || strcmp(info->status, "active") != 0)
        return;
    _cleanup_free_ char *what = xasprintf(
        "still not converging with %llu of %llu s gone (%.1f MiB left): switching to postcopy",
        (unsigned long long)(elapsed_ms / 1000), (unsigned long long)(timeout_ms / 1000),
        (double)info->remaining_bytes / (1 << 20));
    start_postcopy(ctx, qmp, st, what);
}

/* The third step, at the ceiling and with the guest's throttle released
 * (or not held back: --auto-converge) two passes ago without effect. */
static bool
postcopy_last_step(struct mp_step_ctx *ctx, struct qemu_qmp *qmp,
                   const struct qemu_migration_info *info, struct steering *st)
{
    if (!st->postcopy_allowed || st->postcopy_asked || st->throttle_held)
        return false;
    if (!st->throttle_pass)
        st->throttle_pass = info->iterations;
    if (info->iterations < st->throttle_pass + 2)
        return false;
    _cleanup_free_ char *what = xasprintf(
        "still not converging with the guest throttled (pass %llu, %.1f MiB left): switching "
        "to postcopy",
        (unsigned long long)info->iterations, (double)info->remaining_bytes / (1 << 20));
    start_postcopy(ctx, qmp, st, what);
    return true;
}

/* Once per dirty-sync pass after the first: a stream whose remainder did not
 * shrink by a tenth since the pass before and would take longer than the
 * downtime limit to send does not converge. The remedies, in order: a longer
 * pause at switch-over, doubled each pass up to the ceiling, which leaves the
 * guest's speed alone; then a throttled guest; then, when allowed, postcopy. */
static void
steer(struct mp_step_ctx *ctx, struct qemu_qmp *qmp, const struct qemu_migration_info *info,
      struct steering *st)
{
    /* Once postcopy was asked for, the stream switches at QEMU's next
     * chance: a higher downtime limit now would let pre-copy end it instead
     * (with --postcopy-after-precopy, 14 runs in 16 did). */
    if (!st->on || st->postcopy_asked || info->iterations < 2 ||
        info->iterations == st->last_pass || strcmp(info->status, "active") != 0)
        return;
    st->last_pass = info->iterations;
    /* The first pass judged has nothing to be compared with: what remains
     * after the bulk copy is one pass's dirt, which the next passes may
     * well shrink (a 1 GiB guest here: 261 MiB left at pass 2, converged at
     * pass 4 with a 32 ms pause; escalating at pass 2 made it 259 ms). */
    bool first = st->last_remaining == 0;
    bool shrinking = info->remaining_bytes * 10 < st->last_remaining * 9;
    st->last_remaining = info->remaining_bytes;
    uint64_t needed = switchover_ms(info);
    if (first || shrinking || needed <= st->limit_ms)
        return;
    if (st->limit_ms >= st->ceiling_ms) {
        if (st->throttle_held)
            release_throttle(ctx, qmp, info, st);
        else
            postcopy_last_step(ctx, qmp, info, st);
        return;
    }
    uint64_t next = st->limit_ms * 2 > needed + needed / 4 ? st->limit_ms * 2 : needed + needed / 4;
    if (next > st->ceiling_ms)
        next = st->ceiling_ms;
    json_object *args = json_object_new_object();
    json_object_object_add(args, "downtime-limit", json_object_new_int64((int64_t)next));
    if (!set_parameters(qmp, args, "raise the downtime limit"))
        return;
    _cleanup_free_ char *what =
        xasprintf("not converging (pass %llu, %.1f MiB left, ~%llu ms to send at %llu Mbit/s): "
                  "downtime limit %llu -> %llu ms%s",
                  (unsigned long long)info->iterations, (double)info->remaining_bytes / (1 << 20),
                  (unsigned long long)needed, (unsigned long long)info->mbps,
                  (unsigned long long)st->limit_ms, (unsigned long long)next,
                  next == st->ceiling_ms ? " (the ceiling)" : "");
    st->limit_ms = next;
    ctx->out->stats.convergence.downtime_limit_ms = next;
    decided(ctx, st, "converge", what);
}

/* QEMU announces completion a moment before it fills in the totals: ask
 * again every millisecond (each one the migration waits) until they are
 * there, for 100 ms at most. The pause drops only MIGRATION events: the
 * STOP event must stay queued for the guest's pause. */
static int
await_totals(struct qemu_qmp *qmp, struct qemu_migration_info *info, struct mp_error **err)
{
    for (int i = 0; i < 100 && info->total_ms == 0; i++) {
        qemu_qmp_wait_event(qmp, "MIGRATION", 1, NULL, NULL);
        int r = qemu_monitor_query_migrate(qmp, info, err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Under postcopy the destination holds the newest pages: Perform's part
 * ends once QEMU says postcopy-active (Finish lets the destination run,
 * Confirm waits for the rest). A paused postcopy is no failure to undo:
 * it waits for its recovery over a new connection. */
static int
postcopy_reached(struct mp_step_ctx *ctx, const struct qemu_migration_info *info,
                 struct mp_error **err)
{
    ctx->out->stats.convergence.postcopy = true;
    ctx->out->stats.convergence.present = true;
    mp_journal_record_set_fact(ctx->record, MP_FACT_POSTCOPY, MP_FACT_POSTCOPY_STARTED);
    if (strcmp(info->status, "postcopy-active") == 0)
        return 0;
    mp_error_set(err, EPIPE,
                 "the postcopy stream is %s: the source must not run again; recover it with "
                 "migphase-prepare --resume on the destination, then migphase-perform --resume "
                 "here ('migphase-status --state-dir %s' prints both)",
                 info->status, ctx->opts->state_dir);
    return mp_error_left_state(err);
}

/* Whether the stream is past the time bound or stalled: -ETIMEDOUT with
 * the reason. Never once postcopy is asked for: cancelling then would lose
 * the pages the destination already runs on. */
static int
check_bounds(struct mp_step_ctx *ctx, const struct steering *st,
             const struct qemu_migration_info *info, uint64_t now, uint64_t timeout_ms,
             uint64_t last_progress_ms, struct mp_error **err)
{
    if (st->postcopy_asked)
        return 0;
    if (timeout_ms && now - st->started_ms > timeout_ms) {
        ctx->out->stats.convergence.timed_out = true;
        ctx->out->stats.convergence.present = true;
        mp_progress_note(ctx->progress, "timeout", now - st->started_ms,
                         "the time bound is reached: cancelling the stream, resuming the source");
        return mp_error_set(err, ETIMEDOUT, "the stream did not complete within %llu s",
                            (unsigned long long)ctx->out->params.timeout_s);
    }
    /* A cut network does not fail a TCP stream for many minutes: a stream
     * that moves no byte for the stall timeout has failed. */
    if (ctx->opts->stall_timeout_ms && now - last_progress_ms > ctx->opts->stall_timeout_ms &&
        strcmp(info->status, "setup") != 0)
        return mp_error_set(err, ETIMEDOUT, "the stream sent nothing for %llu ms",
                            (unsigned long long)ctx->opts->stall_timeout_ms);
    return 0;
}

/* Follow the stream until QEMU says it ended (or, under postcopy, handed
 * the VM over), drawing progress. Events wake us early; query-migrate is
 * the truth. */
static int
follow_stream(struct mp_step_ctx *ctx, struct qemu_qmp *qmp, struct qemu_migration_info *info,
              struct mp_error **err)
{
    uint64_t started = mp_now_ms();
    uint64_t timeout_ms = ctx->out->params.timeout_s * 1000;
    uint64_t last_progress_ms = started, last_transferred = 0;
    struct steering steering;
    steering_init(&steering, ctx, started);
    bool switched = false;
    for (;;) {
        int r = query_stream(ctx, qmp, info, err);
        if (r < 0)
            return r;
        struct mp_progress_sample sample;
        fill_sample(&sample, info, started);
        if (ctx->progress)
            qemu_storage_progress(ctx->record, qmp, &sample);
        if (strcmp(info->status, "completed") == 0) {
            r = await_totals(qmp, info, err);
            if (r < 0)
                return r;
            fill_sample(&sample, info, started);
            mp_progress_finish(ctx->progress, &sample);
            return 0;
        }
        if (qemu_migration_postcopy(info->status)) {
            mp_progress_finish(ctx->progress, &sample);
            return postcopy_reached(ctx, info, err);
        }
        /* QEMU leaves "pre-switchover" only once its migration thread wakes
         * after migrate-continue: a query in between still says it, and the
         * mirrors, completed already, must not be completed twice. */
        if (strcmp(info->status, "pre-switchover") == 0 && !switched) {
            r = switch_over(ctx, qmp, err);
            if (r < 0)
                return r;
            switched = true;
            continue;
        }
        if (!qemu_migration_active(info->status)) {
            mp_progress_finish(ctx->progress, &sample);
            return mp_error_set(err, EIO, "the migration stream %s%s%s", info->status,
                                *info->error_desc ? ": " : "", info->error_desc);
        }
        mp_progress_update(ctx->progress, &sample);
        uint64_t now = mp_now_ms();
        postcopy_after_first_pass(ctx, qmp, info, &steering);
        steer(ctx, qmp, info, &steering);
        postcopy_before_timeout(ctx, qmp, info, &steering, now - started, timeout_ms);
        if (info->transferred_bytes != last_transferred || strcmp(info->status, "setup") == 0) {
            last_transferred = info->transferred_bytes;
            last_progress_ms = now;
        }
        r = check_bounds(ctx, &steering, info, now, timeout_ms, last_progress_ms, err);
        if (r < 0)
            return r;
        json_object *event = NULL;
        r = qemu_qmp_wait_event(qmp, "MIGRATION", POLL_INTERVAL_MS, &event, NULL);
        json_object_put(event);
        if (r == -EINTR || mp_interrupted)
            return mp_error_set(err, EINTR, "interrupted by signal %d", (int)mp_interrupted);
        if (r < 0 && r != -ETIMEDOUT)
            return mp_error_set(err, -r, "lost the source's monitor during the stream");
    }
}

/* Undo a stream that did not complete: cancel it, wait for QEMU to agree,
 * resume the VM if it ran before. A resume that fails leaves state behind. */
static int
roll_back_stream(struct qemu_qmp *qmp, bool was_running, struct mp_error **err)
{
    struct mp_error *e = NULL;
    int r = qemu_qmp_execute(qmp, "migrate_cancel", NULL, NULL, &e);
    mp_error_free(steal_ptr(&e));
    uint64_t deadline = mp_now_ms() + 10000;
    struct qemu_migration_info info;
    while (r == 0 && qemu_monitor_query_migrate(qmp, &info, NULL) == 0 &&
           qemu_migration_active(info.status) && mp_now_ms() < deadline)
        qemu_qmp_wait_event(qmp, "MIGRATION", POLL_INTERVAL_MS, NULL, NULL);
    _cleanup_free_ char *status = NULL;
    if (qemu_monitor_status(qmp, &status, &e) < 0) {
        mp_error_prefix(&e, "after cancelling the stream");
        *err = e;
        return mp_error_left_state(err);
    }
    if (!was_running || strcmp(status, "running") == 0)
        return 0;
    if (qemu_qmp_execute(qmp, "cont", NULL, NULL, &e) < 0) {
        mp_error_prefix(&e, "resuming the source after a failed stream");
        *err = e;
        return mp_error_left_state(err);
    }
    return 0;
}

/* The source goes on with its own images: no mirror, no NBD client of
 * ours. Mirrors that do not end within wait_ms (an NBD connection that
 * hangs on a cut link) leave state behind: Confirm --cancelled ends them. */
static int
release_storage(const struct mp_journal_record *record, struct qemu_qmp *qmp, uint64_t wait_ms,
                struct mp_error **err)
{
    int r = qemu_storage_release(record, qmp, wait_ms, err);
    return r < 0 ? mp_error_left_state(err) : 0;
}

/* The user the VM process runs as: QEMU reads its TLS files as that user. */
static int
vm_owner(pid_t pid, uid_t *uid, gid_t *gid, struct mp_error **err)
{
    char path[32];
    snprintf(path, sizeof(path), "/proc/%ld", (long)pid);
    struct stat st;
    if (pid <= 0 || stat(path, &st) < 0)
        return mp_error_set_errno(err, pid > 0 ? errno : ESRCH,
                                  "cannot tell which user the VM (pid %ld) runs as", (long)pid);
    *uid = st.st_uid;
    *gid = st.st_gid;
    return 0;
}

/* The source's side of a TLS stream: its client credentials in the VM,
 * and the name the destination's certificate must carry. Prepare's signed
 * cookie said TLS; the engine checked this host can. */
static int
setup_tls(struct mp_step_ctx *ctx, const struct source_vm *vm, struct qemu_tls_params *tls,
          struct mp_error **err)
{
    const char *peer = ctx->in->destination.hostname;
    if (!qemu_tls_valid_host(peer))
        return mp_error_input(err, EINVAL,
                              "the destination's host name '%s' cannot be checked "
                              "against its certificate",
                              peer ? peer : "");
    uid_t uid = 0;
    gid_t gid = 0;
    char *staged = NULL;
    int r = vm_owner(vm->pid, &uid, &gid, err);
    if (r == 0)
        r = qemu_tls_stage(ctx->opts->pki_dir, false, uid, gid, &staged, err);
    if (r == 0)
        r = qemu_tls_add_client(vm->qmp, staged, err);
    /* QEMU holds the credentials once loaded: the copies go at once. */
    qemu_tls_unstage(staged);
    if (r < 0)
        return r;
    *tls = (struct qemu_tls_params){ .creds = QEMU_TLS_CREDS_ID, .hostname = peer };
    return 0;
}

static int
start_stream(struct mp_step_ctx *ctx, const struct source_vm *vm, struct mp_error **err)
{
    struct qemu_qmp *qmp = vm->qmp;
    struct qemu_tls_params tls = { 0 };
    int r = ctx->in->stream_tls ? setup_tls(ctx, vm, &tls, err) : 0;
    /* The disks first, in sync before any memory moves. */
    if (r == 0)
        r = qemu_storage_mirror(ctx, qmp, tls.creds, tls.hostname, err);
    if (r == 0)
        r = qemu_monitor_setup_migration(qmp, QEMU_OUTGOING, &ctx->in->params, &tls, vm->reported,
                                         NULL, err);
    if (r < 0)
        return r;
    if (!ctx->in->params.live) {
        r = qemu_qmp_execute(qmp, "stop", NULL, NULL, err);
        if (r < 0)
            return mp_error_prefix(err, "pausing the VM for an offline migration");
    }
    if (!ctx->in->uri)
        return mp_error_input(err, EINVAL, "Prepare's cookie names no destination URI");
    json_object *args = json_object_new_object();
    json_object_object_add(args, "uri", json_object_new_string(ctx->in->uri));
    r = qemu_qmp_execute(qmp, "migrate", args, NULL, err);
    if (r < 0)
        return mp_error_prefix(err, "starting the stream to %s", ctx->in->uri);
    /* Refused, QEMU's own throttle (from 20%) holds should the guest
     * outrun the stream: the migration goes on. */
    json_object *throttle = qemu_monitor_throttle_args(vm->reported, &ctx->in->params);
    if (throttle)
        (void)set_parameters(qmp, throttle, "set the guest's throttle");
    return 0;
}

/* Send the stream (or follow the one an earlier run started) and roll it
 * back if it does not complete. */
static int
perform_act(struct mp_step_ctx *ctx, void *state, struct mp_error **err)
{
    struct source_vm *vm = state;
    int r = 0;
    if (vm->stream_exists)
        mp_info("following the stream a previous run started");
    else
        r = start_stream(ctx, vm, err);
    /* Finish and Confirm may start now: beside the stream they cost the
     * guest nothing, beside the monitor's setup they delayed the stream. */
    if (r == 0)
        mp_notify(MP_NOTIFY_ACTING);
    struct qemu_migration_info info;
    if (r == 0)
        r = follow_stream(ctx, vm->qmp, &info, err);
    if (r == 0) {
        /* Concluded in sync at the switch-over: this only tidies up. */
        (void)qemu_storage_release(ctx->record, vm->qmp, PERFORM_RELEASE_MS, NULL);
        record_stats(ctx->out, &info);
        /* The moment the guest stopped, for its pause end to end: QEMU
         * queued the event while we followed the stream. */
        ctx->out->timing.stop_us = qemu_monitor_event_time_us(vm->qmp, "STOP", STOP_EVENT_WAIT_MS);
        return 0;
    }
    /* A monitor gone silent cannot cancel or resume anything either. */
    if ((*err)->kind == MP_ERR_STATE)
        return r;
    /* After the switch to postcopy the destination holds pages the source
     * no longer has: cancelling would lose the guest. */
    if (ctx->out->stats.convergence.postcopy) {
        mp_error_prefix(err, "after the switch to postcopy (the source must not run again; see "
                             "migphase-status)");
        return mp_error_left_state(err);
    }
    struct mp_error *rollback_err = NULL;
    int rb = roll_back_stream(vm->qmp, vm->was_running, &rollback_err);
    if (rb == 0)
        rb = release_storage(ctx->record, vm->qmp, PERFORM_RELEASE_MS, &rollback_err);
    if (rb < 0) {
        mp_error_prefix(err, "%s; and then", rollback_err->message);
        mp_error_free(rollback_err);
        return mp_error_left_state(err);
    }
    return r;
}

/* Keep the answers of QEMU_MONITOR_MIGRATION_QUERIES (NULL where one
 * failed: the setup then sets everything) and free the calls. */
static void
keep_settings(struct source_vm *vm, struct qemu_qmp_call queries[2])
{
    for (size_t i = 0; i < ARRAY_SIZE(vm->reported); i++)
        vm->reported[i] = steal_ptr(&queries[i].ret);
    qemu_qmp_calls_free(queries, ARRAY_SIZE(vm->reported));
}

/* Perform ahead of Prepare's cookie (the driver's perform_ahead), while
 * the destination VM starts: the VM's monitor opened and the migration's
 * capabilities and parameters asked, which only this connection could
 * change until the stream starts (QEMU takes one client per monitor), and
 * the VM's state, which changes by itself: the plan takes it only if QEMU
 * said nothing since (every change of the run state comes with its event),
 * and asks again otherwise. QEMU reads a command a byte per turn of its
 * main loop: the connection's set-up and these 201 bytes (about 2 ms, and a
 * round trip) are no longer on the way to the stream. A monitor that fails
 * here is dropped: the plan opens its own and says what is wrong. */
void
qemu_perform_ahead(struct mp_step_ctx *ctx, int input_fd)
{
    (void)input_fd;
    if (ctx->opts->resume)
        return;
    struct source_vm *vm = xzalloc(sizeof(*vm));
    if (open_recorded_vm(ctx, &vm->qmp, &vm->pid, NULL) < 0) {
        source_vm_free(vm);
        return;
    }
    struct qemu_qmp_call queries[] = { QEMU_MONITOR_MIGRATION_QUERIES };
    (void)qemu_monitor_state_and(vm->qmp, &vm->status_ahead, &vm->info_ahead, queries,
                                 ARRAY_SIZE(queries), NULL);
    keep_settings(vm, queries);
    vm->reported_ahead = true;
    mp_debug("the VM's monitor is open, its state and migration settings asked, ahead of the "
             "cookie");
    ctx->ahead = vm;
    ctx->free_ahead = source_vm_free;
}

/* The VM's state, with its migration settings unless asked ahead. */
static int
query_source(struct source_vm *vm, char **status, struct qemu_migration_info *info,
             struct mp_error **err)
{
    if (vm->status_ahead && qemu_qmp_silent(vm->qmp)) {
        mp_debug("the VM's state as asked ahead: its monitor said nothing since");
        *status = steal_ptr(&vm->status_ahead);
        *info = vm->info_ahead;
        return 0;
    }
    if (vm->reported_ahead)
        return qemu_monitor_state(vm->qmp, status, info, err);
    struct qemu_qmp_call queries[] = { QEMU_MONITOR_MIGRATION_QUERIES };
    int r = qemu_monitor_state_and(vm->qmp, status, info, queries, ARRAY_SIZE(queries), err);
    keep_settings(vm, queries);
    return r;
}

/* Whether the VM ran before the migration, recorded before any stream
 * starts, so that a rollback or Confirm --cancelled knows whether to resume. */
int
qemu_perform(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err)
{
    if (ctx->opts->resume)
        return qemu_perform_resume(ctx, plan, err);
    _cleanup_source_vm_ struct source_vm *vm = steal_ptr(&ctx->ahead);
    int r = 0;
    if (!vm) {
        vm = xzalloc(sizeof(*vm));
        r = open_recorded_vm(ctx, &vm->qmp, &vm->pid, err);
    }
    if (r < 0)
        return r;
    _cleanup_free_ char *status = NULL;
    struct qemu_migration_info info;
    r = query_source(vm, &status, &info, err);
    if (r < 0)
        return r;
    /* A re-run after an interruption keeps what the first run saw: the VM
     * may have been paused by it since. */
    const char *recorded = mp_journal_record_get_fact(ctx->record, QEMU_FACT_WAS_RUNNING);
    vm->was_running =
        recorded ? strcmp(recorded, MP_FACT_YES) == 0 : strcmp(status, "running") == 0;
    mp_journal_record_set_fact(ctx->record, QEMU_FACT_WAS_RUNNING,
                               vm->was_running ? MP_FACT_YES : MP_FACT_NO);
    /* QEMU goes on with a stream when the helper that started it dies: a
     * re-run follows that stream (or takes its result) instead of a new one. */
    vm->stream_exists =
        qemu_migration_active(info.status) ||
        (strcmp(info.status, "completed") == 0 && strcmp(status, "postmigrate") == 0);
    if (!vm->stream_exists) {
        r = qemu_storage_plan_mirrors(ctx, vm->qmp, err);
        if (r < 0)
            return r;
    }
    hand_to_act(plan, perform_act, steal_ptr(&vm));
    plan->act_notifies = true;
    return 0;
}

/* The migration was undone: the source runs again, unless it was paused
 * before the migration began. */
static int
resume_source(struct mp_step_ctx *ctx, struct qemu_qmp *qmp, struct mp_error **err)
{
    _cleanup_free_ char *status = NULL;
    struct qemu_migration_info info;
    int r = qemu_monitor_state(qmp, &status, &info, err);
    if (r < 0)
        return r;
    /* Perform records whether the VM ran before it touched anything; without
     * that record Perform never ran and there is nothing of ours to undo. */
    const char *was_running = mp_journal_record_get_fact(ctx->record, QEMU_FACT_WAS_RUNNING);
    if (!was_running)
        return 0;
    /* A stream left running by an interrupted Perform: the destination has
     * not resumed (Finish needs Perform's cookie), so cancel it here. */
    if (qemu_migration_active(info.status) || strcmp(status, "running") != 0)
        r = roll_back_stream(qmp, strcmp(was_running, MP_FACT_YES) == 0, err);
    /* A Perform killed during its mirrors left them with the VM running. */
    if (r == 0)
        r = release_storage(ctx->record, qmp, CONFIRM_RELEASE_MS, err);
    return r;
}

/* Quit the source, or resume it when the migration was undone. */
static int
confirm_act(struct mp_step_ctx *ctx, void *state, struct mp_error **err)
{
    struct source_vm *vm = state;
    if (ctx->cancel)
        return resume_source(ctx, vm->qmp, err);
    int r = qemu_monitor_quit(vm->qmp, vm->pid, ctx->opts, err);
    if (r < 0) {
        mp_error_prefix(err, "stopping the source VM");
        return mp_error_left_state(err);
    }
    return 0;
}

/* How long Confirm waits on a monitor that says nothing under postcopy: the
 * stall timeout (0: for ever). QEMU's migration thread sends the last pages
 * holding the big lock, so a destination that reads nothing leaves the
 * source's monitor silent, and that silence is the stall. */
static uint64_t
confirm_patience_ms(const struct mp_step_ctx *ctx)
{
    uint64_t stall_ms = ctx->opts->stall_timeout_ms;
    return stall_ms ? stall_ms : UINT64_MAX;
}

/* query-migrate for Confirm under postcopy: a silent monitor is a stalled
 * stream (exit 3, the source paused, Confirm to run again). */
static int
query_postcopy(struct mp_step_ctx *ctx, struct qemu_qmp *qmp, struct qemu_migration_info *info,
               struct mp_error **err)
{
    uint64_t silence_ms = confirm_patience_ms(ctx);
    struct qemu_patience patience = {
        .first_ms = silence_ms < 1000 ? silence_ms : 1000,
        .silence_ms = silence_ms,
    };
    int r = qemu_monitor_query_migrate_patient(qmp, &patience, info, err);
    if (r != -ETIMEDOUT)
        return r;
    mp_error_free(steal_ptr(err));
    mp_error_set(err, ETIMEDOUT,
                 "the postcopy stream sent nothing for %llu ms as far as the source's QEMU "
                 "could say (its monitor stayed silent): the source stays paused (see "
                 "migphase-status)",
                 (unsigned long long)silence_ms);
    return mp_error_left_state(err);
}

/* Whether Perform recorded a switch to postcopy. */
static bool
recorded_postcopy(const struct mp_step_ctx *ctx)
{
    return mp_streq0(mp_journal_record_get_fact(ctx->record, MP_FACT_POSTCOPY),
                     MP_FACT_POSTCOPY_STARTED);
}

/* Under postcopy the source sends the last pages after Finish saw them
 * arrive: Confirm waits for QEMU to say so, as long as the stream moves
 * (--stall-timeout-ms; 0 waits for ever). A paused postcopy waits for its
 * recovery (exit 3). Returns at once when the stream is not in postcopy. */
static int
await_postcopy_end(struct mp_step_ctx *ctx, struct qemu_qmp *qmp, struct mp_error **err)
{
    uint64_t heard = mp_now_ms(), bytes = 0;
    uint64_t stall_ms = ctx->opts->stall_timeout_ms;
    for (;;) {
        struct qemu_migration_info info;
        int r = query_postcopy(ctx, qmp, &info, err);
        if (r < 0)
            return r;
        if (!qemu_migration_postcopy(info.status))
            return 0;
        if (strcmp(info.status, "postcopy-active") != 0) {
            mp_error_set(err, EPIPE,
                         "the postcopy stream is %s: the source stays paused until it is "
                         "recovered (migphase-prepare --resume on the destination, then "
                         "migphase-perform --resume here; see migphase-status)",
                         info.status);
            return mp_error_left_state(err);
        }
        if (info.transferred_bytes != bytes) {
            bytes = info.transferred_bytes;
            heard = mp_now_ms();
        } else if (stall_ms && mp_now_ms() - heard > stall_ms) {
            mp_error_set(err, ETIMEDOUT,
                         "the postcopy stream sent nothing for %llu ms: the source stays paused "
                         "(see migphase-status)",
                         (unsigned long long)stall_ms);
            return mp_error_left_state(err);
        }
        qemu_qmp_wait_event(qmp, "MIGRATION", POLL_INTERVAL_MS, NULL, NULL);
        if (mp_interrupted)
            return mp_error_set(err, EINTR, "interrupted by signal %d", (int)mp_interrupted);
    }
}

/* The source is stopped only when QEMU itself says the stream completed
 * and the VM waits in postmigrate: a cookie alone never kills a VM. A
 * postcopy ends first: one that Perform recorded before the first query,
 * whose answer may wait for its end (query_postcopy); one that a Perform
 * killed after the switch could not record, once QEMU says so. */
static int
check_source_migrated(struct mp_step_ctx *ctx, struct qemu_qmp *qmp, struct mp_error **err)
{
    _cleanup_free_ char *status = NULL;
    struct qemu_migration_info info;
    int r = recorded_postcopy(ctx) ? await_postcopy_end(ctx, qmp, err) : 0;
    if (r == 0)
        r = qemu_monitor_state(qmp, &status, &info, err);
    if (r == 0 && qemu_migration_postcopy(info.status)) {
        r = await_postcopy_end(ctx, qmp, err);
        free(steal_ptr(&status));
        if (r == 0)
            r = qemu_monitor_state(qmp, &status, &info, err);
    }
    if (r < 0)
        return r;
    if (strcmp(info.status, "completed") == 0 && strcmp(status, "postmigrate") == 0)
        return 0;
    return mp_error_input(err, EPERM,
                          "refusing to stop the source VM: QEMU says its migration is %s and "
                          "the VM is %s, not completed and postmigrate",
                          *info.status ? info.status : "none", status);
}

/* By QEMU's own word, whatever the journal or a cookie says: a source
 * in postcopy (a Perform killed after the switch records nothing) never
 * runs again. */
static int
check_not_postcopy(struct qemu_qmp *qmp, struct mp_error **err)
{
    struct qemu_migration_info info;
    int r = qemu_monitor_query_migrate(qmp, &info, err);
    if (r < 0 || !qemu_migration_postcopy(info.status))
        return r;
    mp_error_set(err, EPERM,
                 "refusing to resume the source: QEMU says its stream is %s, so the destination "
                 "holds memory the source never got back; let the postcopy complete, or recover "
                 "it, and run migphase-confirm without --cancelled (see migphase-status)",
                 info.status);
    return mp_error_left_state(err);
}

int
qemu_confirm(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err)
{
    _cleanup_source_vm_ struct source_vm *vm = xzalloc(sizeof(*vm));
    int r = open_recorded_vm(ctx, &vm->qmp, &vm->pid, err);
    if (r < 0) {
        if (!qemu_recorded_vm_gone(ctx->record))
            return mp_error_left_state(err);
        /* Nothing to quit or resume: the source VM no longer exists. */
        if (ctx->cancel)
            mp_warn("the source VM is gone: nothing to resume (%s)", (*err)->message);
        mp_error_free(steal_ptr(err));
        return 0;
    }
    r = ctx->cancel ? check_not_postcopy(vm->qmp, err) : check_source_migrated(ctx, vm->qmp, err);
    if (r < 0)
        return r;
    hand_to_act(plan, confirm_act, steal_ptr(&vm));
    return 0;
}
