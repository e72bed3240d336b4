/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The contract every step helper follows, so that each helper's main is a
 * description of its step and nothing else. */
#pragma once

#include "driver.h"
#include "options.h"
#include "protocol.h"

struct mp_step_spec {
    enum mp_step step;
    enum mp_program program;
    const char *usage; /* synopsis and contract, printed by --help */
};

/* Run a step helper: parse options, pick the driver, drop privileges, read
 * the cookie, lock and update the journal, run the driver, write the cookie.
 * Returns the exit status (DESIGN.md's table). */
int mp_step_main(const struct mp_step_spec *spec, int argc, char **argv);

/* Everything mp_step_main does after the options, the driver and the
 * privileges: read the cookie, check it against the journal, run the
 * driver's plan, commit, act, conclude, write the cookie. Returns 0 or a
 * negative errno with *err set; mp_exit_status() maps it. The tests drive
 * the engine's rules through it with a fake driver. */
int mp_step_execute(const struct mp_step_spec *spec, const struct mp_options *opts,
                    const struct mp_driver *driver, struct mp_error **err);
