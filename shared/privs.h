/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Dropping privileges before a helper reads untrusted input. */
#pragma once

#include "error.h"

#include <stdint.h>

/* Clear every capability not in keep (bit CAP_x set = keep CAP_x) from all
 * sets and the bounding set, change to user (name, may be NULL) keeping those,
 * set no_new_privs, then verify that the process has exactly what it asked
 * for. for_hooks are kept permitted and inheritable but not effective: the
 * helper never uses them itself, its site hooks get them (hooks.c raises them
 * as ambient while a hook runs). An unknown user is an MP_ERR_INPUT error. */
int mp_privs_drop(uint64_t keep, uint64_t for_hooks, const char *user, struct mp_error **err);

/* Parse a comma-separated list of capability names ("net_admin,sys_admin",
 * with or without "cap_") into a CAP_x bit mask. */
int mp_privs_parse(const char *names, uint64_t *mask, struct mp_error **err);

/* The effective capabilities of this process, as a CAP_x bit mask. */
uint64_t mp_privs_effective(void);
