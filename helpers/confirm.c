/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* migphase-confirm: on the source, end the migration for good or undo it. */
#include "config.h"

#include "step-specs.h"

int
main(int argc, char **argv)
{
    return mp_step_main(helper_step_spec(MP_STEP_CONFIRM), argc, argv);
}
