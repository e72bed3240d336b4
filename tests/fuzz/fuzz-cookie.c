/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target for the cookie parser and formatter.
 *
 * Whatever the input, parsing must not crash, and a refusal must be an input
 * error with a one-line message; the same holds for the input read as a site
 * hook's output (mp_cookie_parse_items). Whatever parses must format, and the result
 * must parse again and format to the same bytes: the next step reads exactly
 * what this one meant. Any breach abort()s, which both libFuzzer and the
 * corpus replay (tests/fuzz/replay.c) report as a failure. */
#include "config.h"

#include "cookie.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_refusal(int r, const struct mp_error *err)
{
    if (r >= 0 || !err || err->kind != MP_ERR_INPUT || r != -err->errnum)
        abort();
    if (!err->message[0] || strchr(err->message, '\n') || strchr(err->message, '\r'))
        abort();
}

/* The input as a hook's output: read or refused, never a crash. */
static void
check_items(const uint8_t *data, size_t size)
{
    if (memchr(data, '\0', size))
        return; /* a hook's output is text: the hook module stops at a NUL */
    _cleanup_free_ char *xml = xstrndup((const char *)data, size);
    _cleanup_cookie_ struct mp_cookie *items = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    int r = mp_cookie_parse_items(xml, NULL, &items, &err);
    if (r < 0)
        check_refusal(r, err);
    if ((r < 0) != !items)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_items(data, size);
    _cleanup_cookie_ struct mp_cookie *cookie = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    int r = mp_cookie_parse((const char *)data, size, NULL, &cookie, &err);
    if (r < 0) {
        check_refusal(r, err);
        if (cookie)
            abort();
        return 0;
    }

    _cleanup_free_ char *out = NULL;
    size_t len = 0;
    r = mp_cookie_format(cookie, &out, &len, &err);
    if (r == -EFBIG)
        return 0; /* escaping can push a cookie near the cap over it */
    if (r < 0 || !out || strlen(out) != len)
        abort();

    _cleanup_cookie_ struct mp_cookie *again = NULL;
    if (mp_cookie_parse(out, len, NULL, &again, &err) < 0)
        abort();
    _cleanup_free_ char *out_again = NULL;
    size_t len_again = 0;
    if (mp_cookie_format(again, &out_again, &len_again, &err) < 0)
        abort();
    if (len != len_again || memcmp(out, out_again, len) != 0)
        abort();

    /* derive must carry everything: only the step may change. */
    _cleanup_cookie_ struct mp_cookie *derived = mp_cookie_derive(again, again->step);
    _cleanup_free_ char *out_derived = NULL;
    size_t len_derived = 0;
    if (mp_cookie_format(derived, &out_derived, &len_derived, &err) < 0)
        abort();
    if (len != len_derived || memcmp(out, out_derived, len) != 0)
        abort();
    return 0;
}
