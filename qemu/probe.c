/* What the QEMU VM of a journal record is doing now, for migphase-status. */
#include "config.h"

#include "monitor.h"
#include "proc.h"
#include "qemu-internal.h"

#include <stdio.h>
#include <string.h>

/* The VM named by the pid file Prepare gave it, if that process is the QEMU
 * started with this pid file (its command line names it). */
static pid_t
pid_from_pidfile(const char *pidfile)
{
    pid_t pid = 0;
    if (!pidfile || mp_proc_read_pidfile(pidfile, &pid, NULL) < 0)
        return 0;
    _cleanup_strv_ char **argv = NULL;
    if (mp_proc_cmdline(pid, &argv, NULL) < 0)
        return 0;
    for (size_t i = 0; argv[i]; i++)
        if (strcmp(argv[i], pidfile) == 0)
            return pid;
    return 0;
}

pid_t
qemu_recorded_pid(const struct mp_journal_record *record)
{
    const char *pid_s = mp_journal_record_get_fact(record, "pid");
    const char *start_s = mp_journal_record_get_fact(record, "pid-start");
    uint64_t pid = 0, start = 0, now = 0;
    if (!pid_s)
        return pid_from_pidfile(mp_journal_record_get_fact(record, "pidfile"));
    if (mp_parse_u64(pid_s, &pid) < 0 || pid == 0 || pid > INT32_MAX)
        return 0;
    /* A pid outlives its process: trust it only while the start time matches. */
    if (start_s && mp_parse_u64(start_s, &start) == 0 &&
        (mp_proc_start_time((pid_t)pid, &now) < 0 || now != start))
        return 0;
    return (pid_t)pid;
}

bool
qemu_recorded_vm_gone(const struct mp_journal_record *record)
{
    const char *pid_s = mp_journal_record_get_fact(record, "pid");
    uint64_t pid = 0;
    bool known = (pid_s && mp_parse_u64(pid_s, &pid) == 0 && pid > 0 && pid <= INT32_MAX) ||
                 mp_journal_record_get_fact(record, "pidfile");
    if (!known)
        return false; /* nothing recorded: we cannot tell */
    pid_t alive = qemu_recorded_pid(record);
    return alive == 0 || !mp_proc_alive(alive);
}

void
qemu_record_process(struct mp_journal_record *record, const char *qmp_socket, pid_t pid)
{
    char buf[32];
    mp_journal_record_set_fact(record, "qmp", qmp_socket);
    snprintf(buf, sizeof(buf), "%ld", (long)pid);
    mp_journal_record_set_fact(record, "pid", buf);
    uint64_t start;
    if (mp_proc_start_time(pid, &start) == 0) {
        snprintf(buf, sizeof(buf), "%llu", (unsigned long long)start);
        mp_journal_record_set_fact(record, "pid-start", buf);
    }
}

int
qemu_probe(const struct mp_journal_record *record, const struct mp_options *opts,
           enum mp_vm_state *state, struct mp_error **err)
{
    const char *socket = mp_journal_record_get_fact(record, "qmp");
    pid_t pid = qemu_recorded_pid(record);
    _cleanup_qmp_ struct qemu_qmp *qmp = NULL;
    if (!socket || qemu_qmp_connect(socket, opts->qmp_timeout_ms, &qmp, NULL) < 0) {
        /* No monitor: the process is gone, or alive but not answering. */
        *state = pid > 0 && mp_proc_alive(pid) ? MP_VM_UNKNOWN : MP_VM_ABSENT;
        return 0;
    }
    _cleanup_free_ char *status = NULL;
    struct qemu_migration_info info;
    int r = qemu_monitor_state(qmp, &status, &info, err);
    if (r < 0)
        return r;
    *state = qemu_monitor_vm_state(status, info.status);
    return 0;
}
