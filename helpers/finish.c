/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* migphase-finish: on the destination, complete or undo the incoming VM. */
#include "config.h"

#include "step.h"

static const struct mp_step_spec finish_step = {
    .step = MP_STEP_FINISH,
    .program = MP_PROG_FINISH,
    .usage = "Usage: migphase-finish [--cancelled] [--in FILE] [--out FILE]\n"
             "\n"
             "Step 4 of 5, on the destination host. Reads Perform's cookie and waits for\n"
             "the stream to complete; then resumes the VM (unless the migration asked for\n"
             "a paused destination) and writes a success cookie: the point of no return.\n"
             "If the stream failed, or with --cancelled, it kills the incoming VM and\n"
             "writes a failure cookie. It never kills a VM that already runs.",
};

int
main(int argc, char **argv)
{
    return mp_step_main(&finish_step, argc, argv);
}
