/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "step.h"

#include "cookie.h"
#include "driver.h"
#include "facts.h"
#include "hooks.h"
#include "journal.h"
#include "listen.h"
#include "pause.h"
#include "log.h"
#include "privs.h"
#include "proc.h"
#include "progress.h"
#include "rules.h"
#include "stream-tls.h"
#include "support.h"
#include "trust.h"

#include <assert.h>
#include <linux/capability.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The longest pause between two tries of a journal's lock held by the step
 * before (open_journal_ahead). */
#define LOCK_WAIT_MAX_MS 64
/* A step meeting the lock of its predecessor, which concludes after handing
 * out its cookie: the longest pause between two tries (the wait is on the
 * way to Confirm's end), and how long that predecessor may take in all. */
#define PREDECESSOR_POLL_MAX_MS 4
#define PREDECESSOR_WAIT_MS     10000

/* The journal as the engine holds it: writable. Drivers see it read-only
 * through ctx->journal; only the engine commits. */
struct step_run {
    struct mp_step_ctx ctx;
    struct mp_journal *journal;
    const struct mp_trust *trust;
    bool acted; /* the driver's act ran: the plan's facts were committed */
};

static struct step_run *
run_of(struct mp_step_ctx *ctx)
{
    return (struct step_run *)ctx;
}

/* Commit the record with the given phase, before or after a side effect. */
static int
checkpoint(struct mp_step_ctx *ctx, enum mp_journal_phase phase, struct mp_error **err)
{
    ctx->record->step = ctx->step;
    ctx->record->phase = phase;
    if (phase == MP_PHASE_STARTED) {
        /* Until the step concludes, its outcome is none (journal-format.md):
         * not the previous step's. */
        ctx->record->outcome = MP_OUTCOME_NONE;
        free(steal_ptr(&ctx->record->message));
    }
    int r = mp_journal_commit(run_of(ctx)->journal, ctx->record, err);
    if (r < 0)
        return mp_error_prefix(err, "recording step %s in the journal", mp_step_name(ctx->step));
    return 0;
}

/* Read the cookie: verify its bytes, then parse exactly the verified part,
 * then check that its signer wrote it and that it fits this step. *raw
 * keeps the bytes as given (the journal saves them); *payload points into
 * them. */
static int
read_cookie(const struct mp_step_spec *spec, struct mp_step_ctx *ctx, struct mp_cookie **out,
            char **raw, size_t *raw_len, struct mp_trusted_bytes *payload, struct mp_error **err)
{
    const struct mp_options *opts = ctx->opts;
    int r = mp_read_file(opts->in_path, MP_COOKIE_MAX_SIZE, raw, raw_len, err);
    if (r == -EFBIG) {
        mp_error_free(steal_ptr(err));
        return mp_error_input(err, EFBIG, "the cookie is larger than %d bytes", MP_COOKIE_MAX_SIZE);
    }
    if (r < 0)
        return mp_error_prefix(err, "reading the cookie");
    r = mp_trust_verify(run_of(ctx)->trust, *raw, *raw_len, payload, err);
    if (r < 0)
        return r;
    /* Features this host's hooks understand count as understood. */
    _cleanup_strv_ char **known = mp_hooks_known_features(opts->hooks_dir);
    r = mp_cookie_parse(payload->payload, payload->payload_len, (const char *const *)known, out,
                        err);
    if (r == 0)
        r = mp_rule_check_input(spec->step, opts, *out, err);
    if (r == 0)
        r = mp_trust_check_writer(run_of(ctx)->trust, payload, *out, spec->step, err);
    return r;
}

/* A new migration on this host: its record names the cookie's migration and
 * keeps what the driver already noted (Begin's VM facts). */
static void
adopt_identity(struct mp_step_ctx *ctx, const struct mp_cookie *c, enum mp_role role)
{
    if (!ctx->record)
        ctx->record = mp_journal_record_new();
    struct mp_journal_record *rec = ctx->record;
    free(rec->migration_id);
    free(rec->domain);
    free(rec->uuid);
    free(rec->driver);
    rec->migration_id = xstrdup(c->migration_id);
    rec->domain = xstrdup(c->domain_name);
    rec->uuid = xstrdup(c->domain_uuid);
    rec->driver = xstrdup(c->driver);
    rec->role = role;
    _cleanup_free_ char *sum = mp_rule_unchanged_sum(c);
    mp_journal_record_set_fact(rec, MP_FACT_UNCHANGED_SUM, sum);
}

