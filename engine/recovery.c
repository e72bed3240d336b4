/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "recovery.h"

#include "facts.h"

#include <string.h>

#define STEP(s)     (1u << MP_STEP_##s)
#define PHASE(p)    (1u << MP_PHASE_##p)
#define VM(v)       (1u << MP_VM_##v)
#define ANY_PHASE   (PHASE(STARTED) | PHASE(DONE) | PHASE(FAILED))
#define ANY_VM      ((1u << MP_VM_COUNT) - 1)
#define ANY_STEP    ((1u << MP_STEP_COUNT) - 1)
#define NOT_RUNNING (ANY_VM & ~VM(RUNNING) & ~VM(POSTCOPY) & ~VM(POSTCOPY_PAUSED))

/* Order matters: the first rule that matches applies. The principles, after
 * libvirt's recovery on daemon restart and xl's point-of-no-return handshake:
 * a source whose stream never completed is cancelled and resumed; a source
 * whose stream completed stays paused until Finish's outcome is known; a
 * destination that never resumed is killed; one that resumed keeps running. */
static const struct mp_recovery_rule rules[] = {
    /* Past postcopy's switch neither side may undo anything: a broken
     * stream is recovered over a new connection. */
    { MP_ROLE_SOURCE, ANY_STEP, ANY_PHASE, VM(POSTCOPY_PAUSED), MP_ACTION_RESUME_POSTCOPY, false,
      "the postcopy stream broke: the source must not run again; listen again on the "
      "destination, then resume the stream here" },
    { MP_ROLE_DESTINATION, ANY_STEP, ANY_PHASE, VM(POSTCOPY_PAUSED), MP_ACTION_RESUME_POSTCOPY,
      false,
      "the postcopy stream broke: the guest waits here for its pages; listen again here, then "
      "resume the stream on the source" },
    { MP_ROLE_SOURCE, STEP(PERFORM), PHASE(STARTED) | PHASE(FAILED), VM(POSTCOPY),
      MP_ACTION_RERUN_PERFORM, false,
      "the stream switched to postcopy but Perform did not conclude: re-run it for its cookie; "
      "the source never runs again" },
    { MP_ROLE_SOURCE, STEP(BEGIN), ANY_PHASE, ANY_VM, MP_ACTION_RESUME_SOURCE, true,
      "Begin changes nothing: close the migration, the VM stays as it is" },
    { MP_ROLE_SOURCE, STEP(PERFORM), PHASE(DONE), VM(MIGRATED) | VM(ABSENT) | VM(POSTCOPY),
      MP_ACTION_FINISH_DEST, false,
      "the stream completed (or switched to postcopy): the destination's Finish decides, the "
      "source stays paused" },
    { MP_ROLE_SOURCE, STEP(PERFORM), PHASE(STARTED), VM(MIGRATED), MP_ACTION_RERUN_PERFORM, false,
      "the stream completed but Perform did not record it: re-run it for its cookie" },
    { MP_ROLE_SOURCE, STEP(PERFORM), PHASE(STARTED) | PHASE(FAILED),
      VM(MIGRATING) | VM(RUNNING) | VM(PAUSED), MP_ACTION_RESUME_SOURCE, true,
      "the stream never completed: cancel it and resume the source" },
    { MP_ROLE_SOURCE, STEP(PERFORM), PHASE(STARTED) | PHASE(FAILED), VM(ABSENT),
      MP_ACTION_RESUME_SOURCE, true,
      "the source VM died before its stream completed: close the migration; the incoming "
      "copy on the destination is incomplete and goes" },
    /* Confirm gives up on a postcopy whose stream sends nothing: the
     * destination may still get the last pages (a stopped peer, a link TCP
     * has not given up on yet), and Confirm waits for them again. */
    { MP_ROLE_SOURCE, STEP(CONFIRM), PHASE(STARTED) | PHASE(FAILED), VM(POSTCOPY),
      MP_ACTION_RERUN_CONFIRM, false,
      "Confirm stopped before the postcopy's end (its stream stalled, or Confirm was "
      "interrupted): the source never runs again; run Confirm again with the same cookie once "
      "the stream moves" },
    { MP_ROLE_SOURCE, STEP(CONFIRM), PHASE(STARTED) | PHASE(FAILED), ANY_VM & ~VM(UNKNOWN),
      MP_ACTION_RERUN_CONFIRM, false,
      "Confirm was interrupted: run it again with the same cookie" },
    { MP_ROLE_DESTINATION, STEP(PREPARE) | STEP(FINISH), ANY_PHASE, VM(RUNNING) | VM(POSTCOPY),
      MP_ACTION_RERUN_FINISH, false,
      "the destination runs the VM (or holds it under postcopy): past the point of no return, "
      "it keeps running" },
    { MP_ROLE_DESTINATION, STEP(PREPARE) | STEP(FINISH), ANY_PHASE, NOT_RUNNING & ~VM(UNKNOWN),
      MP_ACTION_KILL_DEST, true,
      "the destination never resumed: kill it; the source still has the VM" },
    { MP_ROLE_SOURCE, ~0u, ~0u, ~0u, MP_ACTION_INVESTIGATE, false,
      "no rule is safe here: check both hosts before acting" },
    { MP_ROLE_DESTINATION, ~0u, ~0u, ~0u, MP_ACTION_INVESTIGATE, false,
      "no rule is safe here: check both hosts before acting" },
};

