/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "rules.h"

#include "facts.h"
#include "journal.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const enum mp_step expected_input[MP_STEP_COUNT] = {
    [MP_STEP_PREPARE] = MP_STEP_BEGIN,
    [MP_STEP_PERFORM] = MP_STEP_PREPARE,
    [MP_STEP_FINISH] = MP_STEP_PERFORM,
    [MP_STEP_CONFIRM] = MP_STEP_FINISH,
};

enum mp_step
mp_rule_expected_input(enum mp_step step)
{
    return expected_input[step];
}

#define HOST_CHARS MP_CHARS_LOWER MP_CHARS_UPPER MP_CHARS_DIGITS
/* A name or an address (IPv6 too): what a hook may get in
 * MIGPHASE_PEER_HOST and a log line may show. */
static bool
is_host_name(const char *s)
{
    return mp_str_is_name(s, 253, HOST_CHARS ":", HOST_CHARS ".-_:");
}

static int
check_host_names(const struct mp_cookie *in, struct mp_error **err)
{
    const struct mp_host *hosts[] = { &in->source, &in->destination };
    for (size_t i = 0; i < ARRAY_SIZE(hosts); i++) {
        const char *name = hosts[i]->hostname;
        if (name && !is_host_name(name)) {
            _cleanup_free_ char *shown = mp_log_text(name, strlen(name), 80, MP_LOG_VALUE);
            return mp_error_input(err, EINVAL, "the cookie's %s host name '%s' is not a host name",
                                  i == 0 ? "source" : "destination", shown);
        }
    }
    return 0;
}

/* Perform sends the VM where Prepare's cookie says: only to a TCP address
 * (or a local socket when both ends are this host), never to a command, a
 * file or a descriptor the cookie names. */
static int
check_stream_uri(const struct mp_cookie *in, struct mp_error **err)
{
    const char *uri = in->uri;
    if (!uri)
        return mp_error_input(err, EINVAL, "Prepare's cookie names no destination URI");
    if (mp_str_has_prefix(uri, "tcp:") && uri[4])
        return 0;
    bool local = in->source.hostname && in->destination.hostname &&
                 strcasecmp(in->source.hostname, in->destination.hostname) == 0;
    if (local && mp_str_has_prefix(uri, "unix:") && uri[5])
        return 0;
    _cleanup_free_ char *shown = mp_log_text(uri, strlen(uri), 80, MP_LOG_VALUE);
    return mp_error_input(err, EPERM,
                          "refusing the stream URI '%s' of Prepare's cookie: only tcp: (and unix: "
                          "on one host) is sent to",
                          shown);
}

int
mp_rule_check_input(enum mp_step step, const struct mp_options *opts, const struct mp_cookie *in,
                    struct mp_error **err)
{
    if (!mp_streq0(in->driver, opts->driver))
        return mp_error_input(err, EINVAL,
                              "the cookie is for driver %s, this helper runs driver %s",
                              in->driver ? in->driver : "(none)", opts->driver);
    /* Going back is allowed only to cancel: Finish and Confirm may undo a
     * migration from any earlier cookie, never a later one. */
    enum mp_step want = expected_input[step];
    bool undoing = step >= MP_STEP_FINISH && in->step < want;
    if (in->step != want && !undoing)
        return mp_error_input(err, EINVAL, "expected a cookie written by %s, got one written by %s",
                              mp_step_name(want), mp_step_name(in->step));
    int r = check_host_names(in, err);
    if (r < 0 || step != MP_STEP_PERFORM)
        return r;
    if (in->outcome != MP_OUTCOME_SUCCESS)
        return mp_error_input(err, EINVAL, "Prepare did not succeed (%s): nothing to send",
                              in->outcome_message ? in->outcome_message
                                                  : mp_outcome_name(in->outcome));
    return check_stream_uri(in, err);
}

/* Exit 3: the source stays paused, and only the postcopy's end (or its
 * recovery) resolves the migration. */
static int
refuse_after_postcopy(struct mp_error **err)
{
    mp_error_set(err, EPERM,
                 "refusing to resume the source: its stream switched to postcopy, so the "
                 "destination runs the guest and holds memory the source never got back "
                 "(--force cannot change that); let the postcopy complete, or recover it, and "
                 "run migphase-confirm without --cancelled (see migphase-status)");
    return mp_error_left_state(err);
}