/* Whether the lock of the domain's journal is held by this migration's step
 * before, concluding after its cookie (mp_rule_lock_held_by_predecessor);
 * *holder_step says which. */
static bool
held_by_predecessor(const struct mp_step_ctx *ctx, const struct mp_cookie *c, enum mp_role role,
                    enum mp_step *holder_step)
{
    _cleanup_record_ struct mp_journal_record *holder = NULL;
    if (mp_journal_peek(ctx->opts->state_dir, c->domain_name, role, &holder, NULL) < 0)
        return false;
    *holder_step = holder->step;
    return mp_rule_lock_held_by_predecessor(ctx->step, c->migration_id, holder);
}

/* Lock the domain's journal; wait, for PREDECESSOR_WAIT_MS at most, while
 * the step before on this host still concludes. */
static int
lock_journal(const struct mp_step_ctx *ctx, const struct mp_cookie *c, enum mp_role role,
             struct mp_journal **journal, struct mp_error **err)
{
    uint64_t deadline = mp_now_ms() + PREDECESSOR_WAIT_MS;
    unsigned wait_ms = 1;
    for (;;) {
        _cleanup_error_ struct mp_error *busy = NULL;
        int r = mp_journal_open(ctx->opts->state_dir, c->domain_name, role, journal, &busy);
        enum mp_step holder = MP_STEP_BEGIN;
        if (r != -EBUSY || !held_by_predecessor(ctx, c, role, &holder)) {
            if (r < 0 && err && !*err)
                *err = steal_ptr(&busy);
            return r;
        }
        if (mp_now_ms() >= deadline)
            return mp_error_set(err, EBUSY,
                                "migphase-%s of this migration still holds the journal of domain "
                                "%s (%s) after %d s",
                                mp_step_name(holder), c->domain_name, mp_role_name(role),
                                PREDECESSOR_WAIT_MS / 1000);
        if (wait_ms == 1)
            mp_debug("waiting for migphase-%s to conclude on domain %s", mp_step_name(holder),
                     c->domain_name);
        struct timespec pause = { .tv_nsec = (long)wait_ms * 1000000 };
        nanosleep(&pause, NULL);
        wait_ms = wait_ms < PREDECESSOR_POLL_MAX_MS ? 2 * wait_ms : PREDECESSOR_POLL_MAX_MS;
    }
}

/* Open and lock the journal, refusing a second migration of the domain. A
 * record of the same migration that already concluded this step sets
 * *done_before so the step is answered from the journal. */
static int
open_journal(struct mp_step_ctx *ctx, const struct mp_cookie *c, bool *done_before,
             struct mp_error **err)
{
    enum mp_role role = mp_step_role(ctx->step);
    /* --resume recovers a migration this host has, whatever step it reached. */
    bool resume = ctx->opts->resume;
    bool continues = resume || ctx->step == MP_STEP_PERFORM || ctx->step == MP_STEP_FINISH ||
                     ctx->step == MP_STEP_CONFIRM;
    int r = continues
                ? mp_rule_check_known_migration(ctx->opts->state_dir, c->domain_name, role, err)
                : 0;
    if (r < 0)
        return r;
    /* Perform or Finish --domain may have opened it before the cookie came
     * (get_ready). */
    const char *named =
        ctx->step == MP_STEP_PERFORM || ctx->step == MP_STEP_FINISH ? ctx->opts->domain : NULL;
    if (named && strcmp(named, c->domain_name) != 0)
        return mp_error_input(err, EINVAL, "the cookie is of domain %s, not of %s (--domain)",
                              c->domain_name, named);
    struct step_run *run = run_of(ctx);
    if (!run->journal)
        r = lock_journal(ctx, c, role, &run->journal, err);
    if (r < 0)
        return r;
    ctx->journal = run->journal;
    _cleanup_record_ struct mp_journal_record *old = NULL;
    _cleanup_error_ struct mp_error *load_err = NULL;
    r = mp_journal_load(run->journal, &old, &load_err);
    if (r < 0 && r != -ENOENT) {
        *err = steal_ptr(&load_err);
        return mp_error_prefix(err, "refusing to touch domain %s", c->domain_name);
    }
    bool same = old && mp_streq0(old->migration_id, c->migration_id);
    /* Only Begin and Prepare start a migration on a host: the later steps
     * continue one this host knows, or the cookie is not for this host. */
    if (continues && !same)
        return mp_error_input(err, ENOENT, "this host has no migration %s of domain %s as %s",
                              c->migration_id, c->domain_name, mp_role_name(role));
    /* A Begin has no side effects, so a newer Begin may replace it. */
    bool busy = old && !same && !old->closed && old->step != MP_STEP_BEGIN;
    if (busy)
        return mp_error_set(err, EBUSY,
                            "domain %s has an unfinished migration %s on this host (%s, step %s "
                            "%s); resolve it first: migphase-status %s",
                            c->domain_name, old->migration_id, mp_role_name(role),
                            mp_step_name(old->step), mp_journal_phase_name(old->phase),
                            c->domain_name);
    if (same && old->step > ctx->step && !resume)
        return mp_error_input(err, EALREADY, "migration %s already reached step %s on this host",
                              c->migration_id, mp_step_name(old->step));
    /* A Finish or Confirm that failed and left state behind runs again: that
     * is how it gets resolved. Any other concluded step answers as before. */
    bool retry = old && old->phase == MP_PHASE_FAILED && !old->closed &&
                 (ctx->step == MP_STEP_FINISH || ctx->step == MP_STEP_CONFIRM);
    *done_before =
        same && old->step == ctx->step && old->phase != MP_PHASE_STARTED && !retry && !resume;
    if (resume && old && old->closed)
        return mp_error_input(err, EALREADY, "migration %s is over on this host: nothing to resume",
                              c->migration_id);
    if (same) {
        mp_journal_record_free(ctx->record);
        ctx->record = steal_ptr(&old);
    } else {
        adopt_identity(ctx, c, role);
    }
    return 0;
}

