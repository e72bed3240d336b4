/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of the engine's rules (engine/step.c) with the fake driver of
 * tests/engine: no hypervisor, no QEMU. Two tables:
 *
 *  - behaviours: each step, on the path a migration normally takes to it,
 *    with each script of the fake driver (succeed, fail cleanly in the plan
 *    or the act, fail leaving state, crash in the plan, before or after the
 *    side effect): exit status, journal record, cookie written, VM state.
 *
 *  - the matrix: every step run on every journal record its host can hold
 *    (a scenario: the migration driven to that point, crashes included),
 *    with every incoming cookie (each step x each outcome, the one the step
 *    would naturally get, another migration, another domain, changed
 *    parameters, another writer host, a bad host name, an exec: URI) and
 *    every combination of --cancelled and --force. The
 *    expectations come from a first-match table of rules written from
 *    docs/recovery.md and DESIGN.md; every combination must match a rule,
 *    every rule must match a combination, and on top of the rules every
 *    combination is checked against the invariants of the protocol (a
 *    refused step touches nothing; no step quits a source whose journal
 *    says its stream never completed; no step kills a destination that
 *    runs; without --force no step leaves the VM running on both hosts; no
 *    Finish hands out a cookie saying its VM is gone while it runs).
 *
 * Rules say what the engine does; those marked "Surprising" do something a
 * reader may not expect but break no promise. A test that shows a promise
 * broken across steps (outside the one-step matrix) and is known to fail
 * says so on stderr ("SKIP: known engine bug") and is skipped; it fails once
 * the engine is fixed, so that the mark goes. The cookies here are unsigned
 * (trust = none); tests/unit/test-trust.c runs the steps with signatures. */
#include "config.h"

#include "facts.h"
#include "proc.h"
#include "step.h"
#include "world.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

static struct world w;

static void
setup(void)
{
    world_setup(&w);
}

static void
teardown(void)
{
    world_teardown(&w);
}

TestSuite(engine, .init = setup, .fini = teardown, .timeout = 60);

/* One step of a migration's history: run with its natural cookies. */
struct move {
    enum mp_step step;
    enum fake_script script;
    unsigned flags;
};

static void
play(const struct move *m)
{
    world_play(&w, m->step, m->script, m->flags);
}

static void
play_all(const struct move *moves, size_t n)
{
    for (size_t i = 0; i < n && moves[i].step != MP_STEP_COUNT; i++)
        play(&moves[i]);
}

static enum mp_vm_state
vm_source(void)
{
    struct fake_hv hv;
    fake_hv_read("vm1", &hv);
    return hv.source;
}

static enum mp_vm_state
vm_destination(void)
{
    struct fake_hv hv;
    fake_hv_read("vm1", &hv);
    return hv.destination;
}

static char *
saved_cookie(enum mp_step step, bool out)
{
    _cleanup_free_ char *path =
        xasprintf("%s/%s/vm1/%s-%s.xml", world_state_dir(&w, step),
                  mp_role_name(mp_step_role(step)), mp_step_name(step), out ? "out" : "in");
    return world_read(path);
}

/* ------------------------------------------------------------------------ */
/* Behaviours: one step, one script, on the usual way to it. */

#define NO_RECORD MP_STEP_COUNT /* rec_step: no record at all */

struct behaviour {
    enum mp_step step;
    unsigned flags;
    bool undo_path; /* reached by a cancelled migration: Perform done, Finish --cancelled */
    enum fake_script script;
    int status;
    /* the record after it */
    enum mp_step rec_step;
    enum mp_journal_phase phase;
    enum mp_outcome outcome;
    bool closed;
    /* the cookie written, if any, and its outcome */
    bool out;
    enum mp_outcome out_outcome;
    /* the VM after it */
    enum mp_vm_state src, dst;
};

#define B(step, flags, undo, script, status, rstep, phase, outcome, closed, out, oo, src, dst)     \
    {                                                                                              \
        MP_STEP_##step, flags, undo, FAKE_##script, status, MP_STEP_##rstep, MP_PHASE_##phase,     \
            MP_OUTCOME_##outcome, closed, out, MP_OUTCOME_##oo, MP_VM_##src, MP_VM_##dst           \
    }
#define MP_STEP_NONE MP_STEP_COUNT /* for B(): the NONE in the record columns */
#define CRASH        RUN_CRASHED
#define C            RUN_CANCELLED

/* Columns: step, flags, via a cancelled migration, script | exit status |
 * record: step, phase, outcome, closed | cookie out, its outcome | VM on
 * the source, on the destination. */
static const struct behaviour behaviours[] = {
    B(BEGIN, 0, 0, SUCCEED, 0, BEGIN, DONE, SUCCESS, 0, 1, SUCCESS, RUNNING, ABSENT),
    B(BEGIN, 0, 0, FAIL_PLAN, 1, NONE, STARTED, NONE, 0, 0, NONE, RUNNING, ABSENT),
    B(BEGIN, 0, 0, CRASH_PLAN, CRASH, NONE, STARTED, NONE, 0, 0, NONE, RUNNING, ABSENT),
    /* Begin has no act: scripts for the act change nothing. */
    B(BEGIN, 0, 0, FAIL_LEFT_STATE, 0, BEGIN, DONE, SUCCESS, 0, 1, SUCCESS, RUNNING, ABSENT),
    B(BEGIN, 0, 0, CRASH_AFTER, 0, BEGIN, DONE, SUCCESS, 0, 1, SUCCESS, RUNNING, ABSENT),

    B(PREPARE, 0, 0, SUCCEED, 0, PREPARE, DONE, SUCCESS, 0, 1, SUCCESS, RUNNING, INCOMING),
    /* A failed plan is recorded (FAILED, never STARTED); a failed Prepare closes. */
    B(PREPARE, 0, 0, FAIL_PLAN, 1, PREPARE, FAILED, FAILED, 1, 1, FAILED, RUNNING, ABSENT),
    B(PREPARE, 0, 0, FAIL_ACT, 1, PREPARE, FAILED, FAILED, 1, 1, FAILED, RUNNING, ABSENT),
    B(PREPARE, 0, 0, FAIL_LEFT_STATE, 3, PREPARE, FAILED, FAILED, 0, 1, FAILED, RUNNING, INCOMING),
    /* The journal directory exists, but no record: nothing was recorded. */
    B(PREPARE, 0, 0, CRASH_PLAN, CRASH, NONE, STARTED, NONE, 0, 0, NONE, RUNNING, ABSENT),
    B(PREPARE, 0, 0, REFUSE_PLAN, 2, NONE, STARTED, NONE, 0, 0, NONE, RUNNING, ABSENT),
    B(PREPARE, 0, 0, CRASH_ACT, CRASH, PREPARE, STARTED, NONE, 0, 0, NONE, RUNNING, ABSENT),
    B(PREPARE, 0, 0, CRASH_AFTER, CRASH, PREPARE, STARTED, NONE, 0, 0, NONE, RUNNING, INCOMING),

    B(PERFORM, 0, 0, SUCCEED, 0, PERFORM, DONE, SUCCESS, 0, 1, SUCCESS, MIGRATED, INCOMING),
    /* A failed Perform stays open: Confirm --cancelled closes the source. */
    B(PERFORM, 0, 0, FAIL_PLAN, 1, PERFORM, FAILED, FAILED, 0, 1, FAILED, RUNNING, INCOMING),
    B(PERFORM, 0, 0, FAIL_ACT, 1, PERFORM, FAILED, FAILED, 0, 1, FAILED, RUNNING, INCOMING),
    B(PERFORM, 0, 0, FAIL_LEFT_STATE, 3, PERFORM, FAILED, FAILED, 0, 1, FAILED, MIGRATING,
      INCOMING),
    B(PERFORM, 0, 0, CRASH_PLAN, CRASH, BEGIN, DONE, SUCCESS, 0, 0, NONE, RUNNING, INCOMING),
    /* A plan that refuses its input: exit 2, the journal as it was. */
    B(PERFORM, 0, 0, REFUSE_PLAN, 2, BEGIN, DONE, SUCCESS, 0, 0, NONE, RUNNING, INCOMING),
    B(PERFORM, 0, 0, CRASH_ACT, CRASH, PERFORM, STARTED, NONE, 0, 0, NONE, RUNNING, INCOMING),
    B(PERFORM, 0, 0, CRASH_AFTER, CRASH, PERFORM, STARTED, NONE, 0, 0, NONE, MIGRATED, INCOMING),

    B(FINISH, 0, 0, SUCCEED, 0, FINISH, DONE, SUCCESS, 1, 1, SUCCESS, MIGRATED, RUNNING),
    /* A Finish whose plan failed touched nothing: its incoming VM is still
     * there, and so is the open record (recovery kills the VM). It hands out
     * no cookie: a "failed" one would let Confirm resume the source while a
     * later Finish could still resume the destination. */
    B(FINISH, 0, 0, FAIL_PLAN, 1, FINISH, FAILED, FAILED, 0, 0, NONE, MIGRATED, INCOMING),
    B(FINISH, 0, 0, FAIL_ACT, 1, FINISH, FAILED, FAILED, 1, 1, FAILED, MIGRATED, ABSENT),
    /* Failed leaving state: no cookie at all, so Confirm cannot read "failed"
     * and resume the source while this VM may still run. */
    B(FINISH, 0, 0, FAIL_LEFT_STATE, 3, FINISH, FAILED, FAILED, 0, 0, NONE, MIGRATED, FAILED),
    B(FINISH, 0, 0, REFUSE_PLAN, 2, PREPARE, DONE, SUCCESS, 0, 0, NONE, MIGRATED, INCOMING),
    B(FINISH, 0, 0, CRASH_PLAN, CRASH, PREPARE, DONE, SUCCESS, 0, 0, NONE, MIGRATED, INCOMING),
    B(FINISH, 0, 0, CRASH_ACT, CRASH, FINISH, STARTED, NONE, 0, 0, NONE, MIGRATED, INCOMING),
    B(FINISH, 0, 0, CRASH_AFTER, CRASH, FINISH, STARTED, NONE, 0, 0, NONE, MIGRATED, RUNNING),

    /* Finish --cancelled after a completed stream: the incoming VM goes. */
    B(FINISH, C, 0, SUCCEED, 0, FINISH, DONE, CANCELLED, 1, 1, CANCELLED, MIGRATED, ABSENT),
    B(FINISH, C, 0, FAIL_PLAN, 1, FINISH, FAILED, FAILED, 0, 0, NONE, MIGRATED, INCOMING),
    /* Surprising: the act could not stop the VM, yet the record is closed
     * (it acted) and its cookie says failed: the incoming VM is left over. */
    B(FINISH, C, 0, FAIL_ACT, 1, FINISH, FAILED, FAILED, 1, 1, FAILED, MIGRATED, INCOMING),
    B(FINISH, C, 0, FAIL_LEFT_STATE, 3, FINISH, FAILED, FAILED, 0, 0, NONE, MIGRATED, INCOMING),
    B(FINISH, C, 0, REFUSE_PLAN, 2, PREPARE, DONE, SUCCESS, 0, 0, NONE, MIGRATED, INCOMING),
    B(FINISH, C, 0, CRASH_ACT, CRASH, FINISH, STARTED, NONE, 0, 0, NONE, MIGRATED, INCOMING),
    B(FINISH, C, 0, CRASH_AFTER, CRASH, FINISH, STARTED, NONE, 0, 0, NONE, MIGRATED, ABSENT),

    B(CONFIRM, 0, 0, SUCCEED, 0, CONFIRM, DONE, SUCCESS, 1, 0, NONE, ABSENT, RUNNING),
    /* A Confirm whose plan failed touched nothing: it stays open, to run again. */
    B(CONFIRM, 0, 0, FAIL_PLAN, 1, CONFIRM, FAILED, FAILED, 0, 0, NONE, MIGRATED, RUNNING),
    /* A Confirm that failed cleanly left the source as it was, paused: the
     * migration stays open, and Confirm runs again (see the matrix). */
    B(CONFIRM, 0, 0, FAIL_ACT, 1, CONFIRM, FAILED, FAILED, 0, 0, NONE, MIGRATED, RUNNING),
    B(CONFIRM, 0, 0, FAIL_LEFT_STATE, 3, CONFIRM, FAILED, FAILED, 0, 0, NONE, MIGRATED, RUNNING),
    B(CONFIRM, 0, 0, REFUSE_PLAN, 2, PERFORM, DONE, SUCCESS, 0, 0, NONE, MIGRATED, RUNNING),
    B(CONFIRM, 0, 0, CRASH_PLAN, CRASH, PERFORM, DONE, SUCCESS, 0, 0, NONE, MIGRATED, RUNNING),
    B(CONFIRM, 0, 0, CRASH_ACT, CRASH, CONFIRM, STARTED, NONE, 0, 0, NONE, MIGRATED, RUNNING),
    B(CONFIRM, 0, 0, CRASH_AFTER, CRASH, CONFIRM, STARTED, NONE, 0, 0, NONE, ABSENT, RUNNING),

    /* Confirm on Finish's "cancelled" cookie: the paused source resumes.
     * Confirm's record says success: it did what it was asked (undo=yes). */
    B(CONFIRM, 0, 1, SUCCEED, 0, CONFIRM, DONE, SUCCESS, 1, 0, NONE, RUNNING, ABSENT),
    B(CONFIRM, C, 1, SUCCEED, 0, CONFIRM, DONE, SUCCESS, 1, 0, NONE, RUNNING, ABSENT),
    B(CONFIRM, 0, 1, FAIL_ACT, 1, CONFIRM, FAILED, FAILED, 0, 0, NONE, MIGRATED, ABSENT),
    B(CONFIRM, 0, 1, FAIL_LEFT_STATE, 3, CONFIRM, FAILED, FAILED, 0, 0, NONE, MIGRATED, ABSENT),
    B(CONFIRM, 0, 1, CRASH_ACT, CRASH, CONFIRM, STARTED, NONE, 0, 0, NONE, MIGRATED, ABSENT),
    B(CONFIRM, 0, 1, CRASH_AFTER, CRASH, CONFIRM, STARTED, NONE, 0, 0, NONE, RUNNING, ABSENT),
};

