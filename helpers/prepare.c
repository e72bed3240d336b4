/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* migphase-prepare: on the destination, start an empty VM waiting for the stream. */
#include "config.h"

#include "step.h"

static const struct mp_step_spec prepare_step = {
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
};

int
main(int argc, char **argv)
{
    return mp_step_main(&prepare_step, argc, argv);
}
