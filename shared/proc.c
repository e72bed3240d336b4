#include "config.h"

#include "proc.h"

#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static char **
concat_argv(char *const *launcher, char *const *argv)
{
    char **all = NULL;
    for (size_t i = 0; launcher && launcher[i]; i++)
        all = mp_strv_append(all, launcher[i]);
    for (size_t i = 0; argv[i]; i++)
        all = mp_strv_append(all, argv[i]);
    return all;
}

/* In the grandchild: never returns. Reports an exec failure's errno on fd. */
static _noreturn_ void
exec_detached(char **argv, const char *log_path, int report_fd)
{
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    int log = log_path ? open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600) : -1;
    if (devnull < 0)
        goto fail;
    if (log < 0)
        log = devnull;
    if (dup2(devnull, STDIN_FILENO) < 0 || dup2(log, STDOUT_FILENO) < 0 ||
        dup2(log, STDERR_FILENO) < 0)
        goto fail;
    signal(SIGPIPE, SIG_DFL);
    execvp(argv[0], argv);
fail:;
    int e = errno;
    (void)!write(report_fd, &e, sizeof(e));
    _exit(127);
}

int
mp_proc_launch_detached(char *const *launcher, char *const *argv, const char *log_path, pid_t *pid,
                        struct mp_error **err)
{
    _cleanup_strv_ char **all = concat_argv(launcher, argv);
    int report[2];
    if (pipe2(report, O_CLOEXEC) < 0)
        return mp_error_set_errno(err, errno, "cannot create a pipe");
    pid_t child = fork();
    if (child < 0) {
        close(report[0]);
        close(report[1]);
        return mp_error_set_errno(err, errno, "cannot fork");
    }
    if (child == 0) {
        close(report[0]);
        setsid();
        pid_t grandchild = fork();
        if (grandchild < 0)
            _exit(126);
        if (grandchild > 0) {
            /* The grandchild's pid goes first on the pipe; an exec error
             * may follow it. */
            (void)!write(report[1], &grandchild, sizeof(grandchild));
            _exit(0);
        }
        exec_detached(all, log_path, report[1]);
    }
    close(report[1]);
    int status;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    pid_t started = 0;
    int exec_errno = 0;
    ssize_t n = read(report[0], &started, sizeof(started));
    /* Blocks until exec succeeds (pipe closed by CLOEXEC) or fails. */
    ssize_t m =
        n == (ssize_t)sizeof(started) ? read(report[0], &exec_errno, sizeof(exec_errno)) : 0;
    close(report[0]);
    if (n != (ssize_t)sizeof(started))
        return mp_error_set(err, EIO, "cannot start %s: fork failed", all[0]);
    if (m == (ssize_t)sizeof(exec_errno))
        return mp_error_set(err, exec_errno, "cannot start %s: %s", all[0], strerror(exec_errno));
    *pid = started;
    return 0;
}

