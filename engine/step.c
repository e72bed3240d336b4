#include "config.h"

#include "step.h"

#include "cookie.h"
#include "driver.h"
#include "facts.h"
#include "hooks.h"
#include "journal.h"
#include "log.h"
#include "privs.h"
#include "proc.h"
#include "progress.h"
#include "support.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

/* The journal as the engine holds it: writable. Drivers see it read-only
 * through ctx->journal; only the engine commits. */
struct step_run {
    struct mp_step_ctx ctx;
    struct mp_journal *journal;
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
    int r = mp_journal_commit(run_of(ctx)->journal, ctx->record, err);
    if (r < 0)
        return mp_error_prefix(err, "recording step %s in the journal", mp_step_name(ctx->step));
    return 0;
}

/* The step whose cookie each step reads when the migration goes forward. */
static const enum mp_step expected_input[MP_STEP_COUNT] = {
    [MP_STEP_PREPARE] = MP_STEP_BEGIN,
    [MP_STEP_PERFORM] = MP_STEP_PREPARE,
    [MP_STEP_FINISH] = MP_STEP_PERFORM,
    [MP_STEP_CONFIRM] = MP_STEP_FINISH,
};

static int
read_cookie(const struct mp_step_spec *spec, const struct mp_options *opts, struct mp_cookie **out,
            char **xml, size_t *len, struct mp_error **err)
{
    int r = mp_read_file(opts->in_path, MP_COOKIE_MAX_SIZE, xml, len, err);
    if (r == -EFBIG) {
        mp_error_free(steal_ptr(err));
        return mp_error_input(err, EFBIG, "the cookie is larger than %d bytes", MP_COOKIE_MAX_SIZE);
    }
    if (r < 0)
        return mp_error_prefix(err, "reading the cookie");
    /* Features this host's hooks understand count as understood. */
    _cleanup_strv_ char **known = mp_hooks_known_features(opts->hooks_dir);
    r = mp_cookie_parse(*xml, *len, (const char *const *)known, out, err);
    if (r < 0)
        return r;
    const struct mp_cookie *c = *out;
    if (!mp_streq0(c->driver, opts->driver))
        return mp_error_input(err, EINVAL,
                              "the cookie is for driver %s, this helper runs driver %s",
                              c->driver ? c->driver : "(none)", opts->driver);
    /* Going back is allowed only to cancel: Finish and Confirm may undo a
     * migration from any earlier cookie, never a later one. */
    enum mp_step want = expected_input[spec->step];
    bool undoing = spec->step >= MP_STEP_FINISH && c->step < want;
    if (c->step != want && !undoing)
        return mp_error_input(err, EINVAL, "expected a cookie written by %s, got one written by %s",
                              mp_step_name(want), mp_step_name(c->step));
    if (spec->step == MP_STEP_PERFORM && c->outcome != MP_OUTCOME_SUCCESS)
        return mp_error_input(err, EINVAL, "Prepare did not succeed (%s): nothing to send",
                              c->outcome_message ? c->outcome_message
                                                 : mp_outcome_name(c->outcome));
    return 0;
}

/* Whether this Finish or Confirm undoes the migration. Confirm may resume
 * the source only if nothing says the destination runs the VM. */
static int
decide_cancel(enum mp_step step, const struct mp_options *opts, const struct mp_cookie *in,
              bool *cancel, struct mp_error **err)
{
    bool failed = in->outcome != MP_OUTCOME_SUCCESS || in->step != expected_input[step];
    *cancel = opts->cancelled || failed;
    if (step == MP_STEP_CONFIRM && opts->cancelled && !failed && !opts->force) {
        mp_error_set(err, EPERM,
                     "refusing to resume the source: the Finish cookie says the destination "
                     "resumed the VM; run migphase-confirm without --cancelled, or check the "
                     "destination and use --force");
        return mp_error_left_state(err);
    }
    return 0;
}

/* Once the stream completed, the destination may hold the only running copy:
 * the source resumes only on a Finish cookie that says the destination gave
 * up, or on --force after a human checked. */