/* Drive the migration to `step` as it normally gets there. */
static void
reach(enum mp_step step, bool undo_path)
{
    for (enum mp_step s = MP_STEP_BEGIN; s < step; s++) {
        unsigned flags = undo_path && s == MP_STEP_FINISH ? RUN_CANCELLED : 0;
        play(&(struct move){ s, FAKE_SUCCEED, flags });
    }
}

ParameterizedTestParameters(engine, behaviour)
{
    size_t n = ARRAY_SIZE(behaviours);
    return cr_make_param_array(size_t, world_indices(n), n);
}

ParameterizedTest(size_t *i, engine, behaviour)
{
    const struct behaviour *b = &behaviours[*i];
    _cleanup_free_ char *name =
        xasprintf("behaviours[%zu]: %s%s%s with the fake set to %s", *i, mp_step_name(b->step),
                  b->flags & RUN_CANCELLED ? " --cancelled" : "",
                  b->undo_path ? " (cancelled migration)" : "", fake_script_name(b->script));
    reach(b->step, b->undo_path);
    _cleanup_free_ char *before = world_record_text(&w, mp_step_role(b->step), "vm1");
    _cleanup_free_ char *message = NULL;
    const char *out_name = b->step == MP_STEP_CONFIRM ? NULL : "out.xml";
    int status =
        world_run(&w, b->step, world_natural_in[b->step], out_name, b->flags, b->script, &message);
    cr_assert_eq(status, b->status, "%s: exit status %d, expected %d (%s)", name, status, b->status,
                 message ? message : "no message");

    _cleanup_record_ struct mp_journal_record *rec = world_record(&w, mp_step_role(b->step), "vm1");
    if (b->rec_step == NO_RECORD) {
        cr_assert_null(rec, "%s: a record was written", name);
    } else {
        cr_assert_not_null(rec, "%s: no record", name);
        cr_assert_eq(rec->step, b->rec_step, "%s: record at step %s", name,
                     mp_step_name(rec->step));
        cr_assert_eq(rec->phase, b->phase, "%s: record phase %s", name,
                     mp_journal_phase_name(rec->phase));
        /* A STARTED record says outcome none and no message
         * (journal-format.md), not the previous step's. */
        cr_assert_eq(rec->outcome, b->outcome, "%s: record outcome %s", name,
                     mp_outcome_name(rec->outcome));
        if (rec->phase == MP_PHASE_STARTED)
            cr_assert_null(rec->message, "%s: a started record says '%s'", name, rec->message);
        cr_assert_eq(rec->closed, b->closed, "%s: record closed = %d", name, rec->closed);
        if (rec->step != b->step || b->status == 2) {
            /* The step left no trace: the record is the one before it. */
            _cleanup_free_ char *after = world_record_text(&w, mp_step_role(b->step), "vm1");
            cr_assert_str_eq(after, before, "%s: the record changed", name);
        }
        /* Everything the recovery needs to find the VM is in the record
         * before any side effect. */
        if (b->step != MP_STEP_BEGIN && rec->step == b->step && b->script != FAKE_FAIL_PLAN &&
            b->script != FAKE_REFUSE_PLAN)
            cr_assert_not_null(mp_journal_record_get_fact(rec, FAKE_FACT_HV),
                               "%s: the plan's fact was not recorded", name);
        if (rec->step == MP_STEP_PERFORM && rec->phase == MP_PHASE_DONE)
            cr_assert_str_eq(mp_journal_record_get_fact(rec, MP_FACT_STREAM),
                             MP_FACT_STREAM_COMPLETED, "%s", name);
        /* The direction is recorded with the STARTED record already: an
         * interrupted Confirm keeps the direction it started in. */
        if ((rec->step == MP_STEP_FINISH || rec->step == MP_STEP_CONFIRM) && rec->step == b->step)
            cr_assert_str_eq(mp_journal_record_get_fact(rec, MP_FACT_UNDO),
                             b->undo_path || (b->flags & RUN_CANCELLED) ? MP_FACT_YES : MP_FACT_NO,
                             "%s", name);
    }

    _cleanup_cookie_ struct mp_cookie *out = world_read_cookie(&w, "out.xml");
    if (!b->out) {
        cr_assert_null(out, "%s: a cookie was written", name);
        _cleanup_free_ char *kept = saved_cookie(b->step, true);
        cr_assert_null(kept, "%s: the journal keeps a cookie to hand out", name);
    } else {
        cr_assert_not_null(out, "%s: no cookie written", name);
        cr_assert_eq(out->step, b->step, "%s", name);
        cr_assert_eq(out->outcome, b->out_outcome, "%s: cookie outcome %s", name,
                     mp_outcome_name(out->outcome));
        cr_assert_str_eq(out->migration_id, rec->migration_id, "%s", name);
        if (out->outcome == MP_OUTCOME_FAILED)
            cr_assert_not_null(out->outcome_message, "%s: a failure without a message", name);
        /* What was sent is what the journal keeps to answer a re-run. */
        _cleanup_free_ char *out_path = world_cookie(&w, "out.xml");
        _cleanup_free_ char *sent = world_read(out_path);
        _cleanup_free_ char *kept = saved_cookie(b->step, true);
        cr_assert_str_eq(sent, kept, "%s: the journal keeps another cookie", name);
    }
    cr_assert_eq(vm_source(), b->src, "%s: source VM %s", name, mp_vm_state_name(vm_source()));
    cr_assert_eq(vm_destination(), b->dst, "%s: destination VM %s", name,
                 mp_vm_state_name(vm_destination()));
    /* A step that was not scripted to crash did not run its act twice, nor
     * an act after a failed plan. */
    if (b->script < FAKE_CRASH_PLAN && b->step != MP_STEP_BEGIN) {
        unsigned acts = fake_act_calls(b->step);
        bool no_act = b->script == FAKE_FAIL_PLAN || b->script == FAKE_REFUSE_PLAN;
        cr_assert_eq(acts, no_act ? 0u : 1u, "%s: %u acts", name, acts);
    }
}

/* A step that acted hands out its cookie before its journal's done commit
 * (mp_rule_cookie_before_commit), Begin after it. Seen through a cookie
 * that cannot be written (its directory is missing): a step that writes
 * first fails with its record still *started* (exit 3: it acted, nothing
 * says so), the very record of a step killed between its cookie and its
 * commit; Begin fails with its record done. Either way the same step run
 * again with the same input concludes, as recovery runs it. */
struct unwritten_cookie {
    enum mp_step step;
    unsigned flags;
    int status;
    enum mp_journal_phase phase;
    enum mp_vm_state src, dst; /* after the failed write, and after the re-run */
};

static const struct unwritten_cookie unwritten_cookies[] = {
    { MP_STEP_BEGIN, 0, 1, MP_PHASE_DONE, MP_VM_RUNNING, MP_VM_ABSENT },
    { MP_STEP_PREPARE, 0, 3, MP_PHASE_STARTED, MP_VM_RUNNING, MP_VM_INCOMING },
    { MP_STEP_PERFORM, 0, 3, MP_PHASE_STARTED, MP_VM_MIGRATED, MP_VM_INCOMING },
    { MP_STEP_FINISH, 0, 3, MP_PHASE_STARTED, MP_VM_MIGRATED, MP_VM_RUNNING },
    { MP_STEP_FINISH, RUN_CANCELLED, 3, MP_PHASE_STARTED, MP_VM_MIGRATED, MP_VM_ABSENT },
};

ParameterizedTestParameters(engine, cookie_before_commit)
{
    size_t n = ARRAY_SIZE(unwritten_cookies);
    return cr_make_param_array(size_t, world_indices(n), n);
}

ParameterizedTest(size_t *i, engine, cookie_before_commit)
{
    const struct unwritten_cookie *u = &unwritten_cookies[*i];
    const char *name = mp_step_name(u->step);
    const char *in = world_natural_in[u->step];
    reach(u->step, false);
    _cleanup_free_ char *nowhere = xasprintf("%s/missing/out.xml", w.root);
    _cleanup_free_ char *message = NULL;
    int status = world_run(&w, u->step, in, nowhere, u->flags, FAKE_SUCCEED, &message);
    cr_assert_eq(status, u->status, "%s, its cookie unwritable: exit %d, expected %d (%s)", name,
                 status, u->status, message ? message : "no message");
    _cleanup_record_ struct mp_journal_record *rec = world_record(&w, mp_step_role(u->step), "vm1");
    cr_assert_not_null(rec, "%s: no record", name);
    cr_assert_eq(rec->step, u->step, "%s: record at step %s", name, mp_step_name(rec->step));
    cr_assert_eq(rec->phase, u->phase, "%s, its cookie unwritable: record phase %s, expected %s",
                 name, mp_journal_phase_name(rec->phase), mp_journal_phase_name(u->phase));
    cr_assert_eq(vm_source(), u->src, "%s: source VM %s", name, mp_vm_state_name(vm_source()));
    cr_assert_eq(vm_destination(), u->dst, "%s: destination VM %s", name,
                 mp_vm_state_name(vm_destination()));

    free(steal_ptr(&message));
    status = world_run(&w, u->step, in, "out.xml", u->flags, FAKE_SUCCEED, &message);
    cr_assert_eq(status, 0, "%s run again: exit %d (%s)", name, status,
                 message ? message : "no message");
    _cleanup_record_ struct mp_journal_record *again =
        world_record(&w, mp_step_role(u->step), "vm1");
    cr_assert_eq(again->step, u->step, "%s run again: record at step %s", name,
                 mp_step_name(again->step));
    cr_assert_eq(again->phase, MP_PHASE_DONE, "%s run again: record phase %s", name,
                 mp_journal_phase_name(again->phase));
    _cleanup_cookie_ struct mp_cookie *out = world_read_cookie(&w, "out.xml");
    cr_assert_not_null(out, "%s run again: no cookie written", name);
    cr_assert_str_eq(out->migration_id, again->migration_id, "%s", name);
    cr_assert_eq(vm_source(), u->src, "%s run again: source VM %s", name,
                 mp_vm_state_name(vm_source()));
    cr_assert_eq(vm_destination(), u->dst, "%s run again: destination VM %s", name,
                 mp_vm_state_name(vm_destination()));
}

