/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* LD_PRELOAD: every fsync and fdatasync of the processes named
 * $SLOW_FSYNC_COMM (their comm, fifteen characters at most) first sleeps
 * 40 ms, as on a busy disk; the first one made after the process handed
 * over its cookie (a step then has /dev/null for standard output) sleeps
 * $SLOW_FSYNC_AFTER_COOKIE_MS more, if set. tests/integration/migrate-
 * pipeline.sh slows Perform's so that its done commit, which follows its
 * cookie, outlasts Finish and the hand-over of Finish's cookie to Confirm:
 * by 40 ms fsyncs alone, an ASan build on a busy machine lost that race. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int
cookie_handed_over(void)
{
    struct stat out, null;
    return fstat(STDOUT_FILENO, &out) == 0 && stat("/dev/null", &null) == 0 &&
           S_ISCHR(out.st_mode) && out.st_rdev == null.st_rdev;
}

static void
slow_down(void)
{
    const char *who = getenv("SLOW_FSYNC_COMM");
    char name[16] = { 0 };
    if (!who || prctl(PR_GET_NAME, name, 0, 0, 0) < 0 || strcmp(name, who) != 0)
        return;
    struct timespec pause = { .tv_nsec = 40 * 1000 * 1000 };
    nanosleep(&pause, NULL);
    static int slept_after_cookie;
    const char *after = getenv("SLOW_FSYNC_AFTER_COOKIE_MS");
    if (after && !slept_after_cookie && cookie_handed_over()) {
        long ms = atol(after);
        struct timespec more = { .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000 * 1000 };
        slept_after_cookie = 1;
        nanosleep(&more, NULL);
    }
}

int
fsync(int fd)
{
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    slow_down();
    return real(fd);
}

int
fdatasync(int fd)
{
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    slow_down();
    return real(fd);
}