static int
guard_source_resume(const struct mp_step_ctx *ctx, struct mp_error **err)
{
    const struct mp_cookie *in = ctx->in;
    if (ctx->step != MP_STEP_CONFIRM || !ctx->cancel || ctx->opts->force)
        return 0;
    if (!mp_streq0(mp_journal_record_get_fact(ctx->record, MP_FACT_STREAM),
                   MP_FACT_STREAM_COMPLETED))
        return 0;
    if (in->step == MP_STEP_FINISH && in->outcome != MP_OUTCOME_SUCCESS)
        return 0;
    mp_error_set(err, EPERM,
                 "refusing to resume the source: its stream completed and no Finish cookie says "
                 "the destination gave up; run migphase-finish on the destination and confirm "
                 "with its cookie, or check that the destination VM is gone and use --force");
    return mp_error_left_state(err);
}

static bool
step_closes_migration(enum mp_step step, int rc, const struct mp_error *err)
{
    if (rc < 0 && err && err->kind == MP_ERR_STATE)
        return false;
    if (step == MP_STEP_FINISH || step == MP_STEP_CONFIRM)
        return true;
    /* A failed Prepare removed its VM: the destination has nothing pending. */
    return step == MP_STEP_PREPARE && rc < 0;
}

/* The fields a migration keeps from step to step (check_unchanged) are
 * summed into a fact of the record (MP_FACT_UNCHANGED_SUM) by the first step
 * on a host, so that the later steps compare sums instead of parsing that
 * step's cookie again. */

static uint64_t
sum_string(uint64_t h, const char *s)
{
    /* A marker tells NULL from "" and ends each string, so that moving a
     * byte from one field to the next changes the sum. */
    h = mp_fnv1a64(h, s ? "+" : "-", 1);
    return s ? mp_fnv1a64(h, s, strlen(s) + 1) : h;
}

static char *
unchanged_sum(const struct mp_cookie *c)
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
    return xasprintf("%016" PRIx64, h);
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
    _cleanup_free_ char *sum = unchanged_sum(c);
    mp_journal_record_set_fact(rec, MP_FACT_UNCHANGED_SUM, sum);
}

/* Perform, Finish and Confirm continue a migration this host recorded: refuse
 * any other cookie before a journal directory is created for it. */
static int
check_known_migration(const char *state_dir, const struct mp_cookie *c, enum mp_role role,
                      struct mp_error **err)
{
    _cleanup_free_ char *record =
        xasprintf("%s/%s/%s/record", state_dir, mp_role_name(role), c->domain_name);
    if (mp_journal_check_domain(c->domain_name, err) < 0)
        return -EINVAL;
    if (access(record, F_OK) < 0)
        return mp_error_input(err, ENOENT, "this host has no migration of domain %s as %s",
                              c->domain_name, mp_role_name(role));
    return 0;
}

/* The fields a migration keeps from step to step must be the ones this host
 * saw in its first step's cookie: anything else was changed on the way. */
static int
check_unchanged(const struct mp_step_ctx *ctx, const struct mp_cookie *in, struct mp_error **err)
{
    const char *recorded = mp_journal_record_get_fact(ctx->record, MP_FACT_UNCHANGED_SUM);
    if (!recorded)
        return 0; /* a record of an earlier development version: nothing to compare */
    _cleanup_free_ char *sum = unchanged_sum(in);
    if (strcmp(sum, recorded) == 0)
        return 0;
    return mp_error_input(err, EINVAL,
                          "the cookie's VM description or parameters differ from those of "
                          "migration %s recorded on this host: refusing a changed cookie",
                          in->migration_id);
}

/* A step run again must be given the cookie it was given the first time,
 * or it would act on something else. A concluded step does not act again:
 * it answers from the journal whatever the rest of the cookie says, so that
 * a step that ran on a damaged but acceptable cookie can still be followed
 * by the recovery, which hands it the cookie the peer kept. */
