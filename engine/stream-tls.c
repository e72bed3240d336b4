/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "stream-tls.h"

#include "sign.h"

#include <errno.h>
#include <unistd.h>

static const char *const client_files[] = { MP_PKI_CLIENT_CERT, MP_PKI_CLIENT_KEY, MP_PKI_CA_CERT };
static const char *const server_files[] = { MP_PKI_SERVER_CERT, MP_PKI_SERVER_KEY, MP_PKI_CA_CERT };

static const char *
pki_dir(const struct mp_options *opts)
{
    return opts->pki_dir ? opts->pki_dir : MP_DEFAULT_PKI_DIR;
}

/* The first of the three files this host cannot read, or NULL. */
static const char *
missing_file(const struct mp_options *opts, const char *const files[3])
{
    for (size_t i = 0; i < 3; i++) {
        _cleanup_free_ char *path = xasprintf("%s/%s", pki_dir(opts), files[i]);
        if (access(path, R_OK) < 0)
            return files[i];
    }
    return NULL;
}

static int
refuse_missing(const struct mp_options *opts, const char *file, const char *role,
               struct mp_error **err)
{
    return mp_error_input(err, ENOENT,
                          "a TLS stream needs %s/%s (the %s's certificate), which this host lacks "
                          "(migphase-pki makes a lab PKI)",
                          pki_dir(opts), file, role);
}

int
mp_stream_tls_request(const struct mp_options *opts, enum mp_tls_mode *request,
                      struct mp_error **err)
{
    enum mp_tls_mode req = opts->params.tls;
    if (opts->tls == MP_TLS_ON && req == MP_TLS_OFF)
        return mp_error_input(err, EPERM,
                              "this host's configuration says tls = on: a stream in clear "
                              "(--no-tls) is refused");
    /* A host whose rule is `on` asks for what it will insist on at Perform. */
    if (opts->tls == MP_TLS_ON)
        req = MP_TLS_ON;
    const char *missing = req == MP_TLS_OFF ? NULL : missing_file(opts, client_files);
    if (missing && req == MP_TLS_ON)
        return refuse_missing(opts, missing, "client", err);
    *request = missing ? MP_TLS_OFF : req;
    return 0;
}

int
mp_stream_tls_decide(const struct mp_options *opts, enum mp_tls_mode request, bool *use_tls,
                     struct mp_error **err)
{
    if (request == MP_TLS_OFF && opts->tls == MP_TLS_ON)
        return mp_error_input(err, EPERM,
                              "the source asks for a stream in clear and this host's "
                              "configuration says tls = on");
    if (request == MP_TLS_ON && opts->tls == MP_TLS_OFF)
        return mp_error_input(err, EPERM,
                              "the source asks for a TLS stream and this host's configuration "
                              "says tls = off");
    if (request == MP_TLS_OFF || opts->tls == MP_TLS_OFF) {
        *use_tls = false;
        return 0;
    }
    const char *missing = missing_file(opts, server_files);
    if (missing && (request == MP_TLS_ON || opts->tls == MP_TLS_ON))
        return refuse_missing(opts, missing, "server", err);
    *use_tls = !missing;
    return 0;
}

int
mp_stream_tls_check(const struct mp_options *opts, bool stream_tls, struct mp_error **err)
{
    if (!stream_tls && opts->tls == MP_TLS_ON)
        return mp_error_input(err, EPERM,
                              "the destination offers a stream in clear and this host's "
                              "configuration says tls = on");
    const char *missing = stream_tls ? missing_file(opts, client_files) : NULL;
    if (missing)
        return refuse_missing(opts, missing, "client", err);
    return 0;
}

int
mp_stream_tls_step(struct mp_step_ctx *ctx, struct mp_error **err)
{
    switch (ctx->step) {
    case MP_STEP_BEGIN:
        return mp_stream_tls_request(ctx->opts, &ctx->out->params.tls, err);
    case MP_STEP_PREPARE:
        return mp_stream_tls_decide(ctx->opts, ctx->in->params.tls, &ctx->out->stream_tls, err);
    case MP_STEP_PERFORM:
        return mp_stream_tls_check(ctx->opts, ctx->in->stream_tls, err);
    default:
        return 0;
    }
}
