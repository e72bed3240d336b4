/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Site hooks: executables in <hooks-dir>/<step>.d/ that the helpers run at
 * every step, in lexical order with run-parts' rules. A hook reads the
 * cookie on stdin, may add <extension> elements to the outgoing cookie by
 * printing them, and before the point of no return may veto the step. */
#pragma once

#include "cookie.h"
#include "error.h"
#include "protocol.h"

#include <stdbool.h>
#include <stdint.h>

#define MP_HOOK_DEFAULT_TIMEOUT_MS 30000

struct mp_hook_run {
    const char *hooks_dir;
    enum mp_step step;
    enum mp_role role;
    const char *domain;
    const char *uuid;
    const char *migration_id;
    const char *peer_host;   /* the other host's name, NULL if not known yet */
    const char *vm_user;     /* the user this host runs VMs as (qemu-user) */
    const char *manager;     /* who runs the steps: NULL for migphase's helpers,
                                "libvirt" for its hook (no Begin, no Confirm) */
    enum mp_outcome outcome; /* Finish and Confirm: how the step ended */
    const char *cookie;      /* given on each hook's stdin */
    size_t cookie_len;
    uint64_t timeout_ms; /* per hook */
};

/* Run the step's hooks. Extensions they print are validated and added to out
 * (which may be NULL: Confirm writes no cookie). In Begin, Prepare and
 * Perform a hook that fails vetoes the step: the error carries its name and
 * stderr. In Finish and Confirm, past the point of no return, failures are
 * logged and reported in out, and never an error. In Begin, Prepare and
 * Perform with run->outcome set, the step failed after its hooks ran: every
 * hook is called again, last first, with MIGPHASE_OUTCOME set, to undo its
 * work; failures are logged, out is untouched, and the result is 0. A missing
 * directory means no hooks. */
int mp_hooks_run(const struct mp_hook_run *run, struct mp_cookie *out, struct mp_error **err);

/* Whether the step has no hooks directory in hooks_dir (none at all, not an
 * empty or unreadable one): mp_hooks_run would run nothing, and the cookie
 * it hands the hooks need not be made. */
bool mp_hooks_step_dir_absent(const char *hooks_dir, enum mp_step step);

/* The features this host understands: the built-in ones
 * (mp_cookie_known_features) and those its hooks declare. NULL-terminated,
 * newly allocated. */
char **mp_hooks_known_features(const char *hooks_dir);