/* Run the site hooks of this step with `cookie` on their stdin. */
static int
run_hooks(struct mp_step_ctx *ctx, const struct mp_cookie *identity, const char *cookie,
          size_t cookie_len, enum mp_outcome outcome, struct mp_error **err)
{
    enum mp_role role = mp_step_role(ctx->step);
    const struct mp_host *peer =
        role == MP_ROLE_SOURCE ? &identity->destination : &identity->source;
    struct mp_hook_run run = {
        .hooks_dir = ctx->opts->hooks_dir,
        .step = ctx->step,
        .role = role,
        .domain = identity->domain_name,
        .uuid = identity->domain_uuid,
        .migration_id = identity->migration_id,
        .peer_host = peer->hostname,
        .vm_user = ctx->opts->qemu_user,
        .outcome = outcome,
        .cookie = cookie,
        .cookie_len = cookie_len,
        .timeout_ms = MP_HOOK_DEFAULT_TIMEOUT_MS,
    };
    int r = mp_hooks_run(&run, ctx->out, err);
    if (r < 0)
        return mp_error_prefix(err, "%s hooks", mp_step_name(ctx->step));
    return 0;
}

static int
write_cookie(const struct mp_step_ctx *ctx, const char *xml, size_t len, struct mp_error **err)
{
    if (!ctx->out)
        return 0;
    int r = mp_write_file_private(ctx->opts->out_path, xml, len, ctx->opts->cookie_group, err);
    if (r < 0)
        return mp_error_prefix(err, "writing the cookie");
    /* The cookie is the step's last word on standard output: closing it now
     * lets a reader waiting for its end (migphase-migrate handing Perform's
     * cookie to a waiting Finish) go on without waiting for this process to
     * exit. */
    if (strcmp(ctx->opts->out_path, "-") == 0) {
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
            close(null);
        }
    }
    return 0;
}

/* The step already concluded: hand back the cookie it wrote (if it wrote
 * one), then its result. */
static int
answer_from_journal(struct mp_step_ctx *ctx, struct mp_error **err)
{
    _cleanup_free_ char *xml = NULL;
    size_t len = 0;
    if (ctx->out && mp_journal_load_cookie(ctx->journal, ctx->step, true, &xml, &len, NULL) == 0) {
        int r = write_cookie(ctx, xml, len, err);
        if (r < 0)
            return r;
    }
    int r = mp_rule_check_direction(ctx, err);
    if (r < 0)
        return r;
    mp_info("step %s of migration %s already concluded (%s)", mp_step_name(ctx->step),
            ctx->record->migration_id, mp_outcome_name(ctx->record->outcome));
    if (ctx->record->phase != MP_PHASE_FAILED)
        return 0;
    mp_error_set(err, EIO, "step %s already failed: %s", mp_step_name(ctx->step),
                 ctx->record->message ? ctx->record->message : "see the journal");
    /* What the first run left behind is still there. */
    return ctx->record->closed ? -EIO : mp_error_left_state(err);
}

