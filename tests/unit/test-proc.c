/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "error.h"
#include "proc.h"
#include "tests/remove-tree.h"
#include "util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void *
linger(void *arg)
{
    usleep(*(unsigned *)arg * 1000);
    return NULL;
}

/* A child whose main thread ends at once while another thread lives on
 * for ms: what a multi-threaded QEMU looks like as it quits. */
static pid_t
start_lingering_child(unsigned ms)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        pthread_t t;
        if (pthread_create(&t, NULL, linger, &ms) != 0)
            _exit(1);
        pthread_exit(NULL); /* the process ends with its last thread */
    }
    return pid;
}

Test(proc, wait_gone_waits_for_every_thread)
{
    pid_t pid = start_lingering_child(300);
    usleep(50 * 1000); /* the main thread is a zombie by now */
    uint64_t start = mp_now_ms();
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_proc_wait_gone(pid, 5000, &err), 0, "%s", err ? err->message : "");
    uint64_t waited = mp_now_ms() - start;
    cr_assert_geq(waited, 200, "returned after %llu ms, while a thread still ran",
                  (unsigned long long)waited);
    cr_assert_lt(waited, 2000, "returned after %llu ms", (unsigned long long)waited);
    /* Our own child was reaped. */
    cr_assert_eq(waitpid(pid, NULL, WNOHANG), -1);
    cr_assert_eq(errno, ECHILD);
}

Test(proc, wait_gone_times_out_on_a_process_that_stays)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        pause();
        _exit(0);
    }
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_proc_wait_gone(pid, 100, &err), -ETIMEDOUT);
    cr_assert(strstr(err->message, "still runs after 100 ms"), "%s", err->message);
    kill(pid, SIGKILL);
    cr_assert_eq(mp_proc_wait_gone(pid, 5000, NULL), 0);
}

Test(proc, wait_gone_on_a_process_already_gone)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(0);
    cr_assert_eq(waitpid(pid, NULL, 0), pid);
    cr_assert_eq(mp_proc_wait_gone(pid, 100, NULL), 0);
}

/* Where there is no pidfd, the same answer from /proc. */
Test(proc, a_zombie_main_thread_with_a_live_thread_is_alive)
{
    pid_t pid = start_lingering_child(300);
    usleep(50 * 1000);
    cr_assert(mp_proc_alive(pid), "the process has a live thread");
    cr_assert_eq(waitpid(pid, NULL, 0), pid);
    cr_assert(!mp_proc_alive(pid));
}

/* A directory the launched process (as nobody) writes what it saw into. */
struct launched {
    char dir[64];
    const struct passwd *nobody;
};

static void
launched_setup(struct launched *l)
{
    if (geteuid() != 0)
        cr_skip_test("changing the user needs root");
    l->nobody = getpwnam("nobody");
    if (!l->nobody)
        cr_skip_test("no user nobody here");
    snprintf(l->dir, sizeof(l->dir), "/tmp/mp-test-proc.XXXXXX");
    cr_assert_not_null(mkdtemp(l->dir));
    cr_assert_eq(chown(l->dir, l->nobody->pw_uid, l->nobody->pw_gid), 0);
}

/* Everything in it goes, whatever the script wrote: a list of names had
 * fallen behind the script and left a directory in /tmp at every run. */
static void
launched_cleanup(struct launched *l)
{
    mp_test_remove_tree(l->dir);
    cr_expect_neq(access(l->dir, F_OK), 0, "%s left behind", l->dir);
}

static char *
launched_file(const struct launched *l, const char *name)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", l->dir, name);
    char *buf = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_read_file(path, 1 << 20, &buf, NULL, &err), 0, "%s", err ? err->message : "");
    return buf;
}

/* The shell writes what it is: its status, environment, umask and open
 * descriptors, says hello on descriptor 3, and marks the end. */
static char *
report_script(const struct launched *l)
{
    return xasprintf("cat /proc/$$/status >%1$s/status; env >%1$s/env; umask >%1$s/umask; "
                     "ls /proc/$$/fd >%1$s/fds; read -r _ _ _ _ _ sid _ </proc/$$/stat; "
                     "echo $sid >%1$s/sid; echo hello >&3; echo >%1$s/done",
                     l->dir);
}

static void
wait_done(const struct launched *l, pid_t pid)
{
    cr_assert_eq(mp_proc_wait_gone(pid, 10000, NULL), 0);
    _cleanup_free_ char *done = xasprintf("%s/done", l->dir);
    cr_assert_eq(access(done, F_OK), 0, "the launched shell did not finish");
}

