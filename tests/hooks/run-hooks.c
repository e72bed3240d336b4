/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* run-hooks: run one step's site hooks the way the helpers do
 * (mp_hooks_run), outside a helper, for tests of hooks that need more
 * privilege than the helpers keep for them.
 *
 *   run-hooks HOOKS_DIR STEP [OUTCOME] < COOKIE > COOKIE_WITH_EXTENSIONS
 *
 * COOKIE is the one the step's helper would read (Begin: the cookie Begin
 * writes). Exit status 0, or 1 when a hook vetoed (the error on stderr). */
#include "config.h"

#include "hooks.h"
#include "log.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

int
main(int argc, char **argv)
{
    mp_log_init(argv[0]);
    signal(SIGPIPE, SIG_IGN);
    enum mp_step step;
    enum mp_outcome outcome = MP_OUTCOME_NONE;
    if (argc < 3 || argc > 4 || mp_step_parse(argv[2], &step) < 0 ||
        (argc == 4 && mp_outcome_parse(argv[3], &outcome) < 0)) {
        fprintf(stderr, "usage: run-hooks HOOKS_DIR STEP [OUTCOME] < COOKIE\n");
        return 2;
    }
    _cleanup_error_ struct mp_error *err = NULL;
    _cleanup_free_ char *xml = NULL;
    size_t len = 0;
    _cleanup_strv_ char **known = mp_hooks_known_features(argv[1]);
    _cleanup_cookie_ struct mp_cookie *in = NULL;
    if (mp_read_fd(STDIN_FILENO, MP_COOKIE_MAX_SIZE, &xml, &len, &err) < 0 ||
        mp_cookie_parse(xml, len, (const char *const *)known, &in, &err) < 0) {
        fprintf(stderr, "run-hooks: %s\n", err->message);
        return 2;
    }
    enum mp_role role = mp_step_role(step);
    struct mp_hook_run run = {
        .hooks_dir = argv[1],
        .step = step,
        .role = role,
        .domain = in->domain_name,
        .uuid = in->domain_uuid,
        .migration_id = in->migration_id,
        .peer_host = role == MP_ROLE_SOURCE ? in->destination.hostname : in->source.hostname,
        .outcome = outcome,
        .cookie = xml,
        .cookie_len = len,
        .timeout_ms = MP_HOOK_DEFAULT_TIMEOUT_MS,
    };
    _cleanup_cookie_ struct mp_cookie *out =
        step == MP_STEP_CONFIRM ? NULL : mp_cookie_derive(in, step);
    if (mp_hooks_run(&run, out, &err) < 0) {
        fprintf(stderr, "run-hooks: %s\n", err->message);
        return 1;
    }
    if (out) {
        _cleanup_free_ char *text = NULL;
        size_t n = 0;
        if (mp_cookie_format(out, &text, &n, &err) < 0) {
            fprintf(stderr, "run-hooks: %s\n", err->message);
            return 2;
        }
        fwrite(text, 1, n, stdout);
    }
    return 0;
}