/* The cookie this step hands out: formatted, then signed by this host. */
static int
seal_cookie(struct mp_step_ctx *ctx, char **signed_xml, size_t *len, struct mp_error **err)
{
    _cleanup_free_ char *xml = NULL;
    size_t xml_len = 0;
    ctx->out->timing.written_us = mp_realtime_us();
    int r = mp_cookie_format(ctx->out, &xml, &xml_len, err);
    if (r < 0)
        return r;
    return mp_trust_sign(run_of(ctx)->trust, xml, xml_len, signed_xml, len, err);
}

/* The guest's pause, when both VMs said when they stopped and resumed. */
static void
estimate_pause(struct mp_step_ctx *ctx)
{
    struct mp_stats *s = &ctx->out->stats;
    if (mp_pause_estimate(&ctx->in->timing, ctx->out->timing.read_us, ctx->out->timing.resume_us,
                          &s->pause_us, &s->pause_uncertainty_us)) {
        s->present = true;
        mp_info("the guest stood still for %.1f ms (within %.1f ms: the hosts' clocks)",
                (double)s->pause_us / 1000, (double)s->pause_uncertainty_us / 1000);
    }
}

/* Record how the driver's work ended, then write the cookie out. */
static int
conclude(struct mp_step_ctx *ctx, int rc, struct mp_error **err)
{
    struct mp_journal_record *rec = ctx->record;
    enum mp_outcome outcome = rc < 0 ? MP_OUTCOME_FAILED : MP_OUTCOME_SUCCESS;
    if (ctx->out) {
        if (ctx->out->outcome == MP_OUTCOME_NONE || rc < 0)
            ctx->out->outcome = outcome;
        outcome = ctx->out->outcome;
        if (rc < 0 && *err) {
            free(ctx->out->outcome_message);
            ctx->out->outcome_message = xstrdup((*err)->message);
        }
    }
    rec->outcome = outcome;
    if (ctx->step == MP_STEP_FINISH && rc == 0 && ctx->out)
        estimate_pause(ctx);
    /* A failed resume leaves the postcopy paused, as it found it. */
    rec->closed =
        !ctx->opts->resume && mp_rule_closes_migration(ctx->step, rc, *err, run_of(ctx)->acted);
    if (ctx->step == MP_STEP_PERFORM && rc == 0)
        mp_journal_record_set_fact(rec, MP_FACT_STREAM, MP_FACT_STREAM_COMPLETED);
    free(rec->message);
    rec->message = rc < 0 && *err ? xstrdup((*err)->message) : NULL;

    _cleanup_free_ char *xml = NULL;
    size_t len = 0;
    struct mp_error *werr = NULL;
    int r = 0;
    bool hand_out = ctx->out && mp_rule_hands_out_cookie(ctx->step, rec->closed);
    /* The next step waits for this cookie, not for the journal's commit,
     * whose fsyncs are milliseconds, tens on a busy disk (Perform's cookie:
     * the guest stands still until Finish has it). Why that stays
     * recoverable: mp_rule_cookie_before_commit. */
    bool cookie_first = hand_out && mp_rule_cookie_before_commit(ctx->step, rc);
    if (hand_out)
        r = seal_cookie(ctx, &xml, &len, &werr);
    if (r == 0 && cookie_first)
        r = write_cookie(ctx, xml, len, &werr);
    if (r == 0 && hand_out)
        r = mp_journal_save_cookie(run_of(ctx)->journal, ctx->step, true, xml, len, &werr);
    if (r == 0)
        r = checkpoint(ctx, rc < 0 ? MP_PHASE_FAILED : MP_PHASE_DONE, &werr);
    if (r == 0 && hand_out && !cookie_first)
        r = write_cookie(ctx, xml, len, &werr);
    if (r < 0 && rc >= 0) {
        *err = werr;
        /* Begin has no side effects: failing to record it leaves nothing. */
        if (ctx->step == MP_STEP_BEGIN)
            return -(*err)->errnum;
        /* The side effects happened but could not be recorded or reported. */
        return mp_error_left_state(err);
    }
    mp_error_free(werr);
    return rc;
}

/* The plan/act contract: the driver's plan looks and sets facts, the
 * engine makes them durable with the STARTED record, and only then may the
 * driver act. A plan that fails touched nothing. */
