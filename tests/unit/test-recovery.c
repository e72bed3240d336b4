/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of the recovery rules (engine/recovery.c), the table migphase-status
 * applies, without a hypervisor:
 *
 *  - every row of the table has cases here (journal record + VM state ->
 *    action, at boot or not, and the command printed), and every input the
 *    table can be given is checked to land on a row some case covers: a row
 *    added to recovery.c without a case here fails engine-free, as does a
 *    row that no input can reach;
 *
 *  - stories: a migration is interrupted at each point (the fake driver
 *    crashes or fails a step), then the hosts recover as migphase-status
 *    says, with the fake driver's probe as the hypervisor: first what runs
 *    at boot (--recover), then an operator running each printed command.
 *    At the end nothing is pending and the VM runs on exactly one host. */
#include "config.h"

#include "facts.h"
#include "recovery.h"
#include "world.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* The table, row by row. */

struct rule_case {
    enum mp_role role;
    enum mp_step step;
    enum mp_journal_phase phase;
    enum mp_vm_state state;
    bool undo; /* the record says Finish or Confirm was undoing */
    enum mp_recovery_action action;
    bool automatic;
    const char *command; /* NULL: nothing to run here */
    const char *then;
};

#define SRC MP_ROLE_SOURCE
#define DST MP_ROLE_DESTINATION
#define CASE(role, step, phase, state, action, automatic, command, then)                           \
    {                                                                                              \
        role, MP_STEP_##step, MP_PHASE_##phase, MP_VM_##state, false, MP_ACTION_##action,          \
            automatic, command, then                                                               \
    }
#define CASE_UNDO(role, step, phase, state, action, automatic, command)                            \
    {                                                                                              \
        role, MP_STEP_##step, MP_PHASE_##phase, MP_VM_##state, true, MP_ACTION_##action,           \
            automatic, command, NULL                                                               \
    }
#define AT_BOOT true
#define BY_HAND false
#define STATE   "--driver fake --state-dir /state"
#define SRC_DIR "/state/source/vm1/"
#define DST_DIR "/state/destination/vm1/"

#define RESUME_PREPARE                                                                             \
    "migphase-prepare --resume " STATE " --in " DST_DIR "prepare-in.xml --out " DST_DIR            \
    "resume-cookie.xml"
#define RESUME_PERFORM "migphase-perform --resume " STATE " --in " DST_DIR "resume-cookie.xml"

