#include "config.h"

#include "error.h"
#include "proc.h"
#include "util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
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