static int
plan_and_act(const struct mp_driver *driver, struct mp_step_ctx *ctx, struct mp_error **err)
{
    struct mp_step_plan plan = { 0 };
    int r = mp_driver_plan_step(driver, ctx, &plan, err);
    if (r == 0)
        r = checkpoint(ctx, MP_PHASE_STARTED, err);
    if (r == 0 && plan.act) {
        run_of(ctx)->acted = true;
        if (!plan.act_notifies)
            mp_notify(MP_NOTIFY_ACTING);
        r = plan.act(ctx, plan.state, err);
    }
    mp_step_plan_clear(&plan);
    return r;
}

static int
run_driver(const struct mp_driver *driver, struct mp_step_ctx *ctx,
           const struct mp_trusted_bytes *in, const char *raw, size_t raw_len,
           struct mp_error **err)
{
    int r = mp_journal_save_cookie(run_of(ctx)->journal, ctx->step, false, raw, raw_len, err);
    if (r < 0)
        return mp_error_prefix(err, "saving the cookie in the journal");
    if (ctx->step == MP_STEP_FINISH || ctx->step == MP_STEP_CONFIRM) {
        /* The direction is known before anything happens: a Confirm
         * interrupted while it stopped the source must not be turned into
         * a resume (mp_rule_check_direction). */
        mp_journal_record_set_fact(ctx->record, MP_FACT_UNDO,
                                   ctx->cancel ? MP_FACT_YES : MP_FACT_NO);
    }
    if (ctx->step == MP_STEP_PERFORM)
        ctx->progress = mp_progress_new(ctx->opts->progress, STDERR_FILENO);
    r = plan_and_act(driver, ctx, err);
    mp_progress_free(steal_ptr(&ctx->progress));
    if (r < 0 && !ctx->opts->resume &&
        (ctx->step == MP_STEP_PREPARE || ctx->step == MP_STEP_PERFORM)) {
        /* The hooks ran before the step failed: they undo what they did. */
        run_hooks(ctx, ctx->in, in->payload, in->payload_len, MP_OUTCOME_FAILED, NULL);
    }
    if (ctx->step == MP_STEP_FINISH || ctx->step == MP_STEP_CONFIRM) {
        /* Past the point of no return hooks only report: they see the
         * outcome, and their failures never undo the step. */
        enum mp_outcome outcome = r < 0         ? MP_OUTCOME_FAILED
                                  : ctx->cancel ? MP_OUTCOME_CANCELLED
                                                : MP_OUTCOME_SUCCESS;
        run_hooks(ctx, ctx->in, in->payload, in->payload_len, outcome, NULL);
    }
    /* A plan that refused its input touched nothing: neither does the
     * journal (exit 2 leaves everything as it was). */
    if (r < 0 && !run_of(ctx)->acted && *err && (*err)->kind == MP_ERR_INPUT)
        return r;
    return conclude(ctx, r, err);
}

static void
fill_begin_cookie(struct mp_cookie *out, const struct mp_options *opts)
{
    out->migration_id = mp_uuid_new();
    out->driver = xstrdup(opts->driver);
    out->source.hostname = mp_host_name();
    out->source.host_id = mp_host_id();
    out->params = opts->params;
    /* A destination that predates <tuning> would ignore it and expect one
     * plain stream: it must refuse the cookie instead. */
    if (mp_tuning_requested(&opts->params.tuning))
        mp_cookie_add_feature(out, "tuning", true);
    /* A destination that predates postcopy would set it off and never let
     * the guest run on demand-fetched pages. */
    if (opts->params.tuning.postcopy)
        mp_cookie_add_feature(out, "postcopy", true);
}

/* Begin describes the VM before anything is locked: it has no side effects,
 * and the domain's name, which names the journal, comes from the VM. */