static const struct rule_case cases[] = {
    /* A paused postcopy: recovered over a new connection, from either
     * host, whatever step it is at; nothing is undone. */
    CASE(SRC, PERFORM, DONE, POSTCOPY_PAUSED, RESUME_POSTCOPY, BY_HAND, RESUME_PREPARE,
         RESUME_PERFORM),
    CASE(SRC, CONFIRM, FAILED, POSTCOPY_PAUSED, RESUME_POSTCOPY, BY_HAND, RESUME_PREPARE,
         RESUME_PERFORM),
    CASE(DST, FINISH, FAILED, POSTCOPY_PAUSED, RESUME_POSTCOPY, BY_HAND, RESUME_PREPARE,
         RESUME_PERFORM),
    CASE(DST, PREPARE, DONE, POSTCOPY_PAUSED, RESUME_POSTCOPY, BY_HAND, RESUME_PREPARE,
         RESUME_PERFORM),
    /* Past the switch, Perform killed: again, for its cookie; never undone. */
    CASE(SRC, PERFORM, STARTED, POSTCOPY, RERUN_PERFORM, BY_HAND,
         "migphase-perform " STATE " --in " SRC_DIR "perform-in.xml", NULL),
    CASE(SRC, PERFORM, DONE, POSTCOPY, FINISH_DEST, BY_HAND,
         "migphase-finish " STATE " --in " SRC_DIR "perform-out.xml --out " SRC_DIR
         "finish-cookie.xml",
         "migphase-confirm " STATE " --in " SRC_DIR "finish-cookie.xml"),
    /* A destination under postcopy is never killed. */
    CASE(DST, FINISH, STARTED, POSTCOPY, RERUN_FINISH, BY_HAND,
         "migphase-finish " STATE " --in " DST_DIR "finish-in.xml", NULL),
    CASE(DST, PREPARE, DONE, POSTCOPY, RERUN_FINISH, BY_HAND, NULL, NULL),
    /* Begin changed nothing: close it, whatever the VM does. */
    CASE(SRC, BEGIN, DONE, RUNNING, RESUME_SOURCE, AT_BOOT,
         "migphase-confirm --cancelled " STATE " --in " SRC_DIR "begin-out.xml", NULL),
    CASE(SRC, BEGIN, STARTED, UNKNOWN, RESUME_SOURCE, AT_BOOT,
         "migphase-confirm --cancelled " STATE " --in " SRC_DIR "begin-out.xml", NULL),
    /* The stream completed: the destination's Finish decides. */
    CASE(SRC, PERFORM, DONE, MIGRATED, FINISH_DEST, BY_HAND,
         "migphase-finish " STATE " --in " SRC_DIR "perform-out.xml --out " SRC_DIR
         "finish-cookie.xml",
         "migphase-confirm " STATE " --in " SRC_DIR "finish-cookie.xml"),
    CASE(SRC, PERFORM, DONE, ABSENT, FINISH_DEST, BY_HAND,
         "migphase-finish " STATE " --in " SRC_DIR "perform-out.xml --out " SRC_DIR
         "finish-cookie.xml",
         "migphase-confirm " STATE " --in " SRC_DIR "finish-cookie.xml"),
    /* Completed but not recorded: Perform again, for its cookie. */
    CASE(SRC, PERFORM, STARTED, MIGRATED, RERUN_PERFORM, BY_HAND,
         "migphase-perform " STATE " --in " SRC_DIR "perform-in.xml", NULL),
    /* Never completed: cancel and resume, with the newest cookie there is. */
    CASE(SRC, PERFORM, STARTED, MIGRATING, RESUME_SOURCE, AT_BOOT,
         "migphase-confirm --cancelled " STATE " --in " SRC_DIR "perform-in.xml", NULL),
    CASE(SRC, PERFORM, FAILED, RUNNING, RESUME_SOURCE, AT_BOOT,
         "migphase-confirm --cancelled " STATE " --in " SRC_DIR "perform-out.xml", NULL),
    CASE(SRC, PERFORM, STARTED, PAUSED, RESUME_SOURCE, AT_BOOT,
         "migphase-confirm --cancelled " STATE " --in " SRC_DIR "perform-in.xml", NULL),
    CASE(SRC, PERFORM, STARTED, ABSENT, RESUME_SOURCE, AT_BOOT,
         "migphase-confirm --cancelled " STATE " --in " SRC_DIR "perform-in.xml", NULL),
    CASE(SRC, PERFORM, FAILED, ABSENT, RESUME_SOURCE, AT_BOOT,
         "migphase-confirm --cancelled " STATE " --in " SRC_DIR "perform-out.xml", NULL),
    /* Confirm again, the same way as before. */
    CASE(SRC, CONFIRM, STARTED, MIGRATED, RERUN_CONFIRM, BY_HAND,
         "migphase-confirm " STATE " --in " SRC_DIR "confirm-in.xml", NULL),
    CASE(SRC, CONFIRM, FAILED, ABSENT, RERUN_CONFIRM, BY_HAND,
         "migphase-confirm " STATE " --in " SRC_DIR "confirm-in.xml", NULL),
    CASE_UNDO(SRC, CONFIRM, FAILED, PAUSED, RERUN_CONFIRM, BY_HAND,
              "migphase-confirm --cancelled " STATE " --in " SRC_DIR "confirm-in.xml"),
    /* A postcopy Confirm gave up on: Confirm again, never the source back. */
    CASE(SRC, CONFIRM, FAILED, POSTCOPY, RERUN_CONFIRM, BY_HAND,
         "migphase-confirm " STATE " --in " SRC_DIR "confirm-in.xml", NULL),
    /* The destination runs: it keeps running. Prepare's record has no
     * Perform cookie to finish with: the command comes from the source. */
    CASE(DST, FINISH, STARTED, RUNNING, RERUN_FINISH, BY_HAND,
         "migphase-finish " STATE " --in " DST_DIR "finish-in.xml", NULL),
    CASE(DST, FINISH, FAILED, RUNNING, RERUN_FINISH, BY_HAND,
         "migphase-finish " STATE " --in " DST_DIR "finish-in.xml", NULL),
    CASE(DST, PREPARE, DONE, RUNNING, RERUN_FINISH, BY_HAND, NULL, NULL),
    /* Never resumed: kill it. */
    CASE(DST, PREPARE, DONE, INCOMING, KILL_DEST, AT_BOOT,
         "migphase-finish --cancelled " STATE " --in " DST_DIR "prepare-in.xml", NULL),
    CASE(DST, PREPARE, STARTED, ABSENT, KILL_DEST, AT_BOOT,
         "migphase-finish --cancelled " STATE " --in " DST_DIR "prepare-in.xml", NULL),
    CASE(DST, FINISH, STARTED, INCOMING, KILL_DEST, AT_BOOT,
         "migphase-finish --cancelled " STATE " --in " DST_DIR "finish-in.xml", NULL),
    CASE(DST, FINISH, FAILED, FAILED, KILL_DEST, AT_BOOT,
         "migphase-finish --cancelled " STATE " --in " DST_DIR "finish-in.xml", NULL),
    CASE(DST, FINISH, STARTED, PAUSED, KILL_DEST, AT_BOOT,
         "migphase-finish --cancelled " STATE " --in " DST_DIR "finish-in.xml", NULL),
    /* Nothing safe: a human looks. The stream completed yet the source runs;
     * a failed Perform whose source sits migrated; a VM no one can ask. */
    CASE(SRC, PERFORM, DONE, RUNNING, INVESTIGATE, BY_HAND, NULL, NULL),
    CASE(SRC, PERFORM, FAILED, MIGRATED, INVESTIGATE, BY_HAND, NULL, NULL),
    CASE(SRC, PERFORM, STARTED, UNKNOWN, INVESTIGATE, BY_HAND, NULL, NULL),
    CASE(SRC, CONFIRM, STARTED, UNKNOWN, INVESTIGATE, BY_HAND, NULL, NULL),
    CASE(DST, FINISH, STARTED, UNKNOWN, INVESTIGATE, BY_HAND, NULL, NULL),
    CASE(DST, PREPARE, STARTED, UNKNOWN, INVESTIGATE, BY_HAND, NULL, NULL),
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

static struct mp_journal_record *
record_of(enum mp_role role, enum mp_step step, enum mp_journal_phase phase, bool undo)
{
    struct mp_journal_record *r = mp_journal_record_new();
    r->migration_id = xstrdup("6f1c2a9e-0d4b-4c8e-9a57-3b2d1e0f4a6c");
    r->domain = xstrdup("vm1");
    r->uuid = xstrdup("2b7e1516-28ae-4d2a-a6f7-15880912cf4f");
    r->driver = xstrdup("fake");
    r->role = role;
    r->step = step;
    r->phase = phase;
    if (undo)
        mp_journal_record_set_fact(r, MP_FACT_UNDO, MP_FACT_YES);
    return r;
}

static char *
join(char **argv)
{
    if (!argv)
        return NULL;
    char *s = xstrdup(argv[0]);
    for (size_t i = 1; argv[i]; i++) {
        char *more = xasprintf("%s %s", s, argv[i]);
        free(s);
        s = more;
    }
    return s;
}

/* A rule as mp_recovery_print_table prints it, written independently. */
static void
print_mask(FILE *f, unsigned mask, unsigned count, const char *(*name)(unsigned))
{
    unsigned all = (1u << count) - 1;
    if ((mask & all) == all) {
        fputs("any", f);
        return;
    }
    const char *sep = "";
    for (unsigned i = 0; i < count; i++) {
        if (mask & (1u << i)) {
            fprintf(f, "%s%s", sep, name(i));
            sep = ", ";
        }
    }
}

static const char *
step_name(unsigned i)
{
    return mp_step_name((enum mp_step)i);
}

static const char *
phase_name(unsigned i)
{
    return mp_journal_phase_name((enum mp_journal_phase)i);
}

static const char *
state_name(unsigned i)
{
    return mp_vm_state_name((enum mp_vm_state)i);
}

static char *
rule_line(const struct mp_recovery_rule *r)
{
    char *line = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&line, &len);
    cr_assert_not_null(f);
    fprintf(f, "| %s | ", mp_role_name(r->role));
    print_mask(f, r->steps, MP_STEP_COUNT, step_name);
    fputs(" | ", f);
    print_mask(f, r->phases, 3, phase_name);
    fputs(" | ", f);
    print_mask(f, r->states, MP_VM_COUNT, state_name);
    fprintf(f, " | %s | %s | %s |", action_names[r->action], r->automatic ? "yes" : "no", r->why);
    fclose(f);
    return line;
}