/* Not our child, in a session of its own (the middle process's): it
 * outlives us, out of reach of our terminal. */
static void
expect_detached(const struct launched *l)
{
    _cleanup_free_ char *status = launched_file(l, "status");
    _cleanup_free_ char *ours = xasprintf("\nPPid:\t%ld\n", (long)getpid());
    cr_assert(!strstr(status, ours), "the launched process is our child: %s", status);
    _cleanup_free_ char *sid = launched_file(l, "sid");
    char our_sid[32];
    snprintf(our_sid, sizeof(our_sid), "%ld\n", (long)getsid(0));
    cr_assert_str_neq(sid, our_sid, "the launched process is in our session");
}

static void
expect_nobody(const struct launched *l, pid_t pid)
{
    _cleanup_free_ char *status = launched_file(l, "status");
    _cleanup_free_ char *uid = xasprintf("\nUid:\t%1$u\t%1$u\t%1$u\t%1$u\n", l->nobody->pw_uid);
    _cleanup_free_ char *gid = xasprintf("\nGid:\t%1$u\t%1$u\t%1$u\t%1$u\n", l->nobody->pw_gid);
    cr_assert(strstr(status, uid), "not nobody: %s", status);
    cr_assert(strstr(status, gid), "not nobody's group: %s", status);
    cr_assert(strstr(status, "\nNoNewPrivs:\t1\n"), "%s", status);
    cr_assert(strstr(status, "\nCapEff:\t0000000000000000\n"), "%s", status);
    /* nobody's supplementary groups (none, usually): root's are gone. */
    gid_t groups[64];
    int n = (int)ARRAY_SIZE(groups);
    cr_assert_geq(getgrouplist(l->nobody->pw_name, l->nobody->pw_gid, groups, &n), 0);
    const char *line = strstr(status, "\nGroups:\t");
    cr_assert_not_null(line);
    _cleanup_free_ char *groups_line = xasprintf(" %.*s", (int)strcspn(line + 9, "\n"), line + 9);
    for (int i = 0; i < n; i++) {
        _cleanup_free_ char *g = xasprintf(" %u ", groups[i]);
        cr_assert(strstr(groups_line, g), "group %s missing: %s", g, groups_line);
    }
    cr_assert(!strstr(groups_line, " 0 "), "root's group kept: %s", groups_line);
    /* The pid file names the very process, though it was written by root
     * before the change. */
    _cleanup_free_ char *pidfile = xasprintf("%s/pid", l->dir);
    pid_t named = 0;
    cr_assert_eq(mp_proc_read_pidfile(pidfile, &named, NULL), 0);
    cr_assert_eq(named, pid);
    struct stat st;
    cr_assert_eq(stat(pidfile, &st), 0);
    cr_assert_eq(st.st_uid, 0, "the pid file is not root's");
}