int
mp_rule_decide_cancel(enum mp_step step, const struct mp_options *opts, const struct mp_cookie *in,
                      bool *cancel, struct mp_error **err)
{
    bool failed = in->outcome != MP_OUTCOME_SUCCESS || in->step != expected_input[step];
    *cancel = opts->cancelled || failed;
    if (step == MP_STEP_CONFIRM && opts->cancelled && in->stats.convergence.postcopy)
        return refuse_after_postcopy(err);
    if (step == MP_STEP_CONFIRM && opts->cancelled && !failed && !opts->force) {
        mp_error_set(err, EPERM,
                     "refusing to resume the source: the Finish cookie says the destination "
                     "resumed the VM; run migphase-confirm without --cancelled, or check the "
                     "destination and use --force");
        return mp_error_left_state(err);
    }
    return 0;
}

int
mp_rule_check_known_migration(const char *state_dir, const char *domain, enum mp_role role,
                              struct mp_error **err)
{
    if (mp_journal_check_domain(domain, err) < 0)
        return -EINVAL;
    _cleanup_free_ char *record =
        xasprintf("%s/%s/%s/record", state_dir, mp_role_name(role), domain);
    if (access(record, F_OK) < 0)
        return mp_error_input(err, ENOENT, "this host has no migration of domain %s as %s", domain,
                              mp_role_name(role));
    return 0;
}

static uint64_t
sum_string(uint64_t h, const char *s)
{
    /* A marker tells NULL from "" and ends each string, so that moving a
     * byte from one field to the next changes the sum. */
    h = mp_fnv1a64(h, s ? "+" : "-", 1);
    return s ? mp_fnv1a64(h, s, strlen(s) + 1) : h;
}

char *
mp_rule_unchanged_sum(const struct mp_cookie *c)
{
    uint64_t h = MP_FNV1A64_INIT;
    h = sum_string(h, c->domain_uuid);
    h = sum_string(h, c->description_format);
    h = sum_string(h, c->description_text);
    for (size_t i = 0; c->description_args && c->description_args[i]; i++)
        h = sum_string(h, c->description_args[i]);
    const struct mp_params *p = &c->params;
    _cleanup_free_ char *params =
        xasprintf("live=%d bandwidth=%" PRIu64 " downtime=%" PRIu64 " paused=%d timeout=%" PRIu64,
                  p->live, p->bandwidth_mib, p->downtime_ms, p->paused, p->timeout_s);
    h = sum_string(h, params);
    /* Said only when asked for, so that sums recorded before TLS existed hold. */
    if (p->tls != MP_TLS_AUTO)
        h = sum_string(h, mp_tls_mode_name(p->tls));
    /* The disks Begin chose to copy: a cookie that adds, drops or resizes
     * one on the way is refused like a changed description. */
    if (p->copy_storage != MP_COPY_STORAGE_NONE) {
        h = sum_string(h, mp_copy_storage_name(p->copy_storage));
        for (size_t i = 0; i < c->n_disks; i++) {
            const struct mp_disk *d = &c->disks[i];
            _cleanup_free_ char *disk =
                xasprintf("disk %s %s %s %" PRIu64 " %s %" PRIu64, d->node ? d->node : "",
                          d->format ? d->format : "", d->path ? d->path : "", d->size,
                          d->backing ? d->backing : "", d->backing_size);
            h = sum_string(h, disk);
        }
    }
    const struct mp_tuning *t = &p->tuning;
    if (mp_tuning_requested(t)) {
        _cleanup_free_ char *tuning =
            xasprintf("parallel=%" PRIu64 " compress=%s xbzrle=%" PRIu64
                      " auto-converge=%d throttle=%" PRIu64 "+%" PRIu64 " converge=%s%s",
                      t->parallel, mp_compress_name(t->compress), t->xbzrle_bytes, t->auto_converge,
                      t->throttle_initial, t->throttle_step, mp_converge_name(t->converge),
                      t->postcopy_after_precopy ? " postcopy-after-precopy"
                      : t->postcopy             ? " postcopy"
                                                : "");
        h = sum_string(h, tuning);
    }
    return xasprintf("%016" PRIx64, h);
}

int
mp_rule_check_unchanged(const struct mp_journal_record *record, const struct mp_cookie *in,
                        struct mp_error **err)
{
    const char *recorded = mp_journal_record_get_fact(record, MP_FACT_UNCHANGED_SUM);
    if (!recorded)
        return 0; /* a record of an earlier development version: nothing to compare */
    _cleanup_free_ char *sum = mp_rule_unchanged_sum(in);
    if (strcmp(sum, recorded) == 0)
        return 0;
    return mp_error_input(err, EINVAL,
                          "the cookie's VM description or parameters differ from those of "
                          "migration %s recorded on this host: refusing a changed cookie",
                          in->migration_id);
}

