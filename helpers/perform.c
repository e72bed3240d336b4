/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* migphase-perform: on the source, send the VM's state; the source ends paused. */
#include "config.h"

#include "step-specs.h"

int
main(int argc, char **argv)
{
    return mp_step_main(helper_step_spec(MP_STEP_PERFORM), argc, argv);
}
