/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target for the Xen receiver's result file (xen/result.c), which
 * Prepare, Finish and migphase-status read from a directory the receiver
 * writes. xen_result_read takes a path: the input is handed to it as a
 * memfd, through /proc/self/fd/N, so that the real reader (its size cap
 * included) runs and no file is created.
 *
 * Whatever the input, reading must not crash or leak; a refusal must leave
 * an empty result and say why; an accepted result names a known state and
 * holds one-line strings. Any breach abort()s, which both libFuzzer and the
 * corpus replay (tests/fuzz/replay.c) report as a failure. */
#include "config.h"

#include "xen-internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One memfd for every input, rewritten each time. */
static int input_fd = -1;
static char input_path[64];

static void
fill_input(const uint8_t *data, size_t size)
{
    if (input_fd < 0) {
        input_fd = memfd_create("fuzz-xen-result", MFD_CLOEXEC);
        if (input_fd < 0)
            abort();
        snprintf(input_path, sizeof(input_path), "/proc/self/fd/%d", input_fd);
    }
    if (ftruncate(input_fd, 0) < 0 || pwrite(input_fd, data, size, 0) != (ssize_t)size)
        abort();
}

static bool
one_line(const char *s)
{
    return !s || !strchr(s, '\n');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fill_input(data, size);
    _cleanup_xen_result_ struct xen_result res;
    _cleanup_error_ struct mp_error *err = NULL;
    int r = xen_result_read(input_path, &res, &err);
    if (r < 0) {
        if (!err || r != -err->errnum || !err->message[0])
            abort();
        if (res.message || res.migration_id || res.state != XEN_RECEIVER_STARTING)
            abort();
        return 0;
    }
    if (r > 0 || err)
        abort();
    if (strcmp(xen_receiver_state_name(res.state), "unknown") == 0)
        abort();
    if (!one_line(res.message) || !one_line(res.migration_id) || res.pid < 0)
        abort();
    return 0;
}
