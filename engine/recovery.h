/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The recovery rules: for a journal record and the VM's state now, what
 * resolves an interrupted migration. One table, used by migphase-status and
 * printed into docs/recovery.md, so the two cannot disagree. */
#pragma once

#include "driver.h"
#include "journal.h"

#include <stdio.h>

enum mp_recovery_action {
    MP_ACTION_NONE,            /* nothing pending */
    MP_ACTION_RESUME_SOURCE,   /* migphase-confirm --cancelled: cancel the stream, resume */
    MP_ACTION_KILL_DEST,       /* migphase-finish --cancelled: the incoming VM goes */
    MP_ACTION_RERUN_PERFORM,   /* the stream completed but Perform did not conclude */
    MP_ACTION_FINISH_DEST,     /* the destination's Finish decides; the source waits */
    MP_ACTION_RERUN_FINISH,    /* the destination runs: Finish writes its success cookie */
    MP_ACTION_RERUN_CONFIRM,   /* Confirm was interrupted: run it again, same cookie */
    MP_ACTION_INVESTIGATE,     /* no safe rule: a human must look */
    MP_ACTION_RESUME_POSTCOPY, /* prepare --resume on the destination, perform --resume */
};

struct mp_recovery_rule {
    enum mp_role role;
    unsigned steps;  /* mask of 1 << enum mp_step: the step reached */
    unsigned phases; /* mask of 1 << enum mp_journal_phase */
    unsigned states; /* mask of 1 << enum mp_vm_state */
    enum mp_recovery_action action;
    bool automatic; /* applied by migphase-status --recover (at boot) */
    const char *why;
};

/* The rule for a pending record (first match); never NULL: the table ends
 * with a catch-all that asks for a human. */
const struct mp_recovery_rule *mp_recovery_rule_for(const struct mp_journal_record *record,
                                                    enum mp_vm_state state);
/* The command that applies a rule's action to a record (argv, NULL when the
 * action runs nothing here). state_dir locates the journal's cookies. */
char **mp_recovery_command(const struct mp_recovery_rule *rule,
                           const struct mp_journal_record *record, const char *state_dir);
/* The command to run once the first one is done, or NULL: the source's
 * Confirm with the cookie Finish wrote; for a paused postcopy, the source's
 * Perform --resume with the cookie the destination's Prepare --resume wrote. */
char **mp_recovery_then(const struct mp_recovery_rule *rule, const struct mp_journal_record *record,
                        const char *state_dir);
/* Where the command runs: "here" or "on the destination". */
const char *mp_recovery_where(const struct mp_recovery_rule *rule);
/* Where the second command (mp_recovery_then) runs: "here" or "on the source". */
const char *mp_recovery_then_where(const struct mp_recovery_rule *rule);
/* Print the whole table as Markdown (the body of docs/recovery.md). */
void mp_recovery_print_table(FILE *out);
