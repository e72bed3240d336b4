/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Several domains at once: each domain's migration runs in a child process
 * of its own (a crash or a failure of one cannot touch the others), at most
 * --jobs of them together; the parent reads each child's stderr, shows the
 * jobs' progress together and reports each domain's outcome at the end. */
#include "config.h"

#include "migrate.h"

#include "buf.h"
#include "log.h"
#include "proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define SOCKET_SUFFIX ".qmp"
/* Longer lines of a child are cut: they are messages, never data. */
#define LINE_MAX_BYTES   4096
#define DRAW_INTERVAL_MS 100
#define BAR_WIDTH        16

void
migrate_selection_free(struct migrate_selection *sel)
{
    mp_strv_free(sel->domains);
    free(sel->qmp_dir);
    free(sel->dest_qmp_dir);
    memset(sel, 0, sizeof(*sel));
}

/* A domain's name names its socket file, its journals and its lines in
 * the output (JSON too): a plain file name of letters, digits and ._+-:@. */
static bool
valid_name(const char *name)
{
    if (!*name || *name == '.' || *name == '-' || strlen(name) > 200)
        return false;
    for (const char *p = name; *p; p++)
        if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') && !(*p >= '0' && *p <= '9') &&
            !strchr("._+-:@", *p))
            return false;
    return true;
}

/* --rewrite FROM=TO of a run of several: %d is the domain's name, %% a %. */
static int
check_placeholders(const char *rewrite, struct mp_error **err)
{
    for (const char *p = strchr(rewrite, '%'); p; p = strchr(p + 2, '%'))
        if (p[1] != 'd' && p[1] != '%')
            return mp_error_input(err, EINVAL,
                                  "--rewrite '%s': only %%d (the domain) and %%%% may follow a %%",
                                  rewrite);
    return 0;
}

static char *
expand_placeholders(const char *s, const char *name)
{
    _cleanup_buf_ struct mp_buf b = { 0 };
    for (; *s; s++) {
        if (s[0] == '%' && s[1] == 'd') {
            mp_buf_add_str(&b, name);
            s++;
        } else if (s[0] == '%' && s[1] == '%') {
            mp_buf_add_str(&b, "%");
            s++;
        } else {
            mp_buf_add(&b, s, 1);
        }
    }
    return mp_buf_steal(&b, NULL);
}

/* The steps run in /: a relative directory is made absolute here. */
static char *
absolute_dir(const char *dir)
{
    if (dir[0] == '/')
        return xstrdup(dir);
    _cleanup_free_ char *cwd = getcwd(NULL, 0);
    return cwd ? xasprintf("%s/%s", cwd, dir) : xstrdup(dir);
}

/* Whether a QEMU listens on the socket: a refused connection is a socket
 * left behind by a QEMU that is gone; a full backlog (EAGAIN) is a live
 * one, busy with another client. */
static bool
socket_answers(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(addr.sun_path))
        return false;
    memcpy(addr.sun_path, path, strlen(path) + 1);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return false;
    return connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 || errno == EAGAIN;
}

static int
compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* --all: the names of the sockets DIR/NAME.qmp that a QEMU answers on, in
 * order. None is no error: there is nothing to move. */
static int
list_live_domains(const char *dir, char ***names, struct mp_error **err)
{
    DIR *d = opendir(dir);
    if (!d)
        return mp_error_input(err, errno, "cannot read --qmp-dir %s: %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name), suffix = strlen(SOCKET_SUFFIX);
        if (len <= suffix || strcmp(e->d_name + len - suffix, SOCKET_SUFFIX) != 0)
            continue;
        _cleanup_free_ char *name = xstrdup(e->d_name);
        name[len - suffix] = '\0';
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, e->d_name);
        struct stat st;
        if (!valid_name(name) || stat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
            continue;
        if (socket_answers(path))
            *names = mp_strv_append(*names, name);
        else
            mp_info("%s: nobody answers, skipped", path);
    }
    closedir(d);
    if (*names)
        qsort(*names, mp_strv_length(*names), sizeof(**names), compare_names);
    return 0;
}