/* Finish --cancelled on a destination that runs is refused (exit 3): it
 * hands out no cookie, for a "failed" Finish cookie would let Confirm
 * resume the source while the destination runs. The source stays paused
 * until the migration completes: Confirm refuses to resume it on an
 * earlier cookie, Finish (completing) answers with a cookie that says the
 * destination resumed, and Confirm quits the source on it. */
Test(engine, refused_cancel_does_not_release_the_source)
{
    reach(MP_STEP_FINISH, false);
    play(&(struct move){ MP_STEP_FINISH, FAKE_CRASH_AFTER, 0 });
    cr_assert_eq(vm_destination(), MP_VM_RUNNING);
    _cleanup_free_ char *message = NULL;
    int status = world_run(&w, MP_STEP_FINISH, "perform.xml", "finish.xml", RUN_CANCELLED,
                           FAKE_SUCCEED, &message);
    cr_assert_eq(status, 3, "finish --cancelled on a running destination: %d (%s)", status,
                 message ? message : "no message");
    cr_assert_eq(vm_destination(), MP_VM_RUNNING, "Finish --cancelled killed a running VM");
    _cleanup_free_ char *finish_path = world_cookie(&w, "finish.xml");
    _cleanup_free_ char *handed = world_read(finish_path);
    cr_assert_null(handed, "a refused Finish --cancelled handed out a cookie:\n%s", handed);
    _cleanup_free_ char *kept = saved_cookie(MP_STEP_FINISH, true);
    cr_assert_null(kept, "the journal keeps a cookie of the refused Finish:\n%s", kept);

    /* The newest cookie the source has is Perform's: no proof. */
    free(steal_ptr(&message));
    status =
        world_run(&w, MP_STEP_CONFIRM, "perform.xml", NULL, RUN_CANCELLED, FAKE_SUCCEED, &message);
    cr_assert_eq(status, 3, "confirm --cancelled on Perform's cookie: %d (%s)", status,
                 message ? message : "no message");
    cr_assert_eq(vm_source(), MP_VM_MIGRATED, "the source was resumed as the destination runs");

    world_play(&w, MP_STEP_FINISH, FAKE_SUCCEED, 0);
    _cleanup_cookie_ struct mp_cookie *fin = world_read_cookie(&w, "finish.xml");
    cr_assert_not_null(fin);
    cr_assert_eq(fin->outcome, MP_OUTCOME_SUCCESS, "Finish says %s", mp_outcome_name(fin->outcome));
    world_play(&w, MP_STEP_CONFIRM, FAKE_SUCCEED, 0);
    cr_assert_eq(vm_source(), MP_VM_ABSENT);
    cr_assert_eq(vm_destination(), MP_VM_RUNNING);
}

/* After a switch to postcopy the destination holds memory the source never
 * got back: Confirm --cancelled on a cookie that says so is refused (exit
 * 3), --force or not, and the source stays as it is. */
Test(engine, no_cancel_after_postcopy)
{
    reach(MP_STEP_FINISH, false);
    _cleanup_cookie_ struct mp_cookie *perf = world_read_cookie(&w, "perform.xml");
    cr_assert_not_null(perf);
    perf->stats.convergence.present = true;
    perf->stats.convergence.postcopy = true;
    _cleanup_free_ char *xml = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_cookie_format(perf, &xml, NULL, &err), 0);
    _cleanup_free_ char *path = world_cookie(&w, "perform-postcopy.xml");
    cr_assert_eq(mp_write_file(path, xml, strlen(xml), &err), 0);
    static const unsigned flags[] = { RUN_CANCELLED, RUN_CANCELLED | RUN_FORCE };
    for (size_t i = 0; i < ARRAY_SIZE(flags); i++) {
        _cleanup_free_ char *message = NULL;
        int status = world_run(&w, MP_STEP_CONFIRM, "perform-postcopy.xml", NULL, flags[i],
                               FAKE_SUCCEED, &message);
        cr_assert_eq(status, 3, "confirm --cancelled%s after postcopy: %d (%s)",
                     flags[i] & RUN_FORCE ? " --force" : "", status,
                     message ? message : "no message");
        cr_assert(message && strstr(message, "switched to postcopy"), "%s",
                  message ? message : "no message");
        cr_assert_eq(vm_source(), MP_VM_MIGRATED, "the source was resumed after postcopy");
    }
}

/* A Finish whose plan failed (exit 1) touched nothing and leaves its record
 * open (its incoming VM waits for recovery), and a retry with the same
 * cookie may resume that VM. The cookie it hands out must not let the
 * source's Confirm resume the source before that: the VM must never end up
 * running on both hosts. */
static void
finish_plan_fails_then(unsigned finish_flags)
{
    reach(MP_STEP_FINISH, false);
    play(&(struct move){ MP_STEP_FINISH, FAKE_FAIL_PLAN, finish_flags });
    _cleanup_free_ char *m1 = NULL, *m2 = NULL;
    int confirm = -1;
    _cleanup_cookie_ struct mp_cookie *handed = world_read_cookie(&w, "finish.xml");
    if (handed)
        confirm = world_run(&w, MP_STEP_CONFIRM, "finish.xml", NULL, 0, FAKE_SUCCEED, &m1);
    int retry = world_run(&w, MP_STEP_FINISH, "perform.xml", "finish2.xml", 0, FAKE_SUCCEED, &m2);
    bool both = vm_source() == MP_VM_RUNNING && vm_destination() == MP_VM_RUNNING;
    cr_assert_not(both,
                  "the VM runs on both hosts: Finish%s failed in its plan and handed out %s; "
                  "Confirm on it exited %d (%s); Finish again exited %d (%s)",
                  finish_flags & RUN_CANCELLED ? " --cancelled" : "",
                  handed ? mp_outcome_name(handed->outcome) : "no cookie", confirm,
                  m1 ? m1 : "no message", retry, m2 ? m2 : "no message");
}

Test(engine, failed_finish_plan_does_not_release_the_source)
{
    finish_plan_fails_then(0);
}

Test(engine, failed_finish_cancel_plan_does_not_release_the_source)
{
    finish_plan_fails_then(RUN_CANCELLED);
}

/* Another helper holds the domain's journal: the step fails at once and
 * touches nothing. */
Test(engine, busy_journal)
{
    reach(MP_STEP_PERFORM, false);
    _cleanup_free_ char *before = world_record_text(&w, MP_ROLE_SOURCE, "vm1");
    struct mp_journal *held = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_journal_open(w.src_state, "vm1", MP_ROLE_SOURCE, &held, &err), 0);
    _cleanup_free_ char *message = NULL;
    int status =
        world_run(&w, MP_STEP_PERFORM, "prepare.xml", "perform.xml", 0, FAKE_SUCCEED, &message);
    mp_journal_close(held);
    cr_assert_eq(status, 1, "exit %d (%s)", status, message ? message : "no message");
    cr_assert(message && strstr(message, "another migphase helper"), "%s", message);
    _cleanup_free_ char *after = world_record_text(&w, MP_ROLE_SOURCE, "vm1");
    cr_assert_str_eq(after, before);
    cr_assert_eq(vm_source(), MP_VM_RUNNING);
    cr_assert_eq(fake_plan_calls(MP_STEP_PERFORM), 0);
}

/* Run step, given --domain of its cookie, from in to out: it succeeds,
 * its driver's ahead operation ran once, and the plan took over what that
 * readied. */
static void
run_ready_ahead(enum mp_step step, const char *in, const char *out)
{
    reach(step, false);
    _cleanup_free_ char *message = NULL;
    int status = world_run(&w, step, in, out, RUN_AHEAD, FAKE_SUCCEED, &message);
    cr_assert_eq(status, 0, "exit %d (%s)", status, message ? message : "no message");
    unsigned called = 0, taken = 0;
    fake_ahead_calls(&called, &taken);
    cr_expect_eq(called, 1, "%s_ahead ran %u times", mp_step_name(step), called);
    cr_expect_eq(taken, 1, "the plan took over what %s_ahead readied %u times", mp_step_name(step),
                 taken);
}

/* Finish --domain readies what needs no cookie before it reads one: the
 * driver's finish_ahead runs with the domain's record, and the plan takes
 * over what it readied. */
Test(engine, finish_ahead_readies_before_the_cookie)
{
    run_ready_ahead(MP_STEP_FINISH, "perform.xml", "finish.xml");
    cr_assert_eq(vm_destination(), MP_VM_RUNNING);
}

/* Fork a step run that starts once a byte comes on *go (the write end),
 * so that the parent can take a lock first: by a descriptor the child did
 * not inherit, as a copy would hold the lock for it. With input (a pipe),
 * its read end is the step's standard input. */
static pid_t
fork_step_on_go(enum mp_step step, const char *in, const char *out, unsigned flags, int input[2],
                int *go)
{
    int pipe_go[2];
    cr_assert_eq(pipe(pipe_go), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        char byte;
        if (read(pipe_go[0], &byte, 1) != 1)
            _exit(99);
        if (input) {
            dup2(input[0], STDIN_FILENO);
            close(input[0]), close(input[1]);
        }
        _exit(world_run(&w, step, in, out, flags, FAKE_SUCCEED, NULL));
    }
    close(pipe_go[0]);
    *go = pipe_go[1];
    return pid;
}

/* Finish --domain, its cookie on a pipe, finds the journal's lock held, as
 * by a Prepare still committing after its cookie: it waits for the lock
 * while no cookie has come, and takes it ahead of the cookie once free. */
Test(engine, finish_ahead_waits_for_a_held_lock)
{
    reach(MP_STEP_FINISH, false);
    int input[2];
    cr_assert_eq(pipe(input), 0);
    int go = -1;
    pid_t pid = fork_step_on_go(MP_STEP_FINISH, NULL, "finish.xml", RUN_AHEAD, input, &go);
    close(input[0]);
    struct mp_journal *held = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_journal_open(w.dst_state, "vm1", MP_ROLE_DESTINATION, &held, &err), 0);
    cr_assert_eq(write(go, "g", 1), 1);
    close(go);
    usleep(200 * 1000); /* Finish started, and found the lock held */
    mp_journal_close(held);
    usleep(500 * 1000); /* and took it */
    struct mp_journal *after = NULL;
    int r = mp_journal_open(w.dst_state, "vm1", MP_ROLE_DESTINATION, &after, NULL);
    mp_journal_close(after);
    _cleanup_free_ char *path = world_cookie(&w, "perform.xml");
    _cleanup_free_ char *cookie = world_read(path);
    cr_assert_eq(mp_write_all(input[1], cookie, strlen(cookie)), 0);
    close(input[1]);
    int ws = 0;
    cr_assert_eq(waitpid(pid, &ws, 0), pid);
    cr_assert_eq(r, -EBUSY,
                 "the lock was free before the cookie came (%d): Finish did not wait for it", r);
    cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "Finish ended with wait status %d", ws);
    cr_assert_eq(vm_destination(), MP_VM_RUNNING);
}

/* The source's journal, locked and put back as Perform leaves it between
 * its cookie and its done commit (or, with phase DONE, between that commit
 * and its exit). */
static struct mp_journal *
hold_source_at_perform(enum mp_journal_phase phase)
{
    struct mp_journal *held = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_journal_open(w.src_state, "vm1", MP_ROLE_SOURCE, &held, &err), 0);
    _cleanup_record_ struct mp_journal_record *record = NULL;
    cr_assert_eq(mp_journal_load(held, &record, &err), 0);
    cr_assert_eq(record->step, MP_STEP_PERFORM);
    record->phase = phase;
    cr_assert_eq(mp_journal_commit(held, record, &err), 0, "%s", err ? err->message : "");
    return held;
}

