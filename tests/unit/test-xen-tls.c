/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Xen stream's TLS pump (xen/tls.c), without Xen: a sender and a
 * receiver over a loopback TCP socket, with certificates of a test PKI
 * made at test time (tests/engine/test-pki.h). The stream crosses both ways
 * intact and the sessions end cleanly; the receiver refuses a sender with a
 * certificate from another CA, one of another host, one in clear, and the
 * sender refuses a receiver that is not the host it expects. */
#include "config.h"

#include "stream-tls.h"
#include "test-pki.h"
#include "xen/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TIMEOUT_MS 10000
#define STREAM_LEN (3 * 1024 * 1024 + 17)

static char *
dir_of(const char *name)
{
    return xasprintf("%s/%s", pki_root, name);
}

/* A host directory in QEMU's layout: one key and certificate for name,
 * issued by issuer (pki_ca when NULL), as server and as client. */
static void
host(const char *dir, const char *name, gnutls_x509_crt_t issuer, gnutls_x509_privkey_t issuer_key)
{
    struct pki_cert_spec s = pki_host_spec(name);
    gnutls_x509_privkey_t key = pki_new_ec_key();
    gnutls_x509_crt_t crt = pki_make_host_with(dir, key, &s, issuer, issuer_key);
    pki_write_cert(dir, MP_PKI_CLIENT_CERT, crt);
    pki_write_key(dir, MP_PKI_CLIENT_KEY, key);
    pki_write_cert(dir, MP_PKI_CA_CERT, pki_ca);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
}

static void
setup(void)
{
    /* A refused sender writes on: its writes fail, as in the helpers. */
    signal(SIGPIPE, SIG_IGN);
    pki_setup("test-xen-tls");
    host("alpha", "alpha", NULL, NULL); /* the source */
    host("beta", "beta", NULL, NULL);   /* the destination */
    host("foreign", "alpha", pki_other_ca, pki_other_ca_key);
    host("gamma", "gamma", NULL, NULL);
}

static void
teardown(void)
{
    pki_teardown();
}

TestSuite(xen_tls, .init = setup, .fini = teardown);

static unsigned char
pattern(size_t i)
{
    return (unsigned char)(i * 7 + (i >> 12));
}

/* The receiver: listens, accepts one connection, opens TLS as beta's server
 * expecting `peer`, then reads the whole stream and answers. */
struct receiver {
    int lfd;
    uint16_t port;
    const char *peer;
    pthread_t thread;
    int r;
    struct mp_error *err;
    size_t received;
    bool intact;
};

static void *
receiver_main(void *arg)
{
    struct receiver *rc = arg;
    int fd = accept(rc->lfd, NULL, NULL);
    cr_assert(fd >= 0);
    _cleanup_free_ char *pki = dir_of("beta");
    struct xen_tls *t = NULL;
    int plain = -1;
    rc->r = xen_tls_open(fd, true, pki, rc->peer, TIMEOUT_MS, &t, &plain, &rc->err);
    if (rc->r == 0)
        rc->r = xen_tls_pump_start(t, &rc->err);
    if (rc->r == 0) {
        unsigned char *buf = malloc(65536);
        rc->intact = true;
        while (rc->received < STREAM_LEN) {
            ssize_t n = read(plain, buf, 65536);
            if (n <= 0)
                break;
            for (ssize_t i = 0; i < n; i++)
                if (buf[i] != pattern(rc->received + (size_t)i))
                    rc->intact = false;
            rc->received += (size_t)n;
        }
        free(buf);
        mp_write_all(plain, "ok 7\n", 5);
        rc->r = xen_tls_close(t, TIMEOUT_MS, &rc->err);
    }
    xen_tls_free(t);
    if (plain >= 0)
        close(plain);
    close(fd);
    return NULL;
}

