/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Processes: starting them from an argv (never a shell string), waiting with
 * a bound, and looking at other processes through /proc. */
#pragma once

#include "journal.h"

#include "error.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The PATH of the cleared environment given to hooks and other children. */
#define MP_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Set by the helpers' SIGINT/SIGTERM handler; long waits check it. */
extern volatile sig_atomic_t mp_interrupted;
/* Install the handler that sets mp_interrupted (no SA_RESTART, so blocking
 * calls return EINTR). */
void mp_proc_catch_interrupts(void);

/* A step run by migphase-migrate may be given, in MIGPHASE_NOTIFY_FD, a
 * pipe on which it says how far it got (sd_notify's idea): "acting\n" once
 * its plan is recorded and its act is under way (see act_notifies in
 * engine/driver.h). migphase-migrate starts what
 * can overlap the act (Finish ahead of Perform's cookie) then, rather than
 * beside the step's own start. mp_notify_take, as the step starts, adopts
 * the descriptor (close-on-exec, so that hooks do not hold it) and removes
 * the variable; a value that is no pipe is ignored. mp_notify says state
 * once and closes it; without a descriptor it does nothing. */
#define MP_NOTIFY_ENV    "MIGPHASE_NOTIFY_FD"
#define MP_NOTIFY_ACTING "acting"
void mp_notify_take(void);
void mp_notify(const char *state);

/* The PATH of a launched VM's environment, also searched for the launcher
 * (argv[0] of the VM itself is an absolute path and is not searched). */
#define MP_LAUNCH_PATH "/usr/sbin:/usr/bin:/sbin:/bin"
/* The umask of a launched process: what it creates is its user's alone. */
#define MP_LAUNCH_UMASK 0077
/* The first descriptor number of mp_launch.pass_fds in the started process. */
#define MP_LAUNCH_FIRST_FD 3

/* How mp_proc_launch starts a process that outlives the helper. */
struct mp_launch {
    /* A command prefix (systemd-run --scope, ip netns exec NS), searched in
     * MP_LAUNCH_PATH, run as root; NULL: none. It must exec what follows it
     * in the same process, so that the pid in pidfile stays the VM's. */
    char *const *launcher;
    char *const *argv;    /* what to run; argv[0] an absolute path */
    const char *log_path; /* stdout and stderr appended here (NULL: /dev/null) */
    /* Written (atomically, by root, before anything else changes) with the
     * pid of the started process; NULL: none. */
    const char *pidfile;
    /* The user argv runs as, with its group and supplementary groups, NULL
     * or "root": stays root. With a launcher, the launcher runs as root and
     * setpriv(1) changes to the user just before argv. */
    const char *user;
    /* Open descriptors the process gets as MP_LAUNCH_FIRST_FD, +1, ...; no
     * other descriptor but 0, 1 and 2 is passed on. */
    const int *pass_fds;
    size_t n_pass_fds;
};

/* Start a process that is not our child and outlives us: a double fork (by
 * clones that share our memory until the exec, see launch_clones), new
 * session, stdin from /dev/null, umask MP_LAUNCH_UMASK, no_new_privs, an
 * environment of its own (PATH=MP_LAUNCH_PATH, LC_ALL=C and the user's
 * HOME, USER and LOGNAME; nothing of ours), as spec says. Changing to the
 * user needs CAP_SETUID and CAP_SETGID. A failure of the started process
 * before its exec is reported here, not lost. *pid is the started process's
 * pid. An unknown user is an MP_ERR_INPUT error. */
int mp_proc_launch(const struct mp_launch *spec, pid_t *pid, struct mp_error **err);

/* mp_proc_launch as root without pid file nor passed descriptors. */
int mp_proc_launch_detached(char *const *launcher, char *const *argv, const char *log_path,
                            pid_t *pid, struct mp_error **err);

/* Run argv (searched in PATH if it has no slash) as a child with stdin fed from
 * input (may be NULL) and stdout captured (at most max_output bytes; more
 * fails the run); stderr captured likewise when errout is not NULL, else
 * inherited. The child runs in / in a process group of its own, which is
 * killed whole (SIGKILL) after timeout_ms, so that a grandchild holding the
 * pipes cannot outlive the bound. envp NULL means a cleared environment
 * (PATH=MP_DEFAULT_PATH). *status as waitpid's. */