/* The rows of the table the code prints (docs/recovery.md shows the same). */
static char **
printed_rows(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_not_null(f);
    mp_recovery_print_table(f);
    fclose(f);
    char **rows = NULL;
    unsigned lineno = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save))
        if (++lineno > 2) /* the header and its rule */
            rows = mp_strv_append(rows, line);
    free(text);
    cr_assert_not_null(rows, "the table has no rows");
    return rows;
}

/* The row a rule is printed as; fails when it is printed differently. */
static size_t
row_of(char **rows, const struct mp_recovery_rule *rule)
{
    _cleanup_free_ char *line = rule_line(rule);
    for (size_t i = 0; rows[i]; i++)
        if (strcmp(rows[i], line) == 0)
            return i;
    cr_assert_fail("rule \"%s\" is not a row of the printed table", line);
    return 0;
}

ParameterizedTestParameters(recovery, rule_case)
{
    size_t n = ARRAY_SIZE(cases);
    return cr_make_param_array(size_t, world_indices(n), n);
}

ParameterizedTest(size_t *i, recovery, rule_case)
{
    const struct rule_case *c = &cases[*i];
    _cleanup_record_ struct mp_journal_record *rec = record_of(c->role, c->step, c->phase, c->undo);
    const struct mp_recovery_rule *rule = mp_recovery_rule_for(rec, c->state);
    cr_assert_not_null(rule);
    _cleanup_free_ char *what =
        xasprintf("cases[%zu]: %s %s %s, VM %s", *i, mp_role_name(c->role), mp_step_name(c->step),
                  mp_journal_phase_name(c->phase), mp_vm_state_name(c->state));
    cr_assert_eq(rule->action, c->action, "%s: %s, expected %s", what, action_names[rule->action],
                 action_names[c->action]);
    cr_assert_eq(rule->automatic, c->automatic, "%s: at boot = %d", what, rule->automatic);
    cr_assert_eq(rule->role, c->role, "%s: a rule of the other role", what);
    _cleanup_strv_ char **argv = mp_recovery_command(rule, rec, "/state");
    _cleanup_free_ char *command = join(argv);
    cr_assert(mp_streq0(command, c->command), "%s: command\n  %s\nexpected\n  %s", what,
              command ? command : "(none)", c->command ? c->command : "(none)");
    _cleanup_strv_ char **then_argv = mp_recovery_then(rule, rec, "/state");
    _cleanup_free_ char *then = join(then_argv);
    cr_assert(mp_streq0(then, c->then), "%s: then\n  %s\nexpected\n  %s", what,
              then ? then : "(none)", c->then ? c->then : "(none)");
    /* A paused postcopy starts on the destination, and goes on on the source. */
    bool resume = c->action == MP_ACTION_RESUME_POSTCOPY;
    bool elsewhere = c->action == MP_ACTION_FINISH_DEST || (resume && c->role == SRC);
    cr_assert_str_eq(mp_recovery_where(rule), elsewhere ? "on the destination" : "here", "%s",
                     what);
    cr_assert_str_eq(mp_recovery_then_where(rule),
                     resume && c->role == DST ? "on the source" : "here", "%s", what);
}

