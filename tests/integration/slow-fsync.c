/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* LD_PRELOAD: every fsync and fdatasync of the processes named
 * $SLOW_FSYNC_COMM (their comm, fifteen characters at most) first sleeps
 * 40 ms, as on a busy disk. tests/integration/migrate-pipeline.sh slows
 * Perform's so that its done commit, which follows its cookie, outlasts
 * Finish and the hand-over of Finish's cookie to Confirm. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static void
slow_down(void)
{
    const char *who = getenv("SLOW_FSYNC_COMM");
    char name[16] = { 0 };
    if (!who || prctl(PR_GET_NAME, name, 0, 0, 0) < 0 || strcmp(name, who) != 0)
        return;
    struct timespec pause = { .tv_nsec = 40 * 1000 * 1000 };
    nanosleep(&pause, NULL);
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
