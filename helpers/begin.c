/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* migphase-begin: on the source, describe the VM and check that it can move. */
#include "config.h"

#include "step-specs.h"

int
main(int argc, char **argv)
{
    return mp_step_main(helper_step_spec(MP_STEP_BEGIN), argc, argv);
}