int
migrate_jobs_check(const struct mp_options *o, struct migrate_selection *sel, struct mp_error **err)
{
    bool qemu = strcmp(o->driver, "qemu") == 0;
    if (!sel->domains && !sel->all)
        return mp_error_input(err, EINVAL, "name the domains to migrate, or give --all");
    if (sel->domains && sel->all)
        return mp_error_input(err, EINVAL, "give --all or the domains' names, not both");
    if (o->qmp_socket || o->dest_qmp_socket || o->domain)
        return mp_error_input(err, EINVAL,
                              "--qmp, --dest-qmp and --domain name one VM; for several, give "
                              "their names (and --qmp-dir for QEMU)");
    if (qemu && !sel->qmp_dir)
        return mp_error_input(err, EINVAL,
                              "give --qmp-dir DIR, where the VMs' sockets are "
                              "DIR/NAME" SOCKET_SUFFIX);
    if (!qemu && (sel->qmp_dir || sel->dest_qmp_dir || sel->all))
        return mp_error_input(err, EINVAL,
                              "--qmp-dir, --dest-qmp-dir and --all are for QEMU; name the %s "
                              "domains",
                              o->driver);
    if (qemu) {
        char *dir = absolute_dir(sel->qmp_dir);
        free(sel->qmp_dir);
        sel->qmp_dir = dir;
        if (sel->dest_qmp_dir) {
            dir = absolute_dir(sel->dest_qmp_dir);
            free(sel->dest_qmp_dir);
            sel->dest_qmp_dir = dir;
        }
        /* One host cannot hold both VMs' sockets at one path. */
        if (o->local && (!sel->dest_qmp_dir || strcmp(sel->dest_qmp_dir, sel->qmp_dir) == 0))
            return mp_error_input(err, EINVAL,
                                  "with --local, give --dest-qmp-dir, another directory than "
                                  "--qmp-dir");
    }
    for (size_t i = 0; o->rewrites && o->rewrites[i]; i++)
        if (check_placeholders(o->rewrites[i], err) < 0)
            return -EINVAL;
    if (sel->all && list_live_domains(sel->qmp_dir, &sel->domains, err) < 0)
        return -EINVAL;
    for (size_t i = 0; sel->domains && sel->domains[i]; i++) {
        const char *name = sel->domains[i];
        if (!valid_name(name))
            return mp_error_input(err, EINVAL,
                                  "'%s' is no domain name: letters, digits and ._+-:@, not "
                                  "starting with . or -",
                                  name);
        for (size_t k = 0; k < i; k++)
            if (strcmp(sel->domains[k], name) == 0)
                return mp_error_input(err, EINVAL, "domain %s is named twice", name);
    }
    return 0;
}

/* One domain's job. */
struct job {
    const char *name;
    pid_t pid; /* 0: not started */
    int fd;    /* the read end of its stderr; -1: closed */
    bool done;
    int status; /* its exit status, once done */
    int signo;  /* the signal that ended it, or 0 */
    uint64_t started_ms, elapsed_ms;
    char step[16]; /* the step it runs: begin, prepare... */
    char partial[LINE_MAX_BYTES];
    size_t partial_len;
    char *reason; /* the last error line it printed */
    /* the last progress sample of its stream */
    bool sampled;
    uint64_t percent, transferred, remaining, iterations, mbps;
};

struct display {
    enum mp_progress_mode mode; /* BAR, JSON or NONE */
    unsigned lines;             /* of the jobs' block, as drawn last */
    uint64_t drawn_ms;
    bool changed;
    int name_width;
    struct job *jobs;
    size_t n, next;
};

/* One line to stderr, in one write. */
static void _printf_(1, 2) say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    _cleanup_free_ char *line = xasprintf("%s\n", msg);
    (void)!mp_write_all(STDERR_FILENO, line, strlen(line));
}

static bool
json_u64(const char *line, const char *key, uint64_t *v)
{
    _cleanup_free_ char *pattern = xasprintf("\"%s\":", key);
    const char *p = strstr(line, pattern);
    if (!p)
        return false;
    p += strlen(pattern);
    char *end = NULL;
    unsigned long long x = strtoull(p, &end, 10);
    if (end == p)
        return false;
    *v = x;
    return true;
}