static int
feed_and_collect(pid_t child, int in_fd, const char *input, size_t input_len, int out_fd,
                 int err_fd, size_t max_output, uint64_t deadline, char **out, char **errout,
                 struct mp_error **err)
{
    sig_atomic_t forwarded = 0;
    size_t in_off = 0, out_len = 0, err_len = 0;
    _cleanup_free_ char *obuf = xmalloc(max_output + 1);
    _cleanup_free_ char *ebuf = xmalloc(max_output + 1);
    if (!input || input_len == 0) {
        close(in_fd);
        in_fd = -1;
    }
    while (out_fd >= 0 || err_fd >= 0) {
        struct pollfd p[3] = { { in_fd, POLLOUT, 0 },
                               { out_fd, POLLIN, 0 },
                               { err_fd, POLLIN, 0 } };
        uint64_t now = mp_now_ms();
        if (now >= deadline) {
            if (in_fd >= 0)
                close(in_fd);
            return -ETIMEDOUT;
        }
        if (poll(p, 3, (int)(deadline - now)) < 0) {
            if (errno != EINTR)
                return mp_error_set_errno(err, errno, "poll failed");
            /* The child has a process group of its own, so a ^C on the
             * terminal reaches only us: pass it on, once per signal. */
            if (mp_interrupted && mp_interrupted != forwarded) {
                forwarded = mp_interrupted;
                kill(-child, (int)forwarded);
            }
            continue;
        }
        if (in_fd >= 0 && (p[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t n = write(in_fd, input + in_off, input_len - in_off);
            if (n > 0)
                in_off += (size_t)n;
            if (n < 0 || in_off == input_len) {
                close(in_fd); /* a hook that does not read its stdin is fine */
                in_fd = -1;
            }
        }
        int *fds[2] = { &out_fd, &err_fd };
        char *bufs[2] = { obuf, ebuf };
        size_t *lens[2] = { &out_len, &err_len };
        for (int i = 0; i < 2; i++) {
            if (*fds[i] < 0 || !(p[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char tmp[4096];
            ssize_t n = read(*fds[i], tmp, sizeof(tmp));
            if (n <= 0) {
                close(*fds[i]);
                *fds[i] = -1;
                continue;
            }
            if (*lens[i] + (size_t)n > max_output) {
                if (in_fd >= 0)
                    close(in_fd);
                return -EFBIG;
            }
            memcpy(bufs[i] + *lens[i], tmp, (size_t)n);
            *lens[i] += (size_t)n;
        }
    }
    if (in_fd >= 0)
        close(in_fd);
    obuf[out_len] = '\0';
    ebuf[err_len] = '\0';
    if (out)
        *out = steal_ptr(&obuf);
    if (errout)
        *errout = steal_ptr(&ebuf);
    return 0;
}

int
mp_proc_run(char *const *argv, char *const *envp, const char *input, size_t input_len,
            size_t max_output, uint64_t timeout_ms, char **out, char **errout, int *status,
            struct mp_error **err)
{
    static char *const clear_env[] = { "PATH=" MP_DEFAULT_PATH, NULL };
    int pin[2], pout[2], perr[2] = { -1, -1 };
    if (pipe2(pin, O_CLOEXEC) < 0)
        return mp_error_set_errno(err, errno, "cannot create a pipe");
    if (pipe2(pout, O_CLOEXEC) < 0 || (errout && pipe2(perr, O_CLOEXEC) < 0))
        return mp_error_set_errno(err, errno, "cannot create a pipe");
    /* A child that closes its stdin early must not kill us with SIGPIPE. */
    struct sigaction ignore = { .sa_handler = SIG_IGN }, old_pipe;
    sigaction(SIGPIPE, &ignore, &old_pipe);
    pid_t pid = fork();
    if (pid < 0) {
        sigaction(SIGPIPE, &old_pipe, NULL);
        return mp_error_set_errno(err, errno, "cannot fork");
    }
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
        execvpe(argv[0], argv, envp ? envp : clear_env);
        dprintf(STDERR_FILENO, "cannot execute %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid); /* also here: a kill(-pid) must not race the child's own call */
    close(pin[0]);
    close(pout[1]);
    if (perr[1] >= 0)
        close(perr[1]);
    int r = feed_and_collect(pid, pin[1], input, input_len, pout[0], perr[0], max_output,
                             mp_now_ms() + timeout_ms, out, errout, err);
    if (r < 0) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        close(pout[0]);
        if (perr[0] >= 0)
            close(perr[0]);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    sigaction(SIGPIPE, &old_pipe, NULL);
    if (r == -ETIMEDOUT)
        return mp_error_set(err, ETIMEDOUT, "%s did not finish within %llu ms", argv[0],
                            (unsigned long long)timeout_ms);
    if (r == -EFBIG)
        return mp_error_set(err, EFBIG, "%s wrote more than %zu bytes", argv[0], max_output);
    if (r < 0)
        return r;
    *status = st;
    return 0;
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
mp_proc_read_pidfile(const char *path, pid_t *pid, struct mp_error **err)
{
    _cleanup_free_ char *buf = NULL;
    int r = mp_read_file(path, 64, &buf, NULL, err);
    if (r < 0)
        return r;
    buf[strcspn(buf, "\n")] = '\0';
    uint64_t v;
    if (mp_parse_u64(buf, &v) < 0 || v == 0 || v > INT32_MAX)
        return mp_error_set(err, EBADMSG, "pid file %s does not hold a pid", path);
    *pid = (pid_t)v;
    return 0;
}

int
mp_proc_start_time(pid_t pid, uint64_t *ticks)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    _cleanup_free_ char *buf = NULL;
    if (mp_read_file(path, 4096, &buf, NULL, NULL) < 0)
        return -ESRCH;
    /* The command name may hold spaces and parentheses: count from the last ')'. */
    const char *p = strrchr(buf, ')');
    if (!p)
        return -EBADMSG;
    unsigned long long start = 0;
    int field = 2;
    for (p++; *p && field < 22; p++)
        if (*p == ' ')
            field++;
    if (field != 22 || sscanf(p, "%llu", &start) != 1)
        return -EBADMSG;
    *ticks = start;
    return 0;
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
    mp_sleep_ms(MP_PROC_START_POLL_MS);
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