/* Every row of the table is reached by some input and covered by a case;
 * every input lands on a row. */
Test(recovery, every_row_has_a_case)
{
    _cleanup_strv_ char **rows = printed_rows();
    size_t n_rows = mp_strv_length(rows);
    _cleanup_free_ bool *reached = xzalloc(n_rows * sizeof(bool));
    _cleanup_free_ bool *covered = xzalloc(n_rows * sizeof(bool));
    size_t inputs = 0;
    for (int role = MP_ROLE_SOURCE; role <= MP_ROLE_DESTINATION; role++) {
        for (int step = 0; step < MP_STEP_COUNT; step++) {
            for (int phase = MP_PHASE_STARTED; phase <= MP_PHASE_FAILED; phase++) {
                for (int state = 0; state < MP_VM_COUNT; state++) {
                    _cleanup_record_ struct mp_journal_record *rec =
                        record_of(role, step, phase, false);
                    const struct mp_recovery_rule *rule = mp_recovery_rule_for(rec, state);
                    cr_assert_not_null(rule);
                    cr_assert_eq((int)rule->role, role, "%s %s %s %s: a rule of the other role",
                                 mp_role_name(role), mp_step_name(step),
                                 mp_journal_phase_name(phase), mp_vm_state_name(state));
                    reached[row_of(rows, rule)] = true;
                    inputs++;
                }
            }
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        const struct rule_case *c = &cases[i];
        _cleanup_record_ struct mp_journal_record *rec =
            record_of(c->role, c->step, c->phase, c->undo);
        covered[row_of(rows, mp_recovery_rule_for(rec, c->state))] = true;
    }
    size_t bad = 0;
    for (size_t i = 0; i < n_rows; i++) {
        if (!reached[i]) {
            cr_log_error("row %zu is shadowed, no input reaches it: %s", i + 1, rows[i]);
            bad++;
        }
        if (!covered[i]) {
            cr_log_error("row %zu has no case in test-recovery.c: %s", i + 1, rows[i]);
            bad++;
        }
    }
    cr_assert_eq(bad, 0, "%zu problems with the recovery table (see above)", bad);
    fprintf(stderr, "recovery table: %zu rows, %zu cases, %zu inputs checked\n", n_rows,
            ARRAY_SIZE(cases), inputs);
}

/* ------------------------------------------------------------------------ */
/* Stories: interrupt a migration, recover as migphase-status says. */

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

TestSuite(story, .init = setup, .fini = teardown, .timeout = 60);

struct story_move {
    enum mp_step step;
    enum fake_script script;
    unsigned flags;
};

struct story {
    const char *name;
    struct story_move moves[6];
    enum mp_vm_state src, dst; /* where the VM is in the end */
    const char *bug;           /* the protocol says otherwise (see test-engine.c) */
};

#define MV(step, script)                                                                           \
    {                                                                                              \
        MP_STEP_##step, FAKE_##script, 0                                                           \
    }
#define MV_CANCEL(step, script)                                                                    \
    {                                                                                              \
        MP_STEP_##step, FAKE_##script, RUN_CANCELLED                                               \
    }
#define UP_TO_PERFORM MV(BEGIN, SUCCEED), MV(PREPARE, SUCCEED)
#define UP_TO_FINISH  UP_TO_PERFORM, MV(PERFORM, SUCCEED)
#define UP_TO_CONFIRM UP_TO_FINISH, MV(FINISH, SUCCEED)
#define END                                                                                        \
    {                                                                                              \
        MP_STEP_COUNT, FAKE_SUCCEED, 0                                                             \
    }

static const struct story stories[] = {
    /* Nothing went wrong yet: the migration stopped after Prepare. */
    { "the orchestrator stops after prepare", { UP_TO_PERFORM, END }, 0, 0, NULL },
    { "prepare crashes before its VM starts",
      { MV(BEGIN, SUCCEED), MV(PREPARE, CRASH_ACT), END },
      MP_VM_RUNNING,
      MP_VM_ABSENT,
      NULL },
    { "prepare crashes after its VM started",
      { MV(BEGIN, SUCCEED), MV(PREPARE, CRASH_AFTER), END },
      MP_VM_RUNNING,
      MP_VM_ABSENT,
      NULL },
    { "prepare fails cleanly",
      { MV(BEGIN, SUCCEED), MV(PREPARE, FAIL_ACT), END },
      MP_VM_RUNNING,
      MP_VM_ABSENT,
      NULL },
    { "prepare fails leaving its VM",
      { MV(BEGIN, SUCCEED), MV(PREPARE, FAIL_LEFT_STATE), END },
      MP_VM_RUNNING,
      MP_VM_ABSENT,
      NULL },
    { "perform crashes before the stream",
      { UP_TO_PERFORM, MV(PERFORM, CRASH_ACT), END },
      MP_VM_RUNNING,
      MP_VM_ABSENT,
      NULL },
    /* The destination is killed at boot before the source re-runs Perform. */
    { "perform crashes after the stream completed",
      { UP_TO_PERFORM, MV(PERFORM, CRASH_AFTER), END },
      MP_VM_RUNNING,
      MP_VM_ABSENT,
      NULL },
    { "perform fails cleanly",
      { UP_TO_PERFORM, MV(PERFORM, FAIL_ACT), END },
      MP_VM_RUNNING,
      MP_VM_ABSENT,
      NULL },
    { "perform fails leaving its stream",
      { UP_TO_PERFORM, MV(PERFORM, FAIL_LEFT_STATE), END },
      MP_VM_RUNNING,
      MP_VM_ABSENT,
      NULL },
    { "finish crashes before resuming",
      { UP_TO_FINISH, MV(FINISH, CRASH_ACT), END },
      MP_VM_RUNNING,
      MP_VM_ABSENT,
      NULL },
    { "finish crashes after resuming",
      { UP_TO_FINISH, MV(FINISH, CRASH_AFTER), END },
      MP_VM_ABSENT,
      MP_VM_RUNNING,
      NULL },
    { "finish fails cleanly",
      { UP_TO_FINISH, MV(FINISH, FAIL_ACT), END },
      MP_VM_RUNNING,
      MP_VM_ABSENT,
      NULL },
    /* Its record stays open, the VM waiting: killed at boot. */
    { "finish fails in its plan",
      { UP_TO_FINISH, MV(FINISH, FAIL_PLAN), END },
      MP_VM_RUNNING,
      MP_VM_ABSENT,
      NULL },
    { "finish --cancelled fails in its plan",
      { UP_TO_FINISH, MV_CANCEL(FINISH, FAIL_PLAN), END },
      MP_VM_RUNNING,
      MP_VM_ABSENT,
      NULL },
    { "finish fails leaving a failed VM",
      { UP_TO_FINISH, MV(FINISH, FAIL_LEFT_STATE), END },
      MP_VM_RUNNING,
      MP_VM_ABSENT,
      NULL },
    { "confirm crashes before quitting",
      { UP_TO_CONFIRM, MV(CONFIRM, CRASH_ACT), END },
      MP_VM_ABSENT,
      MP_VM_RUNNING,
      NULL },
    { "confirm crashes after quitting",
      { UP_TO_CONFIRM, MV(CONFIRM, CRASH_AFTER), END },
      MP_VM_ABSENT,
      MP_VM_RUNNING,
      NULL },
    { "confirm fails leaving state",
      { UP_TO_CONFIRM, MV(CONFIRM, FAIL_LEFT_STATE), END },
      MP_VM_ABSENT,
      MP_VM_RUNNING,
      NULL },
    { "confirm fails in its plan",
      { UP_TO_CONFIRM, MV(CONFIRM, FAIL_PLAN), END },
      MP_VM_ABSENT,
      MP_VM_RUNNING,
      NULL },
    /* The source stays paused with its migration open: Confirm runs again. */
    { "confirm fails cleanly",
      { UP_TO_CONFIRM, MV(CONFIRM, FAIL_ACT), END },
      MP_VM_ABSENT,
      MP_VM_RUNNING,
      NULL },
    { "finish --cancelled crashes before killing",
      { UP_TO_FINISH, MV_CANCEL(FINISH, CRASH_ACT), END },
      MP_VM_RUNNING,
      MP_VM_ABSENT,
      NULL },
    { "finish --cancelled crashes after killing",
      { UP_TO_FINISH, MV_CANCEL(FINISH, CRASH_AFTER), END },
      MP_VM_RUNNING,
      MP_VM_ABSENT,
      NULL },
    { "confirm of a cancelled migration crashes before resuming",
      { UP_TO_FINISH, MV_CANCEL(FINISH, SUCCEED), MV(CONFIRM, CRASH_ACT), END },
      MP_VM_RUNNING,
      MP_VM_ABSENT,
      NULL },
    { "confirm of a cancelled migration fails leaving state",
      { UP_TO_FINISH, MV_CANCEL(FINISH, SUCCEED), MV(CONFIRM, FAIL_LEFT_STATE), END },
      MP_VM_RUNNING,
      MP_VM_ABSENT,
      NULL },
    { "confirm after a failed perform crashes",
      { UP_TO_PERFORM, MV(PERFORM, FAIL_ACT), MV(FINISH, SUCCEED), MV(CONFIRM, CRASH_ACT), END },
      MP_VM_RUNNING,
      MP_VM_ABSENT,
      NULL },
};

/* What went on, for the failure message. */
static char *story_log;

static void _printf_(1, 2) note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *line = NULL;
    if (vasprintf(&line, fmt, ap) < 0)
        abort();
    va_end(ap);
    char *log = xasprintf("%s\n  %s", story_log ? story_log : "", line);
    free(story_log);
    free(line);
    story_log = log;
}

