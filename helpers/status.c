/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* migphase-status: what every unfinished migration on this host needs. */
#include "config.h"

#include "buf.h"
#include "driver.h"
#include "facts.h"
#include "journal.h"
#include "log.h"
#include "options.h"
#include "proc.h"
#include "recovery.h"
#include "support.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

static const char usage[] =
    "Usage: migphase-status [--json] [--recover] [--state-dir DIR] [DOMAIN]\n"
    "       migphase-status --drivers | --rules\n"
    "\n"
    "Reads this host's journal and lists every unfinished migration (as source\n"
    "and as destination): the step reached, whether its side effects are done,\n"
    "what the VM is doing now, and the command that resolves it. --recover runs\n"
    "the unambiguous ones (a destination that never resumed is killed, a source\n"
    "whose stream never completed is resumed) and reports the rest.\n"
    "Exit status: 0 nothing pending, 1 something pending, 2 usage error.";

struct pending {
    const struct mp_journal_entry *entry;
    enum mp_vm_state state;
    char *state_unknown_why; /* NULL when the VM could be asked */
    const struct mp_recovery_rule *rule;
    char **command;
    char **then; /* run here after command, NULL if nothing */
};

/* What the VM of record does now; when that cannot be known, *why says why
 * (the operator's first clue, and a rule that waits on it may be wrong). */
static enum mp_vm_state
probe_vm(const struct mp_journal_record *record, const struct mp_options *opts, char **why)
{
    const struct mp_driver *driver;
    enum mp_vm_state state = MP_VM_UNKNOWN;
    _cleanup_error_ struct mp_error *err = NULL;
    *why = NULL;
    if (mp_driver_lookup(record->driver ? record->driver : "", &driver, &err) < 0) {
        *why = xstrdup(err->message);
        return MP_VM_UNKNOWN;
    }
    if (!driver->probe) {
        *why = xasprintf("the %s driver cannot look at a VM", driver->name);
        return MP_VM_UNKNOWN;
    }
    if (driver->probe(record, opts, &state, &err) < 0) {
        *why = xstrdup(err ? err->message : "the hypervisor did not say");
        return MP_VM_UNKNOWN;
    }
    return state;
}

static char *
join_command(char *const *argv)
{
    _cleanup_buf_ struct mp_buf b = { 0 };
    for (size_t i = 0; argv && argv[i]; i++)
        mp_buf_printf(&b, "%s%s", i ? " " : "", argv[i]);
    return mp_buf_steal(&b, NULL);
}

/* What a storage copy left on this host, for people; NULL: nothing. The
 * recovery command of the row undoes it (Confirm --cancelled ends the
 * source's mirrors, Finish --cancelled removes the images Prepare made). */
static char *
storage_state(const struct mp_journal_record *r)
{
    const char *mirrors = mp_journal_record_get_fact(r, MP_FACT_STORAGE_MIRRORS);
    if (r->role == MP_ROLE_SOURCE && mirrors && r->step == MP_STEP_PERFORM &&
        r->phase != MP_PHASE_DONE)
        return xasprintf("mirrors of disks %s to the destination may still run; the source's "
                         "own images stay as they are",
                         mirrors);
    if (r->role != MP_ROLE_DESTINATION)
        return NULL;
    struct mp_buf b = { 0 };
    for (size_t i = 0;; i++) {
        _cleanup_free_ char *key = xasprintf(MP_FACT_STORAGE_IMAGE ".%zu", i);
        const char *path = mp_journal_record_get_fact(r, key);
        if (!path)
            break;
        mp_buf_printf(&b, "%s%s", i ? " " : "", path);
    }
    _cleanup_free_ char *images = mp_buf_steal(&b, NULL);
    if (!images || !*images)
        return NULL;
    return xasprintf("images this migration created here: %s%s", images,
                     mp_journal_record_get_fact(r, MP_FACT_STORAGE_EXPORT)
                         ? " (exported over NBD while the new VM waits)"
                         : "");
}

