/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The TLS pump of the Xen stream (xen/tls.h). One thread moves bytes both
 * ways: from the clear end of the socketpair into TLS records, and from TLS
 * records back into it (libxl's protocol has a back channel, and our own
 * framing answers on the same socket). Its sockets are blocking: what
 * unblocks it, when the stream must stop, is a shutdown of a socket. */
#include "config.h"

#include "tls.h"

#include "log.h"
#include "sign.h"
#include "stream-tls.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PUMP_BUFFER  (64 * 1024)
#define PUMP_POLL_MS 200

struct xen_tls {
    gnutls_certificate_credentials_t cred;
    gnutls_session_t session;
    int tcp;   /* the caller's */
    int plain; /* the caller's end of the socketpair (not owned): shut at close */
    int pump;  /* our end of the socketpair */
    pthread_t thread;
    bool started;
    atomic_bool stop; /* cut the stream */
    atomic_bool done; /* the thread ended; error is final */
    char *error;      /* why the pump stopped early (set by the thread) */
};

static int
tls_fail(struct mp_error **err, int errnum, const char *what, int r)
{
    return mp_error_set(err, errnum, "%s: %s", what, gnutls_strerror(r));
}

/* The credentials of one end: our certificate and key, and what we trust. */
static int
load_credentials(struct xen_tls *t, bool server, const char *pki_dir, struct mp_error **err)
{
    const char *cert_name = server ? MP_PKI_SERVER_CERT : MP_PKI_CLIENT_CERT;
    const char *key_name = server ? MP_PKI_SERVER_KEY : MP_PKI_CLIENT_KEY;
    _cleanup_free_ char *ca = xasprintf("%s/%s", pki_dir, MP_PKI_CA_CERT);
    _cleanup_free_ char *crl = xasprintf("%s/%s", pki_dir, MP_PKI_CA_CRL);
    _cleanup_free_ char *cert = xasprintf("%s/%s", pki_dir, cert_name);
    _cleanup_free_ char *key = xasprintf("%s/%s", pki_dir, key_name);
    const char *const needed[] = { ca, cert, key };
    for (size_t i = 0; i < ARRAY_SIZE(needed); i++)
        if (access(needed[i], R_OK) < 0)
            return mp_error_set_errno(err, errno, "TLS for the stream needs %s", needed[i]);
    int r = gnutls_certificate_allocate_credentials(&t->cred);
    if (r < 0)
        return tls_fail(err, ENOMEM, "GnuTLS", r);
    r = gnutls_certificate_set_x509_trust_file(t->cred, ca, GNUTLS_X509_FMT_PEM);
    if (r <= 0)
        return mp_error_set(err, EINVAL, "%s holds no usable CA certificate%s%s", ca,
                            r < 0 ? ": " : "", r < 0 ? gnutls_strerror(r) : "");
    if (access(crl, F_OK) == 0) {
        r = gnutls_certificate_set_x509_crl_file(t->cred, crl, GNUTLS_X509_FMT_PEM);
        if (r < 0)
            return mp_error_set(err, EINVAL, "%s: %s", crl, gnutls_strerror(r));
    }
    r = gnutls_certificate_set_x509_key_file(t->cred, cert, key, GNUTLS_X509_FMT_PEM);
    if (r < 0)
        return mp_error_set(err, EINVAL, "%s and %s: %s", cert, key, gnutls_strerror(r));
    return 0;
}

/* A certificate's common name, as safe text (it is the peer's word). */
static void
common_name(gnutls_x509_crt_t crt, char *buf, size_t size)
{
    size_t len = size;
    if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &len) < 0) {
        snprintf(buf, size, "(no name)");
        return;
    }
    for (char *c = buf; *c; c++)
        if (*c < 0x20 || *c > 0x7e)
            *c = '?';
}

/* The peer's certificate: chained to our CA, valid now, not revoked, and
 * naming the host we expect. */
static int
verify_peer(struct xen_tls *t, bool server, const char *peer, struct mp_error **err)
{
    const char *who = server ? "the sender" : "the receiver";
    unsigned status = 0;
    int r = gnutls_certificate_verify_peers2(t->session, &status);
    if (r == GNUTLS_E_NO_CERTIFICATE_FOUND)
        return mp_error_set(err, EACCES, "%s sent no certificate issued by our CA", who);
    if (r < 0)
        return tls_fail(err, EACCES, "verifying the peer's certificate", r);
    unsigned n = 0;
    const gnutls_datum_t *certs = gnutls_certificate_get_peers(t->session, &n);
    if (!certs || n == 0)
        return mp_error_set(err, EACCES, "%s sent no certificate issued by our CA", who);
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) < 0)
        return mp_error_set(err, ENOMEM, "GnuTLS: out of memory");
    r = gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER);
    char cn[128];
    common_name(crt, cn, sizeof(cn));
    bool named = r >= 0 && gnutls_x509_crt_check_hostname(crt, peer);
    gnutls_x509_crt_deinit(crt);
    if (status != 0) {
        gnutls_datum_t why = { 0 };
        gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &why, 0);
        mp_error_set(err, EACCES, "%s's certificate (%s) is refused: %s", who, cn,
                     why.data ? (const char *)why.data : "it does not verify");
        gnutls_free(why.data);
        return -EACCES;
    }
    if (!named)
        return mp_error_set(err, EACCES, "%s's certificate is for %s, not for host %s", who, cn,
                            peer);
    return 0;
}

