/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* migphase-finish: on the destination, complete or undo the incoming VM. */
#include "config.h"

#include "step-specs.h"

int
main(int argc, char **argv)
{
    return mp_step_main(helper_step_spec(MP_STEP_FINISH), argc, argv);
}
