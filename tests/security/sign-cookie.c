/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sign-cookie PKI_DIR [TIME]: sign the cookie on standard input with the
 * host identity in PKI_DIR (at TIME, Unix seconds, default now) and write
 * the signed cookie on standard output. The tests use it to hand the steps
 * well-signed cookies of every shape, hostile ones included: what a host
 * with a valid certificate could send. */
#include "config.h"

#include "sign.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: sign-cookie PKI_DIR [TIME] < cookie > signed\n");
        return 2;
    }
    _cleanup_error_ struct mp_error *err = NULL;
    _cleanup_free_ char *xml = NULL;
    size_t len = 0;
    _cleanup_identity_ struct mp_identity *id = NULL;
    _cleanup_free_ char *out = NULL;
    size_t out_len = 0;
    time_t when = argc == 3 ? (time_t)strtoll(argv[2], NULL, 10) : time(NULL);
    if (mp_read_file("-", 1 << 20, &xml, &len, &err) < 0 ||
        mp_identity_load(argv[1], &id, &err) < 0 ||
        mp_identity_sign(id, xml, len, when, &out, &out_len, &err) < 0) {
        fprintf(stderr, "sign-cookie: %s\n", err->message);
        return 1;
    }
    return fwrite(out, 1, out_len, stdout) == out_len && fflush(stdout) == 0 ? 0 : 1;
}
