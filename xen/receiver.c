/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* migphase-xen-receiver: the destination end of a Xen migration stream.
 *
 * Started detached by the Xen driver's Prepare, it outlives that helper:
 * it listens on a port of the range, accepts the source's connection, checks
 * the header line names this migration, then hands the socket to
 * libxl_domain_create_restore, which builds the domain (paused, under the
 * incoming name of the configuration file) from the libxl stream. It reports
 * each stage in the result file (xen/result.c) for Prepare and Finish, each
 * time naming itself (pid, start time, migration) so that recovery finds it
 * even if the Prepare that started it died, and answers the source on the
 * same socket, then exits: 0 if the domain was restored, 1 otherwise. With
 * --tls the stream is TLS (xen/tls.h): the receiver is the server and takes
 * the stream only from the host --peer names. Not meant to be run by hand. */
#include "config.h"

#include "log.h"
#include "proc.h"
#include "tls.h"
#include "xen-internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HEADER_TIMEOUT_MS 10000

static int
steal_fd(int *fd)
{
    int f = *fd;
    *fd = -1;
    return f;
}

struct receiver_args {
    const char *config;
    const char *result;
    const char *migration_id;
    const char *listen;
    unsigned port_lo, port_hi;
    bool tls; /* TLS, as the server of pki_dir, for the source host peer */
    const char *pki_dir;
    const char *peer;
    int stream_version;
    uint64_t accept_timeout_ms;
    pid_t pid; /* ours, and our start time: every report names us */
    uint64_t pid_start;
};

static int
parse_args(int argc, char **argv, struct receiver_args *a, struct mp_error **err)
{
    enum {
        OPT_CONFIG = 256,
        OPT_RESULT,
        OPT_ID,
        OPT_LISTEN,
        OPT_PORTS,
        OPT_VERSION,
        OPT_TIMEOUT,
        OPT_LOG,
        OPT_TLS,
        OPT_PKI_DIR,
        OPT_PEER
    };
    static const struct option longopts[] = {
        { "config", required_argument, NULL, OPT_CONFIG },
        { "result", required_argument, NULL, OPT_RESULT },
        { "migration-id", required_argument, NULL, OPT_ID },
        { "listen", required_argument, NULL, OPT_LISTEN },
        { "port-range", required_argument, NULL, OPT_PORTS },
        { "stream-version", required_argument, NULL, OPT_VERSION },
        { "accept-timeout-ms", required_argument, NULL, OPT_TIMEOUT },
        { "log-level", required_argument, NULL, OPT_LOG },
        { "tls", no_argument, NULL, OPT_TLS },
        { "pki-dir", required_argument, NULL, OPT_PKI_DIR },
        { "peer", required_argument, NULL, OPT_PEER },
        { NULL, 0, NULL, 0 },
    };
    *a = (struct receiver_args){ .listen = "0.0.0.0",
                                 .stream_version = XEN_STREAM_VERSION,
                                 .accept_timeout_ms = 600000 };
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        uint64_t v = 0;
        enum mp_log_level level;
        switch (c) {
        case OPT_CONFIG:
            a->config = optarg;
            break;
        case OPT_RESULT:
            a->result = optarg;
            break;
        case OPT_ID:
            a->migration_id = optarg;
            break;
        case OPT_LISTEN:
            a->listen = optarg;
            break;
        case OPT_PORTS:
            if (sscanf(optarg, "%u-%u", &a->port_lo, &a->port_hi) != 2 || a->port_lo == 0 ||
                a->port_lo > a->port_hi || a->port_hi > UINT16_MAX)
                return mp_error_input(err, EINVAL, "bad --port-range '%s'", optarg);
            break;
        case OPT_VERSION:
            if (mp_parse_u64(optarg, &v) < 0 || v > 100)
                return mp_error_input(err, EINVAL, "bad --stream-version '%s'", optarg);
            a->stream_version = (int)v;
            break;
        case OPT_TIMEOUT:
            if (mp_parse_u64(optarg, &a->accept_timeout_ms) < 0)
                return mp_error_input(err, EINVAL, "bad --accept-timeout-ms '%s'", optarg);
            break;
        case OPT_LOG:
            if (mp_log_level_parse(optarg, &level) < 0)
                return mp_error_input(err, EINVAL, "bad --log-level '%s'", optarg);
            mp_log_set_level(level);
            break;
        case OPT_TLS:
            a->tls = true;
            break;
        case OPT_PKI_DIR:
            a->pki_dir = optarg;
            break;
        case OPT_PEER:
            a->peer = optarg;
            break;
        default:
            return mp_error_input(err, EINVAL, "unknown option '%s'", argv[optind - 1]);
        }
    }
    bool tls_ok = !a->tls || (a->pki_dir && a->peer && *a->peer);
    if (!a->config || !a->result || !a->migration_id || !a->port_lo || optind != argc || !tls_ok)
        return mp_error_input(err, EINVAL,
                              "usage: %s --config FILE --result FILE --migration-id ID "
                              "--port-range LO-HI [--listen ADDR] [--stream-version N] "
                              "[--accept-timeout-ms N] [--log-level LEVEL] "
                              "[--tls --pki-dir DIR --peer HOST]",
                              XEN_RECEIVER_PROGRAM);
    return 0;
}