static int
check_same_input(const struct mp_step_ctx *ctx, const char *in_xml, size_t in_len, bool done_before,
                 struct mp_error **err)
{
    if (ctx->record->step != ctx->step || !in_xml)
        return 0;
    _cleanup_free_ char *saved = NULL;
    size_t len = 0;
    if (mp_journal_load_cookie(ctx->journal, ctx->step, false, &saved, &len, NULL) < 0)
        return 0;
    if (len == in_len && memcmp(saved, in_xml, len) == 0)
        return 0;
    if (done_before) {
        mp_warn("this cookie differs from the one step %s of migration %s ran with; "
                "answering with what it did then",
                mp_step_name(ctx->step), ctx->record->migration_id);
        return 0;
    }
    /* An undo may name any cookie of the migration: Confirm and Finish run
     * again with --cancelled after a first try with another one. */
    if (ctx->cancel)
        return 0;
    return mp_error_input(err, EINVAL,
                          "step %s of migration %s already ran on this host with another cookie",
                          mp_step_name(ctx->step), ctx->record->migration_id);
}

/* Open and lock the journal, refusing a second migration of the domain. A
 * record of the same migration that already concluded this step sets
 * *done_before so the step is answered from the journal. */
static int
open_journal(struct mp_step_ctx *ctx, const struct mp_cookie *c, bool *done_before,
             struct mp_error **err)
{
    enum mp_role role = mp_step_role(ctx->step);
    bool continues =
        ctx->step == MP_STEP_PERFORM || ctx->step == MP_STEP_FINISH || ctx->step == MP_STEP_CONFIRM;
    int r = continues ? check_known_migration(ctx->opts->state_dir, c, role, err) : 0;
    if (r < 0)
        return r;
    struct step_run *run = run_of(ctx);
    r = mp_journal_open(ctx->opts->state_dir, c->domain_name, role, &run->journal, err);
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
    if (same && old->step > ctx->step)
        return mp_error_input(err, EALREADY, "migration %s already reached step %s on this host",
                              c->migration_id, mp_step_name(old->step));
    /* A Finish or Confirm that failed and left state behind runs again: that
     * is how it gets resolved. Any other concluded step answers as before. */
    bool retry = old && old->phase == MP_PHASE_FAILED && !old->closed &&
                 (ctx->step == MP_STEP_FINISH || ctx->step == MP_STEP_CONFIRM);
    *done_before = same && old->step == ctx->step && old->phase != MP_PHASE_STARTED && !retry;
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
    int r = mp_write_file(ctx->opts->out_path, xml, len, err);
    if (r < 0)
        return mp_error_prefix(err, "writing the cookie");
    return 0;
}

/* The step already concluded: hand back the cookie it wrote, and its result. */
/* A concluded Finish or Confirm cannot be redone the other way: one that
 * completed the migration cannot cancel it, and the reverse. */
static int
check_same_direction(const struct mp_step_ctx *ctx, struct mp_error **err)
{
    const char *undo = mp_journal_record_get_fact(ctx->record, MP_FACT_UNDO);
    if (!undo || strcmp(undo, ctx->cancel ? MP_FACT_YES : MP_FACT_NO) == 0)
        return 0;
    if (!ctx->cancel)
        return mp_error_set(err, EALREADY, "%s already cancelled migration %s on this host",
                            mp_step_name(ctx->step), ctx->record->migration_id);
    mp_error_set(err, EALREADY,
                 "%s already completed migration %s on this host: the VM runs on the "
                 "destination; run migphase-confirm without --cancelled on the source",
                 mp_step_name(ctx->step), ctx->record->migration_id);
    return mp_error_left_state(err);
}