Test(proc, launch_as_a_user_with_a_clean_environment)
{
    struct launched l;
    launched_setup(&l);
    int hello[2];
    cr_assert_eq(pipe2(hello, O_CLOEXEC), 0);
    /* Neither of these may reach the process: a variable of ours, and a
     * descriptor left open without CLOEXEC. */
    setenv("MP_TEST_CALLER_MARKER", "leaked", 1);
    int stray = open("/dev/null", O_RDONLY);
    cr_assert_geq(stray, 0);
    _cleanup_free_ char *script = report_script(&l);
    _cleanup_free_ char *pidfile = xasprintf("%s/pid", l.dir);
    char *argv[] = { "/bin/sh", "-c", script, NULL };
    struct mp_launch spec = {
        .argv = argv, .pidfile = pidfile, .user = "nobody", .pass_fds = &hello[1], .n_pass_fds = 1
    };
    pid_t pid = 0;
    _cleanup_error_ struct mp_error *err = NULL;
    int r = mp_proc_launch(&spec, &pid, &err);
    unsetenv("MP_TEST_CALLER_MARKER");
    close(stray);
    close(hello[1]);
    cr_assert_eq(r, 0, "%s", err ? err->message : "");
    char buf[16] = { 0 };
    cr_assert_eq(read(hello[0], buf, sizeof(buf) - 1), 6, "nothing on descriptor 3");
    cr_assert_str_eq(buf, "hello\n");
    close(hello[0]);
    wait_done(&l, pid);
    expect_nobody(&l, pid);

    _cleanup_free_ char *env = launched_file(&l, "env");
    cr_assert(!strstr(env, "MP_TEST_CALLER_MARKER"), "the caller's environment leaked: %s", env);
    cr_assert(strstr(env, "PATH=" MP_LAUNCH_PATH "\n"), "%s", env);
    cr_assert(strstr(env, "LC_ALL=C\n"), "%s", env);
    cr_assert(strstr(env, "USER=nobody\n") && strstr(env, "LOGNAME=nobody\n"), "%s", env);
    cr_assert(strstr(env, "HOME="), "%s", env);
    _cleanup_free_ char *umask_s = launched_file(&l, "umask");
    cr_assert_str_eq(umask_s, "0077\n");
    /* 0, 1, 2 and the passed 3; no stray one (the shell keeps a copy of
     * its stdout at 10 while a builtin's output is redirected). */
    _cleanup_free_ char *fds = launched_file(&l, "fds");
    _cleanup_free_ char *stray_s = xasprintf("\n%d\n", stray);
    cr_assert(mp_str_has_prefix(fds, "0\n1\n"), "open descriptors: %s", fds);
    cr_assert(strstr(fds, "\n2\n3\n"), "open descriptors: %s", fds);
    cr_assert(!strstr(fds, stray_s), "descriptor %d leaked: %s", stray, fds);
    for (int fd = 4; fd < 10; fd++) {
        char num[8];
        snprintf(num, sizeof(num), "\n%d\n", fd);
        cr_assert(!strstr(fds, num), "descriptor %d leaked: %s", fd, fds);
    }
    expect_detached(&l);
    launched_cleanup(&l);
}

/* A launcher runs as root and must exec: setpriv changes the user before
 * the program, whose pid is the launched process's. */
Test(proc, launch_through_a_launcher_changes_the_user_last)
{
    struct launched l;
    launched_setup(&l);
    _cleanup_free_ char *script = report_script(&l);
    _cleanup_free_ char *pidfile = xasprintf("%s/pid", l.dir);
    char *launcher[] = { "env", "MP_TEST_LAUNCHER=yes", NULL };
    char *argv[] = { "/bin/sh", "-c", script, NULL };
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    struct mp_launch spec = { .launcher = launcher,
                              .argv = argv,
                              .pidfile = pidfile,
                              .user = "nobody",
                              .pass_fds = &devnull,
                              .n_pass_fds = 1 };
    pid_t pid = 0;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_proc_launch(&spec, &pid, &err), 0, "%s", err ? err->message : "");
    close(devnull);
    wait_done(&l, pid);
    expect_nobody(&l, pid);
    _cleanup_free_ char *env = launched_file(&l, "env");
    cr_assert(strstr(env, "MP_TEST_LAUNCHER=yes\n"), "not started through the launcher: %s", env);
    expect_detached(&l);
    launched_cleanup(&l);
}

Test(proc, launch_reports_a_failed_exec)
{
    char *argv[] = { "/nonexistent/emulator", NULL };
    struct mp_launch spec = { .argv = argv };
    pid_t pid = 0;
    _cleanup_error_ struct mp_error *err = NULL;
    int r = mp_proc_launch(&spec, &pid, &err);
    cr_assert_eq(r, -ENOENT, "returned %d: %s", r, err ? err->message : "no error");
    cr_assert(strstr(err->message, "cannot execute it"), "%s", err->message);
}

/* The launch writes its pid file without fsync: one that a crash of the
 * host left empty must read as naming no process. */
Test(proc, an_empty_pid_file_names_no_process)
{
    char dir[] = "/tmp/mp-test-pidfile.XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    _cleanup_free_ char *path = xasprintf("%s/pid", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    cr_assert_geq(fd, 0);
    close(fd);
    pid_t pid = 0;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_proc_read_pidfile(path, &pid, &err), -EBADMSG);
    cr_assert_eq(pid, 0);
    unlink(path);
    rmdir(dir);
}

Test(proc, launch_refuses_an_unknown_user)
{
    char *argv[] = { "/bin/true", NULL };
    struct mp_launch spec = { .argv = argv, .user = "mp-no-such-user" };
    pid_t pid = 0;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_lt(mp_proc_launch(&spec, &pid, &err), 0);
    cr_assert_eq(err->kind, MP_ERR_INPUT);
    cr_assert(strstr(err->message, "mp-no-such-user"), "%s", err->message);
}