static const char *const action_names[] = {
    [MP_ACTION_NONE] = "nothing",
    [MP_ACTION_RESUME_SOURCE] = "migphase-confirm --cancelled",
    [MP_ACTION_KILL_DEST] = "migphase-finish --cancelled",
    [MP_ACTION_RERUN_PERFORM] = "migphase-perform (again)",
    [MP_ACTION_FINISH_DEST] = "migphase-finish on the destination",
    [MP_ACTION_RERUN_FINISH] = "migphase-finish (again)",
    [MP_ACTION_RERUN_CONFIRM] = "migphase-confirm (again)",
    [MP_ACTION_INVESTIGATE] = "a human checks both hosts",
    [MP_ACTION_RESUME_POSTCOPY] = "migphase-prepare --resume, then migphase-perform --resume",
};

const struct mp_recovery_rule *
mp_recovery_rule_for(const struct mp_journal_record *record, enum mp_vm_state state)
{
    for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
        const struct mp_recovery_rule *r = &rules[i];
        if (r->role == record->role && (r->steps & (1u << record->step)) &&
            (r->phases & (1u << record->phase)) && (r->states & (1u << state)))
            return r;
    }
    return &rules[ARRAY_SIZE(rules) - 1];
}

const char *
mp_recovery_where(const struct mp_recovery_rule *rule)
{
    bool elsewhere = rule->action == MP_ACTION_FINISH_DEST ||
                     (rule->action == MP_ACTION_RESUME_POSTCOPY && rule->role == MP_ROLE_SOURCE);
    return elsewhere ? "on the destination" : "here";
}

const char *
mp_recovery_then_where(const struct mp_recovery_rule *rule)
{
    bool elsewhere = rule->action == MP_ACTION_RESUME_POSTCOPY && rule->role == MP_ROLE_DESTINATION;
    return elsewhere ? "on the source" : "here";
}

/* A paused postcopy's recovery: the destination's Prepare listens again
 * (its own Begin cookie names the migration) and writes the cookie that
 * the source's Perform resumes the stream to. Both commands name the
 * destination's journal directory: the cookie goes to the source as any
 * Prepare cookie does. */
static char **
resume_command(const char *helper, const struct mp_journal_record *record, const char *state_dir,
               bool prepare)
{
    char **argv = mp_strv_append(NULL, helper);
    argv = mp_strv_append(argv, "--resume");
    if (record->driver && strcmp(record->driver, "qemu") != 0) {
        argv = mp_strv_append(argv, "--driver");
        argv = mp_strv_append(argv, record->driver);
    }
    argv = mp_strv_append(argv, "--state-dir");
    argv = mp_strv_append(argv, state_dir);
    _cleanup_free_ char *dir = xasprintf("%s/destination/%s", state_dir, record->domain);
    _cleanup_free_ char *begin = xasprintf("%s/prepare-in.xml", dir);
    _cleanup_free_ char *cookie = xasprintf("%s/resume-cookie.xml", dir);
    argv = mp_strv_append(argv, "--in");
    argv = mp_strv_append(argv, prepare ? begin : cookie);
    if (prepare) {
        argv = mp_strv_append(argv, "--out");
        argv = mp_strv_append(argv, cookie);
    }
    return argv;
}

static char *
cookie_path(const char *state_dir, const struct mp_journal_record *record, enum mp_step step,
            bool out)
{
    return xasprintf("%s/%s/%s/%s-%s.xml", state_dir, mp_role_name(record->role), record->domain,
                     mp_step_name(step), out ? "out" : "in");
}

/* Where recovery puts the cookie Finish writes for the source's Confirm. */
static char *
finish_cookie_path(const char *state_dir, const struct mp_journal_record *record)
{
    return xasprintf("%s/%s/%s/finish-cookie.xml", state_dir, mp_role_name(record->role),
                     record->domain);
}

