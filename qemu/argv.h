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

/* Build the destination argv from the source's: drop -incoming, -daemonize,
 * -pidfile, -S, every monitor (-qmp, -qmp-pretty, -monitor, -mon and the
 * -chardev it names), apply the rewrites to every remaining argument, then
 * add -S, -incoming defer, the new QMP socket and pid file. An argv that
 * cannot be made safe (no binary, -readconfig, a control character, a
 * socket path that already exists on this host) fails with MP_ERR_INPUT. */
int qemu_argv_for_destination(char *const *source, const struct qemu_argv_target *target,
                              char ***out, struct mp_error **err);

/* Whether a QEMU option (with one leading dash) takes a value. */
bool qemu_option_takes_value(const char *option);
/* Replace every occurrence of from by to in s (a new string). */
char *qemu_replace_all(const char *s, const char *from, const char *to);