static void
receiver_start(struct receiver *rc, const char *peer)
{
    *rc = (struct receiver){ .peer = peer };
    rc->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    cr_assert(bind(rc->lfd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
    cr_assert(listen(rc->lfd, 1) == 0);
    socklen_t len = sizeof(sin);
    getsockname(rc->lfd, (struct sockaddr *)&sin, &len);
    rc->port = ntohs(sin.sin_port);
    cr_assert(pthread_create(&rc->thread, NULL, receiver_main, rc) == 0);
}

static void
receiver_join(struct receiver *rc)
{
    pthread_join(rc->thread, NULL);
    close(rc->lfd);
}

static int
connect_to(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                               .sin_port = htons(port) };
    cr_assert(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
    return fd;
}

/* A sender with the credentials of pki_name, expecting receiver `peer`:
 * sends the stream and reads the answer. Returns xen_tls_open's result. */
static int
send_stream(uint16_t port, const char *pki_name, const char *peer, struct mp_error **err,
            char *answer, size_t size)
{
    int fd = connect_to(port);
    _cleanup_free_ char *pki = dir_of(pki_name);
    struct xen_tls *t = NULL;
    int plain = -1;
    int r = xen_tls_open(fd, false, pki, peer, TIMEOUT_MS, &t, &plain, err);
    if (r == 0)
        r = xen_tls_pump_start(t, err);
    if (r == 0) {
        unsigned char *buf = malloc(STREAM_LEN);
        for (size_t i = 0; i < STREAM_LEN; i++)
            buf[i] = pattern(i);
        /* A refused sender learns it from the pump, which cuts its side. */
        int w = mp_write_all(plain, buf, STREAM_LEN);
        free(buf);
        size_t n = 0;
        char c;
        while (n + 1 < size && read(plain, &c, 1) == 1 && c != '\n')
            answer[n++] = c;
        answer[n] = '\0';
        r = xen_tls_close(t, TIMEOUT_MS, err);
        if (r == 0 && w < 0)
            r = mp_error_set(err, -w, "the stream could not be written");
    }
    xen_tls_free(t);
    if (plain >= 0)
        close(plain);
    close(fd);
    return r;
}

Test(xen_tls, stream_crosses_both_ways_and_ends_cleanly)
{
    struct receiver rc;
    receiver_start(&rc, "alpha");
    struct mp_error *err = NULL;
    char answer[32] = "";
    int r = send_stream(rc.port, "alpha", "beta", &err, answer, sizeof(answer));
    cr_assert_eq(r, 0, "sender: %s", err ? err->message : "");
    receiver_join(&rc);
    cr_assert_eq(rc.r, 0, "receiver: %s", rc.err ? rc.err->message : "");
    cr_assert_eq(rc.received, STREAM_LEN);
    cr_assert(rc.intact, "the stream arrived changed");
    cr_assert_str_eq(answer, "ok 7");
}

/* The receiver's refusal of a sender: an EACCES error that says `says`. */
static void
assert_receiver_refuses(const char *sender_pki, const char *says)
{
    struct receiver rc;
    receiver_start(&rc, "alpha");
    struct mp_error *err = NULL;
    char answer[32];
    int r = send_stream(rc.port, sender_pki, "beta", &err, answer, sizeof(answer));
    receiver_join(&rc);
    cr_assert_neq(r, 0, "the sender went on");
    /* TLS 1.3: the sender's handshake ends before the receiver judged it;
     * the receiver's alert (or a reset overtaking it) then stops its
     * stream. */
    cr_assert(strstr(err->message, "refused") || strstr(err->message, "broke the connection"),
              "sender: %s", err->message);
    cr_assert_eq(rc.r, -EACCES, "receiver: %d %s", rc.r, rc.err ? rc.err->message : "");
    cr_assert(strstr(rc.err->message, says), "'%s' does not say '%s'", rc.err->message, says);
    cr_assert_null(strchr(rc.err->message, '\n'), "more than one line: %s", rc.err->message);
    cr_assert_eq(rc.received, 0);
    mp_error_free(err);
    mp_error_free(rc.err);
}

Test(xen_tls, sender_of_another_ca_is_refused)
{
    /* Its client sends no certificate our CA did not issue. */
    assert_receiver_refuses("foreign", "no certificate issued by our CA");
}

Test(xen_tls, sender_of_another_host_is_refused)
{
    assert_receiver_refuses("gamma", "not for host alpha");
}

Test(xen_tls, sender_in_clear_is_refused)
{
    struct receiver rc;
    receiver_start(&rc, "alpha");
    int fd = connect_to(rc.port);
    const char header[] = "migphase-xen-stream 2 0123\n";
    cr_assert_eq(mp_write_all(fd, header, strlen(header)), 0);
    receiver_join(&rc);
    close(fd);
    cr_assert_lt(rc.r, 0);
    cr_assert_eq(rc.r, -EPROTO, "receiver: %s", rc.err->message);
    mp_error_free(rc.err);
}

Test(xen_tls, receiver_of_another_host_is_refused)
{
    struct receiver rc;
    receiver_start(&rc, "alpha");
    struct mp_error *err = NULL;
    char answer[32];
    /* The sender expects gamma; beta answers. */
    int r = send_stream(rc.port, "alpha", "gamma", &err, answer, sizeof(answer));
    receiver_join(&rc);
    cr_assert_eq(r, -EACCES, "sender: %d %s", r, err ? err->message : "");
    cr_assert(strstr(err->message, "not for host gamma"), "%s", err->message);
    cr_assert_lt(rc.r, 0, "the receiver went on");
    mp_error_free(err);
    mp_error_free(rc.err);
}

Test(xen_tls, missing_files_are_named)
{
    _cleanup_free_ char *pki = dir_of("nothing");
    struct xen_tls *t = NULL;
    int plain = -1;
    struct mp_error *err = NULL;
    int fds[2];
    cr_assert(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    cr_assert_lt(xen_tls_open(fds[0], false, pki, "beta", 100, &t, &plain, &err), 0);
    cr_assert(strstr(err->message, MP_PKI_CA_CERT), "%s", err->message);
    mp_error_free(err);
    close(fds[0]);
    close(fds[1]);
}
