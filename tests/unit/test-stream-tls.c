/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* engine/stream-tls.c: whether a stream uses TLS, from Begin's request,
 * Prepare's decision and Perform's check against each host's `tls =` rule
 * and the files in its pki-dir. Every refusal is an input error (exit 2)
 * that names the file or the rule. The functions only look for the files,
 * so empty files stand for the certificates here. */
#include "config.h"

#include "error.h"
#include "options.h"
#include "sign.h"
#include "stream-tls.h"
#include "tests/remove-tree.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/test-stream-tls-XXXXXX";
static struct mp_options opts;
static struct mp_error *err;

static void
touch(const char *name)
{
    char *path = xasprintf("%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    cr_assert(fd >= 0, "cannot create %s", path);
    close(fd);
    free(path);
}

static void
drop(const char *name)
{
    char *path = xasprintf("%s/%s", dir, name);
    cr_assert(unlink(path) == 0, "cannot remove %s", path);
    free(path);
}

static void
client_files(void)
{
    touch(MP_PKI_CA_CERT);
    touch(MP_PKI_CLIENT_CERT);
    touch(MP_PKI_CLIENT_KEY);
}

static void
server_files(void)
{
    touch(MP_PKI_CA_CERT);
    touch(MP_PKI_SERVER_CERT);
    touch(MP_PKI_SERVER_KEY);
}

static void
setup(void)
{
    strcpy(dir, "/tmp/test-stream-tls-XXXXXX");
    cr_assert(mkdtemp(dir));
    memset(&opts, 0, sizeof(opts));
    opts.pki_dir = dir;
    opts.tls = MP_TLS_AUTO;
    opts.params.tls = MP_TLS_AUTO;
    err = NULL;
}

static void
teardown(void)
{
    mp_test_remove_tree(dir);
    mp_error_free(err);
}

/* r is a refusal: an input error (exit 2) whose message holds `says`. */
static void
assert_refused(int r, const char *says)
{
    cr_assert_lt(r, 0);
    cr_assert_not_null(err);
    cr_assert_eq(err->kind, MP_ERR_INPUT, "not an input error: %s", err->message);
    cr_assert_eq(mp_exit_status(r, err), MP_EXIT_INPUT);
    cr_assert_null(strchr(err->message, '\n'), "more than one line: %s", err->message);
    cr_assert(strstr(err->message, says), "'%s' does not say '%s'", err->message, says);
    mp_error_free(err);
    err = NULL;
}

TestSuite(stream_tls, .init = setup, .fini = teardown);

/* ---- Begin ---- */

Test(stream_tls, request_on_with_client_files)
{
    client_files();
    opts.params.tls = MP_TLS_ON;
    enum mp_tls_mode req = MP_TLS_COUNT;
    cr_assert_eq(mp_stream_tls_request(&opts, &req, &err), 0);
    cr_assert_eq(req, MP_TLS_ON);
}

Test(stream_tls, request_on_names_each_missing_file)
{
    const char *names[] = { MP_PKI_CLIENT_CERT, MP_PKI_CLIENT_KEY, MP_PKI_CA_CERT };
    opts.params.tls = MP_TLS_ON;
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        client_files();
        drop(names[i]);
        enum mp_tls_mode req = MP_TLS_COUNT;
        assert_refused(mp_stream_tls_request(&opts, &req, &err), names[i]);
        cr_assert_eq(req, MP_TLS_COUNT, "the request was set on a refusal");
    }
}

Test(stream_tls, request_on_ignores_server_files)
{
    server_files(); /* a destination's files do not make a client */
    opts.params.tls = MP_TLS_ON;
    enum mp_tls_mode req;
    assert_refused(mp_stream_tls_request(&opts, &req, &err), MP_PKI_CLIENT_CERT);
}

Test(stream_tls, request_off_refused_under_rule_on)
{
    client_files();
    opts.tls = MP_TLS_ON;
    opts.params.tls = MP_TLS_OFF;
    enum mp_tls_mode req;
    assert_refused(mp_stream_tls_request(&opts, &req, &err), "tls = on");
}