static int
handshake(struct xen_tls *t, bool server, const char *peer, uint64_t timeout_ms,
          struct mp_error **err)
{
    int r = gnutls_init(&t->session, (server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NO_SIGNAL);
    if (r < 0)
        return tls_fail(err, ENOMEM, "GnuTLS", r);
    r = gnutls_set_default_priority(t->session);
    if (r >= 0)
        r = gnutls_credentials_set(t->session, GNUTLS_CRD_CERTIFICATE, t->cred);
    if (r >= 0 && !server)
        r = gnutls_server_name_set(t->session, GNUTLS_NAME_DNS, peer, strlen(peer));
    if (r < 0)
        return tls_fail(err, EINVAL, "GnuTLS", r);
    if (server)
        gnutls_certificate_server_set_request(t->session, GNUTLS_CERT_REQUIRE);
    gnutls_transport_set_int(t->session, t->tcp);
    gnutls_handshake_set_timeout(t->session, (unsigned)timeout_ms);
    do {
        r = gnutls_handshake(t->session);
    } while (r < 0 && !gnutls_error_is_fatal(r));
    if (r == GNUTLS_E_NO_CERTIFICATE_FOUND || r == GNUTLS_E_CERTIFICATE_REQUIRED)
        return mp_error_set(err, EACCES, "the sender sent no certificate issued by our CA");
    if (r == GNUTLS_E_UNEXPECTED_PACKET_LENGTH || r == GNUTLS_E_UNSUPPORTED_VERSION_PACKET ||
        r == GNUTLS_E_UNEXPECTED_PACKET)
        return tls_fail(err, EPROTO, "the peer does not speak TLS", r);
    if (r == GNUTLS_E_TIMEDOUT)
        return mp_error_set(err, ETIMEDOUT, "no TLS handshake within %llu ms",
                            (unsigned long long)timeout_ms);
    if (r == GNUTLS_E_FATAL_ALERT_RECEIVED) {
        gnutls_alert_description_t a = gnutls_alert_get(t->session);
        return mp_error_set(err, EACCES, "the %s refused us: %s", server ? "sender" : "receiver",
                            gnutls_alert_get_name(a));
    }
    if (r < 0)
        return tls_fail(err, EPROTO, "TLS handshake", r);
    r = verify_peer(t, server, peer, err);
    if (r < 0)
        (void)gnutls_alert_send(t->session, GNUTLS_AL_FATAL, GNUTLS_A_BAD_CERTIFICATE);
    return r;
}

int
xen_tls_open(int tcp_fd, bool server, const char *pki_dir, const char *peer, uint64_t timeout_ms,
             struct xen_tls **out, int *plain, struct mp_error **err)
{
    if (!peer || !*peer)
        return mp_error_set(err, EINVAL, "TLS for the stream needs the peer's host name");
    struct xen_tls *t = xzalloc(sizeof(*t));
    t->tcp = tcp_fd;
    t->plain = t->pump = -1;
    int r = load_credentials(t, server, pki_dir, err);
    if (r == 0)
        r = handshake(t, server, peer, timeout_ms, err);
    int sp[2];
    if (r == 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
        r = mp_error_set_errno(err, errno, "cannot make the stream's socketpair");
    if (r < 0) {
        xen_tls_free(t);
        return r;
    }
    t->plain = sp[0];
    t->pump = sp[1];
    *plain = sp[0];
    *out = t;
    return 0;
}

/* ---- the pump --------------------------------------------------------- */

static void pump_fail(struct xen_tls *t, const char *fmt, ...) _printf_(2, 3);

static void
pump_fail(struct xen_tls *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    t->error = xvasprintf(fmt, ap);
    va_end(ap);
    /* Both sides learn at once: libxl from its socket, the peer from ours. */
    shutdown(t->pump, SHUT_RDWR);
    shutdown(t->tcp, SHUT_RDWR);
}

static int
send_plain(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int
send_tls(gnutls_session_t s, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = gnutls_record_send(s, buf, len);
        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
            continue;
        if (n < 0)
            return (int)n;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static void *
pump_main(void *arg)
{
    struct xen_tls *t = arg;
    char *buf = xzalloc(PUMP_BUFFER);
    bool plain_eof = false, tls_eof = false;
    while (!(plain_eof && tls_eof)) {
        if (atomic_load(&t->stop)) {
            pump_fail(t, "the stream was cut");
            break;
        }
        struct pollfd p[2] = {
            { .fd = tls_eof ? -1 : t->tcp, .events = POLLIN },
            { .fd = plain_eof ? -1 : t->pump, .events = POLLIN },
        };
        /* GnuTLS may hold decrypted bytes the socket no longer shows. */
        bool pending = !tls_eof && gnutls_record_check_pending(t->session) > 0;
        int n = poll(p, 2, pending ? 0 : PUMP_POLL_MS);
        if (n < 0 && errno != EINTR) {
            pump_fail(t, "poll: %s", strerror(errno));
            break;
        }
        if (pending || (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t got = gnutls_record_recv(t->session, buf, PUMP_BUFFER);
            if (got > 0) {
                int r = send_plain(t->pump, buf, (size_t)got);
                if (r < 0) {
                    pump_fail(t, "passing the stream on: %s", strerror(-r));
                    break;
                }
            } else if (got == 0) {
                /* The peer ended its side (close_notify). */
                tls_eof = true;
                shutdown(t->pump, SHUT_WR);
            } else if (got == GNUTLS_E_FATAL_ALERT_RECEIVED) {
                pump_fail(t, "the peer refused us: %s",
                          gnutls_alert_get_name(gnutls_alert_get(t->session)));
                break;
            } else if (got == GNUTLS_E_PREMATURE_TERMINATION) {
                pump_fail(t, "the peer closed the connection without ending TLS");
                break;
            } else if (got == GNUTLS_E_PULL_ERROR) {
                /* A refusal can come as a reset that overtook the alert. */
                pump_fail(t, "the peer broke the connection (%s)", strerror(errno));
                break;
            } else if (gnutls_error_is_fatal((int)got)) {
                pump_fail(t, "receiving the stream: %s", gnutls_strerror((int)got));
                break;
            }
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t got = recv(t->pump, buf, PUMP_BUFFER, 0);
            if (got > 0) {
                int r = send_tls(t->session, buf, (size_t)got);
                if (r == GNUTLS_E_PUSH_ERROR || r == GNUTLS_E_PREMATURE_TERMINATION) {
                    pump_fail(t, "the peer broke the connection (%s)", gnutls_strerror(r));
                    break;
                }
                if (r < 0) {
                    pump_fail(t, "sending the stream: %s", gnutls_strerror(r));
                    break;
                }
            } else if (got == 0) {
                /* Our side is over: end TLS in this direction. */
                plain_eof = true;
                int r;
                do {
                    r = gnutls_bye(t->session, GNUTLS_SHUT_WR);
                } while (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED);
                if (r < 0) {
                    pump_fail(t, "ending TLS: %s", gnutls_strerror(r));
                    break;
                }
            } else if (errno != EINTR && errno != EAGAIN) {
                pump_fail(t, "reading the stream: %s", strerror(errno));
                break;
            }
        }
    }
    free(buf);
    atomic_store(&t->done, true);
    return NULL;
}

int
xen_tls_pump_start(struct xen_tls *t, struct mp_error **err)
{
    int e = pthread_create(&t->thread, NULL, pump_main, t);
    if (e != 0)
        return mp_error_set_errno(err, e, "cannot start the stream's TLS pump");
    t->started = true;
    return 0;
}

const char *
xen_tls_pump_error(struct xen_tls *t)
{
    return t && atomic_load(&t->done) ? t->error : NULL;
}

static void
stop_pump(struct xen_tls *t)
{
    if (!t->started)
        return;
    if (!atomic_load(&t->done)) {
        atomic_store(&t->stop, true);
        shutdown(t->pump, SHUT_RDWR);
        shutdown(t->tcp, SHUT_RDWR);
    }
    pthread_join(t->thread, NULL);
    t->started = false;
}

int
xen_tls_close(struct xen_tls *t, uint64_t timeout_ms, struct mp_error **err)
{
    if (!t->started)
        return mp_error_set(err, EINVAL, "the stream's TLS pump never ran");
    shutdown(t->plain, SHUT_WR);
    uint64_t deadline = mp_now_ms() + timeout_ms;
    while (!atomic_load(&t->done) && mp_now_ms() < deadline)
        mp_sleep_ms(10);
    bool ended = atomic_load(&t->done);
    stop_pump(t);
    if (t->error)
        return mp_error_set(err, EIO, "TLS: %s", t->error);
    if (!ended)
        return mp_error_set(err, ETIMEDOUT, "TLS: the peer did not end the session within %llu ms",
                            (unsigned long long)timeout_ms);
    return 0;
}

void
xen_tls_free(struct xen_tls *t)
{
    if (!t)
        return;
    stop_pump(t);
    if (t->session)
        gnutls_deinit(t->session);
    if (t->cred)
        gnutls_certificate_free_credentials(t->cred);
    if (t->pump >= 0)
        close(t->pump);
    free(t->error);
    free(t);
}
