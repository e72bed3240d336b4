/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target for what a site hook prints (engine/hooks.c,
 * mp_hooks_add_output): the cookie parser's items reader, then the hook
 * module's own rules (only <extension> and <feature>, no hook attribute,
 * no extension twice, none of migphase's own) and the merge into the step's
 * cookie. The input is the hook's stdout as the module gets it: text up to
 * the first NUL.
 *
 * Whatever the input, nothing may crash or leak. A refusal says why on one
 * line and leaves the cookie as it was; what is accepted leaves a cookie
 * that formats and reads back the same. Any breach abort()s, which both
 * libFuzzer and the corpus replay (tests/fuzz/replay.c) report as a
 * failure. */
#include "config.h"

#include "hooks.h"
#include "util.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* This host's features: one of a site's beside the built-in ones, so that
 * both a known and an unknown mandatory feature can be tried. */
static const char *const known[] = { "tuning", "site-lease", NULL };

/* A Prepare cookie with an extension an earlier hook wrote, which a hook
 * may replace. */
static struct mp_cookie *
step_cookie(void)
{
    struct mp_cookie *c = mp_cookie_new(MP_STEP_PREPARE);
    c->migration_id = xstrdup("5c1f3a2e-9d7b-4e0a-8f21-6b3c2d1e0f9a");
    c->driver = xstrdup("qemu");
    c->domain_name = xstrdup("vm1");
    mp_cookie_add_extension(c, "lease", "begin:10-lease", "<token id=\"7\"/>");
    return c;
}

static char *
format_or_abort(const struct mp_cookie *c)
{
    char *text = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    if (mp_cookie_format(c, &text, NULL, &err) < 0)
        abort();
    return text;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    _cleanup_free_ char *output = xstrndup((const char *)data, size);
    _cleanup_cookie_ struct mp_cookie *out = step_cookie();
    _cleanup_free_ char *before = format_or_abort(out);
    _cleanup_free_ char *why = NULL;
    int r = mp_hooks_add_output(out, output, known, "prepare:20-fuzz", &why);
    _cleanup_free_ char *after = format_or_abort(out);
    if (r < 0) {
        if (r != -EINVAL || !why || !*why || strchr(why, '\n'))
            abort();
        if (strcmp(before, after) != 0)
            abort();
        return 0;
    }
    if (r > 0 || why)
        abort();
    /* What the next step will read. */
    _cleanup_cookie_ struct mp_cookie *again = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    if (mp_cookie_parse(after, strlen(after), known, &again, &err) < 0)
        abort();
    /* The checks run without a cookie too (Confirm writes none). */
    _cleanup_free_ char *why_alone = NULL;
    if (mp_hooks_add_output(NULL, output, known, "confirm:20-fuzz", &why_alone) < 0)
        abort();
    return 0;
}
