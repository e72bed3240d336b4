/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* migphase-begin: on the source, describe the VM and check that it can move. */
#include "config.h"

#include "step.h"

static const struct mp_step_spec begin_step = {
    .step = MP_STEP_BEGIN,
    .program = MP_PROG_BEGIN,
    .usage = "Usage: migphase-begin --qmp SOCKET [--domain NAME] [migration options] [--out FILE]\n"
             "\n"
             "Step 1 of 5, on the source host. Asks the running VM who it is and whether it\n"
             "can move (running or paused, no migration blocker, no migration under way),\n"
             "captures its command line, and writes a cookie with the VM's description,\n"
             "this host's identity and the migration parameters for migphase-prepare.\n"
             "Nothing about the VM changes.",
};

int
main(int argc, char **argv)
{
    return mp_step_main(&begin_step, argc, argv);
}