Test(stream_tls, request_auto_without_files_is_off)
{
    enum mp_tls_mode req = MP_TLS_COUNT;
    cr_assert_eq(mp_stream_tls_request(&opts, &req, &err), 0);
    cr_assert_eq(req, MP_TLS_OFF);
    /* Half the files are none. */
    touch(MP_PKI_CLIENT_CERT);
    touch(MP_PKI_CA_CERT);
    cr_assert_eq(mp_stream_tls_request(&opts, &req, &err), 0);
    cr_assert_eq(req, MP_TLS_OFF);
}

Test(stream_tls, request_auto_with_files_stays_auto)
{
    client_files();
    enum mp_tls_mode req = MP_TLS_COUNT;
    cr_assert_eq(mp_stream_tls_request(&opts, &req, &err), 0);
    cr_assert_eq(req, MP_TLS_AUTO);
}

Test(stream_tls, request_off_needs_nothing)
{
    opts.params.tls = MP_TLS_OFF;
    enum mp_tls_mode req = MP_TLS_COUNT;
    cr_assert_eq(mp_stream_tls_request(&opts, &req, &err), 0);
    cr_assert_eq(req, MP_TLS_OFF);
}

Test(stream_tls, request_under_rule_on_insists)
{
    /* The configuration's `tls = on` is also the request; an AUTO that
     * reached here anyway is not turned into a clear stream. */
    opts.tls = MP_TLS_ON;
    enum mp_tls_mode req = MP_TLS_COUNT;
    assert_refused(mp_stream_tls_request(&opts, &req, &err), MP_PKI_CLIENT_CERT);
    client_files();
    cr_assert_eq(mp_stream_tls_request(&opts, &req, &err), 0);
    cr_assert_eq(req, MP_TLS_ON);
}

/* ---- Prepare ---- */

Test(stream_tls, decide_on_with_server_files)
{
    server_files();
    bool tls = false;
    cr_assert_eq(mp_stream_tls_decide(&opts, MP_TLS_ON, &tls, &err), 0);
    cr_assert(tls);
    opts.tls = MP_TLS_ON;
    tls = false;
    cr_assert_eq(mp_stream_tls_decide(&opts, MP_TLS_ON, &tls, &err), 0);
    cr_assert(tls);
}

Test(stream_tls, decide_on_names_each_missing_file)
{
    const char *names[] = { MP_PKI_SERVER_CERT, MP_PKI_SERVER_KEY, MP_PKI_CA_CERT };
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        server_files();
        drop(names[i]);
        bool tls = false;
        assert_refused(mp_stream_tls_decide(&opts, MP_TLS_ON, &tls, &err), names[i]);
    }
}

Test(stream_tls, decide_on_refused_under_rule_off)
{
    server_files();
    opts.tls = MP_TLS_OFF;
    bool tls = false;
    assert_refused(mp_stream_tls_decide(&opts, MP_TLS_ON, &tls, &err), "tls = off");
}

Test(stream_tls, decide_off_refused_under_rule_on)
{
    server_files();
    opts.tls = MP_TLS_ON;
    bool tls = false;
    assert_refused(mp_stream_tls_decide(&opts, MP_TLS_OFF, &tls, &err), "tls = on");
}

Test(stream_tls, decide_off_is_clear)
{
    server_files();
    bool tls = true;
    cr_assert_eq(mp_stream_tls_decide(&opts, MP_TLS_OFF, &tls, &err), 0);
    cr_assert_not(tls);
    opts.tls = MP_TLS_OFF;
    tls = true;
    cr_assert_eq(mp_stream_tls_decide(&opts, MP_TLS_OFF, &tls, &err), 0);
    cr_assert_not(tls);
}

