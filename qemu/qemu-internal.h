/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Declarations shared by the QEMU driver's files. */
#pragma once

#include "driver.h"

/* The QEMU driver's journal facts (docs/journal-format.md). */
#define QEMU_FACT_QMP         "qmp"         /* the VM's monitor socket */
#define QEMU_FACT_PID         "pid"         /* the VM's pid (and "pid-start") */
#define QEMU_FACT_PIDFILE     "pidfile"     /* Prepare: where the new VM writes its pid */
#define QEMU_FACT_WAS_RUNNING "was-running" /* Perform: the VM ran before the migration */
#define QEMU_FACT_URI         "uri"         /* Prepare: where the VM listens */

/* The steps' plans (engine/driver.h). */
int qemu_begin(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err);
int qemu_prepare(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err);
int qemu_perform(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err);
int qemu_finish(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err);
void qemu_finish_ahead(struct mp_step_ctx *ctx, int input_fd);
void qemu_perform_ahead(struct mp_step_ctx *ctx, int input_fd);
int qemu_confirm(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err);
/* --resume of a paused postcopy (qemu/postcopy.c): Prepare's migrate-recover
 * and Perform's migrate with resume, each only on a stream QEMU says is
 * postcopy-paused. */
int qemu_prepare_resume(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err);
/* What a request to listen on addr:port (migrate-incoming, migrate-recover)
 * answered, r and its error e (taken): 1 listening (the URI recorded in the
 * journal and the out cookie), 0 the port is taken, or an error prefixed
 * with what. */
int qemu_listen_result(struct mp_step_ctx *ctx, const char *addr, unsigned port, int r,
                       struct mp_error *e, const char *what, struct mp_error **err);
int qemu_perform_resume(struct mp_step_ctx *ctx, struct mp_step_plan *plan, struct mp_error **err);
int qemu_probe(const struct mp_journal_record *record, const struct mp_options *opts,
               enum mp_vm_state *state, struct mp_error **err);

/* The VM's pid from a journal record (QEMU_FACT_PID, or while none is
 * recorded the QEMU_FACT_PIDFILE), or 0 when the VM is gone, the pid now
 * names another process, or it was recorded without a start time. */
pid_t qemu_recorded_pid(const struct mp_journal_record *record);
/* Record the VM's QMP socket, pid and the pid's start time as facts. */
void qemu_record_process(struct mp_journal_record *record, const char *qmp_socket, pid_t pid);
/* Whether the recorded VM process is known to be gone: no process with the
 * recorded pid and start time exists (or, while no pid is recorded, none
 * started with the recorded pid file). A pid without a start time says
 * nothing: false. */
bool qemu_recorded_vm_gone(const struct mp_journal_record *record);