static bool both_ran;

static void
check_both(void)
{
    struct fake_hv hv;
    fake_hv_read("vm1", &hv);
    if (hv.source == MP_VM_RUNNING && hv.destination == MP_VM_RUNNING)
        both_ran = true;
}

/* Run a printed command as the operator would, on the host its step runs
 * on (its --state-dir names the host that printed it). Returns its exit
 * status. */
static int
run_command(char **argv)
{
    enum mp_step step;
    cr_assert(mp_str_has_prefix(argv[0], "migphase-"), "%s", argv[0]);
    cr_assert_eq(mp_step_parse(argv[0] + strlen("migphase-"), &step), 0, "%s", argv[0]);
    const char *in = NULL, *out = NULL;
    unsigned flags = 0;
    for (size_t i = 1; argv[i]; i++) {
        if (strcmp(argv[i], "--cancelled") == 0)
            flags |= RUN_CANCELLED;
        else if (strcmp(argv[i], "--force") == 0)
            flags |= RUN_FORCE;
        else if (strcmp(argv[i], "--in") == 0 && argv[i + 1])
            in = argv[++i];
        else if (strcmp(argv[i], "--out") == 0 && argv[i + 1])
            out = argv[++i];
        else if ((strcmp(argv[i], "--state-dir") == 0 || strcmp(argv[i], "--driver") == 0) &&
                 argv[i + 1])
            i++;
        else
            cr_assert_fail("unexpected argument %s in a printed command", argv[i]);
    }
    /* No --out: the helper would print its cookie; keep it out of the way. */
    if (!out && step != MP_STEP_CONFIRM)
        out = "printed.xml";
    _cleanup_free_ char *message = NULL;
    int status = world_run(&w, step, in, out, flags, FAKE_SUCCEED, &message);
    _cleanup_free_ char *line = NULL;
    for (size_t i = 0; argv[i]; i++) {
        char *more = xasprintf("%s%s%s", line ? line : "", line ? " " : "", argv[i]);
        free(line);
        line = more;
    }
    note("$ %s  -> exit %d%s%s", line, status, message ? ": " : "", message ? message : "");
    check_both();
    return status;
}

