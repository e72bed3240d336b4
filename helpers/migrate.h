/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* migphase-migrate's two parts: one domain's five steps (migrate.c), and
 * several domains at once in parallel jobs (migrate-jobs.c). */
#pragma once

#include "error.h"
#include "options.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* The domains of a run of several, and where their sockets are. */
struct migrate_selection {
    char **domains;     /* the names given, or found by --all; NULL: none */
    bool all;           /* --all: every VM of qmp_dir whose socket answers */
    char *qmp_dir;      /* QEMU: the source VMs' sockets are DIR/NAME.qmp */
    char *dest_qmp_dir; /* the destination VMs' sockets; NULL: qmp_dir */
    uint64_t jobs;      /* domains migrated at once; 0: not given (1) */
};

void migrate_selection_free(struct migrate_selection *sel);

/* One domain's migration: the five steps in order, each step's cookie to
 * the next, undoing what came before when one fails. job: a job of several,
 * which tells its parent on stderr each step it starts. Returns the exit
 * status (MP_EXIT_*). */
int migrate_one(const struct mp_options *o, bool job);

/* Check a run of several domains (the other options are parsed) and, with
 * --all, find its domains. Returns 0, or <0 with *err set (MP_ERR_INPUT). */
int migrate_jobs_check(const struct mp_options *o, struct migrate_selection *sel,
                       struct mp_error **err);

/* Migrate the selected domains, sel->jobs at once, each in a child process
 * of its own that runs migrate_one; show their progress together on
 * stderr and a line for each at the end. Returns the highest exit status
 * of the domains' (0: all moved). */
int migrate_jobs_run(const struct mp_options *o, const struct migrate_selection *sel);

/* The ssh master connection of a run whose --transport is ssh: one
 * connection for every step (helpers/ssh-master.c). */
struct ssh_master {
    pid_t pid; /* the master ssh; 0: none */
    char *dir; /* its private directory, with the control socket */
};

/* With an ssh transport, connect once and rewrite o->transport so that
 * every step goes through that connection; otherwise (or if it cannot
 * connect: the steps then connect on their own) leave it as it is. */
void ssh_master_start(struct mp_options *o, struct ssh_master *m);
/* End the master connection, if any, and remove its directory. */
void ssh_master_stop(struct ssh_master *m);
