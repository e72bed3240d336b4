/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* QEMU command lines: turning the source VM's argv into the destination's. */
#pragma once

#include "error.h"

/* What the destination's command line gets in place of the source's
 * monitor, pid file and incoming options. */
struct qemu_argv_target {
    const char *qmp_socket; /* QMP of the destination VM, when qmp_fd < 0 */
    int qmp_fd;             /* >= 0: a listening socket QEMU inherits for its QMP */
    const char *pidfile;    /* NULL: no -pidfile (the launcher writes it) */
    char *const *rewrites;  /* FROM=TO literal substitutions, NULL-terminated */
    /* The destination's policy (migphase.conf): NULL lists allow nothing. */
    char *const *emulators;     /* glob patterns of the allowed emulator binaries */
    char *const *allowed_paths; /* directories every file must resolve under */
    char *const *extra;         /* the helper's own options, appended verbatim last */
};

/* Build the destination argv from the source's, under the destination's
 * policy: argv[0] becomes this host's own emulator (qemu_emulator_for);
 * every option is looked up in the option table (qemu/option-table.h):
 * unknown and REFUSE options fail, DROP options (-incoming, -daemonize,
 * -pidfile, -S, every monitor and the -chardev a -mon names, -sandbox,
 * -runas, -run-with...) are left out, CHECK options have their value
 * checked, rewrites applied first: every file must resolve (symbolic links
 * followed) under target->allowed_paths. Then -S, -incoming defer, the new
 * QMP socket, pid file and target->extra are added. Checking only looks
 * (stat, realpath): nothing is created or opened. Any refusal fails with
 * MP_ERR_INPUT and one line naming the argument and the rule; *out (the
 * caller's) is set on success only. */
int qemu_argv_for_destination(char *const *source, const struct qemu_argv_target *target,
                              char ***out, struct mp_error **err);

/* Whether a QEMU option (with one leading dash) takes a value. */
bool qemu_option_takes_value(const char *option);
/* Replace every occurrence of from by to in s (a new string). */
char *qemu_replace_all(const char *s, const char *from, const char *to);

/* The local binary to run for the emulator the source ran: requested must
 * be an absolute path matching one of the glob patterns in emulators
 * (FNM_PATHNAME); the answer (*path, the caller's to free) is the existing
 * executable regular file of the same base name among the patterns'
 * matches on this host, never a PATH search nor requested itself. Fails
 * with MP_ERR_INPUT (EPERM) when there is none. */
int qemu_emulator_for(const char *requested, char *const *emulators, char **path,
                      struct mp_error **err);

/* A file the VM would use, under the policy's allowed-paths (what names it,
 * for the message): MP_ERR_INPUT otherwise. */
int qemu_argv_check_file(const struct qemu_argv_target *target, const char *what, const char *path,
                         struct mp_error **err);
/* In a command line: the format driver of the -blockdev named node and the
 * file its protocol node (driver=file, by reference or nested) opens.
 * -ENOENT when there is no such pair. */
int qemu_argv_blockdev_image(char *const *argv, const char *node, char **format, char **path);