static int
check_host(struct mp_journal_record *record, const char *key, const char *role, const char *host,
           struct mp_error **err)
{
    if (!host)
        return 0; /* not named yet: a Begin cookie has no destination */
    const char *recorded = mp_journal_record_get_fact(record, key);
    if (!recorded) {
        mp_journal_record_set_fact(record, key, host);
        return 0;
    }
    if (strcasecmp(recorded, host) == 0)
        return 0;
    return mp_error_input(err, EPERM,
                          "the cookie's %s host %s is not %s, the one this host recorded for "
                          "migration %s",
                          role, host, recorded, record->migration_id);
}

int
mp_rule_check_hosts(struct mp_journal_record *record, const struct mp_cookie *in,
                    struct mp_error **err)
{
    int r = check_host(record, MP_FACT_SOURCE_HOST, "source", in->source.hostname, err);
    if (r == 0)
        r = check_host(record, MP_FACT_DESTINATION_HOST, "destination", in->destination.hostname,
                       err);
    return r;
}

int
mp_rule_check_same_input(const struct mp_step_ctx *ctx, const char *in, size_t in_len,
                         bool done_before, struct mp_error **err)
{
    if (ctx->record->step != ctx->step || !in)
        return 0;
    _cleanup_free_ char *saved = NULL;
    size_t len = 0;
    if (mp_journal_load_cookie(ctx->journal, ctx->step, false, &saved, &len, NULL) < 0)
        return 0;
    if (len == in_len && memcmp(saved, in, len) == 0)
        return 0;
    /* A concluded step does not act again: it answers from the journal
     * whatever the rest of the cookie says, so that a step that ran on a
     * damaged but acceptable cookie can still be followed by the recovery,
     * which hands it the cookie the peer kept. */
    if (done_before) {
        mp_warn("this cookie differs from the one step %s of migration %s ran with; "
                "answering with what it did then",
                mp_step_name(ctx->step), ctx->record->migration_id);
        return 0;
    }
    /* An undo may name any cookie of the migration: Confirm and Finish run
     * again with --cancelled after a first try with another one (the
     * direction rule keeps that from turning a completion around). */
    if (ctx->cancel)
        return 0;
    return mp_error_input(err, EINVAL,
                          "step %s of migration %s already ran on this host with another cookie",
                          mp_step_name(ctx->step), ctx->record->migration_id);
}

/* Whether the record holds a completion of this step that really happened
 * or may have: concluded, or (Confirm) started and not known to be undone. */
static bool
completion_may_stand(const struct mp_step_ctx *ctx)
{
    const struct mp_journal_record *rec = ctx->record;
    if (rec->phase == MP_PHASE_DONE)
        return true;
    /* A Finish that failed discarded its VM, or left it for a retry that
     * the driver judges by what the VM does; a Confirm that did not
     * conclude may have stopped the source already. */
    return ctx->step == MP_STEP_CONFIRM && !rec->closed;
}

int
mp_rule_check_direction(const struct mp_step_ctx *ctx, struct mp_error **err)
{
    const struct mp_journal_record *rec = ctx->record;
    const char *undo = mp_journal_record_get_fact(rec, MP_FACT_UNDO);
    if (rec->step != ctx->step || !undo ||
        strcmp(undo, ctx->cancel ? MP_FACT_YES : MP_FACT_NO) == 0)
        return 0;
    if (!ctx->cancel) {
        if (rec->phase != MP_PHASE_DONE)
            return 0; /* an undo that did not conclude may be completed instead */
        return mp_error_set(err, EALREADY, "%s already cancelled migration %s on this host",
                            mp_step_name(ctx->step), rec->migration_id);
    }
    if (!completion_may_stand(ctx))
        return 0;
    /* A human checked that the destination does not run the VM: an
     * interrupted Confirm may resume the source. One that concluded stopped
     * it already; it answers as it did. */
    if (ctx->step == MP_STEP_CONFIRM && ctx->opts->force && rec->phase != MP_PHASE_DONE)
        return 0;
    mp_error_set(err, EALREADY,
                 "%s already completed migration %s on this host: the VM runs on the "
                 "destination; run migphase-confirm without --cancelled on the source",
                 mp_step_name(ctx->step), rec->migration_id);
    return mp_error_left_state(err);
}

static bool
stream_completed(const struct mp_journal_record *record)
{
    return mp_streq0(mp_journal_record_get_fact(record, MP_FACT_STREAM), MP_FACT_STREAM_COMPLETED);
}