/* A word of lower-case letters, the value of "key":"word". */
static void
json_word(const char *line, const char *key, char *out, size_t size)
{
    _cleanup_free_ char *pattern = xasprintf("\"%s\":\"", key);
    const char *p = strstr(line, pattern);
    size_t n = 0;
    for (p = p ? p + strlen(pattern) : ""; n + 1 < size && *p >= 'a' && *p <= 'z'; p++)
        out[n++] = *p;
    out[n] = '\0';
}

static unsigned
terminal_columns(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
        return ws.ws_col;
    return 80;
}

/* Move to the top of the jobs' block and clear it. */
static void
erase_block(struct display *d)
{
    if (d->mode != MP_PROGRESS_BAR || d->lines == 0)
        return;
    _cleanup_free_ char *s = xasprintf("\033[%uA\r\033[J", d->lines);
    (void)!mp_write_all(STDERR_FILENO, s, strlen(s));
    d->lines = 0;
}

static char *
job_text(const struct display *d, const struct job *j)
{
    static const char *const steps[][2] = {
        { "begin", "Begin" },   { "prepare", "Prepare" }, { "perform", "Perform" },
        { "finish", "Finish" }, { "confirm", "Confirm" },
    };
    if (strcmp(j->step, "perform") == 0 && j->sampled) {
        char bar[BAR_WIDTH + 1];
        unsigned filled = (unsigned)(j->percent * BAR_WIDTH / 100);
        for (unsigned i = 0; i < BAR_WIDTH; i++)
            bar[i] = i < filled ? '=' : (i == filled ? '>' : ' ');
        bar[BAR_WIDTH] = '\0';
        return xasprintf("%-*s [%s] %3llu%% %6.1f MiB sent, %6.1f left, pass %llu, %llu Mbit/s",
                         d->name_width, j->name, bar, (unsigned long long)j->percent,
                         (double)j->transferred / (1 << 20), (double)j->remaining / (1 << 20),
                         (unsigned long long)j->iterations, (unsigned long long)j->mbps);
    }
    const char *what = "starting";
    for (size_t i = 0; i < ARRAY_SIZE(steps); i++)
        if (strcmp(j->step, steps[i][0]) == 0)
            what = steps[i][1];
    return xasprintf("%-*s %s, %.0f s", d->name_width, j->name, what,
                     (double)(mp_now_ms() - j->started_ms) / 1000.0);
}

/* The bar display: a line per running job, and one that counts them. */
static void
draw_block(struct display *d, bool force)
{
    uint64_t now = mp_now_ms();
    if (d->mode != MP_PROGRESS_BAR || (!force && now - d->drawn_ms < DRAW_INTERVAL_MS))
        return;
    d->drawn_ms = now;
    unsigned cols = terminal_columns() - 1, lines = 0;
    size_t done = 0, failed = 0, running = 0;
    _cleanup_buf_ struct mp_buf b = { 0 };
    if (d->lines > 0)
        mp_buf_printf(&b, "\033[%uA", d->lines);
    for (size_t i = 0; i < d->n; i++) {
        const struct job *j = &d->jobs[i];
        done += j->done;
        failed += j->done && j->status != 0;
        if (!j->pid || j->done)
            continue;
        running++;
        _cleanup_free_ char *text = job_text(d, j);
        mp_buf_printf(&b, "\r\033[K%.*s\n", (int)cols, text);
        lines++;
    }
    _cleanup_free_ char *count = xasprintf("%zu of %zu done, %zu failed, %zu running, %zu waiting",
                                           done, d->n, failed, running, d->n - d->next);
    mp_buf_printf(&b, "\r\033[K%.*s\n\033[J", (int)cols, count);
    lines++;
    (void)!mp_write_all(STDERR_FILENO, b.data, b.len);
    d->lines = lines;
    d->changed = false;
}

/* A message of a job (or of ours), above the bar display. */
static void
message(struct display *d, const char *text)
{
    erase_block(d);
    say("%s", text);
    d->changed = true;
}

/* An error line of a helper ("migphase-perform: ..."), not one of its
 * warnings or notes: the reason given when the job fails. */
