/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The rules that keep a VM from running on two hosts: what a step may do,
 * given the cookie it read, the flags it was given and this host's journal.
 * The engine (step.c) applies them in order; tests/unit/test-engine.c
 * proves them with a fake driver, without any hypervisor.
 *
 * A refusal is an MP_ERR_INPUT error (exit 2, nothing touched) or, where a
 * human must look because state is pending, a left-state error (exit 3). */
#pragma once

#include "driver.h"

/* The step whose cookie `step` reads when the migration goes forward. */
enum mp_step mp_rule_expected_input(enum mp_step step);

/* What a cookie must be for this step, before the journal is opened: this
 * helper's driver; the step before (Finish and Confirm may undo from an
 * earlier one); a Prepare that succeeded for Perform, with a stream URI it
 * may use; host names that are host names. */
int mp_rule_check_input(enum mp_step step, const struct mp_options *opts,
                        const struct mp_cookie *in, struct mp_error **err);

/* Whether this Finish or Confirm undoes the migration (*cancel). Confirm
 * --cancelled on a Finish cookie that says the destination resumed is
 * refused unless --force. */
int mp_rule_decide_cancel(enum mp_step step, const struct mp_options *opts,
                          const struct mp_cookie *in, bool *cancel, struct mp_error **err);

/* Perform, Finish and Confirm continue a migration this host recorded:
 * refuse any other domain before a journal directory is created for it. */
int mp_rule_check_known_migration(const char *state_dir, const char *domain, enum mp_role role,
                                  struct mp_error **err);

/* The sum of what no later cookie of a migration may change (VM
 * description, parameters), recorded by the first step on a host. Newly
 * allocated. */
char *mp_rule_unchanged_sum(const struct mp_cookie *c);
/* The cookie's VM description and parameters are those recorded. */
int mp_rule_check_unchanged(const struct mp_journal_record *record, const struct mp_cookie *in,
                            struct mp_error **err);
/* The hosts a cookie names are those this host recorded for the migration;
 * a host named for the first time (the destination, at Perform) is
 * recorded. */
int mp_rule_check_hosts(struct mp_journal_record *record, const struct mp_cookie *in,
                        struct mp_error **err);

/* A step run again must be given the cookie it was given the first time
 * (saved in the journal), unless it concluded (it answers from the journal)
 * or it undoes. */
int mp_rule_check_same_input(const struct mp_step_ctx *ctx, const char *in, size_t in_len,
                             bool done_before, struct mp_error **err);

/* A Finish or Confirm cannot be redone the other way: one that completed
 * the migration cannot cancel it, and the reverse. A Confirm is held to the
 * direction it started in even when it did not conclude: it may have
 * stopped the source already. --force lifts it for Confirm. */
int mp_rule_check_direction(const struct mp_step_ctx *ctx, struct mp_error **err);

/* Confirm resumes the source after a completed stream only on a Finish
 * cookie that says the destination gave up, or on --force. */
int mp_rule_guard_source_resume(const struct mp_step_ctx *ctx, struct mp_error **err);
/* Confirm never resumes a source whose stream switched to postcopy (this
 * host's journal or the cookie says so), not even with --force: exit 3. */
int mp_rule_guard_postcopy(const struct mp_step_ctx *ctx, struct mp_error **err);
/* Confirm stops the source only when this host's own journal says its
 * Perform completed the stream: a cookie alone never kills a VM. */
int mp_rule_guard_source_stop(const struct mp_step_ctx *ctx, struct mp_error **err);

/* Whether the migration is over on this host once the step ended with rc
 * (and err): a Finish or Confirm that did its work; a Finish that failed
 * cleanly after acting (its VM is gone); a Prepare that failed. A plan that
 * failed changed nothing: what was pending still is. */
bool mp_rule_closes_migration(enum mp_step step, int rc, const struct mp_error *err, bool acted);

/* Whether the step's outgoing cookie may be handed out, the migration being
 * closed on this host or not: a Finish hands out a cookie only once it is
 * over on the destination. Its "failed" while the incoming VM is still
 * there (left state, or a plan that failed before doing anything) would
 * tell Confirm that the destination gave up, and a later Finish could
 * still resume that VM. */
bool mp_rule_hands_out_cookie(enum mp_step step, bool closed);

/* Whether a step that succeeded writes its cookie before its journal's
 * done commit, so that the next step need not wait for the commit's
 * fsyncs: every step but Begin. */
bool mp_rule_cookie_before_commit(enum mp_step step, int rc);

/* Whether a step that finds its journal locked waits for the lock rather
 * than refusing: the holder's record (read without the lock) is this
 * migration's, open, at an earlier step of this host, whose helper is
 * concluding after its cookie. Anything else holding the lock is another
 * migration or a helper at work, refused at once. */
bool mp_rule_lock_held_by_predecessor(enum mp_step step, const char *migration_id,
                                      const struct mp_journal_record *holder);
