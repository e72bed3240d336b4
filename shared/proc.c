/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "proc.h"

#include "log.h"
#include "privs.h"

#include <assert.h>
#include <dirent.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <pwd.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

volatile sig_atomic_t mp_interrupted;

static void
on_interrupt(int sig)
{
    mp_interrupted = sig;
}

void
mp_proc_catch_interrupts(void)
{
    struct sigaction sa = { .sa_handler = on_interrupt };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* A closed pipe to a peer (QMP, a hook) is an error to report, not a death. */
    signal(SIGPIPE, SIG_IGN);
}

/* What the started process reports on the pipe when it fails before its
 * exec: the stage and its errno. */
enum launch_stage {
    STAGE_SETUP, /* descriptors, log file, signals */
    STAGE_PIDFILE,
    STAGE_GROUPS,
    STAGE_USER,
    STAGE_NO_NEW_PRIVS,
    STAGE_EXEC,
};

static const char *const stage_names[] = {
    [STAGE_SETUP] = "cannot set up its descriptors",  [STAGE_PIDFILE] = "cannot write its pid file",
    [STAGE_GROUPS] = "cannot set its groups",         [STAGE_USER] = "cannot change its user",
    [STAGE_NO_NEW_PRIVS] = "cannot set no_new_privs", [STAGE_EXEC] = "cannot execute it",
};

struct launch_report {
    int stage;
    int errnum;
};

/* Everything the started process needs, prepared before the fork: after it,
 * only async-signal-safe calls. */
struct launch_plan {
    char **argv; /* launcher, setpriv, the program: argv[0] a path */
    char **envp;
    const char *log_path;
    const char *pidfile;
    char *pidfile_tmp;
    bool drop; /* change to uid, gid and the groups of user in the process itself */
    char *user;
    uid_t uid;
    gid_t gid;
    gid_t *groups; /* user's, looked up before the fork: initgroups is no
                    * async-signal-safe call (it reads the group database) */
    int n_groups;
    const int *pass_fds;
    size_t n_pass_fds;
};

static void
launch_plan_clear(struct launch_plan *plan)
{
    mp_strv_free(plan->argv);
    mp_strv_free(plan->envp);
    free(plan->pidfile_tmp);
    free(plan->user);
    free(plan->groups);
}

/* Every group of user, its primary group gid among them. */
static int
plan_groups(struct launch_plan *plan, struct mp_error **err)
{
    int n = 32;
    plan->groups = xreallocarray(NULL, (size_t)n, sizeof(gid_t));
    for (int tries = 0; getgrouplist(plan->user, plan->gid, plan->groups, &n) < 0; tries++) {
        /* n now holds how many there are. The database may grow between
         * two calls: three calls in all, then give up. */
        if (tries == 2 || n <= 0)
            return mp_error_set(err, EIO, "cannot list the groups of user '%s'", plan->user);
        plan->groups = xreallocarray(plan->groups, (size_t)n, sizeof(gid_t));
    }
    plan->n_groups = n;
    return 0;
}

/* name if it holds a slash, else the first executable file of that name in
 * MP_LAUNCH_PATH: never the caller's PATH. */
static char *
find_program(const char *name)
{
    if (strchr(name, '/'))
        return xstrdup(name);
    _cleanup_free_ char *dirs = xstrdup(MP_LAUNCH_PATH);
    for (char *save = NULL, *dir = strtok_r(dirs, ":", &save); dir;
         dir = strtok_r(NULL, ":", &save)) {
        char *path = xasprintf("%s/%s", dir, name);
        if (access(path, X_OK) == 0)
            return path;
        free(path);
    }
    return xstrdup(name); /* execve reports ENOENT */
}

/* The user the process runs as and the environment it gets. */
static int
plan_user(struct launch_plan *plan, const char *user, struct mp_error **err)
{
    bool root = !user || strcmp(user, "root") == 0;
    errno = 0;
    const struct passwd *pw = root ? getpwuid(0) : getpwnam(user);
    if (!pw && !root)
        return mp_error_input(err, errno ? errno : ENOENT, "unknown user '%s'", user);
    plan->drop = !root;
    plan->user = xstrdup(pw ? pw->pw_name : "root");
    plan->uid = pw ? pw->pw_uid : 0;
    plan->gid = pw ? pw->pw_gid : 0;
    const char *home = pw && pw->pw_dir && *pw->pw_dir ? pw->pw_dir : "/";
    char **env = mp_strv_append(NULL, "PATH=" MP_LAUNCH_PATH);
    env = mp_strv_append(env, "LC_ALL=C");
    char *var = xasprintf("HOME=%s", home);
    env = mp_strv_append(env, var);
    free(var);
    var = xasprintf("USER=%s", plan->user);
    env = mp_strv_append(env, var);
    free(var);
    var = xasprintf("LOGNAME=%s", plan->user);
    env = mp_strv_append(env, var);
    free(var);
    plan->envp = env;
    return 0;
}

/* The command line: the launcher runs as root, so with one the process
 * stays root and setpriv(1), last before the program, changes the user. */