static void
print_text(const struct pending *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct mp_journal_entry *e = p[i].entry;
        if (e->error) {
            printf("%s (%s): journal unreadable: %s\n  action: a human checks this host\n",
                   e->domain, mp_role_name(e->role), e->error->message);
            continue;
        }
        const struct mp_journal_record *r = e->record;
        _cleanup_free_ char *cmd = join_command(p[i].command);
        printf("%s (%s) migration %s: step %s %s, VM %s\n  %s\n", r->domain, mp_role_name(r->role),
               r->migration_id, mp_step_name(r->step), mp_journal_phase_name(r->phase),
               mp_vm_state_name(p[i].state), p[i].rule->why);
        if (p[i].state_unknown_why) {
            _cleanup_free_ char *why = mp_log_text(
                p[i].state_unknown_why, strlen(p[i].state_unknown_why), 500, MP_LOG_LINE);
            printf("  VM unknown because: %s\n", why);
        }
        _cleanup_free_ char *storage = storage_state(r);
        if (storage)
            printf("  disks: %s\n", storage);
        if (p[i].command)
            printf("  run %s: %s\n", mp_recovery_where(p[i].rule), cmd);
        if (p[i].then) {
            _cleanup_free_ char *then = join_command(p[i].then);
            printf("  then run %s: %s\n"
                   "  (if the hosts do not share these paths, copy each --out file to where the "
                   "next command reads it)\n",
                   mp_recovery_then_where(p[i].rule), then);
        } else
            printf("  action: check both hosts%s\n",
                   p[i].rule->action == MP_ACTION_RERUN_FINISH
                       ? "; on the source, run migphase-status for the Finish command"
                       : "");
        if (r->message) {
            /* The journal's message can quote a peer's words: one line. */
            _cleanup_free_ char *message =
                mp_log_text(r->message, strlen(r->message), 500, MP_LOG_LINE);
            printf("  last error: %s\n", message);
        }
    }
}

static void
print_json(const struct pending *p, size_t n)
{
    json_object *list = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        const struct mp_journal_entry *e = p[i].entry;
        json_object *o = json_object_new_object();
        json_object_object_add(o, "domain", json_object_new_string(e->domain));
        json_object_object_add(o, "role", json_object_new_string(mp_role_name(e->role)));
        if (e->error) {
            json_object_object_add(o, "error", json_object_new_string(e->error->message));
        } else {
            const struct mp_journal_record *r = e->record;
            json_object_object_add(o, "migration_id", json_object_new_string(r->migration_id));
            json_object_object_add(o, "step", json_object_new_string(mp_step_name(r->step)));
            json_object_object_add(o, "phase",
                                   json_object_new_string(mp_journal_phase_name(r->phase)));
            json_object_object_add(o, "vm_state",
                                   json_object_new_string(mp_vm_state_name(p[i].state)));
            if (p[i].state_unknown_why)
                json_object_object_add(o, "vm_state_why",
                                       json_object_new_string(p[i].state_unknown_why));
            json_object_object_add(o, "why", json_object_new_string(p[i].rule->why));
            json_object_object_add(o, "where",
                                   json_object_new_string(mp_recovery_where(p[i].rule)));
            json_object_object_add(o, "automatic", json_object_new_boolean(p[i].rule->automatic));
            json_object *cmd = json_object_new_array();
            for (size_t k = 0; p[i].command && p[i].command[k]; k++)
                json_object_array_add(cmd, json_object_new_string(p[i].command[k]));
            json_object_object_add(o, "command", cmd);
            json_object *then = json_object_new_array();
            for (size_t k = 0; p[i].then && p[i].then[k]; k++)
                json_object_array_add(then, json_object_new_string(p[i].then[k]));
            json_object_object_add(o, "then", then);
            json_object_object_add(o, "then_where",
                                   json_object_new_string(mp_recovery_then_where(p[i].rule)));
            if (r->message)
                json_object_object_add(o, "last_error", json_object_new_string(r->message));
            _cleanup_free_ char *storage = storage_state(r);
            if (storage)
                json_object_object_add(o, "disks", json_object_new_string(storage));
        }
        json_object_array_add(list, o);
    }
    printf("%s\n", json_object_to_json_string_ext(list, JSON_C_TO_STRING_PRETTY));
    json_object_put(list);
}

/* Run one recovery command: the helpers sit beside this program or in the
 * package's libexec directory. */
