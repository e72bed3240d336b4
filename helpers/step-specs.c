/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The contract of each step helper: its step, its options and its --help. */
#include "config.h"

#include <string.h>

#include "step-specs.h"

static const struct mp_step_spec step_specs[MP_STEP_COUNT] = {
    /* migphase-begin: on the source, describe the VM and check that it can move. */
    [MP_STEP_BEGIN] = {
        .step = MP_STEP_BEGIN,
        .program = MP_PROG_BEGIN,
        .usage = "Usage: migphase-begin --qmp SOCKET [--domain NAME] [migration options] [--out FILE]\n"
                 "\n"
                 "Step 1 of 5, on the source host. Asks the running VM who it is and whether it\n"
                 "can move (running or paused, no migration blocker, no migration under way),\n"
                 "captures its command line, and writes a cookie with the VM's description,\n"
                 "this host's identity and the migration parameters for migphase-prepare.\n"
                 "Nothing about the VM changes.",
    },
    /* migphase-prepare: on the destination, start an empty VM waiting for the stream. */
    [MP_STEP_PREPARE] = {
        .step = MP_STEP_PREPARE,
        .program = MP_PROG_PREPARE,
        .usage = "Usage: migphase-prepare --qmp SOCKET [--listen ADDR] [--port-range LO-HI]\n"
                 "                        [--rewrite FROM=TO ...] [--launcher CMD] [--in FILE] [--out "
                 "FILE]\n"
                 "\n"
                 "Step 2 of 5, on the destination host. Reads Begin's cookie, starts a paused VM\n"
                 "from the source's command line (QMP on SOCKET, host-local paths rewritten),\n"
                 "waiting for the stream on a free port, and writes a cookie that says where\n"
                 "to send it. On failure the new VM is gone.",
    },
    /* migphase-perform: on the source, send the VM's state; the source ends paused. */
    [MP_STEP_PERFORM] = {
        .step = MP_STEP_PERFORM,
        .program = MP_PROG_PERFORM,
        .usage = "Usage: migphase-perform [--progress auto|bar|json|none] [--domain NAME] [--in FILE]\n"
                 "                        [--out FILE]\n"
                 "\n"
                 "Step 3 of 5, on the source host. Reads Prepare's cookie and sends the VM to\n"
                 "the destination it names. On success the source VM is left paused, never\n"
                 "killed: that is Confirm's job once Finish has spoken. On failure the stream\n"
                 "is cancelled and the source resumed. SIGINT or SIGTERM cancel cleanly.",
    },
    /* migphase-finish: on the destination, complete or undo the incoming VM. */
    [MP_STEP_FINISH] = {
        .step = MP_STEP_FINISH,
        .program = MP_PROG_FINISH,
        .usage = "Usage: migphase-finish [--cancelled] [--domain NAME] [--in FILE] [--out FILE]\n"
                 "\n"
                 "Step 4 of 5, on the destination host. Reads Perform's cookie and waits for\n"
                 "the stream to complete; then resumes the VM (unless the migration asked for\n"
                 "a paused destination) and writes a success cookie: the point of no return.\n"
                 "If the stream failed, or with --cancelled, it kills the incoming VM and\n"
                 "writes a failure cookie. It never kills a VM that already runs.",
    },
    /* migphase-confirm: on the source, end the migration for good or undo it. */
    [MP_STEP_CONFIRM] = {
        .step = MP_STEP_CONFIRM,
        .program = MP_PROG_CONFIRM,
        .usage = "Usage: migphase-confirm [--cancelled [--force]] [--in FILE]\n"
                 "\n"
                 "Step 5 of 5, on the source host. Reads Finish's cookie. If the destination\n"
                 "runs the VM, quits the source VM and checks its process is gone. If the\n"
                 "migration failed, or with --cancelled, resumes the source VM; it refuses\n"
                 "to when Finish's cookie says the destination resumed, unless --force.",
    },
};

const struct mp_step_spec *
helper_step_spec(enum mp_step step)
{
    return &step_specs[step];
}

const struct mp_step_spec *
helper_step_spec_of_program(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    static const char prefix[] = "migphase-";
    if (strncmp(name, prefix, strlen(prefix)) != 0)
        return NULL;
    for (size_t i = 0; i < MP_STEP_COUNT; i++) {
        if (strcmp(name + strlen(prefix), mp_step_name(step_specs[i].step)) == 0)
            return &step_specs[i];
    }
    return NULL;
}