static int
report(const struct receiver_args *a, enum xen_receiver_state state, uint16_t port, uint32_t domid,
       const char *message)
{
    struct xen_result res = {
        .state = state,
        .port = port,
        .domid = domid,
        .message = (char *)message,
        .migration_id = (char *)a->migration_id,
        .pid = a->pid,
        .pid_start = a->pid_start,
    };
    struct mp_error *err = NULL;
    int r = xen_result_write(a->result, &res, &err);
    if (r < 0) {
        mp_log(MP_LOG_ERROR, "%s", err->message);
        mp_error_free(err);
    }
    return r;
}

/* Bind the first free port of the range. */
static int
listen_on_range(const struct receiver_args *a, int *out, uint16_t *port, struct mp_error **err)
{
    struct sockaddr_storage ss = { 0 };
    socklen_t len;
    bool v6 = strchr(a->listen, ':') != NULL;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (v6) {
        sin6->sin6_family = AF_INET6;
        len = sizeof(*sin6);
        if (inet_pton(AF_INET6, a->listen, &sin6->sin6_addr) != 1)
            return mp_error_input(err, EINVAL, "--listen %s is not an IPv6 address", a->listen);
    } else {
        sin->sin_family = AF_INET;
        len = sizeof(*sin);
        if (inet_pton(AF_INET, a->listen, &sin->sin_addr) != 1)
            return mp_error_input(err, EINVAL, "--listen %s is not an IPv4 address", a->listen);
    }
    for (unsigned p = a->port_lo; p <= a->port_hi; p++) {
        _cleanup_close_ int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return mp_error_set_errno(err, errno, "cannot create a socket");
        int one = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (v6)
            sin6->sin6_port = htons((uint16_t)p);
        else
            sin->sin_port = htons((uint16_t)p);
        if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
            if (errno == EADDRINUSE)
                continue;
            return mp_error_set_errno(err, errno, "cannot listen on %s port %u", a->listen, p);
        }
        if (listen(fd, 4) < 0)
            return mp_error_set_errno(err, errno, "cannot listen on %s port %u", a->listen, p);
        *out = steal_fd(&fd);
        *port = (uint16_t)p;
        return 0;
    }
    return mp_error_set(err, EADDRINUSE, "no free port in %u-%u on %s", a->port_lo, a->port_hi,
                        a->listen);
}

/* The connection the stream comes over: the TCP socket, and with TLS the
 * session and the clear end of its pump, which libxl reads. */
struct connection {
    int tcp;
    int stream; /* tcp, or the pump's clear end */
    struct xen_tls *tls;
};

static void
connection_close(struct connection *c)
{
    xen_tls_free(steal_ptr(&c->tls));
    if (c->stream >= 0 && c->stream != c->tcp)
        close(c->stream);
    if (c->tcp >= 0)
        close(c->tcp);
    c->tcp = c->stream = -1;
}