static int
run_begin(const struct mp_driver *driver, struct mp_step_ctx *ctx, struct mp_error **err)
{
    fill_begin_cookie(ctx->out, ctx->opts);
    if (ctx->opts->params.copy_storage != MP_COPY_STORAGE_NONE && !driver->features->storage_copy)
        return mp_error_input(err, ENOTSUP,
                              "the %s driver does not copy storage: --copy-storage is refused "
                              "(put the disks on shared storage)",
                              driver->name);
    if (ctx->opts->params.tuning.postcopy && !driver->features->postcopy)
        return mp_error_input(err, ENOTSUP,
                              "the %s driver cannot switch a stream to postcopy: "
                              "--postcopy is refused",
                              driver->name);
    /* The stream's TLS request (engine/stream-tls.c). */
    int r = mp_stream_tls_step(ctx, err);
    if (r < 0)
        return r;
    ctx->record = mp_journal_record_new();
    struct mp_step_plan plan = { 0 };
    r = mp_driver_plan_step(driver, ctx, &plan, err);
    /* Begin has no side effects: there is no journal yet to record one. */
    assert(r < 0 || !plan.act);
    mp_step_plan_clear(&plan);
    if (r < 0)
        return r;
    /* Begin's hooks see the cookie Begin is about to write, made only for
     * them: formatting it takes Begin up to a millisecond more, on the way
     * to the stream. */
    _cleanup_free_ char *xml = NULL;
    size_t len = 0;
    if (!mp_hooks_step_dir_absent(ctx->opts->hooks_dir, MP_STEP_BEGIN)) {
        r = mp_cookie_format(ctx->out, &xml, &len, err);
        if (r == 0)
            r = run_hooks(ctx, ctx->out, xml, len, MP_OUTCOME_NONE, err);
        if (r < 0)
            return r;
    }
    bool done_before = false;
    r = open_journal(ctx, ctx->out, &done_before, err);
    if (r == 0)
        r = mp_rule_check_hosts(ctx->record, ctx->out, err);
    if (r == 0)
        r = conclude(ctx, 0, err);
    /* The hooks that ran undo what they did for a Begin that did not happen. */
    if (r < 0 && xml)
        run_hooks(ctx, ctx->out, xml, len, MP_OUTCOME_FAILED, NULL);
    return r;
}

/* The cookie this step will write, from the one it read. */
static void
derive_out_cookie(struct mp_step_ctx *ctx, const struct mp_cookie *in)
{
    if (ctx->step == MP_STEP_CONFIRM)
        return;
    ctx->out = mp_cookie_derive(in, ctx->step);
    ctx->out->outcome = MP_OUTCOME_NONE;
    free(steal_ptr(&ctx->out->outcome_message));
    if (ctx->step == MP_STEP_PREPARE) {
        ctx->out->destination.hostname = mp_host_name();
        ctx->out->destination.host_id = mp_host_id();
    }
}

/* Every rule between the cookie and the driver, in order: each one's
 * refusal leaves the journal as it was. *done_before: answer from it. */
static int
apply_rules(struct mp_step_ctx *ctx, const struct mp_cookie *in, const char *raw, size_t raw_len,
            bool *done_before, struct mp_error **err)
{
    int r = open_journal(ctx, in, done_before, err);
    if (r == 0 && ctx->step != MP_STEP_PREPARE)
        r = mp_rule_check_unchanged(ctx->record, in, err);
    if (r == 0)
        r = mp_rule_check_hosts(ctx->record, in, err);
    if (r == 0 && ctx->out)
        r = mp_rule_check_hosts(ctx->record, ctx->out, err);
    /* A resume takes a new cookie by design (Prepare's new address). */
    if (r == 0 && !ctx->opts->resume)
        r = mp_rule_check_same_input(ctx, raw, raw_len, *done_before, err);
    if (r < 0 || *done_before)
        return r;
    r = mp_rule_guard_postcopy(ctx, err);
    if (r == 0)
        r = mp_rule_check_direction(ctx, err);
    if (r == 0)
        r = mp_rule_guard_source_resume(ctx, err);
    if (r == 0)
        r = mp_rule_guard_source_stop(ctx, err);
    /* Prepare decides the stream's TLS, Perform checks it can follow. */
    if (r == 0)
        r = mp_stream_tls_step(ctx, err);
    return r;
}

/* prepare --check: the driver's plan on the verified cookie, with no
 * journal and no act. Nothing is created, locked or started; the report
 * goes to standard output, a broken rule to the error. */
static int
check_prepare(const struct mp_driver *driver, struct mp_step_ctx *ctx, struct mp_error **err)
{
    ctx->record = mp_journal_record_new();
    struct mp_step_plan plan = { 0 };
    int r = mp_stream_tls_step(ctx, err);
    if (r == 0)
        r = mp_driver_plan_step(driver, ctx, &plan, err);
    mp_step_plan_clear(&plan);
    if (r == 0)
        fputs(ctx->check_report ? ctx->check_report : "the cookie passes this host's checks\n",
              stdout);
    free(steal_ptr(&ctx->check_report));
    return r;
}

/* The journal's lock, for Perform or Finish --domain before its cookie.
 * The step before on this host (Begin, Prepare) writes its cookie before
 * its done commit, and may still hold the lock for that commit's fsyncs:
 * wait for it while no cookie is there to read (then the usual order takes
 * over). */
