/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target for what QEMU sends on a QMP socket. The input is played as
 * the server's side of a whole session (greeting, capabilities, one command,
 * events) on a unix socket, through the client's own entry points, so that
 * the parser and the checks on greetings, replies, ids and events are all
 * fuzzed. Seeds that reach the session answer the ids the client uses: 1
 * for qmp_capabilities, 2 for the command. */
#include "config.h"

#include "error.h"
#include "qmp.h"
#include "util.h"

#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* How long the server waits for the client to connect: the client connects
 * first thing, so only a client that failed before that is waited for. */
#define ACCEPT_WAIT_MS 1000

/* The listening socket, made once for every input. */
static char socket_dir[] = "/tmp/fuzz-qmp-XXXXXX";
static char socket_path[sizeof(socket_dir) + 16];
static int listen_fd = -1;

static void
remove_socket(void)
{
    unlink(socket_path);
    rmdir(socket_dir);
}

static void
listen_once(void)
{
    if (listen_fd >= 0)
        return;
    if (!mkdtemp(socket_dir))
        abort();
    snprintf(socket_path, sizeof(socket_path), "%s/qmp.sock", socket_dir);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", socket_path);
    listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(listen_fd, 1) < 0)
        abort();
    atexit(remove_socket);
}

/* The server: one connection, the input, then end of file (so that the
 * client never has to wait for more). fd is left for the caller to close,
 * after the client, so that the client's writes do not fail. */
struct server {
    const uint8_t *data;
    size_t size;
    int fd;
};

static void *
serve(void *arg)
{
    struct server *s = arg;
    struct pollfd p = { .fd = listen_fd, .events = POLLIN };
    if (poll(&p, 1, ACCEPT_WAIT_MS) != 1)
        return NULL;
    s->fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (s->fd < 0)
        return NULL;
    /* The client reads as we write; once it gives up and closes, the rest
     * fails with EPIPE. */
    for (size_t off = 0; off < s->size;) {
        ssize_t n = send(s->fd, s->data + off, s->size - off, MSG_NOSIGNAL);
        if (n < 0)
            break;
        off += (size_t)n;
    }
    shutdown(s->fd, SHUT_WR);
    return NULL;
}

static void
client_session(void)
{
    _cleanup_qmp_ struct qemu_qmp *qmp = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    if (qemu_qmp_connect(socket_path, 1000, &qmp, &err) < 0)
        return;
    (void)qemu_qmp_version(qmp);
    struct json_object *ret = NULL;
    if (qemu_qmp_execute(qmp, "query-status", NULL, &ret, NULL) == 0)
        json_object_put(ret);
    /* Every wait ends at the server's end of file at the latest. */
    struct json_object *event = NULL;
    if (qemu_qmp_wait_event(qmp, "STOP", 1000, &event, NULL) == 0)
        json_object_put(event);
    /* Everything else the server said, event by event. */
    while (qemu_qmp_wait_event(qmp, NULL, 1000, &event, NULL) == 0)
        json_object_put(event);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    listen_once();
    struct server s = { .data = data, .size = size, .fd = -1 };
    pthread_t thread;
    if (pthread_create(&thread, NULL, serve, &s) != 0)
        abort();
    client_session();
    pthread_join(thread, NULL);
    if (s.fd >= 0)
        close(s.fd);
    return 0;
}