static int
apply(const struct pending *p, const struct mp_options *opts)
{
    _cleanup_free_ char *helper = mp_helper_path(p->command[0]);
    _cleanup_strv_ char **argv = mp_strv_copy(p->command);
    free(argv[0]);
    argv[0] = xstrdup(helper);
    if (opts->config_path) {
        argv = mp_strv_append(argv, "--config");
        argv = mp_strv_append(argv, opts->config_path);
    }
    _cleanup_free_ char *out = NULL, *errout = NULL;
    struct mp_error *err = NULL;
    int status = 0;
    /* A cleared environment, but for the keys this host signs and verifies
     * with: the same as this program's, however they were given. */
    _cleanup_free_ char *pki = xasprintf("MIGPHASE_PKI_DIR=%s", opts->pki_dir);
    char *const envp[] = { "PATH=" MP_DEFAULT_PATH, pki, NULL };
    int r = mp_proc_run(argv, envp, NULL, 0, 1024 * 1024, 120000, &out, &errout, &status, &err);
    _cleanup_free_ char *cmd = join_command(p->command);
    if (r < 0) {
        fprintf(stderr, "%s: %s: %s\n", mp_log_progname(), cmd, err->message);
        mp_error_free(err);
        return -1;
    }
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    printf("%s: %s%s%s", ok ? "recovered" : "recovery failed", cmd, ok ? "" : ": ",
           ok ? "\n" : (errout && *errout ? errout : "\n"));
    return ok ? 0 : -1;
}

static bool
wanted(const struct mp_journal_entry *e, const struct mp_options *opts)
{
    if (opts->args && strcmp(e->domain, opts->args[0]) != 0)
        return false;
    return e->error || !e->record->closed;
}

/* The matrix is what this build supports; a driver built as a module may
 * still be missing here (its package not installed): say which load. */
static void
print_availability(FILE *out)
{
    fputs("\nOn this host:\n", out);
    for (size_t i = 0; mp_driver_name(i); i++) {
        const struct mp_driver *driver;
        _cleanup_error_ struct mp_error *e = NULL;
        if (mp_driver_lookup(mp_driver_name(i), &driver, &e) == 0)
            fprintf(out, "  %-6s loads\n", mp_driver_name(i));
        else
            fprintf(out, "  %-6s missing: %s\n", mp_driver_name(i), e->message);
    }
}

static int
run(struct mp_options *opts, int argc, char **argv, struct mp_error **err)
{
    int r = mp_support_parse_options(opts, MP_PROG_STATUS, usage, argc, argv, err);
    if (r <= 0)
        return r;
    if (opts->list_drivers) {
        mp_support_print(stdout);
        print_availability(stdout);
        return 0;
    }
    if (opts->print_rules) {
        mp_recovery_print_table(stdout);
        return 0;
    }
    if (mp_strv_length(opts->args) > 1)
        return mp_error_input(err, EINVAL, "give at most one DOMAIN");
    struct mp_journal_entry *entries = NULL;
    size_t n = 0;
    r = mp_journal_list(opts->state_dir, &entries, &n, err);
    if (r < 0)
        return r;
    _cleanup_free_ struct pending *pending = xreallocarray(NULL, n + 1, sizeof(*pending));
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        if (!wanted(&entries[i], opts))
            continue;
        struct pending *p = &pending[count++];
        *p = (struct pending){ .entry = &entries[i], .state = MP_VM_UNKNOWN };
        if (entries[i].record) {
            p->state = probe_vm(entries[i].record, opts, &p->state_unknown_why);
            p->rule = mp_recovery_rule_for(entries[i].record, p->state);
            p->command = mp_recovery_command(p->rule, entries[i].record, opts->state_dir);
            p->then = mp_recovery_then(p->rule, entries[i].record, opts->state_dir);
        }
    }
    if (opts->json)
        print_json(pending, count);
    else if (count == 0)
        printf("no unfinished migration on this host\n");
    else
        print_text(pending, count);
    size_t left = count;
    for (size_t i = 0; opts->recover && i < count; i++)
        if (pending[i].rule && pending[i].rule->automatic && pending[i].command &&
            apply(&pending[i], opts) == 0)
            left--;
    for (size_t i = 0; i < count; i++) {
        mp_strv_free(pending[i].command);
        mp_strv_free(pending[i].then);
        free(pending[i].state_unknown_why);
    }
    mp_journal_entries_free(entries, n);
    return left > 0 ? 1 : 0;
}

int
main(int argc, char **argv)
{
    mp_log_init(argv[0]);
    struct mp_options opts;
    _cleanup_error_ struct mp_error *err = NULL;
    int r = run(&opts, argc, argv, &err);
    mp_options_free(&opts);
    if (r < 0) {
        mp_log(MP_LOG_ERROR, "%s", err ? err->message : strerror(-r));
        return mp_exit_status(r, err);
    }
    return r;
}
