/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* migphase-perform: on the source, send the VM's state; the source ends paused. */
#include "config.h"

#include "step.h"

static const struct mp_step_spec perform_step = {
    .step = MP_STEP_PERFORM,
    .program = MP_PROG_PERFORM,
    .usage = "Usage: migphase-perform [--progress auto|bar|json|none] [--in FILE] [--out FILE]\n"
             "\n"
             "Step 3 of 5, on the source host. Reads Prepare's cookie and sends the VM to\n"
             "the destination it names. On success the source VM is left paused, never\n"
             "killed: that is Confirm's job once Finish has spoken. On failure the stream\n"
             "is cancelled and the source resumed. SIGINT or SIGTERM cancel cleanly.",
};

int
main(int argc, char **argv)
{
    return mp_step_main(&perform_step, argc, argv);
}
