/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The five step helpers' contracts, shared by each helper's main() and by
 * migphase-migrate, which runs the helpers of its own build in forked
 * copies of itself (helpers/migrate.c). */
#pragma once

#include "step.h"

/* The step helper of that step. */
const struct mp_step_spec *helper_step_spec(enum mp_step step);
/* The step helper a program is, by the last component of its path
 * ("/usr/libexec/migphase/migphase-finish"); NULL for any other program. */
const struct mp_step_spec *helper_step_spec_of_program(const char *path);