/* Confirm given Finish's cookie while Perform, which handed out its cookie
 * before its done commit, still holds the source's journal for that commit
 * (a busy disk): Confirm waits for the lock instead of failing a migration
 * that succeeded. */
Test(engine, confirm_waits_for_perform_concluding)
{
    reach(MP_STEP_CONFIRM, false);
    int go = -1;
    pid_t pid = fork_step_on_go(MP_STEP_CONFIRM, "finish.xml", NULL, 0, NULL, &go);
    struct mp_journal *held = hold_source_at_perform(MP_PHASE_STARTED);
    cr_assert_eq(write(go, "g", 1), 1);
    close(go);
    usleep(300 * 1000); /* Confirm started, met the lock, and waits */
    int ws = 0;
    pid_t early = waitpid(pid, &ws, WNOHANG);
    /* Perform's done commit, then its exit. */
    _cleanup_record_ struct mp_journal_record *record = NULL;
    cr_assert_eq(mp_journal_load(held, &record, NULL), 0);
    record->phase = MP_PHASE_DONE;
    cr_assert_eq(mp_journal_commit(held, record, NULL), 0);
    mp_journal_close(held);
    if (early == 0)
        cr_assert_eq(waitpid(pid, &ws, 0), pid);
    cr_assert_eq(early, 0, "Confirm did not wait for the lock: it ended with wait status %d", ws);
    cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "Confirm ended with wait status %d", ws);
    cr_assert_eq(vm_source(), MP_VM_ABSENT);
}

/* The same lock, held at Perform's record by anything but a helper that
 * concludes after its cookie (here: the stream still running, as far as a
 * Perform of another migration would say) is refused at once. */
Test(engine, confirm_refuses_a_lock_of_another_migration)
{
    reach(MP_STEP_CONFIRM, false);
    struct mp_journal *held = hold_source_at_perform(MP_PHASE_STARTED);
    _cleanup_record_ struct mp_journal_record *record = NULL;
    cr_assert_eq(mp_journal_load(held, &record, NULL), 0);
    free(record->migration_id);
    record->migration_id = xstrdup("00000000-0000-4000-8000-000000000000");
    cr_assert_eq(mp_journal_commit(held, record, NULL), 0);
    uint64_t start = mp_now_ms();
    _cleanup_free_ char *message = NULL;
    int status = world_run(&w, MP_STEP_CONFIRM, "finish.xml", NULL, 0, FAKE_SUCCEED, &message);
    uint64_t took = mp_now_ms() - start;
    mp_journal_close(held);
    cr_assert_neq(status, 0, "Confirm went on under a lock of another migration");
    cr_assert(message && strstr(message, "another migphase helper"), "%s",
              message ? message : "no message");
    cr_assert_lt(took, 2000, "Confirm waited %" PRIu64 " ms before refusing", took);
}

/* Run step, given --domain vm2 and a cookie of vm1: refused before
 * anything happens (exit 2), the journal of vm1 as it was, the plan never
 * run. */
static void
refuse_another_domain(enum mp_step step, const char *in, const char *out)
{
    reach(step, false);
    enum mp_role role = mp_step_role(step);
    _cleanup_free_ char *before = world_record_text(&w, role, "vm1");
    _cleanup_free_ char *message = NULL;
    int status = world_run(&w, step, in, out, RUN_AHEAD_VM2, FAKE_SUCCEED, &message);
    cr_assert_eq(status, 2, "exit %d (%s)", status, message ? message : "no message");
    cr_assert(message && strstr(message, "the cookie is of domain vm1, not of vm2"), "%s",
              message ? message : "no message");
    _cleanup_free_ char *after = world_record_text(&w, role, "vm1");
    cr_assert_str_eq(after, before);
    cr_assert_eq(fake_plan_calls(step), 0);
}

Test(engine, finish_ahead_refuses_another_domain)
{
    refuse_another_domain(MP_STEP_FINISH, "perform.xml", "finish.xml");
    cr_assert_eq(vm_destination(), MP_VM_INCOMING);
}

/* Perform --domain, as migphase-migrate starts it while Prepare runs: the
 * driver's perform_ahead runs with the source's record before the cookie,
 * and the plan takes over what it readied. */
Test(engine, perform_ahead_readies_before_the_cookie)
{
    run_ready_ahead(MP_STEP_PERFORM, "prepare.xml", "perform.xml");
    cr_assert_eq(vm_source(), MP_VM_MIGRATED);
}

Test(engine, perform_ahead_refuses_another_domain)
{
    refuse_another_domain(MP_STEP_PERFORM, "prepare.xml", "perform.xml");
    cr_assert_eq(vm_source(), MP_VM_RUNNING);
}

/* Perform run as far as its plan, scripted by script, with a notify pipe
 * as migphase-migrate gives it (MIGPHASE_NOTIFY_FD), taken as a step takes
 * it; returns the pipe's reading end. */
static int
perform_notifying(enum fake_script script, int expect_status)
{
    reach(MP_STEP_PERFORM, false);
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    _cleanup_free_ char *value = xasprintf("%d", fds[1]);
    setenv(MP_NOTIFY_ENV, value, 1);
    mp_notify_take();
    cr_expect_null(getenv(MP_NOTIFY_ENV), "the variable stays for the hooks to see");
    cr_expect(fcntl(fds[1], F_GETFD) & FD_CLOEXEC, "hooks would inherit the pipe");
    int status = world_run(&w, MP_STEP_PERFORM, "prepare.xml", "perform.xml", 0, script, NULL);
    cr_assert_eq(status, expect_status);
    return fds[0];
}

/* Perform says "acting" once, when its stream runs, and closes the pipe. */
Test(engine, perform_notifies_when_it_acts)
{
    int notify = perform_notifying(FAKE_SUCCEED, 0);
    char buf[32] = "";
    cr_assert_eq(read(notify, buf, sizeof(buf) - 1), 7, "said '%s'", buf);
    cr_expect_str_eq(buf, "acting\n");
    cr_expect_eq(read(notify, buf, sizeof(buf)), 0, "the pipe was not closed");
    close(notify);
}

/* Nothing said: the pipe still open, nothing to read. */
static void
assert_silent(int notify, const char *who)
{
    struct pollfd p = { notify, POLLIN, 0 };
    cr_assert_eq(poll(&p, 1, 0), 0, "%s said something", who);
    close(notify);
}

/* A Perform whose plan failed did nothing, and says nothing. */
Test(engine, perform_that_does_not_act_does_not_notify)
{
    assert_silent(perform_notifying(FAKE_FAIL_PLAN, 1), "a Perform whose plan failed");
}

/* The plan said its act notifies (act_notifies): the engine leaves it to
 * the act, which failed before its stream ran. */
Test(engine, perform_whose_stream_never_ran_does_not_notify)
{
    assert_silent(perform_notifying(FAKE_FAIL_ACT, 1), "a Perform whose stream never ran");
}