/* The peer's address, for the log. */
static void
peer_address(int fd, char *buf, size_t size)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    const void *addr = NULL;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET)
            addr = &((struct sockaddr_in *)&ss)->sin_addr;
        else if (ss.ss_family == AF_INET6)
            addr = &((struct sockaddr_in6 *)&ss)->sin6_addr;
    }
    if (!addr || !inet_ntop(ss.ss_family, addr, buf, (socklen_t)size))
        snprintf(buf, size, "(unknown)");
}

/* With TLS, authenticate the peer (only the source host is taken) and start
 * the pump; the header then comes through it. */
static int
secure(const struct receiver_args *a, struct connection *c, struct mp_error **err)
{
    int r = xen_tls_open(c->tcp, true, a->pki_dir, a->peer, HEADER_TIMEOUT_MS, &c->tls, &c->stream,
                         err);
    if (r == 0)
        r = xen_tls_pump_start(c->tls, err);
    return r;
}

/* Accept connections until one introduces this migration. Anything else
 * (a port scan, a stale source, with TLS a peer that is not the source
 * host) is turned away, with one line in the log, without ending the wait. */
static int
accept_source(const struct receiver_args *a, int lfd, struct connection *out, struct mp_error **err)
{
    uint64_t deadline = mp_now_ms() + a->accept_timeout_ms;
    for (;;) {
        uint64_t now = mp_now_ms();
        if (now >= deadline)
            return mp_error_set(err, ETIMEDOUT, "no source connected within %llu ms",
                                (unsigned long long)a->accept_timeout_ms);
        struct pollfd p = { .fd = lfd, .events = POLLIN };
        uint64_t wait = deadline - now > 1000 ? 1000 : deadline - now;
        if (poll(&p, 1, (int)wait) <= 0)
            continue;
        struct connection c = { .tcp = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), .stream = -1 };
        if (c.tcp < 0)
            continue;
        c.stream = c.tcp;
        char from[INET6_ADDRSTRLEN + 1];
        peer_address(c.tcp, from, sizeof(from));
        struct mp_error *conn_err = NULL;
        if (a->tls && secure(a, &c, &conn_err) < 0) {
            mp_warn("refused a connection from %s: %s", from, conn_err->message);
            mp_error_free(conn_err);
            connection_close(&c);
            continue;
        }
        char line[XEN_STREAM_LINE_MAX];
        if (xen_stream_read_line(c.stream, HEADER_TIMEOUT_MS, line, sizeof(line), &conn_err) < 0) {
            mp_warn("turned a connection from %s away: %s", from, conn_err->message);
            mp_error_free(conn_err);
            connection_close(&c);
            continue;
        }
        if (!xen_stream_header_matches(line, a->migration_id)) {
            mp_warn("turned a connection from %s away: it is not migration %s", from,
                    a->migration_id);
            (void)xen_stream_write_line(c.stream, "failed wrong migration\n", NULL);
            if (c.tls)
                (void)xen_tls_close(c.tls, HEADER_TIMEOUT_MS, NULL);
            connection_close(&c);
            continue;
        }
        if (a->tls)
            mp_info("TLS with peer %s (%s), its certificate verified", a->peer, from);
        *out = c;
        return 0;
    }
}

static int
restore(const struct receiver_args *a, int fd, uint32_t *domid, struct mp_error **err)
{
    _cleanup_free_ char *json = NULL;
    int r = mp_read_file(a->config, 4 * 1024 * 1024, &json, NULL, err);
    if (r < 0)
        return r;
    _cleanup_xen_ctx_ struct xen_ctx *x = NULL;
    r = xen_ctx_open(&x, err);
    if (r < 0)
        return r;
    libxl_domain_config cfg;
    libxl_domain_config_init(&cfg);
    int rc = libxl_domain_config_from_json(xen_libxl(x), &cfg, json);
    if (rc != 0) {
        libxl_domain_config_dispose(&cfg);
        return xen_fail(x, err, rc, "reading %s", a->config);
    }
    libxl_domain_restore_params params;
    libxl_domain_restore_params_init(&params);
    params.checkpointed_stream = LIBXL_CHECKPOINTED_STREAM_NONE;
    params.stream_version = (uint32_t)a->stream_version;
    /* No ao_how: synchronous. libxl leaves the new domain paused: Finish
     * decides whether it ever runs. */
    *domid = INVALID_DOMID;
    rc = libxl_domain_create_restore(xen_libxl(x), &cfg, domid, fd, -1, &params, NULL, NULL);
    libxl_domain_restore_params_dispose(&params);
    libxl_domain_config_dispose(&cfg);
    if (rc != 0)
        return xen_fail(x, err, rc, "restoring the domain");
    return 0;
}