/* migphase-status on one host: for each pending journal, probe the VM with
 * the fake driver, find the rule, and run its command (at boot: only the
 * automatic ones). Returns how many commands ran; *human is set when a rule
 * asks for one. */
static unsigned
recover_host(enum mp_role role, bool at_boot, bool *human)
{
    const char *state = role == MP_ROLE_SOURCE ? w.src_state : w.dst_state;
    struct mp_journal_entry *entries = NULL;
    size_t n = 0;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_journal_list(state, &entries, &n, &err), 0, "%s",
                 err ? err->message : "listing journals");
    unsigned ran = 0;
    for (size_t i = 0; i < n; i++) {
        const struct mp_journal_record *rec = entries[i].record;
        cr_assert_null(entries[i].error, "a journal does not load: %s",
                       entries[i].error ? entries[i].error->message : "");
        if (!rec || rec->closed)
            continue;
        enum mp_vm_state vm = MP_VM_UNKNOWN;
        _cleanup_error_ struct mp_error *probe_err = NULL;
        if (fake_driver.probe(rec, NULL, &vm, &probe_err) < 0)
            vm = MP_VM_UNKNOWN;
        const struct mp_recovery_rule *rule = mp_recovery_rule_for(rec, vm);
        note("%s%s: %s %s, VM %s: %s", at_boot ? "at boot, " : "", mp_role_name(role),
             mp_step_name(rec->step), mp_journal_phase_name(rec->phase), mp_vm_state_name(vm),
             rule->why);
        if (rule->action == MP_ACTION_INVESTIGATE) {
            *human = true;
            continue;
        }
        if (at_boot && !rule->automatic)
            continue;
        _cleanup_strv_ char **argv = mp_recovery_command(rule, rec, state);
        if (!argv)
            continue; /* the command comes from the other host */
        run_command(argv);
        ran++;
        _cleanup_strv_ char **then = mp_recovery_then(rule, rec, state);
        if (then) {
            /* The operator runs it once the first command gave its cookie. */
            const char *in = NULL;
            for (size_t j = 0; then[j]; j++)
                if (strcmp(then[j], "--in") == 0)
                    in = then[j + 1];
            if (in && access(in, F_OK) == 0)
                run_command(then);
            else
                note("(no cookie came back for: %s)", then[0]);
        }
    }
    mp_journal_entries_free(entries, n);
    return ran;
}