/* --- mp_proc_spawn_in_place --------------------------------------------- */

struct in_place_fds {
    int closed_at_exec, kept_at_exec;
};

static void
on_usr1(int sig)
{
    (void)sig;
}

/* The child's report of how it started, on its stdout. */
static int
report_start(const void *data, int argc, char **argv)
{
    const struct in_place_fds *fds = data;
    struct sigaction usr1, usr2;
    sigaction(SIGUSR1, NULL, &usr1);
    sigaction(SIGUSR2, NULL, &usr2);
    char name[17] = { 0 };
    prctl(PR_GET_NAME, name, 0, 0, 0);
    const char *marker = getenv("MP_TEST_IN_PLACE");
    printf("argc=%d argv1=%s closed=%d kept=%d usr1=%s usr2=%s env=%s caller=%s name=%s\n", argc,
           argv[1], fcntl(fds->closed_at_exec, F_GETFD) < 0 ? 1 : 0,
           fcntl(fds->kept_at_exec, F_GETFD) >= 0 ? 1 : 0,
           usr1.sa_handler == SIG_DFL ? "default" : "caught",
           usr2.sa_handler == SIG_IGN ? "ignored" : "not", marker ? marker : "(none)",
           getenv("MP_TEST_CALLER_MARKER") ? "leaked" : "(none)", name);
    return 7;
}

/* What migphase-migrate relies on to run a step helper in a forked copy of
 * itself: the child starts as the exec would have left it, and its exit
 * status is what its main returned. */
Test(proc, spawn_in_place_starts_as_an_exec_would)
{
    struct in_place_fds fds = { open("/dev/null", O_RDONLY | O_CLOEXEC),
                                open("/dev/null", O_RDONLY) };
    cr_assert(fds.closed_at_exec >= 0 && fds.kept_at_exec >= 0);
    struct sigaction catch = { .sa_handler = on_usr1 }, ignore = { .sa_handler = SIG_IGN };
    struct sigaction old_usr1, old_usr2;
    sigaction(SIGUSR1, &catch, &old_usr1);
    sigaction(SIGUSR2, &ignore, &old_usr2);
    setenv("MP_TEST_CALLER_MARKER", "leaked", 1);
    /* Written by us and not flushed yet: it must land once, not twice. */
    FILE *buffered = tmpfile();
    cr_assert_not_null(buffered);
    fputs("ours\n", buffered);

    char *argv[] = { "/nowhere/migphase-finish", "--in", NULL };
    char *envp[] = { "MP_TEST_IN_PLACE=yes", NULL };
    struct mp_child child;
    _cleanup_error_ struct mp_error *err = NULL;
    int r = mp_proc_spawn_in_place(argv, envp, false, report_start, &fds, &child, &err);
    cr_assert_eq(r, 0, "%s", err ? err->message : "");
    _cleanup_free_ char *out = NULL;
    int status = 0;
    r = mp_proc_collect(&child, NULL, 0, 4096, 10000, &out, NULL, &status, &err);
    cr_assert_eq(r, 0, "%s", err ? err->message : "");
    sigaction(SIGUSR1, &old_usr1, NULL);
    sigaction(SIGUSR2, &old_usr2, NULL);
    unsetenv("MP_TEST_CALLER_MARKER");
    close(fds.closed_at_exec);
    close(fds.kept_at_exec);

    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 7, "status %#x", status);
    cr_assert_str_eq(out, "argc=2 argv1=--in closed=1 kept=1 usr1=default usr2=ignored env=yes "
                          "caller=(none) name=migphase-finish\n");
    char text[32] = { 0 };
    rewind(buffered);
    cr_assert_eq(fread(text, 1, sizeof(text) - 1, buffered), 5, "the parent's buffer: '%s'", text);
    fclose(buffered);
}

/* More than a pipe holds, so that a child that does not read blocks us. */
#define FEED_SIZE (1 << 20)

/* migphase-migrate feeds Perform its cookie before it waits for Perform to
 * say it acts: all of the input arrives, and the output is read after. */
Test(proc, feed_writes_all_then_output_is_read)
{
    char *argv[] = { "cat", NULL };
    struct mp_child child;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_proc_spawn(argv, NULL, false, &child, &err), 0, "%s", err ? err->message : "");
    int r = mp_proc_feed(&child, "a cookie\n", 9, 10000, &err);
    cr_assert_eq(r, 0, "%s", err ? err->message : "");
    cr_expect_eq(child.in_fd, -1, "stdin left open");
    _cleanup_free_ char *out = NULL;
    r = mp_proc_read_output(&child, NULL, 0, 4096, 10000, &out, NULL, &err);
    cr_assert_eq(r, 0, "%s", err ? err->message : "");
    cr_expect_str_eq(out, "a cookie\n");
    int status = 0;
    mp_proc_reap(&child, &status);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
}