static bool
error_line(const char *text)
{
    static const char *const levels[] = { "warning: ", "info: ", "debug: " };
    const char *colon = strstr(text, ": ");
    if (!mp_str_has_prefix(text, "migphase-") || !colon)
        return false;
    for (size_t i = 0; i < ARRAY_SIZE(levels); i++)
        if (mp_str_has_prefix(colon + 2, levels[i]))
            return false;
    return true;
}

static void
job_line(struct display *d, struct job *j, const char *line)
{
    /* What the job tells of its steps (migrate.c's run_step). */
    if (mp_str_has_prefix(line, "{\"event\":\"step\"")) {
        json_word(line, "step", j->step, sizeof(j->step));
        j->sampled = false;
        d->changed = true;
        if (d->mode == MP_PROGRESS_JSON)
            say("{\"event\":\"step\",\"domain\":\"%s\",\"step\":\"%s\"}", j->name, j->step);
        return;
    }
    /* Perform's progress lines (shared/progress.c), during Perform only. */
    _cleanup_free_ char *text = mp_log_text(line, strlen(line), 1024, MP_LOG_LINE);
    if (strcmp(j->step, "perform") == 0 && (mp_str_has_prefix(line, "{\"event\":\"progress\"") ||
                                            mp_str_has_prefix(line, "{\"event\":\"done\""))) {
        j->sampled = json_u64(line, "percent", &j->percent) &&
                     json_u64(line, "transferred_bytes", &j->transferred) &&
                     json_u64(line, "remaining_bytes", &j->remaining) &&
                     json_u64(line, "iterations", &j->iterations) &&
                     json_u64(line, "mbps", &j->mbps);
        if (j->percent > 100)
            j->percent = 100;
        if (d->mode == MP_PROGRESS_JSON)
            say("{\"domain\":\"%s\",%s", j->name, text + 1);
        return;
    }
    if (!*text)
        return;
    if (error_line(text)) {
        free(j->reason);
        j->reason = xstrdup(text);
    }
    _cleanup_free_ char *tagged = xasprintf("%s: %s", j->name, text);
    message(d, tagged);
}

/* Read what a job wrote; at the end of its output (or when drain and
 * nothing is left), close its end of the pipe. */
static void
job_read(struct display *d, struct job *j)
{
    for (;;) {
        ssize_t n = read(j->fd, j->partial + j->partial_len, sizeof(j->partial) - j->partial_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0 || errno != EAGAIN) {
                if (j->partial_len > 0) {
                    j->partial[j->partial_len == sizeof(j->partial) ? j->partial_len - 1
                                                                    : j->partial_len] = '\0';
                    job_line(d, j, j->partial);
                    j->partial_len = 0;
                }
                close(j->fd);
                j->fd = -1;
            }
            return;
        }
        j->partial_len += (size_t)n;
        char *start = j->partial, *nl;
        size_t left = j->partial_len;
        while ((nl = memchr(start, '\n', left))) {
            *nl = '\0';
            job_line(d, j, start);
            left -= (size_t)(nl + 1 - start);
            start = nl + 1;
        }
        if (left == sizeof(j->partial)) {
            /* A line too long: shown cut. */
            j->partial[sizeof(j->partial) - 1] = '\0';
            job_line(d, j, j->partial);
            left = 0;
        }
        memmove(j->partial, start, left);
        j->partial_len = left;
    }
}

/* The child: this domain's migration with this run's options, its own
 * sockets, rewrites and share of the bandwidth. Never returns. */
static _Noreturn void
run_job(const struct mp_options *o, const struct migrate_selection *sel, const char *name,
        uint64_t bandwidth, enum mp_progress_mode progress)
{
    /* A shallow copy: the fields set here are never freed, this process
     * ends with the migration. */
    struct mp_options c = *o;
    c.domain = xstrdup(name);
    if (sel->qmp_dir) {
        c.qmp_socket = xasprintf("%s/%s" SOCKET_SUFFIX, sel->qmp_dir, name);
        c.dest_qmp_socket = xasprintf("%s/%s" SOCKET_SUFFIX,
                                      sel->dest_qmp_dir ? sel->dest_qmp_dir : sel->qmp_dir, name);
    }
    c.rewrites = NULL;
    for (size_t i = 0; o->rewrites && o->rewrites[i]; i++) {
        _cleanup_free_ char *r = expand_placeholders(o->rewrites[i], name);
        c.rewrites = mp_strv_append(c.rewrites, r);
    }
    c.params.bandwidth_mib = bandwidth;
    c.progress = progress;
    _exit(migrate_one(&c, true));
}