Test(stream_tls, decide_auto_follows_the_files)
{
    bool tls = true;
    cr_assert_eq(mp_stream_tls_decide(&opts, MP_TLS_AUTO, &tls, &err), 0);
    cr_assert_not(tls, "TLS without the server's files");
    server_files();
    cr_assert_eq(mp_stream_tls_decide(&opts, MP_TLS_AUTO, &tls, &err), 0);
    cr_assert(tls, "no TLS with the server's files");
    /* A client's files do not make a server. */
    drop(MP_PKI_SERVER_KEY);
    touch(MP_PKI_CLIENT_CERT);
    touch(MP_PKI_CLIENT_KEY);
    cr_assert_eq(mp_stream_tls_decide(&opts, MP_TLS_AUTO, &tls, &err), 0);
    cr_assert_not(tls);
}

Test(stream_tls, decide_auto_under_rule_off_is_clear)
{
    server_files();
    opts.tls = MP_TLS_OFF;
    bool tls = true;
    cr_assert_eq(mp_stream_tls_decide(&opts, MP_TLS_AUTO, &tls, &err), 0);
    cr_assert_not(tls);
}

Test(stream_tls, decide_auto_under_rule_on_needs_the_files)
{
    opts.tls = MP_TLS_ON;
    bool tls = false;
    assert_refused(mp_stream_tls_decide(&opts, MP_TLS_AUTO, &tls, &err), MP_PKI_SERVER_CERT);
    server_files();
    cr_assert_eq(mp_stream_tls_decide(&opts, MP_TLS_AUTO, &tls, &err), 0);
    cr_assert(tls);
}

/* ---- Perform ---- */

Test(stream_tls, check_tls_with_client_files)
{
    client_files();
    cr_assert_eq(mp_stream_tls_check(&opts, true, &err), 0);
    opts.tls = MP_TLS_ON;
    cr_assert_eq(mp_stream_tls_check(&opts, true, &err), 0);
}

Test(stream_tls, check_tls_names_each_missing_file)
{
    const char *names[] = { MP_PKI_CLIENT_CERT, MP_PKI_CLIENT_KEY, MP_PKI_CA_CERT };
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        client_files();
        drop(names[i]);
        assert_refused(mp_stream_tls_check(&opts, true, &err), names[i]);
    }
}

Test(stream_tls, check_clear_refused_under_rule_on)
{
    client_files();
    opts.tls = MP_TLS_ON;
    assert_refused(mp_stream_tls_check(&opts, false, &err), "tls = on");
}

Test(stream_tls, check_clear_is_fine_otherwise)
{
    cr_assert_eq(mp_stream_tls_check(&opts, false, &err), 0);
    opts.tls = MP_TLS_OFF;
    cr_assert_eq(mp_stream_tls_check(&opts, false, &err), 0);
}

/* ---- the engine's entry: each step its part, on its cookies ---- */

Test(stream_tls, step_sets_the_cookies)
{
    client_files();
    server_files();
    struct mp_cookie in = { 0 }, out = { 0 };
    struct mp_step_ctx ctx = { .step = MP_STEP_BEGIN, .opts = &opts, .out = &out };
    opts.params.tls = MP_TLS_ON;
    out.params.tls = MP_TLS_AUTO;
    cr_assert_eq(mp_stream_tls_step(&ctx, &err), 0);
    cr_assert_eq(out.params.tls, MP_TLS_ON);

    ctx = (struct mp_step_ctx){ .step = MP_STEP_PREPARE, .opts = &opts, .in = &in, .out = &out };
    in.params.tls = MP_TLS_AUTO;
    out.stream_tls = false;
    cr_assert_eq(mp_stream_tls_step(&ctx, &err), 0);
    cr_assert(out.stream_tls);

    opts.tls = MP_TLS_ON;
    ctx = (struct mp_step_ctx){ .step = MP_STEP_PERFORM, .opts = &opts, .in = &in, .out = &out };
    in.stream_tls = false;
    assert_refused(mp_stream_tls_step(&ctx, &err), "tls = on");
    in.stream_tls = true;
    cr_assert_eq(mp_stream_tls_step(&ctx, &err), 0);

    ctx = (struct mp_step_ctx){ .step = MP_STEP_FINISH, .opts = &opts, .in = &in };
    in.stream_tls = false;
    cr_assert_eq(mp_stream_tls_step(&ctx, &err), 0);
}