/* A child that does not read its input in time is killed, so that reaping
 * it does not hang; one that exits without reading is no error. */
Test(proc, feed_gives_up_on_a_child_that_does_not_read)
{
    _cleanup_free_ char *input = xmalloc(FEED_SIZE);
    memset(input, 'x', FEED_SIZE);
    char *stuck[] = { "sleep", "30", NULL };
    struct mp_child child;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_proc_spawn(stuck, NULL, false, &child, &err), 0);
    uint64_t start = mp_now_ms();
    int r = mp_proc_feed(&child, input, FEED_SIZE, 200, &err);
    cr_assert_eq(r, -ETIMEDOUT, "feeding a sleeper: %d", r);
    cr_expect(err && strstr(err->message, "did not read its input within 200 ms"), "%s",
              err ? err->message : "no error");
    int status = 0;
    mp_proc_reap(&child, &status);
    cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status %#x", status);
    cr_expect_lt(mp_now_ms() - start, 5000, "reaping waited for the sleeper");

    char *gone[] = { "true", NULL };
    mp_error_free(steal_ptr(&err));
    cr_assert_eq(mp_proc_spawn(gone, NULL, false, &child, &err), 0);
    cr_expect_eq(mp_proc_feed(&child, input, FEED_SIZE, 10000, &err), 0, "%s",
                 err ? err->message : "");
    mp_proc_reap(&child, &status);
}

/* A child waiting for an input it will never get, with a child of its own
 * (a wrapper's helper): abandoned, both die at once and it is reaped. */
Test(proc, abandon_kills_the_child_and_its_group)
{
    char *waiting[] = { "sh", "-c", "sleep 30 & echo $!; wait", NULL };
    struct mp_child child;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_proc_spawn(waiting, NULL, false, &child, &err), 0);
    char line[32] = "";
    ssize_t n = read(child.out_fd, line, sizeof(line) - 1);
    cr_assert_gt(n, 0, "the child said no pid");
    pid_t grandchild = (pid_t)strtol(line, NULL, 10);
    pid_t pid = child.pid;
    uint64_t start = mp_now_ms();
    mp_proc_abandon(&child);
    cr_expect_lt(mp_now_ms() - start, 5000, "abandoning waited for the child");
    cr_expect_eq(child.pid, 0);
    cr_expect(kill(pid, 0) < 0 && errno == ESRCH, "the child was not reaped");
    cr_expect_eq(mp_proc_wait_gone(grandchild, 5000, NULL), 0, "its own child lives on");
}

/* A step writes its cookie last and closes its stdout: that is read at
 * once, not after the child's exit; what it says on stderr after that is
 * read when it is reaped. */
Test(proc, read_stdout_returns_before_the_exit)
{
    char *argv[] = { "sh", "-c", "echo early >&2; echo cookie; exec 1>&-; sleep 0.5; echo late >&2",
                     NULL };
    struct mp_child child;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_proc_spawn(argv, NULL, true, &child, &err), 0);
    _cleanup_free_ char *out = NULL, *early = NULL, *late = NULL;
    uint64_t start = mp_now_ms();
    cr_assert_eq(mp_proc_read_stdout(&child, NULL, 0, 4096, 10000, &out, &early, &err), 0, "%s",
                 err ? err->message : "");
    cr_expect_lt(mp_now_ms() - start, 400, "waited for the exit");
    cr_expect_str_eq(out, "cookie\n");
    int status = -1;
    cr_assert_eq(mp_proc_collect(&child, NULL, 0, 4096, 10000, NULL, &late, &status, &err), 0, "%s",
                 err ? err->message : "");
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
    _cleanup_free_ char *said = xasprintf("%s%s", early, late);
    cr_expect_str_eq(said, "early\nlate\n");
}

/* Children overlap: reaping the one started first puts back the SIGPIPE
 * disposition it found (here the default, as in a job of
 * migphase-migrate), and feeding a later one that went without reading
 * must still fail with EPIPE, not kill the feeder. */