static void
start_job(const struct mp_options *o, const struct migrate_selection *sel, struct display *d,
          struct job *j, uint64_t bandwidth, enum mp_progress_mode progress)
{
    int p[2];
    j->started_ms = mp_now_ms();
    pid_t pid = -1;
    if (pipe2(p, O_CLOEXEC) == 0) {
        pid = fork();
        if (pid < 0) {
            close(p[0]);
            close(p[1]);
        }
    }
    if (pid < 0) {
        j->pid = -1, j->done = true, j->status = MP_EXIT_FAILED;
        j->reason = xasprintf("cannot start its job: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL); /* as the steps of one migration have it */
        for (size_t i = 0; i < d->n; i++)
            if (d->jobs[i].fd >= 0)
                close(d->jobs[i].fd);
        close(p[0]);
        if (dup2(p[1], STDERR_FILENO) < 0)
            _exit(MP_EXIT_FAILED);
        close(p[1]);
        run_job(o, sel, j->name, bandwidth, progress);
    }
    close(p[1]);
    fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
    j->fd = p[0];
    j->pid = pid;
    d->changed = true;
    if (d->mode == MP_PROGRESS_JSON)
        say("{\"event\":\"start\",\"domain\":\"%s\",\"bandwidth_mib\":%llu}", j->name,
            (unsigned long long)bandwidth);
}

/* Whether the job ended; if so, its last output is read and its status
 * kept. A job killed by a signal may have left any step half done. */
static bool
job_reap(struct display *d, struct job *j)
{
    int st = 0;
    pid_t r = waitpid(j->pid, &st, WNOHANG);
    if (r == 0 || (r < 0 && errno == EINTR))
        return false;
    if (j->fd >= 0)
        job_read(d, j);
    if (j->fd >= 0) {
        /* Something the job started still holds the pipe: stop reading. */
        close(j->fd);
        j->fd = -1;
    }
    j->done = true;
    j->elapsed_ms = mp_now_ms() - j->started_ms;
    if (r > 0 && WIFEXITED(st) && WEXITSTATUS(st) <= MP_EXIT_STATE) {
        j->status = WEXITSTATUS(st);
    } else {
        j->status = MP_EXIT_STATE;
        j->signo = r > 0 && WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    }
    if (d->mode == MP_PROGRESS_JSON)
        say("{\"event\":\"result\",\"domain\":\"%s\",\"exit_status\":%d,\"elapsed_ms\":%llu}",
            j->name, j->status, (unsigned long long)j->elapsed_ms);
    d->changed = true;
    return true;
}

static void
report(const struct job *j)
{
    const char *prog = mp_log_progname();
    const char *reason = j->reason ? j->reason : "";
    const char *sep = j->reason ? ": " : "";
    if (!j->pid)
        say("%s: %s: not started (interrupted), exit status 1", prog, j->name);
    else if (j->status == MP_EXIT_OK)
        say("%s: %s: migrated in %.1f s", prog, j->name, (double)j->elapsed_ms / 1000.0);
    else if (j->signo)
        say("%s: %s: FAILED, its job was killed by signal %d, exit status 3: run migphase-status "
            "on both hosts",
            prog, j->name, j->signo);
    else if (j->status == MP_EXIT_FAILED)
        say("%s: %s: FAILED and undone (the VM runs on the source), exit status 1%s%s", prog,
            j->name, sep, reason);
    else if (j->status == MP_EXIT_INPUT)
        say("%s: %s: REFUSED, nothing touched, exit status 2%s%s", prog, j->name, sep, reason);
    else
        say("%s: %s: FAILED and left state behind, exit status 3: run migphase-status on both "
            "hosts%s%s",
            prog, j->name, sep, reason);
}

int
migrate_jobs_run(const struct mp_options *o, const struct migrate_selection *sel)
{
    size_t n = mp_strv_length(sel->domains);
    if (n == 0) {
        say("%s: no VM answers in %s: nothing to migrate", mp_log_progname(), sel->qmp_dir);
        return MP_EXIT_OK;
    }
    size_t width = sel->jobs ? (size_t)sel->jobs : 1;
    if (width > n)
        width = n;
    /* The total is shared equally by the jobs that run at once; a job keeps
     * its share to its end, even when fewer jobs are left to share it. */
    uint64_t bandwidth = o->params.bandwidth_mib / width;
    if (o->params.bandwidth_mib && !bandwidth)
        bandwidth = 1;
    struct display d = { .mode = o->progress, .n = n };
    if (d.mode == MP_PROGRESS_AUTO)
        d.mode = isatty(STDERR_FILENO) ? MP_PROGRESS_BAR : MP_PROGRESS_NONE;
    /* The jobs' Perform writes JSON lines, which the display reads. */
    enum mp_progress_mode child_progress =
        d.mode == MP_PROGRESS_NONE ? MP_PROGRESS_NONE : MP_PROGRESS_JSON;
    d.jobs = xreallocarray(NULL, n, sizeof(*d.jobs));
    for (size_t i = 0; i < n; i++) {
        d.jobs[i] = (struct job){ .name = sel->domains[i], .fd = -1 };
        size_t len = strlen(sel->domains[i]);
        if (len > (size_t)d.name_width)
            d.name_width = len > 24 ? 24 : (int)len;
    }
    /* A parent that has nothing to write to must not die of it. */
    signal(SIGPIPE, SIG_IGN);
    size_t running = 0;
    int forwarded = 0;
    struct pollfd *fds = xreallocarray(NULL, n, sizeof(*fds));
    struct job **polled = xreallocarray(NULL, n, sizeof(*polled));
    while (running > 0 || (d.next < n && !mp_interrupted)) {
        while (!mp_interrupted && running < width && d.next < n) {
            struct job *j = &d.jobs[d.next++];
            start_job(o, sel, &d, j, bandwidth, child_progress);
            running += !j->done;
        }
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (d.jobs[i].fd >= 0) {
                fds[k] = (struct pollfd){ .fd = d.jobs[i].fd, .events = POLLIN };
                polled[k++] = &d.jobs[i];
            }
        }
        if (poll(fds, k, DRAW_INTERVAL_MS) > 0)
            for (size_t i = 0; i < k; i++)
                if (fds[i].revents)
                    job_read(&d, polled[i]);
        /* A Ctrl-C reaches the jobs from the terminal; a signal sent to
         * this process alone is passed on. No new job starts. */
        if (mp_interrupted && mp_interrupted != forwarded) {
            forwarded = mp_interrupted;
            for (size_t i = 0; i < n; i++)
                if (d.jobs[i].pid > 0 && !d.jobs[i].done)
                    kill(d.jobs[i].pid, forwarded);
        }
        for (size_t i = 0; i < n; i++) {
            struct job *j = &d.jobs[i];
            if (j->pid > 0 && !j->done && job_reap(&d, j))
                running--;
        }
        draw_block(&d, d.changed);
    }
    erase_block(&d);
    int worst = MP_EXIT_OK;
    size_t moved = 0;
    _cleanup_buf_ struct mp_buf failed = { 0 };
    for (size_t i = 0; i < n; i++) {
        struct job *j = &d.jobs[i];
        if (!j->pid)
            j->status = MP_EXIT_FAILED;
        report(j);
        if (j->status > worst)
            worst = j->status;
        if (j->status == MP_EXIT_OK)
            moved++;
        else
            mp_buf_printf(&failed, "%s%s", failed.len ? ", " : "", j->name);
        free(j->reason);
    }
    if (moved == n)
        say("%s: all %zu domains migrated", mp_log_progname(), n);
    else
        say("%s: %zu of %zu domains migrated; not migrated: %.*s", mp_log_progname(), moved, n,
            (int)failed.len, failed.data ? failed.data : "");
    free(fds);
    free(polled);
    free(d.jobs);
    return worst;
}