int
mp_rule_guard_source_resume(const struct mp_step_ctx *ctx, struct mp_error **err)
{
    const struct mp_cookie *in = ctx->in;
    if (ctx->step != MP_STEP_CONFIRM || !ctx->cancel || ctx->opts->force)
        return 0;
    if (!stream_completed(ctx->record))
        return 0;
    if (in->step == MP_STEP_FINISH && in->outcome != MP_OUTCOME_SUCCESS)
        return 0;
    mp_error_set(err, EPERM,
                 "refusing to resume the source: its stream completed and no Finish cookie says "
                 "the destination gave up; run migphase-finish on the destination and confirm "
                 "with its cookie, or check that the destination VM is gone and use --force");
    return mp_error_left_state(err);
}

int
mp_rule_guard_postcopy(const struct mp_step_ctx *ctx, struct mp_error **err)
{
    if (ctx->step != MP_STEP_CONFIRM || !ctx->cancel)
        return 0;
    bool recorded = mp_streq0(mp_journal_record_get_fact(ctx->record, MP_FACT_POSTCOPY),
                              MP_FACT_POSTCOPY_STARTED);
    if (!recorded && !ctx->in->stats.convergence.postcopy)
        return 0;
    return refuse_after_postcopy(err);
}

int
mp_rule_guard_source_stop(const struct mp_step_ctx *ctx, struct mp_error **err)
{
    if (ctx->step != MP_STEP_CONFIRM || ctx->cancel || stream_completed(ctx->record))
        return 0;
    return mp_error_input(err, EPERM,
                          "refusing to stop the source VM: this host's journal does not say its "
                          "Perform completed the stream of migration %s",
                          ctx->record->migration_id);
}

bool
mp_rule_closes_migration(enum mp_step step, int rc, const struct mp_error *err, bool acted)
{
    if (rc < 0 && err && err->kind == MP_ERR_STATE)
        return false;
    /* A Finish whose act failed cleanly discarded its VM. A Confirm that
     * failed cleanly left the source as it found it: paused, waiting. */
    if (step == MP_STEP_FINISH)
        return rc == 0 || acted;
    if (step == MP_STEP_CONFIRM)
        return rc == 0;
    /* A failed Prepare removed its VM: the destination has nothing pending. */
    return step == MP_STEP_PREPARE && rc < 0;
}

bool
mp_rule_hands_out_cookie(enum mp_step step, bool closed)
{
    return step != MP_STEP_FINISH || closed;
}

/* Each of these steps committed a *started* record, with the facts
 * recovery needs, before its side effect. Killed between its cookie and
 * its done commit, it leaves that record, the very state of a step killed
 * just before the commit, for which docs/recovery.md has a rule whatever
 * the next step did with the cookie:
 *  - Prepare: the destination never resumed. Recovery's Finish
 *    --cancelled kills its VM, and a source streaming to it sees the
 *    stream fail and rolls back; or the stream completed first, and
 *    Finish, given Perform's cookie, resumes that VM or gives it up, and
 *    Confirm does as Finish's cookie says: one host runs the VM either way;
 *  - Perform: the source's QEMU holds the stream's verdict, and a re-run
 *    hands it out again;
 *  - Finish: a destination that resumed keeps running and a re-run hands
 *    out the same cookie; one that gave up stays gone.
 * Begin is the exception: its record is what makes the later steps of the
 * migration known on the source, and it has no side effect to wait on. */
bool
mp_rule_cookie_before_commit(enum mp_step step, int rc)
{
    return rc == 0 && step != MP_STEP_BEGIN;
}

/* Once the step asking has a verified cookie of a later step, only a
 * helper of this migration at an earlier step of this host can hold the
 * lock of a record like that, and only one that hands its cookie out
 * before concluding: it is committing its done record (Perform's fsyncs,
 * after its cookie, can outlast Finish's resume and the hand-over of
 * Finish's cookie to Confirm on a busy disk), or exiting, or dying, and
 * lets go within that. Begin concludes before its cookie exists. Anything
 * else that holds the lock is refused at once. */
bool
mp_rule_lock_held_by_predecessor(enum mp_step step, const char *migration_id,
                                 const struct mp_journal_record *holder)
{
    return holder && mp_streq0(holder->migration_id, migration_id) && !holder->closed &&
           holder->step < step && mp_step_role(holder->step) == mp_step_role(step) &&
           mp_rule_cookie_before_commit(holder->step, 0);
}
