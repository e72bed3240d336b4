/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* migphase-prepare: on the destination, start an empty VM waiting for the stream. */
#include "config.h"

#include "step-specs.h"

int
main(int argc, char **argv)
{
    return mp_step_main(helper_step_spec(MP_STEP_PREPARE), argc, argv);
}