int mp_proc_run(char *const *argv, char *const *envp, const char *input, size_t input_len,
                size_t max_output, uint64_t timeout_ms, char **out, char **errout, int *status,
                struct mp_error **err);

/* mp_proc_run in two halves, for a child started before its input exists
 * (a Finish waiting for Perform's cookie): spawn starts it (stderr captured
 * when capture_stderr), collect feeds it, gathers its output and waits for
 * it, with the same bounds and the same results as mp_proc_run. Every
 * spawned child must be collected. */
struct mp_child {
    pid_t pid;
    int in_fd, out_fd, err_fd;
    const char *program; /* argv[0], for messages: must outlive the child */
};
int mp_proc_spawn(char *const *argv, char *const *envp, bool capture_stderr, struct mp_child *child,
                  struct mp_error **err);
/* mp_proc_spawn without the exec: the child runs main(data, argc, argv), a
 * main() linked into this very program (a step helper in migphase-migrate),
 * and exits with what it returns. It starts as an exec would leave it: the
 * descriptors marked close-on-exec closed, caught signals back to their
 * defaults, envp its environment, argv[0]'s last component its name (ps,
 * pgrep); stdio is flushed before the fork, and at its exit, which runs none
 * of this program's exit handlers. It skips the exec's loading of the
 * program and its libraries, about 8 ms on the machine of the benchmark
 * (bench/guest-pause.py). */
typedef int (*mp_proc_main)(const void *data, int argc, char **argv);
int mp_proc_spawn_in_place(char *const *argv, char *const *envp, bool capture_stderr,
                           mp_proc_main entry, const void *data, struct mp_child *child,
                           struct mp_error **err);
int mp_proc_collect(struct mp_child *child, const char *input, size_t input_len, size_t max_output,
                    uint64_t timeout_ms, char **out, char **errout, int *status,
                    struct mp_error **err);
/* mp_proc_collect in two halves again: read_output feeds the child and
 * reads its output until it closes it (a child that closed its stdout may
 * still be running: its result can be used before it exits; on an error the
 * child is killed), reap waits for its exit. Both are always called. */
int mp_proc_read_output(struct mp_child *child, const char *input, size_t input_len,
                        size_t max_output, uint64_t timeout_ms, char **out, char **errout,
                        struct mp_error **err);
/* read_output that stops once the child closes its stdout (its result, a
 * step's cookie, which it writes last), its stderr read so far in *errout:
 * the rest is read by a later mp_proc_collect without input, which reaps
 * it. */
int mp_proc_read_stdout(struct mp_child *child, const char *input, size_t input_len,
                        size_t max_output, uint64_t timeout_ms, char **out, char **errout,
                        struct mp_error **err);
void mp_proc_reap(struct mp_child *child, int *status);
/* Write all of input to the child's stdin and close it, within timeout_ms
 * (a child that exits without reading it is no error here; one that does
 * not read it in time is killed, as read_output would): for a child that
 * reads all of its input before anything else, fed before the caller waits
 * for something else of it. read_output then only reads; reap follows. */
int mp_proc_feed(struct mp_child *child, const char *input, size_t input_len, uint64_t timeout_ms,
                 struct mp_error **err);
/* Kill a child (its process group too) and reap it, its output unread: for
 * one started ahead of an input it will now never be given, which has
 * therefore done nothing worth a word. */
void mp_proc_abandon(struct mp_child *child);

/* A process's CPU priority, lowered while other work goes first, and
 * given back. Lowered only where it can be given back: with CAP_SYS_NICE,
 * or an RLIMIT_NICE that allows the priority it had. */
struct mp_cpu_yield {
    bool lowered;
    int nice; /* the priority to give back */
    int lowered_to;
};
/* Whether a process may raise its priority back to nice. */
bool mp_proc_nice_restorable(int nice, bool cap_sys_nice, uint64_t rlimit_nice);
/* Lower this process's priority by `by` nice steps (19 at most), if it
 * can be given back; y says whether it was. Children started meanwhile
 * inherit the lower priority. */
