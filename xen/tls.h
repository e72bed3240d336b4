/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* TLS for the Xen migration stream. libxl reads and writes the stream
 * through a plain file descriptor, so the stream goes through a pump: a
 * socketpair whose one end libxl (and our framing) uses in clear, and a
 * thread that moves bytes both ways between the other end and a GnuTLS
 * session on the TCP socket. Both ends authenticate with the host's
 * certificates in QEMU's layout (pki-dir): the receiver is the TLS server
 * (server-cert.pem), the sender the client (client-cert.pem); each requires
 * the other's certificate to chain to ca-cert.pem (not revoked by ca-crl.pem
 * when there is one) and to name the host it expects.
 *
 * Needs no libxl: the unit tests build it without Xen. */
#pragma once

#include "error.h"

#include <stdbool.h>
#include <stdint.h>

struct xen_tls;

/* Handshake as the server (server) or client of pki_dir over the connected
 * TCP socket tcp_fd within timeout_ms, then check the peer's certificate:
 * chain, validity, revocation, and that it names host peer (its DNS names,
 * or its common name: gnutls_x509_crt_check_hostname). Fails with a one-line
 * error (EACCES for a peer that is refused, EPROTO for one that speaks no
 * TLS, ENOENT for a missing file of ours). On success *out holds the session
 * (tcp_fd stays the caller's and must outlive it) and *plain is the clear
 * end of the pump (the caller's to close, after xen_tls_close): what is
 * written to it is sent, what arrives is read from it, once the pump runs. */
int xen_tls_open(int tcp_fd, bool server, const char *pki_dir, const char *peer,
                 uint64_t timeout_ms, struct xen_tls **out, int *plain, struct mp_error **err);

/* Start the pump's thread. Bytes written to *plain before it starts are
 * sent then. (A process that forks should start it after the fork.) */
int xen_tls_pump_start(struct xen_tls *t, struct mp_error **err);

/* The stream is over on this side: send what was written to plain, end the
 * TLS session (close_notify) and wait, up to timeout_ms, for the peer's end;
 * then stop the pump. Fails with why the pump stopped if it failed, or if
 * the peer did not end the session in time. */
int xen_tls_close(struct xen_tls *t, uint64_t timeout_ms, struct mp_error **err);

/* Why the pump stopped before the stream's end (a static-lifetime string
 * owned by t), or NULL while it runs or if it ended well. */
const char *xen_tls_pump_error(struct xen_tls *t);

/* Stop the pump if it runs (cutting the stream) and free the session. NULL
 * is fine. */
void xen_tls_free(struct xen_tls *t);
static inline void
xen_tls_freep(struct xen_tls **t)
{
    xen_tls_free(*t);
}
#define _cleanup_xen_tls_ _cleanup_(xen_tls_freep)
