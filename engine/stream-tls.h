/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Whether a migration's stream uses TLS: Begin's request, Prepare's decision
 * and Perform's check, one rule for every driver (DESIGN.md, "Trust between
 * hosts"). Each host's say is `tls =` in its configuration (opts->tls): `on`
 * never lets a stream go in clear, `off` never uses TLS, `auto` uses it when
 * both hosts have the certificates. The certificates are QEMU's layout in
 * opts->pki_dir: the destination is the TLS server, the source the client. */
#pragma once

#include "driver.h"
#include "error.h"
#include "options.h"
#include "protocol.h"

#include <stdbool.h>

/* The client's files in QEMU's layout (the CA's and the server's are in
 * shared/sign.h). */
#define MP_PKI_CLIENT_CERT "client-cert.pem"
#define MP_PKI_CLIENT_KEY  "client-key.pem"

/* Begin: what the source asks for, from opts->params.tls (--tls, --no-tls,
 * or the configuration's `tls =`). ON needs this host's client certificate,
 * key and CA; AUTO becomes OFF without them, and ON when this host's rule is
 * `on`; OFF is refused when the rule is `on`. Refusals are MP_ERR_INPUT
 * errors naming the missing file or the rule. */
int mp_stream_tls_request(const struct mp_options *opts, enum mp_tls_mode *request,
                          struct mp_error **err);

/* Prepare: whether the stream uses TLS, from Begin's request and this host's
 * rule. ON needs the server certificate, key and CA (and a rule that is not
 * `off`); OFF is refused under the rule `on`; AUTO is TLS when this host has
 * the server's files and its rule is not `off` (under the rule `on`, missing
 * files are an error rather than a clear stream). Refusals are MP_ERR_INPUT
 * errors. */
int mp_stream_tls_decide(const struct mp_options *opts, enum mp_tls_mode request, bool *use_tls,
                         struct mp_error **err);

/* Perform: whether this source can send the stream as Prepare decided. A TLS
 * stream needs the client's files; a clear one is refused under the rule
 * `on` (no silent downgrade). Refusals are MP_ERR_INPUT errors. */
int mp_stream_tls_check(const struct mp_options *opts, bool stream_tls, struct mp_error **err);

/* The one of the three a step needs, on its cookies: Begin sets
 * ctx->out->params.tls, Prepare ctx->out->stream_tls, Perform checks
 * ctx->in->stream_tls; the other steps have nothing to do. Called by the
 * engine before the driver's plan. */
int mp_stream_tls_step(struct mp_step_ctx *ctx, struct mp_error **err);
