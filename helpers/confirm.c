/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* migphase-confirm: on the source, end the migration for good or undo it. */
#include "config.h"

#include "step.h"

static const struct mp_step_spec confirm_step = {
    .step = MP_STEP_CONFIRM,
    .program = MP_PROG_CONFIRM,
    .usage = "Usage: migphase-confirm [--cancelled [--force]] [--in FILE]\n"
             "\n"
             "Step 5 of 5, on the source host. Reads Finish's cookie. If the destination\n"
             "runs the VM, quits the source VM and checks its process is gone. If the\n"
             "migration failed, or with --cancelled, resumes the source VM; it refuses\n"
             "to when Finish's cookie says the destination resumed, unless --force.",
};

int
main(int argc, char **argv)
{
    return mp_step_main(&confirm_step, argc, argv);
}