static int
open_journal_ahead(const struct mp_options *o, enum mp_role role, int input_fd,
                   struct mp_journal **journal)
{
    int wait_ms = 1;
    for (;;) {
        int r = mp_journal_open(o->state_dir, o->domain, role, journal, NULL);
        if (r != -EBUSY || input_fd < 0)
            return r;
        struct pollfd input = { .fd = input_fd, .events = POLLIN };
        if (poll(&input, 1, wait_ms) != 0)
            return r;
        wait_ms = wait_ms < LOCK_WAIT_MAX_MS ? 2 * wait_ms : LOCK_WAIT_MAX_MS;
    }
}

/* Finish before Perform's cookie: the source's certificate chain checked
 * from the cookie Prepare took from it (Begin's). */
static void
check_source_chain_ahead(struct mp_step_ctx *ctx)
{
    _cleanup_free_ char *begin_cookie = NULL;
    size_t len = 0;
    if (mp_journal_load_cookie(run_of(ctx)->journal, MP_STEP_PREPARE, false, &begin_cookie, &len,
                               NULL) == 0)
        mp_trust_check_chain_ahead(run_of(ctx)->trust, begin_cookie, len);
}

/* Perform or Finish --domain, before its cookie: the domain's journal
 * opened and locked, and the driver's perform_ahead or finish_ahead given
 * its record, so that what needs no cookie is done while the step before
 * still works (Prepare starting the destination VM, Perform's stream), off
 * the way to the stream and off the guest's pause. Nothing here changes
 * anything: a step never given its cookie leaves all as it was. Whatever
 * fails is left for the usual order to meet and report once the cookie
 * is read. */
static void
get_ready(const struct mp_driver *driver, struct mp_step_ctx *ctx)
{
    const struct mp_options *o = ctx->opts;
    enum mp_role role = mp_step_role(ctx->step);
    if (!o->domain || o->cancelled || o->resume ||
        mp_rule_check_known_migration(o->state_dir, o->domain, role, NULL) < 0)
        return;
    /* From a file the cookie is there already: nothing to wait for. */
    int input_fd = strcmp(o->in_path, "-") == 0 ? STDIN_FILENO : -1;
    struct step_run *run = run_of(ctx);
    if (open_journal_ahead(o, role, input_fd, &run->journal) < 0)
        return;
    ctx->journal = run->journal;
    void (*ahead)(struct mp_step_ctx *, int) =
        ctx->step == MP_STEP_PERFORM ? driver->perform_ahead : driver->finish_ahead;
    if (!ahead || mp_journal_load(run->journal, &ctx->record, NULL) < 0)
        return;
    if (ctx->step == MP_STEP_FINISH)
        check_source_chain_ahead(ctx);
    ahead(ctx, input_fd);
    mp_journal_record_free(steal_ptr(&ctx->record));
}

static int
run_step(const struct mp_step_spec *spec, struct mp_step_ctx *ctx, const struct mp_driver *driver,
         struct mp_error **err)
{
    if (spec->step == MP_STEP_BEGIN)
        return run_begin(driver, ctx, err);
    if (ctx->opts->resume && !driver->features->postcopy)
        return mp_error_input(err, ENOTSUP, "the %s driver has no postcopy to resume",
                              driver->name);

    if (spec->step == MP_STEP_PERFORM || spec->step == MP_STEP_FINISH)
        get_ready(driver, ctx);
    _cleanup_cookie_ struct mp_cookie *in = NULL;
    _cleanup_free_ char *raw = NULL;
    size_t raw_len = 0;
    struct mp_trusted_bytes payload = { 0 };
    int r = read_cookie(spec, ctx, &in, &raw, &raw_len, &payload, err);
    uint64_t read_us = mp_realtime_us();
    ctx->in = in;
    if (r == 0 && (spec->step == MP_STEP_FINISH || spec->step == MP_STEP_CONFIRM))
        r = mp_rule_decide_cancel(spec->step, ctx->opts, in, &ctx->cancel, err);
    bool done_before = false;
    if (r == 0) {
        derive_out_cookie(ctx, in);
        mp_timing_note_read(ctx->out, in, read_us);
    }
    if (r == 0 && spec->step == MP_STEP_PREPARE && ctx->opts->check_only) {
        mp_trusted_bytes_clear(&payload);
        return check_prepare(driver, ctx, err);
    }
    if (r == 0)
        r = apply_rules(ctx, in, raw, raw_len, &done_before, err);
    if (r == 0 && done_before)
        r = answer_from_journal(ctx, err);
    else if (r == 0 && !ctx->opts->resume &&
             (spec->step == MP_STEP_PREPARE || spec->step == MP_STEP_PERFORM))
        /* Before anything happens, so that a veto leaves nothing behind. */
        r = run_hooks(ctx, in, payload.payload, payload.payload_len, MP_OUTCOME_NONE, err);
    if (r == 0 && !done_before)
        r = run_driver(driver, ctx, &payload, raw, raw_len, err);
    mp_trusted_bytes_clear(&payload);
    return r;
}

