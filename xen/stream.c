/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The socket the domain moves over. libxl's stream (migration v2) ends with
 * an END record, so it needs no EOF: like xl's own protocol, the socket
 * stays open around it for a header line before (which migration this is)
 * and the receiver's answer after (whether the domain was restored). Both
 * lines are read a byte at a time so that nothing of the libxl stream is
 * ever consumed by our own framing. */
#include "config.h"

#include "proc.h"
#include "xen-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/tcp.h>
#include <netdb.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

int
xen_uri_parse(const char *uri, char **host, uint16_t *port, struct mp_error **err)
{
    if (!uri || !mp_str_has_prefix(uri, "tcp:"))
        return mp_error_input(err, EINVAL, "stream URI '%s' is not tcp:HOST:PORT",
                              uri ? uri : "(none)");
    const char *h = uri + 4;
    const char *colon;
    _cleanup_free_ char *name = NULL;
    if (*h == '[') {
        const char *close = strchr(h, ']');
        if (!close || close[1] != ':')
            return mp_error_input(err, EINVAL, "stream URI '%s': unbalanced [", uri);
        name = xstrndup(h + 1, (size_t)(close - h - 1));
        colon = close + 1;
    } else {
        colon = strrchr(h, ':');
        if (!colon)
            return mp_error_input(err, EINVAL, "stream URI '%s' has no port", uri);
        name = xstrndup(h, (size_t)(colon - h));
    }
    uint64_t p = 0;
    if (!*name || mp_parse_u64(colon + 1, &p) < 0 || p == 0 || p > UINT16_MAX)
        return mp_error_input(err, EINVAL, "stream URI '%s' is not tcp:HOST:PORT", uri);
    *host = steal_ptr(&name);
    *port = (uint16_t)p;
    return 0;
}

static int
set_blocking(int fd, bool blocking)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return -errno;
    flags = blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK;
    return fcntl(fd, F_SETFL, flags) < 0 ? -errno : 0;
}

/* Wait for fd to be ready (events) until deadline; -ETIMEDOUT, -EINTR. */
static int
wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        if (mp_interrupted)
            return -EINTR;
        uint64_t now = mp_now_ms();
        if (now >= deadline)
            return -ETIMEDOUT;
        /* Wake up now and then to notice an interruption. */
        uint64_t wait = deadline - now < 200 ? deadline - now : 200;
        struct pollfd p = { .fd = fd, .events = events };
        int n = poll(&p, 1, (int)wait);
        if (n < 0 && errno != EINTR)
            return -errno;
        if (n > 0)
            return 0;
    }
}

static int
try_connect(const struct addrinfo *ai, uint64_t deadline, int *out)
{
    _cleanup_close_ int fd =
        socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0)
        return -errno;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)
        return -errno;
    int r = wait_fd(fd, POLLOUT, deadline);
    if (r < 0)
        return r;
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
        return -errno;
    if (soerr != 0)
        return -soerr;
    r = set_blocking(fd, true);
    if (r < 0)
        return r;
    *out = fd;
    fd = -1;
    return 0;
}

int
xen_stream_connect(const char *uri, uint64_t timeout_ms, int *fd, struct mp_error **err)
{
    _cleanup_free_ char *host = NULL;
    uint16_t port;
    int r = xen_uri_parse(uri, &host, &port, err);
    if (r < 0)
        return r;
    char service[8];
    snprintf(service, sizeof(service), "%u", port);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL;
    int g = getaddrinfo(host, service, &hints, &res);
    if (g != 0)
        return mp_error_set(err, EHOSTUNREACH, "cannot resolve %s: %s", host, gai_strerror(g));
    uint64_t deadline = mp_now_ms() + timeout_ms;
    r = -EHOSTUNREACH;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        r = try_connect(ai, deadline, fd);
        if (r == 0 || r == -EINTR || r == -ETIMEDOUT)
            break;
    }
    freeaddrinfo(res);
    if (r == -EINTR)
        return mp_error_set(err, EINTR, "interrupted by signal %d", (int)mp_interrupted);
    if (r < 0)
        return mp_error_set_errno(err, -r, "cannot connect to the destination at %s", uri);
    return 0;
}

int
xen_stream_write_line(int fd, const char *line, struct mp_error **err)
{
    /* libxl may have left the socket non-blocking: our lines are short, but
     * a full send buffer must not turn into a spurious EAGAIN. */
    (void)set_blocking(fd, true);
    int r = mp_write_all(fd, line, strlen(line));
    if (r < 0)
        return mp_error_set_errno(err, -r, "writing to the stream socket");
    return 0;
}

int
xen_stream_read_line(int fd, uint64_t timeout_ms, char *buf, size_t size, struct mp_error **err)
{
    uint64_t deadline = mp_now_ms() + timeout_ms;
    size_t n = 0;
    for (;;) {
        int r = wait_fd(fd, POLLIN, deadline);
        if (r == -ETIMEDOUT)
            return mp_error_set(err, ETIMEDOUT, "no answer on the stream socket within %llu ms",
                                (unsigned long long)timeout_ms);
        if (r == -EINTR)
            return mp_error_set(err, EINTR, "interrupted by signal %d", (int)mp_interrupted);
        if (r < 0)
            return mp_error_set_errno(err, -r, "waiting on the stream socket");
        char c;
        ssize_t got = read(fd, &c, 1);
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got < 0)
            return mp_error_set_errno(err, errno, "reading the stream socket");
        if (got == 0)
            return mp_error_set(err, ECONNRESET, "the peer closed the stream socket");
        if (c == '\n') {
            buf[n] = '\0';
            return 0;
        }
        if (n + 1 >= size)
            return mp_error_set(err, EPROTO, "a line on the stream socket is too long");
        buf[n++] = c;
    }
}

uint64_t
xen_stream_bytes_acked(int fd)
{
    struct tcp_info info;
    socklen_t len = sizeof(info);
    memset(&info, 0, sizeof(info));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) < 0)
        return 0;
    /* Older kernels fill a shorter structure. */
    if (len < offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof(info.tcpi_bytes_acked))
        return 0;
    return info.tcpi_bytes_acked;
}

char *
xen_stream_header(const char *migration_id)
{
    return xasprintf("%s %d %s\n", XEN_STREAM_MAGIC, XEN_STREAM_VERSION, migration_id);
}

bool
xen_stream_header_matches(const char *line, const char *migration_id)
{
    _cleanup_free_ char *want = xen_stream_header(migration_id);
    want[strlen(want) - 1] = '\0';
    return strcmp(line, want) == 0;
}