static void
plan_argv(struct launch_plan *plan, char *const *launcher, char *const *argv)
{
    char **all = NULL;
    for (size_t i = 0; launcher && launcher[i]; i++) {
        if (i > 0) {
            all = mp_strv_append(all, launcher[i]);
            continue;
        }
        _cleanup_free_ char *path = find_program(launcher[0]);
        all = mp_strv_append(all, path);
    }
    if (all && plan->drop) {
        _cleanup_free_ char *setpriv = find_program("setpriv");
        _cleanup_free_ char *reuid = xasprintf("--reuid=%ld", (long)plan->uid);
        _cleanup_free_ char *regid = xasprintf("--regid=%ld", (long)plan->gid);
        const char *const drop[] = {
            setpriv, reuid, regid, "--init-groups", "--no-new-privs", "--"
        };
        for (size_t i = 0; i < ARRAY_SIZE(drop); i++)
            all = mp_strv_append(all, drop[i]);
        plan->drop = false; /* setpriv does it */
    }
    for (size_t i = 0; argv[i]; i++)
        all = mp_strv_append(all, argv[i]);
    plan->argv = all;
}

/* What runs in the launch's clones, which share the caller's memory (see
 * launch_clones): system calls and nothing that allocates, and no ASan, whose
 * stack poisoning would stay behind in the caller's shadow memory. */
#define CLONE_CODE __attribute__((no_sanitize_address))

static CLONE_CODE _noreturn_ void
launch_failed(int report_fd, enum launch_stage stage)
{
    struct launch_report report = { .stage = stage, .errnum = errno };
    (void)!write(report_fd, &report, sizeof(report));
    _exit(127);
}

/* Field 22 of a /proc/PID/stat line: the process's start time in clock
 * ticks. The command name may hold spaces and parentheses: count from the
 * last ')'. */
static CLONE_CODE int
stat_start_time(const char *stat, uint64_t *ticks)
{
    const char *p = strrchr(stat, ')');
    if (!p)
        return -EBADMSG;
    int field = 2;
    for (p++; *p && field < 22; p++)
        if (*p == ' ')
            field++;
    uint64_t start = 0;
    const char *digits = p;
    for (; *p >= '0' && *p <= '9'; p++)
        start = start * 10 + (uint64_t)(*p - '0');
    if (field != 22 || p == digits)
        return -EBADMSG;
    *ticks = start;
    return 0;
}

/* mp_proc_start_time of the calling process, read into the stack. */
static CLONE_CODE int
own_start_time(uint64_t *ticks)
{
    char buf[1024];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -EIO;
    buf[n] = '\0';
    return stat_start_time(buf, ticks);
}

/* The pid file, written before the process changes user: it stays root's,
 * in a directory only root writes. Renamed into place, so that a reader
 * never sees it half written. Not fsync()ed: it names a process, and a
 * crash of the host that could lose it ends that process too; a file left
 * empty by one reads as naming none. */