static int
execute(const struct mp_step_spec *spec, const struct mp_options *opts,
        const struct mp_driver *driver, const struct mp_trust *trust, struct mp_error **err)
{
    struct step_run run = { .ctx = { .step = spec->step, .opts = opts }, .trust = trust };
    struct mp_step_ctx *ctx = &run.ctx;
    if (spec->step == MP_STEP_BEGIN)
        ctx->out = mp_cookie_new(MP_STEP_BEGIN);
    int r = run_step(spec, ctx, driver, err);
    if (ctx->ahead)
        ctx->free_ahead(ctx->ahead);
    mp_cookie_free(ctx->out);
    mp_journal_record_free(ctx->record);
    mp_journal_close(run.journal);
    return r;
}

int
mp_step_execute(const struct mp_step_spec *spec, const struct mp_options *opts,
                const struct mp_driver *driver, struct mp_error **err)
{
    _cleanup_trust_ struct mp_trust *trust = NULL;
    int r = mp_trust_open(opts, spec->step, &trust, err);
    if (r < 0)
        return r;
    return execute(spec, opts, driver, trust, err);
}

/* Perform's cookie is formatted and signed, and Finish's read and checked,
 * while the guest stands still; Finish started ahead of that cookie waits
 * for it, and Perform runs ahead of it for the whole stream. Both pay for
 * their first parse, format, signature and check before then, and so does
 * Confirm, which migphase-migrate starts ahead of Finish's cookie too. The
 * other steps only compile the schema, which their first parse would. */
static void
warm_up(enum mp_step step, const struct mp_trust *trust)
{
    if (step == MP_STEP_PERFORM || step == MP_STEP_FINISH || step == MP_STEP_CONFIRM) {
        mp_cookie_warm();
        mp_trust_warm(trust);
    } else if (step != MP_STEP_BEGIN) {
        mp_cookie_schema_warm();
    }
}

static int
run(const struct mp_step_spec *spec, struct mp_options *opts, int argc, char **argv,
    struct mp_error **err)
{
    int r = mp_support_parse_options(opts, spec->program, spec->usage, argc, argv, err);
    if (r <= 0)
        return r;
    const struct mp_driver *driver;
    r = mp_driver_lookup(opts->driver, &driver, err);
    if (r == 0 && spec->step == MP_STEP_PREPARE)
        r = mp_listen_resolve(opts, err);
    if (r < 0)
        return r;
    uint64_t for_hooks = 0;
    if (opts->hook_capabilities) {
        r = mp_privs_parse(opts->hook_capabilities, &for_hooks, err);
        if (r < 0)
            return mp_error_prefix(err, "--hook-capabilities");
    }
    /* The key is read before privileges go: it is root's alone. */
    _cleanup_trust_ struct mp_trust *trust = NULL;
    r = mp_trust_open(opts, spec->step, &trust, err);
    if (r < 0)
        return r;
    uint64_t keep = driver->capabilities;
    if (spec->step == MP_STEP_BEGIN)
        keep |= driver->begin_capabilities;
    /* Giving --out cookies to a group root is not in needs CAP_CHOWN. */
    if (opts->cookie_group)
        keep |= 1ull << CAP_CHOWN;
    r = mp_privs_drop(keep, for_hooks, opts->user, err);
    if (r < 0)
        return r;
    mp_proc_catch_interrupts();
    warm_up(spec->step, trust);
    return execute(spec, opts, driver, trust, err);
}

int
mp_step_main(const struct mp_step_spec *spec, int argc, char **argv)
{
    mp_log_init(argv[0]);
    mp_notify_take();
    struct mp_options opts;
    _cleanup_error_ struct mp_error *err = NULL;
    int r = run(spec, &opts, argc, argv, &err);
    if (r < 0)
        mp_log(MP_LOG_ERROR, "%s", err ? err->message : strerror(-r));
    mp_options_free(&opts);
    return mp_exit_status(r, err);
}