static int
answer_from_journal(struct mp_step_ctx *ctx, struct mp_error **err)
{
    int r = check_same_direction(ctx, err);
    if (r < 0)
        return r;
    mp_info("step %s of migration %s already concluded (%s)", mp_step_name(ctx->step),
            ctx->record->migration_id, mp_outcome_name(ctx->record->outcome));
    if (ctx->out) {
        _cleanup_free_ char *xml = NULL;
        size_t len = 0;
        r = mp_journal_load_cookie(ctx->journal, ctx->step, true, &xml, &len, err);
        if (r < 0)
            return r;
        r = write_cookie(ctx, xml, len, err);
        if (r < 0)
            return r;
    }
    if (ctx->record->phase == MP_PHASE_FAILED)
        return mp_error_set(err, EIO, "step %s already failed: %s", mp_step_name(ctx->step),
                            ctx->record->message ? ctx->record->message : "see the journal");
    return 0;
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
    rec->closed = step_closes_migration(ctx->step, rc, *err);
    if (ctx->step == MP_STEP_PERFORM && rc == 0)
        mp_journal_record_set_fact(rec, MP_FACT_STREAM, MP_FACT_STREAM_COMPLETED);
    if (ctx->step == MP_STEP_FINISH || ctx->step == MP_STEP_CONFIRM)
        mp_journal_record_set_fact(rec, MP_FACT_UNDO, ctx->cancel ? MP_FACT_YES : MP_FACT_NO);
    free(rec->message);
    rec->message = rc < 0 && *err ? xstrdup((*err)->message) : NULL;

    _cleanup_free_ char *xml = NULL;
    size_t len = 0;
    struct mp_error *werr = NULL;
    int r = 0;
    if (ctx->out) {
        r = mp_cookie_format(ctx->out, &xml, &len, &werr);
        if (r == 0)
            r = mp_journal_save_cookie(run_of(ctx)->journal, ctx->step, true, xml, len, &werr);
    }
    if (r == 0)
        r = checkpoint(ctx, rc < 0 ? MP_PHASE_FAILED : MP_PHASE_DONE, &werr);
    if (r == 0)
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
    if (r == 0 && plan.act)
        r = plan.act(ctx, plan.state, err);
    mp_step_plan_clear(&plan);
    return r;
}

static int
run_driver(const struct mp_driver *driver, struct mp_step_ctx *ctx, const char *in_xml,
           size_t in_len, struct mp_error **err)
{
    int r;
    if (in_xml) {
        r = mp_journal_save_cookie(run_of(ctx)->journal, ctx->step, false, in_xml, in_len, err);
        if (r < 0)
            return mp_error_prefix(err, "saving the cookie in the journal");
    }
    if (ctx->step == MP_STEP_PERFORM)
        ctx->progress = mp_progress_new(ctx->opts->progress, STDERR_FILENO);
    r = plan_and_act(driver, ctx, err);
    mp_progress_free(steal_ptr(&ctx->progress));
    if (r < 0 && (ctx->step == MP_STEP_PREPARE || ctx->step == MP_STEP_PERFORM)) {
        /* The hooks ran before the step failed: they undo what they did. */
        run_hooks(ctx, ctx->in, in_xml, in_len, MP_OUTCOME_FAILED, NULL);
    }
    if (ctx->step == MP_STEP_FINISH || ctx->step == MP_STEP_CONFIRM) {
        /* Past the point of no return hooks only report: they see the
         * outcome, and their failures never undo the step. */
        enum mp_outcome outcome = r < 0         ? MP_OUTCOME_FAILED
                                  : ctx->cancel ? MP_OUTCOME_CANCELLED
                                                : MP_OUTCOME_SUCCESS;
        run_hooks(ctx, ctx->in, in_xml, in_len, outcome, NULL);
    }
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
}

/* Begin describes the VM before anything is locked: it has no side effects,
 * and the domain's name, which names the journal, comes from the VM. */
static int
run_begin(const struct mp_driver *driver, struct mp_step_ctx *ctx, struct mp_error **err)
{
    fill_begin_cookie(ctx->out, ctx->opts);
    ctx->record = mp_journal_record_new();
    struct mp_step_plan plan = { 0 };
    int r = mp_driver_plan_step(driver, ctx, &plan, err);
    /* Begin has no side effects: there is no journal yet to record one. */
    assert(r < 0 || !plan.act);
    mp_step_plan_clear(&plan);
    if (r < 0)
        return r;
    /* Begin's hooks see the cookie Begin is about to write. */
    _cleanup_free_ char *xml = NULL;
    size_t len = 0;
    r = mp_cookie_format(ctx->out, &xml, &len, err);
    if (r < 0)
        return r;
    r = run_hooks(ctx, ctx->out, xml, len, MP_OUTCOME_NONE, err);
    if (r < 0)
        return r;
    bool done_before = false;
    r = open_journal(ctx, ctx->out, &done_before, err);
    if (r == 0)
        r = conclude(ctx, 0, err);
    if (r < 0) /* the hooks undo what they did for a Begin that did not happen */
        run_hooks(ctx, ctx->out, xml, len, MP_OUTCOME_FAILED, NULL);
    return r;
}