static int
run(const struct receiver_args *args, struct mp_error **err)
{
    const struct receiver_args a = *args;
    /* A group of our own, which libxl's restore helper joins: Finish stops
     * both with one signal. */
    (void)setpgid(0, 0);
    /* SIGTERM keeps its default: Finish stops us with it, even inside
     * libxl. A source gone before our answer is an error to report. */
    signal(SIGPIPE, SIG_IGN);
    /* Before we do anything: the helper that started us commits no fact
     * until its step ends, so if it dies now this file is how recovery
     * finds us. */
    report(&a, XEN_RECEIVER_STARTING, 0, 0, NULL);

    _cleanup_close_ int lfd = -1;
    uint16_t port = 0;
    int r = listen_on_range(&a, &lfd, &port, err);
    if (r < 0)
        return r;
    report(&a, XEN_RECEIVER_LISTENING, port, 0, NULL);
    mp_info("listening on %s port %u", a.listen, port);

    _cleanup_(connection_close) struct connection conn = { .tcp = -1, .stream = -1 };
    r = accept_source(&a, lfd, &conn, err);
    if (r < 0)
        return r;
    int fd = conn.stream;
    close(steal_fd(&lfd));
    report(&a, XEN_RECEIVER_RECEIVING, port, 0, NULL);
    mp_info("receiving migration %s", a.migration_id);

    uint32_t domid = INVALID_DOMID;
    r = restore(&a, fd, &domid, err);
    if (r < 0) {
        _cleanup_free_ char *answer = xasprintf("failed %s\n", (*err)->message);
        answer[strcspn(answer, "\n") + 1] = '\0';
        (void)xen_stream_write_line(fd, answer, NULL);
        if (conn.tls)
            (void)xen_tls_close(conn.tls, HEADER_TIMEOUT_MS, NULL);
        return r;
    }
    /* The result first: once the source reads "ok", Finish may look. */
    report(&a, XEN_RECEIVER_RESTORED, port, domid, NULL);
    mp_info("restored domain %u", domid);
    char answer[32];
    snprintf(answer, sizeof(answer), "ok %u\n", domid);
    struct mp_error *answer_err = NULL;
    if (xen_stream_write_line(fd, answer, &answer_err) < 0) {
        /* The source will fail its Perform and resume; Finish, told so by
         * its cookie, destroys this domain. */
        mp_warn("%s", answer_err->message);
        mp_error_free(answer_err);
    }
    /* The answer goes out before the session ends; the domain is restored
     * whatever becomes of it. */
    if (conn.tls && xen_tls_close(conn.tls, HEADER_TIMEOUT_MS, &answer_err) < 0) {
        mp_warn("%s", answer_err->message);
        mp_error_free(answer_err);
    }
    return 0;
}

int
main(int argc, char **argv)
{
    mp_log_init(XEN_RECEIVER_PROGRAM);
    struct mp_error *err = NULL;
    struct receiver_args a;
    int r = parse_args(argc, argv, &a, &err);
    if (r < 0) {
        mp_log(MP_LOG_ERROR, "%s", err->message);
        mp_error_free(err);
        return 2;
    }
    a.pid = getpid();
    if (mp_proc_start_time(a.pid, &a.pid_start) < 0)
        a.pid_start = 0; /* then no one can tell us from a reused pid: never signalled */
    r = run(&a, &err);
    if (r < 0) {
        const char *message = err ? err->message : strerror(-r);
        /* Where Finish looks for why. */
        report(&a, XEN_RECEIVER_FAILED, 0, 0, message);
        mp_log(MP_LOG_ERROR, "%s", message);
        mp_error_free(err);
        return 1;
    }
    return 0;
}
