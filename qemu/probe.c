/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the QEMU VM of a journal record is doing now, for migphase-status. */
#include "config.h"

#include "monitor.h"
#include "proc.h"
#include "qemu-internal.h"

#include <stdio.h>
#include <string.h>

/* The VM named by the pid file Prepare's launch wrote, if that process is
 * still the one that wrote it (same start time). A pid file without a start
 * time is QEMU's own (-pidfile, before the launch wrote its own): then the
 * process must be the QEMU started with it (its command line names it). */
static pid_t
pid_from_pidfile(const char *pidfile)
{
    pid_t pid = 0;
    uint64_t start = 0, now = 0;
    if (!pidfile || mp_proc_read_pidfile_start(pidfile, &pid, &start, NULL) < 0)
        return 0;
    if (start)
        return mp_proc_start_time(pid, &now) == 0 && now == start ? pid : 0;
    _cleanup_strv_ char **argv = NULL;
    if (mp_proc_cmdline(pid, &argv, NULL) < 0)
        return 0;
    for (size_t i = 0; argv[i]; i++)
        if (strcmp(argv[i], pidfile) == 0)
            return pid;
    return 0;
}

/* What the record says of its VM: by the recorded pid and its start time;
 * while Prepare's VM has no pid recorded yet, by the pid file it was given.
 * Nothing recorded at all is UNKNOWN. */
static enum mp_proc_fate
recorded_vm(const struct mp_journal_record *record, pid_t *pid)
{
    if (mp_journal_record_get_fact(record, QEMU_FACT_PID))
        return mp_proc_recorded(record, QEMU_FACT_PID, pid);
    const char *pidfile = mp_journal_record_get_fact(record, QEMU_FACT_PIDFILE);
    *pid = pid_from_pidfile(pidfile);
    if (!pidfile)
        return MP_PROC_UNKNOWN;
    if (*pid > 0 && mp_proc_alive(*pid))
        return MP_PROC_ALIVE;
    *pid = 0;
    return MP_PROC_GONE;
}

pid_t
qemu_recorded_pid(const struct mp_journal_record *record)
{
    pid_t pid;
    return recorded_vm(record, &pid) == MP_PROC_ALIVE ? pid : 0;
}

bool
qemu_recorded_vm_gone(const struct mp_journal_record *record)
{
    pid_t pid;
    return recorded_vm(record, &pid) == MP_PROC_GONE;
}

void
qemu_record_process(struct mp_journal_record *record, const char *qmp_socket, pid_t pid)
{
    mp_journal_record_set_fact(record, QEMU_FACT_QMP, qmp_socket);
    mp_proc_record(record, QEMU_FACT_PID, pid);
}

/* A VM whose monitor does not answer: gone, or alive but not answering.
 * A recorded pid that cannot be checked proves neither; a record that names
 * no process at all has no VM to find. */
static enum mp_vm_state
silent_vm_state(const struct mp_journal_record *record)
{
    pid_t pid;
    switch (recorded_vm(record, &pid)) {
    case MP_PROC_ALIVE:
        return MP_VM_UNKNOWN;
    case MP_PROC_GONE:
        return MP_VM_ABSENT;
    case MP_PROC_UNKNOWN:
        break;
    }
    return mp_journal_record_get_fact(record, QEMU_FACT_PID) ? MP_VM_UNKNOWN : MP_VM_ABSENT;
}

/* Connect to the record's monitor. A recorded VM that is alive may still be
 * starting (Prepare killed just after the launch): QEMU listens on its
 * socket only once it set its monitor up, so until then a connect is
 * refused; wait for it as Prepare would, within the QMP timeout, and no
 * longer than the process lives. */
static int
connect_recorded(const struct mp_journal_record *record, const char *socket,
                 const struct mp_options *opts, struct qemu_qmp **qmp, struct mp_error **err)
{
    pid_t pid;
    if (recorded_vm(record, &pid) != MP_PROC_ALIVE)
        return qemu_qmp_connect(socket, opts->qmp_timeout_ms, qmp, err);
    struct qemu_qmp_starting vm = { .pid = pid, .what = "the recorded VM", .log_path = NULL };
    return qemu_qmp_connect_wait(socket, &vm, opts->qmp_timeout_ms, qmp, err);
}

int
qemu_probe(const struct mp_journal_record *record, const struct mp_options *opts,
           enum mp_vm_state *state, struct mp_error **err)
{
    const char *socket = mp_journal_record_get_fact(record, QEMU_FACT_QMP);
    _cleanup_qmp_ struct qemu_qmp *qmp = NULL;
    if (!socket) {
        *state = silent_vm_state(record);
        return 0;
    }
    _cleanup_error_ struct mp_error *silence = NULL;
    int r = connect_recorded(record, socket, opts, &qmp, &silence);
    if (r < 0) {
        *state = silent_vm_state(record);
        if (*state != MP_VM_UNKNOWN)
            return 0;
        if (err && !*err)
            *err = steal_ptr(&silence);
        return r;
    }
    _cleanup_free_ char *status = NULL;
    struct qemu_migration_info info;
    r = qemu_monitor_state(qmp, &status, &info, err);
    if (r < 0)
        return r;
    *state = qemu_monitor_vm_state(status, info.status);
    return 0;
}
