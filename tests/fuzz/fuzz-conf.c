/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target for the configuration file parser (migphase.conf(5)), through
 * mp_options_parse_config: the parser of mp_options_parse without the file's
 * owner checks, so that a run opens no file but the user and group
 * databases and drops no privilege.
 *
 * The input is read as every program reads it, since each takes its own
 * keys. Whatever the input, parsing must not crash or leak; a refusal must
 * be an input error that says why; what is accepted must hold the rules the
 * setters promise (a port range, absolute allowed paths, a list of at least
 * one emulator). Any breach abort()s, which both libFuzzer and the corpus
 * replay (tests/fuzz/replay.c) report as a failure. */
#include "config.h"

#include "options.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const enum mp_program programs[] = {
    MP_PROG_BEGIN,   MP_PROG_PREPARE, MP_PROG_PERFORM, MP_PROG_FINISH,
    MP_PROG_CONFIRM, MP_PROG_STATUS,  MP_PROG_MIGRATE,
};

static void
check_refusal(int r, const struct mp_error *err)
{
    if (!err || err->kind != MP_ERR_INPUT || r != -err->errnum || !err->message[0])
        abort();
}

static void
check_absolute(char *const *dirs)
{
    for (size_t i = 0; dirs && dirs[i]; i++)
        if (dirs[i][0] != '/')
            abort();
}

static void
check_accepted(const struct mp_options *o)
{
    if (o->port_lo == 0 || o->port_lo > o->port_hi)
        abort();
    if (!o->emulators || !o->emulators[0] || !o->vm_users || !o->vm_users[0])
        abort();
    if (!o->allowed_paths || !o->allowed_paths[0])
        abort();
    check_absolute(o->allowed_paths);
    check_absolute(o->shared_paths);
    if (!o->state_dir || !o->driver || !o->pki_dir || !o->qemu_user)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < ARRAY_SIZE(programs); i++) {
        struct mp_options o;
        _cleanup_error_ struct mp_error *err = NULL;
        int r =
            mp_options_parse_config(&o, programs[i], "fuzz.conf", (const char *)data, size, &err);
        if (r < 0)
            check_refusal(r, err);
        else if (r > 0 || err)
            abort();
        else
            check_accepted(&o);
        mp_options_free(&o);
    }
    return 0;
}