static void
veto(const char *step)
{
    _cleanup_free_ char *dir = xasprintf("%s/%s.d", w.hooks, step);
    cr_assert_eq(mp_mkdir_p(dir, 0755), 0);
    _cleanup_free_ char *path = xasprintf("%s/10-veto", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("#!/bin/sh\necho 'no, not now' >&2\nexit 1\n", f);
    fclose(f);
    cr_assert_eq(chmod(path, 0755), 0);
}

/* A hook that vetoes Prepare: nothing happened, nothing is recorded. */
Test(engine, hook_vetoes_prepare)
{
    reach(MP_STEP_PREPARE, false);
    veto("prepare");
    _cleanup_free_ char *message = NULL;
    int status =
        world_run(&w, MP_STEP_PREPARE, "begin.xml", "prepare.xml", 0, FAKE_SUCCEED, &message);
    cr_assert_eq(status, 1, "exit %d (%s)", status, message ? message : "no message");
    cr_assert(message && strstr(message, "vetoed"), "%s", message);
    _cleanup_record_ struct mp_journal_record *rec = world_record(&w, MP_ROLE_DESTINATION, "vm1");
    cr_assert_null(rec, "a vetoed Prepare left a record");
    _cleanup_cookie_ struct mp_cookie *out = world_read_cookie(&w, "prepare.xml");
    cr_assert_null(out, "a vetoed Prepare wrote a cookie");
    cr_assert_eq(vm_destination(), MP_VM_ABSENT);
    cr_assert_eq(fake_plan_calls(MP_STEP_PREPARE), 0);
}

/* A hook that vetoes Perform: the source stays as it was (record begin done). */
Test(engine, hook_vetoes_perform)
{
    reach(MP_STEP_PERFORM, false);
    veto("perform");
    _cleanup_free_ char *before = world_record_text(&w, MP_ROLE_SOURCE, "vm1");
    int status =
        world_run(&w, MP_STEP_PERFORM, "prepare.xml", "perform.xml", 0, FAKE_SUCCEED, NULL);
    cr_assert_eq(status, 1);
    _cleanup_free_ char *after = world_record_text(&w, MP_ROLE_SOURCE, "vm1");
    cr_assert_str_eq(after, before);
    cr_assert_eq(vm_source(), MP_VM_RUNNING);
    cr_assert_eq(fake_plan_calls(MP_STEP_PERFORM), 0);
}

/* ------------------------------------------------------------------------ */
/* The matrix. Scenarios: the journal record a host holds, reached by running
 * the steps that lead to it (with a crash or a failure where it says so). */

enum scenario {
    /* the source host, for Begin, Perform and Confirm */
    S_NONE,              /* no record: this host never saw the migration */
    S_BEGUN,             /* begin done */
    S_PERF_CRASH_BEFORE, /* perform started, the VM untouched */
    S_PERF_CRASH_AFTER,  /* perform started, the stream completed */
    S_PERF_FAILED,       /* perform failed, the source resumed */
    S_PERF_FAILED_STATE, /* perform failed leaving its stream */
    S_PERFORMED,         /* perform done */
    S_CONF_CRASH_BEFORE, /* confirm started (after a successful Finish) */
    S_CONF_CRASH_AFTER,  /* confirm started, the source already quit */
    S_CONF_FAILED,       /* confirm failed cleanly (open: the source waits) */
    S_CONF_FAILED_STATE, /* confirm failed leaving state */
    S_CONFIRMED,         /* confirm done: the source quit */
    S_CONF_CANCELLED,    /* confirm done on a cancelled migration: the source resumed */
    S_CONF_CANCEL_CRASH, /* confirm started on a cancelled migration */
    S_CONF_PLAN_FAILED,  /* confirm failed in its plan (open, source untouched) */
    /* the destination host, for Prepare and Finish */
    D_NONE,                   /* no record */
    D_PREP_CRASH_BEFORE,      /* prepare started, no VM yet */
    D_PREP_CRASH_AFTER,       /* prepare started, the VM waits for the stream */
    D_PREP_FAILED,            /* prepare failed cleanly (closed) */
    D_PREP_FAILED_STATE,      /* prepare failed leaving its VM */
    D_PREPARED,               /* prepare done */
    D_FIN_CRASH_BEFORE,       /* finish started, the VM not resumed */
    D_FIN_CRASH_AFTER,        /* finish started, the VM runs */
    D_FIN_FAILED,             /* finish failed, the VM discarded (closed) */
    D_FIN_FAILED_STATE,       /* finish failed leaving a failed VM */
    D_FINISHED,               /* finish done: the VM runs here */
    D_FIN_CANCELLED,          /* finish done on a failed Perform's cookie: the VM went */
    D_FIN_CANCEL_CRASH,       /* finish started on a failed Perform's cookie */
    D_FIN_PLAN_FAILED,        /* finish failed in its plan (open, the VM waits) */
    D_FIN_CANCEL_PLAN_FAILED, /* finish --cancelled failed in its plan (open) */
    SCENARIO_COUNT,
};

struct scenario_def {
    const char *name;
    bool forget_source; /* then remove the source's journal */
    struct move moves[6];
};

#define MV(step, script)                                                                           \
    {                                                                                              \
        MP_STEP_##step, FAKE_##script, 0                                                           \
    }
#define MV_CANCEL(step, script)                                                                    \
    {                                                                                              \
        MP_STEP_##step, FAKE_##script, RUN_CANCELLED                                               \
    }
#define END                                                                                        \
    {                                                                                              \
        MP_STEP_COUNT, FAKE_SUCCEED, 0                                                             \
    }
#define FORWARD(...)                                                                               \
    {                                                                                              \
        MV(BEGIN, SUCCEED), __VA_ARGS__, END                                                       \
    }
#define TO_PERFORM   MV(PREPARE, SUCCEED)
#define TO_FINISH    MV(PREPARE, SUCCEED), MV(PERFORM, SUCCEED)
#define TO_CONFIRM   TO_FINISH, MV(FINISH, SUCCEED)
#define TO_CANCELLED MV(PREPARE, SUCCEED), MV(PERFORM, FAIL_ACT)

static const struct scenario_def scenarios[SCENARIO_COUNT] = {
    [S_NONE] = { "no source record", true, FORWARD(TO_PERFORM) },
    [S_BEGUN] = { "begin done", false, FORWARD(TO_PERFORM) },
    [S_PERF_CRASH_BEFORE] = { "perform started (crash before)", false,
                              FORWARD(TO_PERFORM, MV(PERFORM, CRASH_ACT)) },
    [S_PERF_CRASH_AFTER] = { "perform started (crash after)", false,
                             FORWARD(TO_PERFORM, MV(PERFORM, CRASH_AFTER)) },
    [S_PERF_FAILED] = { "perform failed", false, FORWARD(TO_PERFORM, MV(PERFORM, FAIL_ACT)) },
    [S_PERF_FAILED_STATE] = { "perform failed leaving state", false,
                              FORWARD(TO_PERFORM, MV(PERFORM, FAIL_LEFT_STATE)) },
    [S_PERFORMED] = { "perform done", false, FORWARD(TO_FINISH) },
    [S_CONF_CRASH_BEFORE] = { "confirm started (crash before)", false,
                              FORWARD(TO_CONFIRM, MV(CONFIRM, CRASH_ACT)) },
    [S_CONF_CRASH_AFTER] = { "confirm started (crash after)", false,
                             FORWARD(TO_CONFIRM, MV(CONFIRM, CRASH_AFTER)) },
    [S_CONF_FAILED] = { "confirm failed", false, FORWARD(TO_CONFIRM, MV(CONFIRM, FAIL_ACT)) },
    [S_CONF_FAILED_STATE] = { "confirm failed leaving state", false,
                              FORWARD(TO_CONFIRM, MV(CONFIRM, FAIL_LEFT_STATE)) },
    [S_CONFIRMED] = { "confirm done", false, FORWARD(TO_CONFIRM, MV(CONFIRM, SUCCEED)) },
    [S_CONF_CANCELLED] = { "confirm done, cancelled", false,
                           FORWARD(TO_CANCELLED, MV(FINISH, SUCCEED), MV(CONFIRM, SUCCEED)) },
    [S_CONF_CANCEL_CRASH] = { "confirm started, cancelled (crash before)", false,
                              FORWARD(TO_CANCELLED, MV(FINISH, SUCCEED), MV(CONFIRM, CRASH_ACT)) },
    [S_CONF_PLAN_FAILED] = { "confirm failed in its plan", false,
                             FORWARD(TO_CONFIRM, MV(CONFIRM, FAIL_PLAN)) },
    [D_NONE] = { "no destination record", false, { MV(BEGIN, SUCCEED), END } },
    [D_PREP_CRASH_BEFORE] = { "prepare started (crash before)", false,
                              FORWARD(MV(PREPARE, CRASH_ACT)) },
    [D_PREP_CRASH_AFTER] = { "prepare started (crash after)", false,
                             FORWARD(MV(PREPARE, CRASH_AFTER)) },
    [D_PREP_FAILED] = { "prepare failed", false, FORWARD(MV(PREPARE, FAIL_ACT)) },
    [D_PREP_FAILED_STATE] = { "prepare failed leaving state", false,
                              FORWARD(MV(PREPARE, FAIL_LEFT_STATE)) },
    [D_PREPARED] = { "prepare done", false, FORWARD(TO_PERFORM) },
    [D_FIN_CRASH_BEFORE] = { "finish started (crash before)", false,
                             FORWARD(TO_FINISH, MV(FINISH, CRASH_ACT)) },
    [D_FIN_CRASH_AFTER] = { "finish started (crash after)", false,
                            FORWARD(TO_FINISH, MV(FINISH, CRASH_AFTER)) },
    [D_FIN_FAILED] = { "finish failed", false, FORWARD(TO_FINISH, MV(FINISH, FAIL_ACT)) },
    [D_FIN_FAILED_STATE] = { "finish failed leaving state", false,
                             FORWARD(TO_FINISH, MV(FINISH, FAIL_LEFT_STATE)) },
    [D_FINISHED] = { "finish done", false, FORWARD(TO_CONFIRM) },
    [D_FIN_CANCELLED] = { "finish done, cancelled", false,
                          FORWARD(TO_CANCELLED, MV(FINISH, SUCCEED)) },
    [D_FIN_CANCEL_CRASH] = { "finish started, cancelled (crash before)", false,
                             FORWARD(TO_CANCELLED, MV(FINISH, CRASH_ACT)) },
    [D_FIN_PLAN_FAILED] = { "finish failed in its plan", false,
                            FORWARD(TO_FINISH, MV(FINISH, FAIL_PLAN)) },
    [D_FIN_CANCEL_PLAN_FAILED] = { "finish --cancelled failed in its plan", false,
                                   FORWARD(TO_FINISH, MV_CANCEL(FINISH, FAIL_PLAN)) },
};

/* Incoming cookies: 0-19 are forged as written by step s with outcome o
 * (index s * 4 + o) for the scenario's migration; then these. */
enum {
    CK_REAL = MP_STEP_COUNT * MP_OUTCOME_COUNT, /* the cookie the step would naturally get */
    CK_OTHER_MIGRATION, /* a successful predecessor's cookie of another migration */
    CK_OTHER_DOMAIN,    /* ... of this migration id, for domain vm2 */
    CK_CHANGED,         /* ... with other parameters (bandwidth) */
    CK_OTHER_HOST,      /* ... whose writer names another host (WORLD_OTHER_HOST) */
    CK_BAD_HOST,        /* ... whose writer's host name is not a host name */
    CK_EXEC_URI,        /* Perform only: a successful Prepare cookie with an exec: URI */
    CK_NOTHING,         /* Begin reads no cookie */
    CK_COUNT,
};

/* Flag sets: the bit of `flags` (RUN_CANCELLED | RUN_FORCE) in a rule. */
#define F0   (1u << 0)
#define FC   (1u << RUN_CANCELLED)
#define FF   (1u << RUN_FORCE)
#define FCF  (1u << (RUN_CANCELLED | RUN_FORCE))
#define FANY (F0 | FC | FF | FCF)

static unsigned
flag_sets(enum mp_step step)
{
    switch (step) {
    case MP_STEP_FINISH:
        return F0 | FC;
    case MP_STEP_CONFIRM:
        return FANY;
    default:
        return F0;
    }
}

/* Whether a scenario has a cookie for a step to read naturally. */
static bool
has_real(enum scenario sc, enum mp_step step)
{
    if (step == MP_STEP_BEGIN)
        return false;
    enum mp_step prev = step - 1;
    const struct move *m = scenarios[sc].moves;
    for (size_t i = 0; i < ARRAY_SIZE(scenarios[sc].moves) && m[i].step != MP_STEP_COUNT; i++)
        if (m[i].step == prev && m[i].script < FAKE_CRASH_PLAN)
            return true;
    return false;
}

struct combo {
    unsigned char step, scenario, cookie, flags;
};

static size_t
list_combos(struct combo *out)
{
    size_t n = 0;
    for (enum mp_step step = MP_STEP_BEGIN; step < MP_STEP_COUNT; step++) {
        bool source = mp_step_role(step) == MP_ROLE_SOURCE;
        for (int sc = source ? S_NONE : D_NONE; sc < (source ? D_NONE : SCENARIO_COUNT); sc++) {
            for (int ck = 0; ck < CK_COUNT; ck++) {
                if ((step == MP_STEP_BEGIN) != (ck == CK_NOTHING))
                    continue;
                if (ck == CK_EXEC_URI && step != MP_STEP_PERFORM)
                    continue;
                if (ck == CK_REAL && !has_real(sc, step))
                    continue;
                for (unsigned f = 0; f < 4; f++) {
                    if (!(flag_sets(step) & (1u << f)))
                        continue;
                    if (out)
                        out[n] = (struct combo){ step, sc, ck, f };
                    n++;
                }
            }
        }
    }
    return n;
}

static char *
combo_name(const struct combo *c)
{
    const char *cookie;
    _cleanup_free_ char *forged = NULL;
    switch (c->cookie) {
    case CK_REAL:
        cookie = "its natural cookie";
        break;
    case CK_OTHER_MIGRATION:
        cookie = "a cookie of another migration";
        break;
    case CK_OTHER_DOMAIN:
        cookie = "a cookie for domain vm2";
        break;
    case CK_CHANGED:
        cookie = "a cookie with changed parameters";
        break;
    case CK_OTHER_HOST:
        cookie = "a cookie from another host";
        break;
    case CK_BAD_HOST:
        cookie = "a cookie with a bad host name";
        break;
    case CK_EXEC_URI:
        cookie = "a cookie with an exec: URI";
        break;
    case CK_NOTHING:
        cookie = "no cookie";
        break;
    default:
        forged = xasprintf("a forged %s cookie (%s)", mp_step_name(c->cookie / MP_OUTCOME_COUNT),
                           mp_outcome_name(c->cookie % MP_OUTCOME_COUNT));
        cookie = forged;
    }
    return xasprintf("%s%s%s after \"%s\" with %s", mp_step_name(c->step),
                     c->flags & RUN_CANCELLED ? " --cancelled" : "",
                     c->flags & RUN_FORCE ? " --force" : "", scenarios[c->scenario].name, cookie);
}

/* What a combination must end with. Zero fields mean "as before": the
 * record byte for byte, no cookie written, the VM as it was. */
enum rec_check { REC_SAME, REC_NEW, REC_ANY };
enum out_check { OUT_NONE, OUT_SAVED, OUT_NEW, OUT_ANY };
#define ANY_FAILURE (-1)

struct expect {
    int status; /* 0-3, or ANY_FAILURE */
    enum rec_check rec;
    enum mp_step rec_step;
    enum mp_journal_phase phase;
    enum mp_outcome outcome;
    bool closed;
    const char *undo; /* the MP_FACT_UNDO fact, NULL: not checked */
    enum out_check out;
    enum mp_outcome out_outcome;
    enum mp_vm_state src, dst; /* MP_VM_UNKNOWN: as before */
    bool vm2;                  /* the record and cookie are domain vm2's; vm1's stay */
};

struct rule {
    unsigned steps;
    unsigned scenarios;
    unsigned cookies;
    unsigned flags;
    struct expect e;
};

#define STEP(s)      (1u << MP_STEP_##s)
#define SC(s)        (1u << (s))
#define CK(s, o)     (1u << (MP_STEP_##s * MP_OUTCOME_COUNT + MP_OUTCOME_##o))
#define CKS(s)       (0xfu << (MP_STEP_##s * MP_OUTCOME_COUNT))
#define CK_NOT_OK(s) (CKS(s) & ~CK(s, SUCCESS))
#define REAL         (1u << CK_REAL)
#define OTHER_MIG    (1u << CK_OTHER_MIGRATION)
#define OTHER_DOM    (1u << CK_OTHER_DOMAIN)
#define CHANGED      (1u << CK_CHANGED)
#define OTHER_HOST   (1u << CK_OTHER_HOST)
#define BAD_HOST     (1u << CK_BAD_HOST)
#define EXEC_URI     (1u << CK_EXEC_URI)
#define NOTHING      (1u << CK_NOTHING)
#define ALL          (~0u)
/* Cookies of this migration a step accepts as the one before it. */
#define SAME_MIG_OK(s) (CK(s, SUCCESS) | REAL | CHANGED)

#define ALL_SOURCE   ((1u << D_NONE) - 1)
#define ALL_DEST     (((1u << SCENARIO_COUNT) - 1) & ~ALL_SOURCE)
#define PERF_STARTED (SC(S_PERF_CRASH_BEFORE) | SC(S_PERF_CRASH_AFTER))
/* Source records that do not say the stream completed. */
#define NO_STREAM (SC(S_BEGUN) | PERF_STARTED | SC(S_PERF_FAILED) | SC(S_PERF_FAILED_STATE))
#define CONF_ANY                                                                                   \
    (SC(S_CONF_CRASH_BEFORE) | SC(S_CONF_CRASH_AFTER) | SC(S_CONF_FAILED) |                        \
     SC(S_CONF_FAILED_STATE) | SC(S_CONFIRMED) | SC(S_CONF_CANCELLED) | SC(S_CONF_CANCEL_CRASH) |  \
     SC(S_CONF_PLAN_FAILED))
/* Source records of a Confirm that started completing and did not conclude. */
#define CONF_OPEN                                                                                  \
    (SC(S_CONF_CRASH_BEFORE) | SC(S_CONF_CRASH_AFTER) | SC(S_CONF_FAILED_STATE) |                  \
     SC(S_CONF_PLAN_FAILED) | SC(S_CONF_FAILED))
/* ... of those, the ones whose source VM is still there (paused). */
#define CONF_OPEN_PAUSED (CONF_OPEN & ~SC(S_CONF_CRASH_AFTER))
/* Source scenarios whose finish.xml says success. */
#define FINISH_OK_REAL (CONF_OPEN | SC(S_CONFIRMED))
#define PREP_ANY                                                                                   \
    (SC(D_PREP_CRASH_BEFORE) | SC(D_PREP_CRASH_AFTER) | SC(D_PREP_FAILED) |                        \
     SC(D_PREP_FAILED_STATE) | SC(D_PREPARED))
#define PREP_STARTED (SC(D_PREP_CRASH_BEFORE) | SC(D_PREP_CRASH_AFTER))
/* Destination records of a Finish that did not resume its VM and may run again. */
#define FIN_NOT_RESUMED                                                                            \
    (SC(D_FIN_CRASH_BEFORE) | SC(D_FIN_PLAN_FAILED) | SC(D_FIN_CANCEL_PLAN_FAILED))
#define FIN_ANY                                                                                    \
    (FIN_NOT_RESUMED | SC(D_FIN_CRASH_AFTER) | SC(D_FIN_FAILED) | SC(D_FIN_FAILED_STATE) |         \
     SC(D_FINISHED) | SC(D_FIN_CANCELLED) | SC(D_FIN_CANCEL_CRASH))
/* Destination records a new migration may not replace. */
#define DEST_OPEN                                                                                  \
    (PREP_STARTED | SC(D_PREP_FAILED_STATE) | SC(D_PREPARED) | FIN_NOT_RESUMED |                   \
     SC(D_FIN_CRASH_AFTER) | SC(D_FIN_FAILED_STATE) | SC(D_FIN_CANCEL_CRASH))
/* Cookies that undo: earlier steps' (any outcome), or a predecessor's that did not succeed. */
#define EARLIER_THAN_FINISH (CKS(BEGIN) | CKS(PREPARE) | CKS(PERFORM))
#define STEPS_WITH_COOKIE   (STEP(PREPARE) | STEP(PERFORM) | STEP(FINISH) | STEP(CONFIRM))
/* Successful predecessors' cookies that are not this migration's, or not as recorded. */
#define NOT_OURS (OTHER_MIG | OTHER_DOM | CHANGED | OTHER_HOST)

#define RULE(steps, scenarios, cookies, flags, ...)                                                \
    {                                                                                              \
        steps, scenarios, cookies, flags,                                                          \
        {                                                                                          \
            __VA_ARGS__                                                                            \
        }                                                                                          \
    }

#define REFUSED(st)  .status = st
#define ANSWERED(st) .status = st, .out = OUT_SAVED
#define REC(s, ph, oc, cl)                                                                         \
    .rec = REC_NEW, .rec_step = MP_STEP_##s, .phase = MP_PHASE_##ph, .outcome = MP_OUTCOME_##oc,   \
    .closed = cl
#define UNDO(v) .undo = v
#define OUT(oc) .out = OUT_NEW, .out_outcome = MP_OUTCOME_##oc
#define SRC(v)  .src = MP_VM_##v
#define DST(v)  .dst = MP_VM_##v
#define OPEN    false
#define CLOSED  true

/* First match wins. */
static const struct rule rules[] = {
    /* ---- Every step that reads a cookie ---- */
    /* A host name that is not one: refused with the cookie, before the journal. */
    RULE(STEPS_WITH_COOKIE, ALL, BAD_HOST, FANY, REFUSED(2)),

    /* ---- Begin: a new migration each time; no cookie ---- */
    /* Another migration is pending here (a Begin may be replaced: it did nothing). */
    RULE(STEP(BEGIN),
         PERF_STARTED | SC(S_PERF_FAILED) | SC(S_PERF_FAILED_STATE) | SC(S_PERFORMED) | CONF_OPEN |
             SC(S_CONF_CANCEL_CRASH),
         NOTHING, F0, REFUSED(1)),
    /* The fake finds no VM to move: it is paused after its stream, or gone. */
    RULE(STEP(BEGIN), SC(S_CONF_FAILED) | SC(S_CONFIRMED), NOTHING, F0, REFUSED(1)),
    RULE(STEP(BEGIN), SC(S_NONE) | SC(S_BEGUN) | SC(S_CONF_CANCELLED), NOTHING, F0, .status = 0,
         REC(BEGIN, DONE, SUCCESS, OPEN), OUT(SUCCESS)),

    /* ---- Prepare ---- */
    RULE(STEP(PREPARE), ALL_DEST, CKS(PREPARE) | CKS(PERFORM) | CKS(FINISH) | CKS(CONFIRM), F0,
         REFUSED(2)),
    /* Another domain is another migration, with a journal of its own. */
    RULE(STEP(PREPARE), ALL_DEST, OTHER_DOM, F0, .status = 0, REC(PREPARE, DONE, SUCCESS, OPEN),
         OUT(SUCCESS), .vm2 = true),
    /* The outcome of Begin's cookie is not looked at (a failed Begin writes
     * none); the source it names is recorded. */
    RULE(STEP(PREPARE), SC(D_NONE), CKS(BEGIN) | REAL | OTHER_MIG | CHANGED | OTHER_HOST, F0,
         .status = 0, REC(PREPARE, DONE, SUCCESS, OPEN), OUT(SUCCESS), DST(INCOMING)),
    /* A Begin cookie of this migration from another source than the recorded one. */
    RULE(STEP(PREPARE), ALL_DEST, OTHER_HOST, F0, REFUSED(2)),
    /* An interrupted Prepare picks up where it was with the same cookie... */
    RULE(STEP(PREPARE), PREP_STARTED, REAL, F0, .status = 0, REC(PREPARE, DONE, SUCCESS, OPEN),
         OUT(SUCCESS), DST(INCOMING)),
    /* ... and refuses another. */
    RULE(STEP(PREPARE), PREP_STARTED, CKS(BEGIN) | CHANGED, F0, REFUSED(2)),
    /* A concluded Prepare answers from the journal, whatever the cookie of
     * this migration says (it does not compare parameters); one that failed
     * and left its VM says so again (exit 3: its record is open). */
    RULE(STEP(PREPARE), SC(D_PREPARED), CKS(BEGIN) | REAL | CHANGED, F0, ANSWERED(0)),
    RULE(STEP(PREPARE), SC(D_PREP_FAILED), CKS(BEGIN) | REAL | CHANGED, F0, ANSWERED(1)),
    RULE(STEP(PREPARE), SC(D_PREP_FAILED_STATE), CKS(BEGIN) | REAL | CHANGED, F0, ANSWERED(3)),
    RULE(STEP(PREPARE), FIN_ANY, CKS(BEGIN) | REAL | CHANGED, F0, REFUSED(2)),
    RULE(STEP(PREPARE), DEST_OPEN, OTHER_MIG, F0, REFUSED(1)),
    /* A closed record gives way to the new migration; here the fake finds
     * vm1 running (the finished migration's): the failed Prepare of the new
     * migration is what the record says now. */
    RULE(STEP(PREPARE), SC(D_FINISHED), OTHER_MIG, F0, .status = 1,
         REC(PREPARE, FAILED, FAILED, CLOSED), OUT(FAILED)),
    RULE(STEP(PREPARE), SC(D_PREP_FAILED) | SC(D_FIN_FAILED) | SC(D_FIN_CANCELLED), OTHER_MIG, F0,
         .status = 0, REC(PREPARE, DONE, SUCCESS, OPEN), OUT(SUCCESS), DST(INCOMING)),

    /* ---- Perform ---- */
    /* Only a successful Prepare cookie with a tcp: URI is sent to. */
    RULE(STEP(PERFORM), ALL_SOURCE, ~(SAME_MIG_OK(PREPARE) | OTHER_MIG | OTHER_DOM | OTHER_HOST),
         F0, REFUSED(2)),
    /* Perform continues a migration this host began, and only that one. */
    RULE(STEP(PERFORM), SC(S_NONE), ALL, F0, REFUSED(2)),
    RULE(STEP(PERFORM), ALL_SOURCE, OTHER_MIG | OTHER_DOM | CHANGED, F0, REFUSED(2)),
    RULE(STEP(PERFORM), CONF_ANY, ALL, F0, REFUSED(2)),
    /* The destination is named for the first time here: it is recorded... */
    RULE(STEP(PERFORM), SC(S_BEGUN), CK(PREPARE, SUCCESS) | REAL | OTHER_HOST, F0, .status = 0,
         REC(PERFORM, DONE, SUCCESS, OPEN), OUT(SUCCESS), SRC(MIGRATED)),
    /* ... and every later cookie must name that one. */
    RULE(STEP(PERFORM), ALL_SOURCE, OTHER_HOST, F0, REFUSED(2)),
    /* A re-run follows the stream the crashed run left (or starts it). */
    RULE(STEP(PERFORM), PERF_STARTED, REAL, F0, .status = 0, REC(PERFORM, DONE, SUCCESS, OPEN),
         OUT(SUCCESS), SRC(MIGRATED)),
    RULE(STEP(PERFORM), PERF_STARTED, CK(PREPARE, SUCCESS), F0, REFUSED(2)),
    /* A failed Perform's record stays open until Confirm --cancelled: its
     * re-run answers exit 3 (the first run said 1 when it failed cleanly). */
    RULE(STEP(PERFORM), SC(S_PERF_FAILED) | SC(S_PERF_FAILED_STATE), ALL, F0, ANSWERED(3)),
    RULE(STEP(PERFORM), SC(S_PERFORMED), ALL, F0, ANSWERED(0)),

    /* ---- Finish ---- */
    RULE(STEP(FINISH), ALL_DEST, CKS(FINISH) | CKS(CONFIRM), F0 | FC, REFUSED(2)),
    RULE(STEP(FINISH), SC(D_NONE), ALL, F0 | FC, REFUSED(2)),
    RULE(STEP(FINISH), ALL_DEST, NOT_OURS, F0 | FC, REFUSED(2)),
    /* No stream ever came here: completing fails and discards what there is... */
    RULE(STEP(FINISH), PREP_ANY, CK(PERFORM, SUCCESS), F0, .status = 1,
         REC(FINISH, FAILED, FAILED, CLOSED), UNDO("no"), OUT(FAILED), DST(ABSENT)),
    /* ... and cancelling (asked, or read from an earlier or failed cookie) succeeds. */
    RULE(STEP(FINISH), PREP_ANY, ALL, F0 | FC, .status = 0, REC(FINISH, DONE, CANCELLED, CLOSED),
         UNDO("yes"), OUT(CANCELLED), DST(ABSENT)),
    /* Interrupted before it resumed the VM, or failed in its plan (either
     * way): the same cookie completes... */
    RULE(STEP(FINISH), FIN_NOT_RESUMED, REAL, F0, .status = 0, REC(FINISH, DONE, SUCCESS, CLOSED),
         UNDO("no"), OUT(SUCCESS), DST(RUNNING)),
    /* ... another one is refused, unless it undoes... */
    RULE(STEP(FINISH),
         FIN_NOT_RESUMED | SC(D_FIN_CRASH_AFTER) | SC(D_FIN_FAILED_STATE) | SC(D_FIN_CANCEL_CRASH),
         CK(PERFORM, SUCCESS), F0, REFUSED(2)),
    /* ... and undoing kills the VM. */
    RULE(STEP(FINISH), FIN_NOT_RESUMED, ALL, F0 | FC, .status = 0,
         REC(FINISH, DONE, CANCELLED, CLOSED), UNDO("yes"), OUT(CANCELLED), DST(ABSENT)),
    RULE(STEP(FINISH), SC(D_FIN_CRASH_AFTER), REAL, F0, .status = 0,
         REC(FINISH, DONE, SUCCESS, CLOSED), UNDO("no"), OUT(SUCCESS), DST(RUNNING)),
    /* The destination runs: cancelling is refused (by the driver, which
     * alone sees the VM run). The record stays open for recovery, and no
     * cookie is handed out: a "failed" one would let Confirm resume the
     * source. */
    RULE(STEP(FINISH), SC(D_FIN_CRASH_AFTER), ALL, F0 | FC, .status = 3,
         REC(FINISH, FAILED, FAILED, OPEN), UNDO("yes"), DST(RUNNING)),
    /* Failed and discarded its VM (closed): it answers that, either way. */
    RULE(STEP(FINISH), SC(D_FIN_FAILED), ALL, F0 | FC, ANSWERED(1)),
    /* A Finish that failed leaving state runs again: that resolves it. */
    RULE(STEP(FINISH), SC(D_FIN_FAILED_STATE), REAL, F0, .status = 1,
         REC(FINISH, FAILED, FAILED, CLOSED), UNDO("no"), OUT(FAILED), DST(ABSENT)),
    RULE(STEP(FINISH), SC(D_FIN_FAILED_STATE), ALL, F0 | FC, .status = 0,
         REC(FINISH, DONE, CANCELLED, CLOSED), UNDO("yes"), OUT(CANCELLED), DST(ABSENT)),
    RULE(STEP(FINISH), SC(D_FINISHED), REAL | CK(PERFORM, SUCCESS), F0, ANSWERED(0)),
    /* Completed: it cannot be cancelled any more; exit 3 points at Confirm,
     * and the cookie handed back again says the destination resumed. */
    RULE(STEP(FINISH), SC(D_FINISHED), ALL, F0 | FC, ANSWERED(3)),
    /* Cancelled: it cannot complete any more; it hands back its "cancelled"
     * cookie, so the source learns the destination gave up. */
    RULE(STEP(FINISH), SC(D_FIN_CANCELLED), CK(PERFORM, SUCCESS), F0, ANSWERED(1)),
    RULE(STEP(FINISH), SC(D_FIN_CANCELLED), ALL, F0 | FC, ANSWERED(0)),
    RULE(STEP(FINISH), SC(D_FIN_CANCEL_CRASH), ALL, F0 | FC, .status = 0,
         REC(FINISH, DONE, CANCELLED, CLOSED), UNDO("yes"), OUT(CANCELLED), DST(ABSENT)),

    /* ---- Confirm ---- */
    RULE(STEP(CONFIRM), ALL_SOURCE, CKS(CONFIRM), FANY, REFUSED(2)),
    /* --cancelled on a Finish cookie that says the destination resumed:
     * refused (3) before the journal is read, so even for another
     * migration or a host that has none (surprising, but safe). */
    RULE(STEP(CONFIRM), ALL_SOURCE, CK(FINISH, SUCCESS) | NOT_OURS, FC, REFUSED(3)),
    RULE(STEP(CONFIRM), FINISH_OK_REAL, REAL, FC, REFUSED(3)),
    RULE(STEP(CONFIRM), SC(S_NONE), ALL, FANY, REFUSED(2)),
    /* Before Perform no destination is recorded: the one a Finish cookie
     * names is recorded, and undoing (nothing to resume) goes through. */
    RULE(STEP(CONFIRM), SC(S_BEGUN), OTHER_HOST, FCF, .status = 0,
         REC(CONFIRM, DONE, SUCCESS, CLOSED), UNDO("yes")),
    RULE(STEP(CONFIRM), ALL_SOURCE, NOT_OURS, FANY, REFUSED(2)),
    /* Completing needs this host's own word that its stream completed: a
     * Finish cookie alone never quits the source, --force or not. */
    RULE(STEP(CONFIRM), NO_STREAM, CK(FINISH, SUCCESS), F0 | FF, REFUSED(2)),
    /* Undoing before the stream completed: any cookie of the migration will
     * do. Perform never ran after Begin: nothing to resume. */
    RULE(STEP(CONFIRM), SC(S_BEGUN), ALL, FANY, .status = 0, REC(CONFIRM, DONE, SUCCESS, CLOSED),
         UNDO("yes")),
    RULE(STEP(CONFIRM), NO_STREAM, ALL, FANY, .status = 0, REC(CONFIRM, DONE, SUCCESS, CLOSED),
         UNDO("yes"), SRC(RUNNING)),
    RULE(STEP(CONFIRM), SC(S_PERFORMED), CK(FINISH, SUCCESS), F0 | FF, .status = 0,
         REC(CONFIRM, DONE, SUCCESS, CLOSED), UNDO("no"), SRC(ABSENT)),
    /* The stream completed: the source resumes on a Finish cookie that says
     * the destination gave up... */
    RULE(STEP(CONFIRM), SC(S_PERFORMED), CK_NOT_OK(FINISH), FANY, .status = 0,
         REC(CONFIRM, DONE, SUCCESS, CLOSED), UNDO("yes"), SRC(RUNNING)),
    /* ... never on an earlier one ... */
    RULE(STEP(CONFIRM), SC(S_PERFORMED), EARLIER_THAN_FINISH, F0 | FC, REFUSED(3)),
    /* ... unless forced. */
    RULE(STEP(CONFIRM), SC(S_PERFORMED), ALL, FF | FCF, .status = 0,
         REC(CONFIRM, DONE, SUCCESS, CLOSED), UNDO("yes"), SRC(RUNNING)),
    /* Completing, and interrupted or failed without closing: the same cookie
     * completes, another one that does not undo is refused... */
    RULE(STEP(CONFIRM), CONF_OPEN_PAUSED, REAL, F0 | FF, .status = 0,
         REC(CONFIRM, DONE, SUCCESS, CLOSED), UNDO("no"), SRC(ABSENT)),
    RULE(STEP(CONFIRM), CONF_OPEN, CK(FINISH, SUCCESS), F0 | FF, REFUSED(2)),
    /* ... and no cookie turns it into a resume, for it may have stopped the
     * source already (the direction is recorded before it acts)... */
    RULE(STEP(CONFIRM), CONF_OPEN, CK_NOT_OK(FINISH) | EARLIER_THAN_FINISH, F0 | FC, REFUSED(3)),
    /* ... but --force: the operator checked the destination (the fake's
     * runs: both run now, which is what --force's warning is about). */
    RULE(STEP(CONFIRM), CONF_OPEN_PAUSED, ALL, FF | FCF, .status = 0,
         REC(CONFIRM, DONE, SUCCESS, CLOSED), UNDO("yes"), SRC(RUNNING)),
    /* The source already quit: nothing is left to do either way (a forced
     * undo is recorded as such, though the first run quit the source). */
    RULE(STEP(CONFIRM), SC(S_CONF_CRASH_AFTER), REAL, F0 | FF, .status = 0,
         REC(CONFIRM, DONE, SUCCESS, CLOSED), UNDO("no")),
    RULE(STEP(CONFIRM), SC(S_CONF_CRASH_AFTER), ALL, FF | FCF, .status = 0,
         REC(CONFIRM, DONE, SUCCESS, CLOSED), UNDO("yes")),
    RULE(STEP(CONFIRM), SC(S_CONFIRMED), CK(FINISH, SUCCESS) | REAL, F0 | FF, ANSWERED(0)),
    /* --force lifts the direction rule only for a Confirm that did not
     * conclude: one that stopped the source refuses to resume it. */
    RULE(STEP(CONFIRM), SC(S_CONFIRMED), ALL, FANY, REFUSED(3)),
    RULE(STEP(CONFIRM), SC(S_CONF_CANCELLED), CK(FINISH, SUCCESS), F0 | FF, REFUSED(1)),
    RULE(STEP(CONFIRM), SC(S_CONF_CANCELLED), ALL, FANY, ANSWERED(0)),
    RULE(STEP(CONFIRM), SC(S_CONF_CANCEL_CRASH), CK(FINISH, SUCCESS), F0 | FF, REFUSED(2)),
    RULE(STEP(CONFIRM), SC(S_CONF_CANCEL_CRASH), ALL, FANY, .status = 0,
         REC(CONFIRM, DONE, SUCCESS, CLOSED), UNDO("yes"), SRC(RUNNING)),
};

static const struct rule *
rule_for(const struct combo *c, size_t *index)
{
    for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
        const struct rule *r = &rules[i];
        if ((r->steps & (1u << c->step)) && (r->scenarios & (1u << c->scenario)) &&
            (r->cookies & (1u << c->cookie)) && (r->flags & (1u << c->flags))) {
            if (index)
                *index = i;
            return r;
        }
    }
    return NULL;
}