static int
run_step(const struct mp_step_spec *spec, struct mp_step_ctx *ctx, const struct mp_driver *driver,
         struct mp_error **err)
{
    if (spec->step == MP_STEP_BEGIN)
        return run_begin(driver, ctx, err);

    _cleanup_cookie_ struct mp_cookie *in = NULL;
    _cleanup_free_ char *in_xml = NULL;
    size_t in_len = 0;
    int r = read_cookie(spec, ctx->opts, &in, &in_xml, &in_len, err);
    if (r < 0)
        return r;
    ctx->in = in;
    if (spec->step == MP_STEP_FINISH || spec->step == MP_STEP_CONFIRM) {
        r = decide_cancel(spec->step, ctx->opts, in, &ctx->cancel, err);
        if (r < 0)
            return r;
    }
    if (spec->step != MP_STEP_CONFIRM) {
        ctx->out = mp_cookie_derive(in, spec->step);
        ctx->out->outcome = MP_OUTCOME_NONE;
        free(ctx->out->outcome_message);
        ctx->out->outcome_message = NULL;
        if (spec->step == MP_STEP_PREPARE) {
            ctx->out->destination.hostname = mp_host_name();
            ctx->out->destination.host_id = mp_host_id();
        }
    }
    bool done_before = false;
    r = open_journal(ctx, in, &done_before, err);
    if (r < 0)
        return r;
    if (spec->step != MP_STEP_PREPARE) {
        r = check_unchanged(ctx, in, err);
        if (r < 0)
            return r;
    }
    r = check_same_input(ctx, in_xml, in_len, done_before, err);
    if (r < 0)
        return r;
    if (done_before)
        return answer_from_journal(ctx, err);
    r = guard_source_resume(ctx, err);
    if (r < 0)
        return r;
    if (spec->step == MP_STEP_PREPARE || spec->step == MP_STEP_PERFORM) {
        /* Before anything happens, so that a veto leaves nothing behind. */
        r = run_hooks(ctx, in, in_xml, in_len, MP_OUTCOME_NONE, err);
        if (r < 0)
            return r;
    }
    return run_driver(driver, ctx, in_xml, in_len, err);
}

int
mp_step_execute(const struct mp_step_spec *spec, const struct mp_options *opts,
                const struct mp_driver *driver, struct mp_error **err)
{
    struct step_run run = { .ctx = { .step = spec->step, .opts = opts } };
    struct mp_step_ctx *ctx = &run.ctx;
    if (spec->step == MP_STEP_BEGIN)
        ctx->out = mp_cookie_new(MP_STEP_BEGIN);
    int r = run_step(spec, ctx, driver, err);
    mp_cookie_free(ctx->out);
    mp_journal_record_free(ctx->record);
    mp_journal_close(run.journal);
    return r;
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
    if (r < 0)
        return r;
    uint64_t for_hooks = 0;
    if (opts->hook_capabilities) {
        r = mp_privs_parse(opts->hook_capabilities, &for_hooks, err);
        if (r < 0)
            return mp_error_prefix(err, "--hook-capabilities");
    }
    r = mp_privs_drop(driver->capabilities, for_hooks, opts->user, err);
    if (r < 0)
        return r;
    mp_proc_catch_interrupts();
    return mp_step_execute(spec, opts, driver, err);
}

int
mp_step_main(const struct mp_step_spec *spec, int argc, char **argv)
{
    mp_log_init(argv[0]);
    struct mp_options opts;
    _cleanup_error_ struct mp_error *err = NULL;
    int r = run(spec, &opts, argc, argv, &err);
    if (r < 0)
        mp_log(MP_LOG_ERROR, "%s", err ? err->message : strerror(-r));
    mp_options_free(&opts);
    return mp_exit_status(r, err);
}
