/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target for the parser of a signed cookie's trailer.
 *
 * Whatever the input, parsing must not crash, and a refusal must be an input
 * error with a one-line message that leaves nothing allocated. What parses
 * must be one trailer, and the only one: the payload is everything before
 * it, ends with a newline and holds no other trailer, and formatting the
 * parsed fields gives back the input's trailer byte for byte (the form is
 * canonical, so no two trailers carry the same fields). Any breach abort()s,
 * which both libFuzzer and the corpus replay (tests/fuzz/replay.c) report
 * as a failure. */
#include "config.h"

#include "sign.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_refusal(int r, const struct mp_error *err, const struct mp_signature_trailer *t)
{
    if (r >= 0 || !err || err->kind != MP_ERR_INPUT || r != -err->errnum)
        abort();
    if (!err->message[0] || strchr(err->message, '\n') || strchr(err->message, '\r'))
        abort();
    if (t->cert || t->sig)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct mp_signature_trailer t = { 0 };
    _cleanup_error_ struct mp_error *err = NULL;
    int r = mp_signature_parse(buf, size, &t, &err);
    if (r < 0) {
        check_refusal(r, err, &t);
        /* "Not signed" only for what has no trailer anywhere. */
        if (r == -ENOMSG && mp_signature_present(buf, size))
            abort();
        return 0;
    }

    size_t payload = t.payload_len;
    if (payload == 0 || payload >= size || buf[payload - 1] != '\n')
        abort();
    if (mp_signature_present(buf, payload) || memchr(buf, '\0', payload))
        abort();
    if (!t.alg || !t.cert || !t.sig || t.cert_len == 0 || t.sig_len == 0 ||
        t.cert_len > MP_SIGNATURE_MAX_CERT || t.sig_len > MP_SIGNATURE_MAX_SIG || t.time < 0)
        abort();

    size_t len = 0;
    _cleanup_free_ char *trailer = mp_signature_trailer_format(&t, &len);
    if (payload + len != size || memcmp(trailer, buf + payload, len) != 0)
        abort();
    mp_signature_trailer_clear(&t);
    return 0;
}