/* The table covers every combination, and every rule covers one. */
Test(engine, matrix_table_is_complete)
{
    size_t n = list_combos(NULL);
    _cleanup_free_ struct combo *combos = xmalloc(n * sizeof(*combos));
    list_combos(combos);
    bool used[ARRAY_SIZE(rules)] = { false };
    size_t missing = 0;
    for (size_t i = 0; i < n; i++) {
        size_t index;
        if (!rule_for(&combos[i], &index)) {
            _cleanup_free_ char *name = combo_name(&combos[i]);
            cr_log_error("no rule for %s", name);
            missing++;
            continue;
        }
        used[index] = true;
    }
    cr_expect_eq(missing, 0, "%zu combinations have no rule", missing);
    for (size_t i = 0; i < ARRAY_SIZE(rules); i++)
        cr_expect(used[i], "rules[%zu] matches no combination (shadowed or mistyped)", i);
    fprintf(stderr,
            "engine matrix: %zu combinations of step, record, cookie and flags, %zu rules\n", n,
            ARRAY_SIZE(rules));
}

/* Write the incoming cookie of a combination to in.xml. */
static void
make_cookie(const struct combo *c)
{
    switch (c->cookie) {
    case CK_NOTHING:
        return;
    case CK_REAL: {
        _cleanup_free_ char *from = world_cookie(&w, world_natural_in[c->step]);
        _cleanup_free_ char *to = world_cookie(&w, "in.xml");
        _cleanup_free_ char *xml = world_read(from);
        cr_assert_not_null(xml, "no %s", from);
        struct mp_error *err = NULL;
        cr_assert_eq(mp_write_file(to, xml, strlen(xml), &err), 0);
        return;
    }
    case CK_OTHER_MIGRATION:
    case CK_OTHER_DOMAIN:
    case CK_CHANGED:
    case CK_OTHER_HOST:
    case CK_BAD_HOST:
    case CK_EXEC_URI: {
        static const enum forge forges[CK_COUNT] = {
            [CK_OTHER_MIGRATION] = FORGE_OTHER_MIGRATION,
            [CK_OTHER_DOMAIN] = FORGE_OTHER_DOMAIN,
            [CK_CHANGED] = FORGE_CHANGED,
            [CK_OTHER_HOST] = FORGE_OTHER_HOST,
            [CK_BAD_HOST] = FORGE_BAD_HOST,
            [CK_EXEC_URI] = FORGE_EXEC_URI,
        };
        world_forge(&w, "begin.xml", "in.xml", c->step - 1, MP_OUTCOME_SUCCESS, forges[c->cookie]);
        return;
    }
    default:
        world_forge(&w, "begin.xml", "in.xml", c->cookie / MP_OUTCOME_COUNT,
                    c->cookie % MP_OUTCOME_COUNT, FORGE_PLAIN);
    }
}