static CLONE_CODE int
write_own_pid(const struct launch_plan *plan)
{
    /* With its start time: a reader can tell this process from a later one
     * that got the same pid. */
    char buf[64];
    uint64_t start = 0;
    (void)own_start_time(&start);
    int len = snprintf(buf, sizeof(buf), "%ld %llu\n", (long)getpid(), (unsigned long long)start);
    int fd = open(plan->pidfile_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return -1;
    if (write(fd, buf, (size_t)len) != len) {
        int e = errno ? errno : EIO;
        close(fd);
        unlink(plan->pidfile_tmp);
        errno = e;
        return -1;
    }
    close(fd);
    if (rename(plan->pidfile_tmp, plan->pidfile) < 0) {
        int e = errno;
        unlink(plan->pidfile_tmp);
        errno = e;
        return -1;
    }
    return 0;
}

/* Descriptors 0-2 from /dev/null and the log, the passed ones from
 * MP_LAUNCH_FIRST_FD on, every other one closed at exec. The passed ones
 * first go above every number they will take, so that none is overwritten
 * before it moved. */
static CLONE_CODE int
setup_fds(const struct launch_plan *plan)
{
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    int log = plan->log_path ? open(plan->log_path,
                                    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600)
                             : -1;
    if (devnull < 0 || (plan->log_path && log < 0))
        return -1;
    if (log < 0)
        log = devnull;
    int moved[64];
    if (plan->n_pass_fds > ARRAY_SIZE(moved)) {
        errno = EMFILE;
        return -1;
    }
    int above = MP_LAUNCH_FIRST_FD + (int)plan->n_pass_fds;
    for (size_t i = 0; i < plan->n_pass_fds; i++)
        if ((moved[i] = fcntl(plan->pass_fds[i], F_DUPFD_CLOEXEC, above)) < 0)
            return -1;
    if (dup2(devnull, STDIN_FILENO) < 0 || dup2(log, STDOUT_FILENO) < 0 ||
        dup2(log, STDERR_FILENO) < 0)
        return -1;
    /* dup2 clears FD_CLOEXEC on the new number: these stay open at exec. */
    for (size_t i = 0; i < plan->n_pass_fds; i++)
        if (dup2(moved[i], MP_LAUNCH_FIRST_FD + (int)i) < 0)
            return -1;
    /* Whatever else is open (the report pipe, a descriptor someone forgot
     * to mark) goes at exec. */
    if (syscall(SYS_close_range, (unsigned)above, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
        long max = sysconf(_SC_OPEN_MAX);
        for (int fd = above; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
            (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    return 0;
}

/* In the grandchild: never returns. Reports a failure on report_fd. */
static CLONE_CODE _noreturn_ void
exec_launched(const struct launch_plan *plan, int report_fd)
{
    /* The report end goes above the numbers the passed descriptors take. */
    int report = fcntl(report_fd, F_DUPFD_CLOEXEC, MP_LAUNCH_FIRST_FD + (int)plan->n_pass_fds);
    if (report < 0)
        launch_failed(report_fd, STAGE_SETUP);
    if (setup_fds(plan) < 0)
        launch_failed(report, STAGE_SETUP);
    /* The caller's handlers would run here on the caller's memory: every
     * caught or ignored signal goes back to its default before any is let
     * in (the caller blocked them all around the clone). */
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction sa;
        if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler != SIG_DFL) {
            sa.sa_handler = SIG_DFL;
            (void)sigaction(sig, &sa, NULL);
        }
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (chdir("/") < 0)
        launch_failed(report, STAGE_SETUP);
    umask(MP_LAUNCH_UMASK);
    if (plan->pidfile && write_own_pid(plan) < 0)
        launch_failed(report, STAGE_PIDFILE);
    if (plan->drop) {
        /* The system calls themselves: glibc's wrappers change every thread
         * of the process they believe they run in, the caller's. */
        if (syscall(SYS_setgroups, (size_t)plan->n_groups, plan->groups) < 0)
            launch_failed(report, STAGE_GROUPS);
        if (syscall(SYS_setresgid, plan->gid, plan->gid, plan->gid) < 0)
            launch_failed(report, STAGE_GROUPS);
        /* Also clears every capability: from uid 0 to another, with the
         * saved uid too, the kernel keeps none. */
        if (syscall(SYS_setresuid, plan->uid, plan->uid, plan->uid) < 0)
            launch_failed(report, STAGE_USER);
        uid_t r, e, s;
        if (getresuid(&r, &e, &s) < 0 || r != plan->uid || e != plan->uid || s != plan->uid) {
            errno = EPERM;
            launch_failed(report, STAGE_USER);
        }
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        launch_failed(report, STAGE_NO_NEW_PRIVS);
    execve(plan->argv[0], plan->argv, plan->envp);
    launch_failed(report, STAGE_EXEC);
}

/* Wait for the middle child and for the grandchild's exec (the pipe closes
 * at it) or its report. */
static int
collect_launch(pid_t child, int report_fd, const char *program, pid_t *pid, struct mp_error **err)
{
    int status;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    pid_t started = 0;
    struct launch_report report = { 0 };
    ssize_t n = read(report_fd, &started, sizeof(started));
    ssize_t m = 0;
    if (n == (ssize_t)sizeof(started))
        while ((m = read(report_fd, &report, sizeof(report))) < 0 && errno == EINTR)
            ;
    if (n != (ssize_t)sizeof(started))
        return mp_error_set(err, EIO, "cannot start %s: fork failed", program);
    if (m == (ssize_t)sizeof(report)) {
        int stage = report.stage >= 0 && report.stage < (int)ARRAY_SIZE(stage_names) ? report.stage
                                                                                     : STAGE_SETUP;
        int e = report.errnum ? report.errnum : EIO;
        return mp_error_set(err, e, "cannot start %s: %s: %s", program, stage_names[stage],
                            strerror(e));
    }
    *pid = started;
    return 0;
}

/* The two clones of the launch: the middle one makes a session and the
 * grandchild, and goes, so that the grandchild is nobody's child here (init
 * or a subreaper adopts it). */
struct launch_job {
    const struct launch_plan *plan;
    int report_read, report_write;
    char *grandchild_stack; /* its top */
};

static CLONE_CODE int
launch_grandchild(void *arg)
{
    const struct launch_job *job = arg;
    /* Its own pid goes first on the pipe, written by it: a failure report
     * can only follow it. */
    pid_t self = getpid();
    (void)!write(job->report_write, &self, sizeof(self));
    exec_launched(job->plan, job->report_write);
}

static CLONE_CODE int
launch_middle(void *arg)
{
    const struct launch_job *job = arg;
    close(job->report_read);
    setsid();
    pid_t grandchild =
        clone(launch_grandchild, job->grandchild_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, arg);
    _exit(grandchild < 0 ? 126 : 0);
}

#define LAUNCH_STACK_SIZE (64 * 1024)

/* Run the launch in clones that share this process's memory and stand it
 * still until the grandchild's exec (CLONE_VM | CLONE_VFORK, as
 * posix_spawn does), not in forks: a fork copies the page tables of a
 * process that maps twenty libraries, and then both sides fault in a copy
 * of each page they write. Each clone has a stack of its own above a guard
 * page. Returns the middle clone's pid, gone when this returns. */
static pid_t
launch_clones(struct launch_job *job)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t one = page + LAUNCH_STACK_SIZE;
    char *area = mmap(NULL, 2 * one, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (area == MAP_FAILED)
        return -1;
    pid_t middle = -1;
    if (mprotect(area + page, LAUNCH_STACK_SIZE, PROT_READ | PROT_WRITE) == 0 &&
        mprotect(area + one + page, LAUNCH_STACK_SIZE, PROT_READ | PROT_WRITE) == 0) {
        job->grandchild_stack = area + 2 * one;
        sigset_t all, saved;
        sigfillset(&all);
        sigprocmask(SIG_SETMASK, &all, &saved);
        middle = clone(launch_middle, area + one, CLONE_VM | CLONE_VFORK | SIGCHLD, job);
        int e = errno;
        sigprocmask(SIG_SETMASK, &saved, NULL);
        errno = e;
    }
    int e = errno;
    munmap(area, 2 * one);
    errno = e;
    return middle;
}

int
mp_proc_launch(const struct mp_launch *spec, pid_t *pid, struct mp_error **err)
{
    assert(spec->argv && spec->argv[0]);
    struct launch_plan plan = { .log_path = spec->log_path,
                                .pidfile = spec->pidfile,
                                .pass_fds = spec->pass_fds,
                                .n_pass_fds = spec->n_pass_fds };
    int r = plan_user(&plan, spec->user, err);
    if (r < 0) {
        launch_plan_clear(&plan);
        return r;
    }
    plan_argv(&plan, spec->launcher, spec->argv);
    /* Only when the process changes user itself: with a launcher, setpriv
     * --init-groups does, and the lookup would be for nothing. */
    r = plan.drop ? plan_groups(&plan, err) : 0;
    if (r < 0) {
        launch_plan_clear(&plan);
        return r;
    }
    if (plan.pidfile)
        plan.pidfile_tmp = xasprintf("%s.new", plan.pidfile);
    int report[2];
    if (pipe2(report, O_CLOEXEC) < 0) {
        launch_plan_clear(&plan);
        return mp_error_set_errno(err, errno, "cannot create a pipe");
    }
    struct launch_job job = { .plan = &plan, .report_read = report[0], .report_write = report[1] };
    pid_t child = launch_clones(&job);
    if (child < 0) {
        int e = errno;
        close(report[0]);
        close(report[1]);
        launch_plan_clear(&plan);
        return mp_error_set_errno(err, e, "cannot fork");
    }
    close(report[1]);
    r = collect_launch(child, report[0], plan.argv[0], pid, err);
    close(report[0]);
    launch_plan_clear(&plan);
    return r;
}

int
mp_proc_launch_detached(char *const *launcher, char *const *argv, const char *log_path, pid_t *pid,
                        struct mp_error **err)
{
    struct mp_launch spec = { .launcher = launcher, .argv = argv, .log_path = log_path };
    return mp_proc_launch(&spec, pid, err);
}

/* write(2) to a child's stdin that a child gone already makes fail with
 * EPIPE, never with a SIGPIPE, whatever this process does with SIGPIPE
 * otherwise (a job of migphase-migrate keeps the default). Blocked around
 * the one call rather than ignored while children live: children overlap
 * (the early steps of migphase-migrate outlive Perform), and no one of
 * them can say when ignoring may end. */
static ssize_t
write_no_sigpipe(int fd, const void *buf, size_t len)
{
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    ssize_t n = write(fd, buf, len);
    int saved = errno;
    if (n < 0 && errno == EPIPE && !sigismember(&old, SIGPIPE)) {
        const struct timespec none = { 0, 0 };
        while (sigtimedwait(&pipe_set, NULL, &none) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return n;
}

/* One write of what is left of input to fd, once poll() said it takes
 * some: true when the input is done, all of it written or its reader gone
 * (a hook that does not read its stdin is fine). */
static bool
write_input(int fd, const char *input, size_t len, size_t *off)
{
    ssize_t n = write_no_sigpipe(fd, input + *off, len - *off);
    if (n > 0)
        *off += (size_t)n;
    return (n < 0 && errno != EINTR && errno != EAGAIN) || *off == len;
}

static void
close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Feed the child input and read its stdout and stderr until it closes
 * both, or only stdout with until_out_closed (stderr is then read on
 * later). Each descriptor the child closed, or that input no longer needs,
 * is closed and set to -1 in *child; the rest are left to the caller. */
static int
feed_and_collect(struct mp_child *child, const char *input, size_t input_len, bool until_out_closed,
                 size_t max_output, uint64_t deadline, char **out, char **errout,
                 struct mp_error **err)
{
    sig_atomic_t forwarded = 0;
    size_t in_off = 0, out_len = 0, err_len = 0;
    _cleanup_free_ char *obuf = xmalloc(max_output + 1);
    _cleanup_free_ char *ebuf = xmalloc(max_output + 1);
    if (!input || input_len == 0)
        close_fd(&child->in_fd);
    while (child->out_fd >= 0 || (!until_out_closed && child->err_fd >= 0)) {
        struct pollfd p[3] = { { child->in_fd, POLLOUT, 0 },
                               { child->out_fd, POLLIN, 0 },
                               { child->err_fd, POLLIN, 0 } };
        uint64_t now = mp_now_ms();
        if (now >= deadline)
            return -ETIMEDOUT;
        if (poll(p, 3, (int)(deadline - now)) < 0) {
            if (errno != EINTR)
                return mp_error_set_errno(err, errno, "poll failed");
            /* The child has a process group of its own, so a ^C on the
             * terminal reaches only us: pass it on, once per signal. */
            if (mp_interrupted && mp_interrupted != forwarded) {
                forwarded = mp_interrupted;
                kill(-child->pid, (int)forwarded);
            }
            continue;
        }
        if (child->in_fd >= 0 && (p[0].revents & (POLLOUT | POLLERR | POLLHUP)) &&
            write_input(child->in_fd, input, input_len, &in_off))
            close_fd(&child->in_fd);
        int *fds[2] = { &child->out_fd, &child->err_fd };
        char *bufs[2] = { obuf, ebuf };
        size_t *lens[2] = { &out_len, &err_len };
        for (int i = 0; i < 2; i++) {
            if (*fds[i] < 0 || !(p[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char tmp[4096];
            ssize_t n = read(*fds[i], tmp, sizeof(tmp));
            if (n <= 0) {
                close_fd(fds[i]);
                continue;
            }
            if (*lens[i] + (size_t)n > max_output)
                return -EFBIG;
            memcpy(bufs[i] + *lens[i], tmp, (size_t)n);
            *lens[i] += (size_t)n;
        }
    }
    close_fd(&child->in_fd);
    obuf[out_len] = '\0';
    ebuf[err_len] = '\0';
    if (out)
        *out = steal_ptr(&obuf);
    if (errout)
        *errout = steal_ptr(&ebuf);
    return 0;
}

/* What exec does to a process beyond loading the program: descriptors
 * marked close-on-exec are closed, caught signals go back to their defaults
 * (ignored ones stay ignored), and the process takes the new program's
 * name. */
static void
as_after_exec(const char *program)
{
    DIR *fds = opendir("/proc/self/fd");
    if (fds) {
        int own = dirfd(fds);
        for (struct dirent *d; (d = readdir(fds));) {
            int fd = atoi(d->d_name);
            int flags = fd > STDERR_FILENO && fd != own ? fcntl(fd, F_GETFD) : -1;
            if (flags >= 0 && (flags & FD_CLOEXEC))
                close(fd);
        }
        closedir(fds);
    }
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction sa;
        if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN)
            signal(sig, SIG_DFL);
    }
    mp_interrupted = 0;
    const char *slash = strrchr(program, '/');
    (void)prctl(PR_SET_NAME, slash ? slash + 1 : program, 0, 0, 0);
}

static int notify_fd = -1;

void
mp_notify_take(void)
{
    const char *value = getenv(MP_NOTIFY_ENV);
    uint64_t fd = 0;
    struct stat st;
    if (value && mp_parse_u64(value, &fd) == 0 && fd > STDERR_FILENO && fd <= INT_MAX &&
        fstat((int)fd, &st) == 0 && S_ISFIFO(st.st_mode) &&
        fcntl((int)fd, F_SETFD, FD_CLOEXEC) == 0)
        notify_fd = (int)fd;
    unsetenv(MP_NOTIFY_ENV);
}

void
mp_notify(const char *state)
{
    if (notify_fd < 0)
        return;
    _cleanup_free_ char *line = xasprintf("%s\n", state);
    (void)!mp_write_all(notify_fd, line, strlen(line));
    close(notify_fd);
    notify_fd = -1;
}

static _noreturn_ void
run_in_place(char *const *argv, char *const *envp, mp_proc_main entry, const void *data)
{
    as_after_exec(argv[0]);
    environ = (char **)envp;
    int argc = 0;
    while (argv[argc])
        argc++;
    int status = entry(data, argc, (char **)argv);
    fflush(NULL);
    _exit(status);
}

static int
spawn(char *const *argv, char *const *envp, bool capture_stderr, mp_proc_main entry,
      const void *data, struct mp_child *child, struct mp_error **err)
{
    static char *const clear_env[] = { "PATH=" MP_DEFAULT_PATH, NULL };
    int pin[2], pout[2], perr[2] = { -1, -1 };
    if (pipe2(pin, O_CLOEXEC) < 0)
        return mp_error_set_errno(err, errno, "cannot create a pipe");
    if (pipe2(pout, O_CLOEXEC) < 0 || (capture_stderr && pipe2(perr, O_CLOEXEC) < 0))
        return mp_error_set_errno(err, errno, "cannot create a pipe");
    /* A child without exec would write what we buffered once more. */
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return mp_error_set_errno(err, errno, "cannot fork");
    if (pid == 0) {
        setpgid(0, 0);
        if (chdir("/") < 0)
            _exit(126);
        dup2(pin[0], STDIN_FILENO);
        dup2(pout[1], STDOUT_FILENO);
        if (perr[1] >= 0)
            dup2(perr[1], STDERR_FILENO);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        if (entry)
            run_in_place(argv, envp ? envp : clear_env, entry, data);
        execvpe(argv[0], argv, envp ? envp : clear_env);
        dprintf(STDERR_FILENO, "cannot execute %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid); /* also here: a kill(-pid) must not race the child's own call */
    close(pin[0]);
    close(pout[1]);
    if (perr[1] >= 0)
        close(perr[1]);
    child->pid = pid;
    /* Written only after poll() says it takes some, never more than it
     * takes: a child that does not read its input must not hold us past
     * our timeout. */
    (void)fcntl(pin[1], F_SETFL, O_NONBLOCK);
    child->in_fd = pin[1];
    child->out_fd = pout[0];
    child->err_fd = perr[0];
    child->program = argv[0];
    return 0;
}

int
mp_proc_spawn(char *const *argv, char *const *envp, bool capture_stderr, struct mp_child *child,
              struct mp_error **err)
{
    return spawn(argv, envp, capture_stderr, NULL, NULL, child, err);
}

int
mp_proc_spawn_in_place(char *const *argv, char *const *envp, bool capture_stderr,
                       mp_proc_main entry, const void *data, struct mp_child *child,
                       struct mp_error **err)
{
    return spawn(argv, envp, capture_stderr, entry, data, child, err);
}

bool
mp_proc_nice_restorable(int nice, bool cap_sys_nice, uint64_t rlimit_nice)
{
    /* RLIMIT_NICE allows down to 20 - limit (setrlimit(2)). */
    return cap_sys_nice || rlimit_nice == (uint64_t)RLIM_INFINITY ||
           rlimit_nice >= (uint64_t)(20 - nice);
}

void
mp_proc_yield_cpu(struct mp_cpu_yield *y, int by)
{
    *y = (struct mp_cpu_yield){ 0 };
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, 0);
    if (nice == -1 && errno != 0)
        return;
    struct rlimit lim = { 0 };
    uint64_t rlimit_nice = getrlimit(RLIMIT_NICE, &lim) == 0 ? (uint64_t)lim.rlim_cur : 0;
    bool cap = mp_privs_effective() & (UINT64_C(1) << CAP_SYS_NICE);
    int lower = nice + by > 19 ? 19 : nice + by;
    if (lower <= nice || !mp_proc_nice_restorable(nice, cap, rlimit_nice) ||
        setpriority(PRIO_PROCESS, 0, lower) < 0)
        return;
    *y = (struct mp_cpu_yield){ .lowered = true, .nice = nice, .lowered_to = lower };
}

void
mp_proc_give_back_cpu(const struct mp_cpu_yield *y, pid_t pid)
{
    if (y->lowered && setpriority(PRIO_PROCESS, (id_t)pid, y->nice) < 0)
        mp_debug("cannot give process %d its priority %d back: %s", (int)pid, y->nice,
                 strerror(errno));
}

/* A child given up on: killed, its output no longer read, so that reaping
 * it does not wait. */
static void
give_up_child(struct mp_child *child)
{
    kill(-child->pid, SIGKILL);
    kill(child->pid, SIGKILL);
    close_fd(&child->in_fd);
    close_fd(&child->out_fd);
    close_fd(&child->err_fd);
}

static int
read_until(struct mp_child *child, const char *input, size_t input_len, bool until_out_closed,
           size_t max_output, uint64_t timeout_ms, char **out, char **errout, struct mp_error **err)
{
    int r = feed_and_collect(child, input, input_len, until_out_closed, max_output,
                             mp_now_ms() + timeout_ms, out, errout, err);
    if (r == 0)
        return 0;
    give_up_child(child);
    if (r == -ETIMEDOUT)
        return mp_error_set(err, ETIMEDOUT, "%s did not finish within %llu ms", child->program,
                            (unsigned long long)timeout_ms);
    if (r == -EFBIG)
        return mp_error_set(err, EFBIG, "%s wrote more than %zu bytes", child->program, max_output);
    return r;
}

int
mp_proc_read_output(struct mp_child *child, const char *input, size_t input_len, size_t max_output,
                    uint64_t timeout_ms, char **out, char **errout, struct mp_error **err)
{
    return read_until(child, input, input_len, false, max_output, timeout_ms, out, errout, err);
}

int
mp_proc_read_stdout(struct mp_child *child, const char *input, size_t input_len, size_t max_output,
                    uint64_t timeout_ms, char **out, char **errout, struct mp_error **err)
{
    return read_until(child, input, input_len, true, max_output, timeout_ms, out, errout, err);
}

int
mp_proc_feed(struct mp_child *child, const char *input, size_t input_len, uint64_t timeout_ms,
             struct mp_error **err)
{
    uint64_t deadline = mp_now_ms() + timeout_ms;
    size_t off = 0;
    int r = 0;
    while (off < input_len && r == 0) {
        struct pollfd p = { child->in_fd, POLLOUT, 0 };
        uint64_t now = mp_now_ms();
        if (now >= deadline)
            r = mp_error_set(err, ETIMEDOUT, "%s did not read its input within %llu ms",
                             child->program, (unsigned long long)timeout_ms);
        else if (poll(&p, 1, (int)(deadline - now)) > 0 &&
                 write_input(child->in_fd, input, input_len, &off))
            break; /* all written, or it went without reading: its output says the rest */
    }
    close_fd(&child->in_fd);
    if (r < 0)
        give_up_child(child);
    return r;
}

void
mp_proc_reap(struct mp_child *child, int *status)
{
    int st = 0;
    while (waitpid(child->pid, &st, 0) < 0 && errno == EINTR)
        ;
    child->pid = 0;
    *status = st;
}

void
mp_proc_abandon(struct mp_child *child)
{
    give_up_child(child);
    int status;
    mp_proc_reap(child, &status);
}

int
mp_proc_collect(struct mp_child *child, const char *input, size_t input_len, size_t max_output,
                uint64_t timeout_ms, char **out, char **errout, int *status, struct mp_error **err)
{
    int r = mp_proc_read_output(child, input, input_len, max_output, timeout_ms, out, errout, err);
    int st;
    mp_proc_reap(child, &st);
    if (r < 0)
        return r;
    *status = st;
    return 0;
}

int
mp_proc_run(char *const *argv, char *const *envp, const char *input, size_t input_len,
            size_t max_output, uint64_t timeout_ms, char **out, char **errout, int *status,
            struct mp_error **err)
{
    struct mp_child child;
    int r = mp_proc_spawn(argv, envp, errout != NULL, &child, err);
    if (r < 0)
        return r;
    return mp_proc_collect(&child, input, input_len, max_output, timeout_ms, out, errout, status,
                           err);
}

/* A zombie main thread: the process lives on while any other thread does
 * (a quitting QEMU's, which still hold the guest's memory and its disk
 * images' locks). */
static bool
has_other_threads(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/task", (long)pid);
    DIR *dir = opendir(path);
    if (!dir)
        return false;
    bool others = false;
    const struct dirent *e;
    while (!others && (e = readdir(dir)))
        others = e->d_name[0] != '.' && strtol(e->d_name, NULL, 10) != (long)pid;
    closedir(dir);
    return others;
}

bool
mp_proc_alive(pid_t pid)
{
    if (pid <= 0)
        return false;
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return false;
    /* A zombie still answers kill(0) but runs nothing: read its state. */
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno != ENOENT;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return true;
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    if (!(paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X')))
        return true;
    return has_other_threads(pid);
}

/* A descriptor that turns readable once every thread of pid has exited
 * (Linux 5.3), or -1 where the kernel or a seccomp filter has none. */
static int
open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    return -1;
#endif
}

static void
reap_if_child(pid_t pid)
{
    while (waitpid(pid, NULL, WNOHANG) < 0 && errno == EINTR)
        ;
}

static int
still_runs(pid_t pid, uint64_t timeout_ms, struct mp_error **err)
{
    return mp_error_set(err, ETIMEDOUT, "process %ld still runs after %llu ms", (long)pid,
                        (unsigned long long)timeout_ms);
}

/* A QEMU's main thread is a zombie some milliseconds before its other
 * threads are gone with the guest's memory and the locks on its disk
 * images; the pidfd waits for all of them, so that what comes next (a VM
 * started on the same images) finds them free. */
static int
wait_pidfd(int pidfd, pid_t pid, uint64_t timeout_ms, struct mp_error **err)
{
    uint64_t deadline = mp_now_ms() + timeout_ms;
    struct pollfd p = { .fd = pidfd, .events = POLLIN };
    for (;;) {
        uint64_t now = mp_now_ms();
        uint64_t left = deadline > now ? deadline - now : 0;
        int n = poll(&p, 1, (int)(left < 100 ? left : 100));
        if (n > 0) {
            reap_if_child(pid);
            return 0;
        }
        if (n == 0 && left == 0)
            return still_runs(pid, timeout_ms, err);
    }
}

int
mp_proc_wait_gone(pid_t pid, uint64_t timeout_ms, struct mp_error **err)
{
    _cleanup_close_ int pidfd = open_pidfd(pid);
    if (pidfd >= 0)
        return wait_pidfd(pidfd, pid, timeout_ms, err);
    uint64_t deadline = mp_now_ms() + timeout_ms;
    for (;;) {
        reap_if_child(pid);
        if (!mp_proc_alive(pid))
            return 0;
        if (mp_now_ms() >= deadline)
            return still_runs(pid, timeout_ms, err);
        mp_sleep_ms(2); /* Confirm waits here for the source to exit: keep it short */
    }
}

int
mp_proc_terminate(pid_t pid, uint64_t timeout_ms, struct mp_error **err)
{
    if (!mp_proc_alive(pid))
        return 0;
    kill(pid, SIGTERM);
    if (mp_proc_wait_gone(pid, timeout_ms, NULL) == 0)
        return 0;
    mp_debug("process %ld ignored SIGTERM, killing it", (long)pid);
    kill(pid, SIGKILL);
    return mp_proc_wait_gone(pid, timeout_ms, err);
}

int
mp_proc_cmdline(pid_t pid, char ***argv, struct mp_error **err)
{
    _cleanup_free_ char *path = xasprintf("/proc/%ld/cmdline", (long)pid);
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    int r = mp_read_file(path, 1024 * 1024, &buf, &len, err);
    if (r < 0)
        return r;
    if (len == 0)
        return mp_error_set(err, ESRCH, "process %ld has no command line", (long)pid);
    char **v = NULL;
    for (size_t off = 0; off < len; off += strlen(buf + off) + 1)
        v = mp_strv_append(v, buf + off);
    *argv = v;
    return 0;
}

int
mp_proc_read_pidfile_start(const char *path, pid_t *pid, uint64_t *start, struct mp_error **err)
{
    _cleanup_free_ char *buf = NULL;
    int r = mp_read_file(path, 64, &buf, NULL, err);
    if (r < 0)
        return r;
    buf[strcspn(buf, "\n")] = '\0';
    char *space = strchr(buf, ' ');
    uint64_t v, s = 0;
    if (space)
        *space++ = '\0';
    if (mp_parse_u64(buf, &v) < 0 || v == 0 || v > INT32_MAX ||
        (space && (mp_parse_u64(space, &s) < 0 || s == 0)))
        return mp_error_set(err, EBADMSG, "pid file %s does not hold a pid", path);
    *pid = (pid_t)v;
    if (start)
        *start = s;
    return 0;
}

int
mp_proc_read_pidfile(const char *path, pid_t *pid, struct mp_error **err)
{
    return mp_proc_read_pidfile_start(path, pid, NULL, err);
}

int
mp_proc_start_time(pid_t pid, uint64_t *ticks)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    _cleanup_free_ char *buf = NULL;
    if (mp_read_file(path, 4096, &buf, NULL, NULL) < 0)
        return -ESRCH;
    return stat_start_time(buf, ticks);
}

char **
mp_proc_split_command(const char *command)
{
    char **v = NULL;
    _cleanup_free_ char *copy = xstrdup(command);
    for (char *save = NULL, *tok = strtok_r(copy, " \t", &save); tok;
         tok = strtok_r(NULL, " \t", &save))
        v = mp_strv_append(v, tok);
    return v;
}

char *
mp_self_dir(void)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return NULL;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return NULL;
    *slash = '\0';
    return xstrdup(self);
}

char *
mp_find_file(const char *env, const char *name, const char *installed_dir, int mode)
{
    const char *dir = getenv(env);
    if (dir && *dir)
        return xasprintf("%s/%s", dir, name);
    _cleanup_free_ char *self = mp_self_dir();
    if (self) {
        char *beside = xasprintf("%s/%s", self, name);
        if (access(beside, mode) == 0)
            return beside;
        free(beside);
    }
    return xasprintf("%s/%s", installed_dir, name);
}

char *
mp_helper_path(const char *name)
{
    return mp_find_file("MIGPHASE_HELPER_DIR", name, MP_LIBEXECDIR, X_OK);
}

/* The pause between two looks at a starting process: 1 ms for the first
 * 8 ms, 2 ms up to 24 ms, then 4: about 30 looks instead of 80 in a QEMU's
 * 100 ms start. */
static uint64_t
start_poll_interval(uint64_t started_ms)
{
    uint64_t waited = mp_now_ms() - started_ms;
    if (waited < 8)
        return MP_PROC_START_POLL_MS;
    return waited < 24 ? 2 : MP_PROC_START_POLL_MAX_MS;
}

int
mp_proc_wait_starting(pid_t pid, const char *what, const char *log_path, uint64_t deadline_ms,
                      uint64_t timeout_ms, struct mp_error **err)
{
    if (!mp_proc_alive(pid)) {
        _cleanup_free_ char *why = mp_file_last_line(log_path, "no message");
        return mp_error_set(err, ECHILD, "%s exited at start: %s", what, why);
    }
    if (mp_interrupted)
        return mp_error_set(err, EINTR, "interrupted by signal %d", (int)mp_interrupted);
    if (mp_now_ms() >= deadline_ms)
        return mp_error_set(err, ETIMEDOUT, "%s was not ready within %llu ms", what,
                            (unsigned long long)timeout_ms);
    mp_sleep_ms(start_poll_interval(deadline_ms - timeout_ms));
    return 0;
}

void
mp_proc_record(struct mp_journal_record *record, const char *key, pid_t pid)
{
    char buf[32];
    _cleanup_free_ char *start_key = xasprintf("%s-start", key);
    snprintf(buf, sizeof(buf), "%ld", (long)pid);
    mp_journal_record_set_fact(record, key, buf);
    uint64_t start;
    if (mp_proc_start_time(pid, &start) == 0) {
        snprintf(buf, sizeof(buf), "%llu", (unsigned long long)start);
        mp_journal_record_set_fact(record, start_key, buf);
    } else {
        mp_journal_record_set_fact(record, start_key, NULL);
    }
}

enum mp_proc_fate
mp_proc_recorded(const struct mp_journal_record *record, const char *key, pid_t *pid)
{
    _cleanup_free_ char *start_key = xasprintf("%s-start", key);
    const char *pid_s = mp_journal_record_get_fact(record, key);
    const char *start_s = mp_journal_record_get_fact(record, start_key);
    uint64_t recorded_pid = 0, start = 0, now = 0;
    *pid = 0;
    if (!pid_s || !start_s || mp_parse_u64(pid_s, &recorded_pid) < 0 || recorded_pid == 0 ||
        recorded_pid > INT32_MAX || mp_parse_u64(start_s, &start) < 0)
        return MP_PROC_UNKNOWN;
    if (mp_proc_start_time((pid_t)recorded_pid, &now) < 0 || now != start ||
        !mp_proc_alive((pid_t)recorded_pid))
        return MP_PROC_GONE;
    *pid = (pid_t)recorded_pid;
    return MP_PROC_ALIVE;
}
