/* Declarations shared by the QEMU driver's files. */
#pragma once

#include "driver.h"

int qemu_begin(struct mp_step_ctx *ctx, struct mp_error **err);
int qemu_prepare(struct mp_step_ctx *ctx, struct mp_error **err);
int qemu_perform(struct mp_step_ctx *ctx, struct mp_error **err);
int qemu_finish(struct mp_step_ctx *ctx, struct mp_error **err);
int qemu_confirm(struct mp_step_ctx *ctx, struct mp_error **err);
int qemu_probe(const struct mp_journal_record *record, const struct mp_options *opts,
               enum mp_vm_state *state, struct mp_error **err);

/* The VM's pid from a journal record, or 0 when it is unknown or the pid now
 * names another process (the recorded start time differs). */
pid_t qemu_recorded_pid(const struct mp_journal_record *record);
/* Record the VM's QMP socket, pid and the pid's start time as facts. */
void qemu_record_process(struct mp_journal_record *record, const char *qmp_socket, pid_t pid);
/* Whether the recorded VM process is known to be gone (a pid was recorded
 * and no process with that pid and start time exists). */
bool qemu_recorded_vm_gone(const struct mp_journal_record *record);