/* What the world looked like before the step. */
struct snapshot {
    char *record;
    struct mp_journal_record *parsed;
    char *saved_out;
    struct fake_hv hv;
    unsigned plans; /* the fake's plan calls of the step so far */
};

/* Mismatches, one per line. */
struct findings {
    char *text;
};

static void _printf_(2, 3) finding(struct findings *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *line = NULL;
    if (vasprintf(&line, fmt, ap) < 0)
        abort();
    va_end(ap);
    char *text = xasprintf("%s\n  %s", f->text ? f->text : "", line);
    free(f->text);
    free(line);
    f->text = text;
}

static void
check_expectations(const struct combo *c, const struct expect *e, int status,
                   const struct snapshot *before, struct findings *f)
{
    enum mp_step step = c->step;
    enum mp_role role = mp_step_role(step);
    if (e->status == ANY_FAILURE ? status == 0 : status != e->status)
        finding(f, "exit status %d, expected %s%d", status,
                e->status == ANY_FAILURE ? "a failure, not " : "",
                e->status == ANY_FAILURE ? 0 : e->status);

    _cleanup_free_ char *record = world_record_text(&w, role, "vm1");
    const char *domain = e->vm2 ? "vm2" : "vm1";
    if (e->vm2 || e->rec == REC_SAME) {
        if (!mp_streq0(record, before->record))
            finding(f, "the vm1 record changed:\n%s", record ? record : "(removed)");
    }
    if (!e->vm2 && world_has_journal(&w, role, "vm2"))
        finding(f, "a journal was created for domain vm2");
    _cleanup_cookie_ struct mp_cookie *in = world_read_cookie(&w, "in.xml");
    _cleanup_cookie_ struct mp_cookie *out = world_read_cookie(&w, "out.xml");
    if (e->rec == REC_NEW) {
        _cleanup_record_ struct mp_journal_record *rec = world_record(&w, role, domain);
        if (!rec) {
            finding(f, "no %s record", domain);
        } else {
            if (rec->step != e->rec_step || rec->phase != e->phase || rec->outcome != e->outcome ||
                rec->closed != e->closed)
                finding(f, "record %s/%s/%s closed=%d, expected %s/%s/%s closed=%d",
                        mp_step_name(rec->step), mp_journal_phase_name(rec->phase),
                        mp_outcome_name(rec->outcome), rec->closed, mp_step_name(e->rec_step),
                        mp_journal_phase_name(e->phase), mp_outcome_name(e->outcome), e->closed);
            const char *undo = mp_journal_record_get_fact(rec, MP_FACT_UNDO);
            if (e->undo && !mp_streq0(undo, e->undo))
                finding(f, "record undo=%s, expected %s", undo ? undo : "(none)", e->undo);
            const char *id = step == MP_STEP_BEGIN ? (out ? out->migration_id : NULL)
                                                   : (in ? in->migration_id : NULL);
            if (!mp_streq0(rec->migration_id, id))
                finding(f, "the record is of migration %s, not the cookie's %s", rec->migration_id,
                        id ? id : "(none)");
        }
    }
    if (e->vm2 && e->rec == REC_NEW && !world_has_journal(&w, role, "vm2"))
        finding(f, "no journal for vm2");

    _cleanup_free_ char *out_path = world_cookie(&w, "out.xml");
    _cleanup_free_ char *out_xml = world_read(out_path);
    switch (e->out) {
    case OUT_NONE:
        if (out_xml)
            finding(f, "a cookie was written");
        break;
    case OUT_SAVED:
        /* Confirm writes no cookie: its answer is its exit status. */
        if (step == MP_STEP_CONFIRM ? out_xml != NULL : !mp_streq0(out_xml, before->saved_out))
            finding(f, "the cookie written is not the one the journal kept:\n%s",
                    out_xml ? out_xml : "(none)");
        break;
    case OUT_NEW:
        if (!out)
            finding(f, "no cookie written");
        else if (out->step != step || out->outcome != e->out_outcome ||
                 !mp_streq0(out->migration_id, in ? in->migration_id : out->migration_id) ||
                 !mp_streq0(out->domain_name, domain))
            finding(f, "cookie written by %s (%s) for %s, expected %s (%s)",
                    mp_step_name(out->step), mp_outcome_name(out->outcome), out->domain_name,
                    mp_step_name(step), mp_outcome_name(e->out_outcome));
        break;
    case OUT_ANY:
        break;
    }

    struct fake_hv hv;
    fake_hv_read("vm1", &hv);
    enum mp_vm_state want_src = e->src ? e->src : before->hv.source;
    enum mp_vm_state want_dst = e->dst ? e->dst : before->hv.destination;
    if (hv.source != want_src)
        finding(f, "source VM %s, expected %s", mp_vm_state_name(hv.source),
                mp_vm_state_name(want_src));
    if (hv.destination != want_dst)
        finding(f, "destination VM %s, expected %s", mp_vm_state_name(hv.destination),
                mp_vm_state_name(want_dst));
    /* Refused or answered: the driver was not even asked (Begin asks the
     * driver to describe the VM before anything else). */
    if (e->rec == REC_SAME && step != MP_STEP_BEGIN && fake_plan_calls(step) != before->plans)
        finding(f, "the driver's plan ran");
}