char **
mp_recovery_command(const struct mp_recovery_rule *rule, const struct mp_journal_record *record,
                    const char *state_dir)
{
    const char *helper = NULL, *flag = NULL;
    enum mp_step step = record->step;
    bool out = false;
    switch (rule->action) {
    case MP_ACTION_RESUME_SOURCE:
        helper = "migphase-confirm", flag = "--cancelled";
        /* Any cookie of this migration will do to undo it: the newest. */
        out = step == MP_STEP_BEGIN || record->phase != MP_PHASE_STARTED;
        break;
    case MP_ACTION_KILL_DEST:
        helper = "migphase-finish", flag = "--cancelled";
        break;
    case MP_ACTION_RERUN_PERFORM:
        helper = "migphase-perform";
        break;
    case MP_ACTION_FINISH_DEST:
        helper = "migphase-finish", out = true;
        break;
    case MP_ACTION_RERUN_FINISH:
        helper = "migphase-finish";
        step = MP_STEP_FINISH;
        if (record->step == MP_STEP_PREPARE)
            return NULL; /* no Perform cookie here: the source's journal has it */
        break;
    case MP_ACTION_RERUN_CONFIRM:
        helper = "migphase-confirm";
        if (mp_streq0(mp_journal_record_get_fact(record, MP_FACT_UNDO), MP_FACT_YES))
            flag = "--cancelled";
        break;
    case MP_ACTION_RESUME_POSTCOPY:
        return resume_command("migphase-prepare", record, state_dir, true);
    case MP_ACTION_NONE:
    case MP_ACTION_INVESTIGATE:
        return NULL;
    }
    char **argv = mp_strv_append(NULL, helper);
    if (flag)
        argv = mp_strv_append(argv, flag);
    if (record->driver && strcmp(record->driver, "qemu") != 0) {
        argv = mp_strv_append(argv, "--driver");
        argv = mp_strv_append(argv, record->driver);
    }
    argv = mp_strv_append(argv, "--state-dir");
    argv = mp_strv_append(argv, state_dir);
    _cleanup_free_ char *path = cookie_path(state_dir, record, step, out);
    argv = mp_strv_append(argv, "--in");
    argv = mp_strv_append(argv, path);
    if (rule->action == MP_ACTION_FINISH_DEST) {
        /* Finish's cookie comes back here for Confirm. */
        _cleanup_free_ char *back = finish_cookie_path(state_dir, record);
        argv = mp_strv_append(argv, "--out");
        argv = mp_strv_append(argv, back);
    }
    return argv;
}

char **
mp_recovery_then(const struct mp_recovery_rule *rule, const struct mp_journal_record *record,
                 const char *state_dir)
{
    if (rule->action == MP_ACTION_RESUME_POSTCOPY)
        return resume_command("migphase-perform", record, state_dir, false);
    if (rule->action != MP_ACTION_FINISH_DEST)
        return NULL;
    /* No --cancelled: Confirm reads from Finish's cookie which way to go. */
    char **argv = mp_strv_append(NULL, "migphase-confirm");
    if (record->driver && strcmp(record->driver, "qemu") != 0) {
        argv = mp_strv_append(argv, "--driver");
        argv = mp_strv_append(argv, record->driver);
    }
    argv = mp_strv_append(argv, "--state-dir");
    argv = mp_strv_append(argv, state_dir);
    _cleanup_free_ char *back = finish_cookie_path(state_dir, record);
    argv = mp_strv_append(argv, "--in");
    argv = mp_strv_append(argv, back);
    return argv;
}

static void
print_mask(FILE *out, unsigned mask, unsigned count, const char *(*name)(int))
{
    if ((mask & ((1u << count) - 1)) == (1u << count) - 1) {
        fputs("any", out);
        return;
    }
    bool first = true;
    for (unsigned i = 0; i < count; i++) {
        if (mask & (1u << i)) {
            fprintf(out, "%s%s", first ? "" : ", ", name((int)i));
            first = false;
        }
    }
}

static const char *
step_name_i(int i)
{
    return mp_step_name((enum mp_step)i);
}

static const char *
phase_name_i(int i)
{
    return mp_journal_phase_name((enum mp_journal_phase)i);
}

static const char *
state_name_i(int i)
{
    return mp_vm_state_name((enum mp_vm_state)i);
}

void
mp_recovery_print_table(FILE *out)
{
    fputs("| role | step reached | phase | VM state | action | at boot | why |\n"
          "|---|---|---|---|---|---|---|\n",
          out);
    for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
        const struct mp_recovery_rule *r = &rules[i];
        fprintf(out, "| %s | ", mp_role_name(r->role));
        print_mask(out, r->steps, MP_STEP_COUNT, step_name_i);
        fputs(" | ", out);
        print_mask(out, r->phases, 3, phase_name_i);
        fputs(" | ", out);
        print_mask(out, r->states, MP_VM_COUNT, state_name_i);
        fprintf(out, " | %s | %s | %s |\n", action_names[r->action], r->automatic ? "yes" : "no",
                r->why);
    }
}
