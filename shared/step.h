/* The contract every step helper follows, so that each helper's main is a
 * description of its step and nothing else. */
#pragma once

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