/* The protocol's promises, whatever the table says. */
static void
check_invariants(const struct combo *c, int status, const struct snapshot *before,
                 struct findings *f)
{
    struct fake_hv hv;
    fake_hv_read("vm1", &hv);
    if (status == 2) {
        _cleanup_free_ char *record = world_record_text(&w, mp_step_role(c->step), "vm1");
        _cleanup_free_ char *out_path = world_cookie(&w, "out.xml");
        _cleanup_free_ char *out = world_read(out_path);
        if (!mp_streq0(record, before->record) || out || hv.source != before->hv.source ||
            hv.destination != before->hv.destination ||
            hv.stream_completed != before->hv.stream_completed)
            finding(f, "invariant: exit status 2 but something was touched");
    }
    if (before->hv.source != MP_VM_ABSENT && hv.source == MP_VM_ABSENT) {
        const char *stream =
            before->parsed ? mp_journal_record_get_fact(before->parsed, MP_FACT_STREAM) : NULL;
        if (!mp_streq0(stream, MP_FACT_STREAM_COMPLETED))
            finding(f, "invariant: the source VM was quit, but its journal does not say its "
                       "stream completed");
    }
    if (before->hv.destination == MP_VM_RUNNING && hv.destination != MP_VM_RUNNING)
        finding(f, "invariant: the destination VM ran and was stopped");
    bool both = hv.source == MP_VM_RUNNING && hv.destination == MP_VM_RUNNING;
    bool both_before =
        before->hv.source == MP_VM_RUNNING && before->hv.destination == MP_VM_RUNNING;
    if (both && !both_before && !(c->flags & RUN_FORCE))
        finding(f, "invariant: the VM runs on both hosts now, without --force");
    if (c->step == MP_STEP_FINISH && hv.destination == MP_VM_RUNNING) {
        _cleanup_cookie_ struct mp_cookie *out = world_read_cookie(&w, "out.xml");
        if (out && out->outcome != MP_OUTCOME_SUCCESS)
            finding(f, "invariant: Finish handed out a cookie saying %s while its VM runs",
                    mp_outcome_name(out->outcome));
    }
}

/* Run one combination in a fresh world; returns its mismatches (NULL: none). */
static char *
run_combo(const struct combo *c, const struct rule *rule)
{
    /* Each scenario is played once in a process, then restored. */
    static int saved_scenario = -1;
    if (saved_scenario == c->scenario) {
        world_restore(&w);
    } else {
        world_teardown(&w);
        world_setup(&w);
        const struct scenario_def *sc = &scenarios[c->scenario];
        play_all(sc->moves, ARRAY_SIZE(sc->moves));
        if (sc->forget_source)
            world_forget(&w, MP_ROLE_SOURCE, "vm1");
        world_save(&w);
        saved_scenario = c->scenario;
    }
    make_cookie(c);

    struct snapshot before = { 0 };
    enum mp_role role = mp_step_role(c->step);
    before.record = world_record_text(&w, role, "vm1");
    before.parsed = world_record(&w, role, "vm1");
    before.saved_out = saved_cookie(c->step, true);
    fake_hv_read("vm1", &before.hv);
    before.plans = fake_plan_calls(c->step);

    _cleanup_free_ char *message = NULL;
    const char *in = c->cookie == CK_NOTHING ? NULL : "in.xml";
    const char *out = c->step == MP_STEP_CONFIRM ? NULL : "out.xml";
    int status = world_run(&w, c->step, in, out, c->flags, FAKE_SUCCEED, &message);

    struct findings f = { NULL };
    check_expectations(c, &rule->e, status, &before, &f);
    check_invariants(c, status, &before, &f);
    free(before.record);
    mp_journal_record_free(before.parsed);
    free(before.saved_out);
    if (!f.text)
        return NULL;
    _cleanup_free_ char *name = combo_name(c);
    char *report =
        xasprintf("%s (exit %d: %s):%s", name, status, message ? message : "no message", f.text);
    free(f.text);
    return report;
}

/* One test per step and scenario: every cookie and flag set. */
struct group {
    unsigned char step, scenario;
};

static size_t
list_groups(struct group *out)
{
    size_t n = 0;
    for (enum mp_step step = MP_STEP_BEGIN; step < MP_STEP_COUNT; step++) {
        bool source = mp_step_role(step) == MP_ROLE_SOURCE;
        for (int sc = source ? S_NONE : D_NONE; sc < (source ? D_NONE : SCENARIO_COUNT); sc++) {
            if (out)
                out[n] = (struct group){ step, sc };
            n++;
        }
    }
    return n;
}

ParameterizedTestParameters(engine, matrix)
{
    size_t n = list_groups(NULL);
    struct group *groups = cr_malloc(n * sizeof(*groups));
    list_groups(groups);
    return cr_make_param_array(struct group, groups, n);
}

ParameterizedTest(struct group *g, engine, matrix)
{
    size_t n = list_combos(NULL);
    _cleanup_free_ struct combo *combos = xmalloc(n * sizeof(*combos));
    list_combos(combos);
    _cleanup_free_ char *report = NULL;
    size_t failed = 0, ran = 0;
    for (size_t i = 0; i < n; i++) {
        const struct combo *c = &combos[i];
        if (c->step != g->step || c->scenario != g->scenario)
            continue;
        size_t index = 0;
        const struct rule *rule = rule_for(c, &index);
        cr_assert_not_null(rule, "no rule for a combination (see matrix_table_is_complete)");
        ran++;
        _cleanup_free_ char *bad = run_combo(c, rule);
        if (!bad)
            continue;
        failed++;
        char *more = xasprintf("%s\nrules[%zu], %s", report ? report : "", index, bad);
        free(report);
        report = more;
    }
    cr_assert_gt(ran, 0, "no combination to check");
    cr_assert_eq(failed, 0, "%s after \"%s\": %zu of %zu combinations differ:%s",
                 mp_step_name(g->step), scenarios[g->scenario].name, failed, ran, report);
}