void mp_proc_yield_cpu(struct mp_cpu_yield *y, int by);
/* Give the priority y lowered back to process pid (0: this one), a child
 * started meanwhile included. Changes nothing if y lowered nothing. */
void mp_proc_give_back_cpu(const struct mp_cpu_yield *y, pid_t pid);

/* How often a process we just started is looked at while it gets ready: each
 * look is a failed connect and a kill(pid, 0), 40 to 70 us of CPU here,
 * taken from a start that is itself CPU-bound (QEMU's takes 80 ms and more,
 * most of it after its monitor listens), and every millisecond waited past
 * its readiness is added to Prepare. So the looks come every millisecond at
 * first, for a quick start, then spaced out to MP_PROC_START_POLL_MAX_MS. */
#define MP_PROC_START_POLL_MS     1
#define MP_PROC_START_POLL_MAX_MS 4

/* One round of waiting for a process we just started (what names it in
 * messages: "the destination QEMU"): fails with the last line of its log if
 * it died, on an interrupt, or past deadline_ms (a bound of timeout_ms);
 * otherwise sleeps (MP_PROC_START_POLL_MS, more as the wait grows) and
 * returns 0 to wait on. */
int mp_proc_wait_starting(pid_t pid, const char *what, const char *log_path, uint64_t deadline_ms,
                          uint64_t timeout_ms, struct mp_error **err);
/* Whether a process exists (and is not a zombie). */
bool mp_proc_alive(pid_t pid);
/* Wait until a process (not necessarily our child) is gone; -ETIMEDOUT. */
int mp_proc_wait_gone(pid_t pid, uint64_t timeout_ms, struct mp_error **err);
/* Send SIGTERM, wait up to timeout_ms, then SIGKILL and wait again. */
int mp_proc_terminate(pid_t pid, uint64_t timeout_ms, struct mp_error **err);
/* The command line of a process, from /proc/PID/cmdline. */
int mp_proc_cmdline(pid_t pid, char ***argv, struct mp_error **err);
/* Read a pid file (a decimal pid and a newline). */
int mp_proc_read_pidfile(const char *path, pid_t *pid, struct mp_error **err);
/* The same, with the start time (clock ticks since boot) that mp_proc_launch
 * writes after the pid; 0 when the file has none (QEMU's own). */
int mp_proc_read_pidfile_start(const char *path, pid_t *pid, uint64_t *start,
                               struct mp_error **err);
/* The start time of a process in clock ticks (field 22 of /proc/PID/stat):
 * with the pid, it names a process even after the pid is reused. */
int mp_proc_start_time(pid_t pid, uint64_t *ticks);
/* A process as the journal records it: the fact `key` holds its pid and
 * `key`-start its start time, so that a pid reused by another process is
 * never mistaken for it. */
void mp_proc_record(struct mp_journal_record *record, const char *key, pid_t pid);

/* What a record says of its process now. */
enum mp_proc_fate {
    MP_PROC_UNKNOWN, /* no usable pid and start time: nothing can be said */
    MP_PROC_GONE,    /* no process with that pid and start time exists */
    MP_PROC_ALIVE,   /* that very process runs (*pid names it) */
};
/* A pid without a start time (the process was gone when it was recorded,
 * or the record is damaged) is UNKNOWN: it may name anyone by now, so it is
 * neither signalled nor taken as proof that the process ended. */
enum mp_proc_fate mp_proc_recorded(const struct mp_journal_record *record, const char *key,
                                   pid_t *pid);
/* Split a command prefix ("systemd-run --scope") on blanks into an argv. */
char **mp_proc_split_command(const char *command);
/* Where a file of the package is: in the folder $env names, else beside the
 * running program if access(mode) allows it there (a build tree, a copy of
 * the helpers kept together), else in installed_dir. Newly allocated. */
char *mp_find_file(const char *env, const char *name, const char *installed_dir, int mode);
/* A helper program: mp_find_file with $MIGPHASE_HELPER_DIR and the package's
 * libexec directory. */
char *mp_helper_path(const char *name);
/* The folder of the running program, newly allocated; NULL if unknown. */
char *mp_self_dir(void);