static size_t
pending(void)
{
    size_t count = 0;
    const char *dirs[] = { w.src_state, w.dst_state };
    for (size_t d = 0; d < 2; d++) {
        struct mp_journal_entry *entries = NULL;
        size_t n = 0;
        struct mp_error *err = NULL;
        cr_assert_eq(mp_journal_list(dirs[d], &entries, &n, &err), 0);
        for (size_t i = 0; i < n; i++)
            count += entries[i].error || !entries[i].record->closed;
        mp_journal_entries_free(entries, n);
    }
    return count;
}

ParameterizedTestParameters(story, recovers)
{
    size_t n = ARRAY_SIZE(stories);
    return cr_make_param_array(size_t, world_indices(n), n);
}

ParameterizedTest(size_t *i, story, recovers)
{
    const struct story *s = &stories[*i];
    for (size_t m = 0; m < ARRAY_SIZE(s->moves) && s->moves[m].step != MP_STEP_COUNT; m++)
        world_play(&w, s->moves[m].step, s->moves[m].script, s->moves[m].flags);
    check_both();
    bool human = false;
    /* Both hosts reboot: migphase-recover.service applies what is automatic. */
    recover_host(MP_ROLE_SOURCE, true, &human);
    recover_host(MP_ROLE_DESTINATION, true, &human);
    /* Then an operator runs what migphase-status prints, until nothing is
     * pending or nothing changes. */
    for (unsigned round = 0; round < 6 && pending() > 0 && !human; round++) {
        unsigned ran = recover_host(MP_ROLE_SOURCE, false, &human);
        ran += recover_host(MP_ROLE_DESTINATION, false, &human);
        if (!ran)
            break;
    }
    struct fake_hv hv;
    fake_hv_read("vm1", &hv);
    size_t left = pending();
    enum mp_vm_state want_src = s->src ? s->src : MP_VM_RUNNING;
    enum mp_vm_state want_dst = s->dst ? s->dst : MP_VM_ABSENT;
    bool ok =
        !human && left == 0 && !both_ran && hv.source == want_src && hv.destination == want_dst;
    _cleanup_free_ char *verdict = xasprintf(
        "stories[%zu], %s: %zu journals pending, %s, the VM ran on both hosts: %s; "
        "source VM %s (expected %s), destination VM %s (expected %s)%s",
        *i, s->name, left, human ? "a human is asked for" : "no human asked for",
        both_ran ? "yes" : "no", mp_vm_state_name(hv.source), mp_vm_state_name(want_src),
        mp_vm_state_name(hv.destination), mp_vm_state_name(want_dst), story_log ? story_log : "");
    if (s->bug) {
        if (!ok) {
            fprintf(stderr, "SKIP: known engine bug, stories[%zu] (%s): %s\n", *i, s->name, s->bug);
            cr_skip_test("known engine bug: %s", verdict);
        }
        cr_assert_fail("%s\nstories[%zu] is marked as a bug but recovers now: drop the mark",
                       verdict, *i);
    }
    cr_assert(ok, "%s", verdict);
}