Test(proc, feeding_a_gone_child_after_another_was_reaped_does_not_kill)
{
    signal(SIGPIPE, SIG_DFL);
    char *first[] = { "sleep", "0.2", NULL };
    char *gone[] = { "true", NULL };
    struct mp_child a, b;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_proc_spawn(first, NULL, false, &a, &err), 0);
    cr_assert_eq(mp_proc_spawn(gone, NULL, false, &b, &err), 0);
    int status;
    mp_proc_reap(&a, &status);
    cr_assert_eq(mp_proc_wait_gone(b.pid, 5000, NULL), 0);
    cr_expect_eq(mp_proc_feed(&b, "cookie", 6, 1000, &err), 0, "%s", err ? err->message : "");
    mp_proc_reap(&b, &status);
}

Test(proc, nice_restorable_with_the_capability_or_the_limit)
{
    cr_assert(mp_proc_nice_restorable(0, true, 0));
    cr_assert(mp_proc_nice_restorable(-5, true, 0));
    cr_assert(!mp_proc_nice_restorable(0, false, 0), "nice 0 back needs a limit of 20");
    cr_assert(mp_proc_nice_restorable(0, false, 20));
    cr_assert(mp_proc_nice_restorable(5, false, 15));
    cr_assert(!mp_proc_nice_restorable(5, false, 14));
    cr_assert(mp_proc_nice_restorable(0, false, (uint64_t)RLIM_INFINITY));
}

/* A child that waits until its input closes: something to set the
 * priority of. */
static pid_t
start_waiting_child(int *input)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(fds[1]);
        char c;
        (void)!read(fds[0], &c, 1);
        _exit(0);
    }
    close(fds[0]);
    *input = fds[1];
    return pid;
}

static int
priority_of(pid_t pid)
{
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, (id_t)pid);
    cr_assert(nice != -1 || errno == 0, "getpriority: %s", strerror(errno));
    return nice;
}

Test(proc, yield_lowers_and_gives_back_to_a_child_started_meanwhile)
{
    if (geteuid() != 0)
        cr_skip_test("giving a priority back needs CAP_SYS_NICE here");
    int nice = priority_of(0);
    struct mp_cpu_yield y;
    mp_proc_yield_cpu(&y, 10);
    cr_assert(y.lowered);
    cr_assert_eq(y.nice, nice);
    cr_assert_eq(priority_of(0), nice + 10 > 19 ? 19 : nice + 10);
    cr_assert_eq(y.lowered_to, priority_of(0));
    int input;
    pid_t child = start_waiting_child(&input);
    cr_assert_eq(priority_of(child), y.lowered_to, "the child did not inherit the lower priority");
    mp_proc_give_back_cpu(&y, 0);
    cr_assert_eq(priority_of(0), nice);
    cr_assert_eq(priority_of(child), y.lowered_to, "the child's priority changed with ours");
    mp_proc_give_back_cpu(&y, child);
    cr_assert_eq(priority_of(child), nice);
    close(input);
    cr_assert_eq(waitpid(child, NULL, 0), child);
}

Test(proc, yield_goes_no_lower_than_19)
{
    if (geteuid() != 0)
        cr_skip_test("giving a priority back needs CAP_SYS_NICE here");
    struct mp_cpu_yield y;
    mp_proc_yield_cpu(&y, 50);
    cr_assert(y.lowered);
    cr_assert_eq(priority_of(0), 19);
    mp_proc_give_back_cpu(&y, 0);
    cr_assert_eq(priority_of(0), y.nice);
}

/* Without CAP_SYS_NICE and with RLIMIT_NICE at 0, a lower priority could
 * never be given back: none is taken. */
Test(proc, yield_takes_nothing_it_could_not_give_back)
{
    struct rlimit none = { 0, 0 };
    cr_assert_eq(setrlimit(RLIMIT_NICE, &none), 0);
    struct __user_cap_header_struct head = { .version = _LINUX_CAPABILITY_VERSION_3 };
    struct __user_cap_data_struct caps[2];
    cr_assert_eq(syscall(SYS_capget, &head, caps), 0);
    caps[CAP_TO_INDEX(CAP_SYS_NICE)].effective &= ~CAP_TO_MASK(CAP_SYS_NICE);
    cr_assert_eq(syscall(SYS_capset, &head, caps), 0);
    int nice = priority_of(0);
    struct mp_cpu_yield y;
    mp_proc_yield_cpu(&y, 10);
    cr_assert(!y.lowered);
    cr_assert_eq(priority_of(0), nice);
}
