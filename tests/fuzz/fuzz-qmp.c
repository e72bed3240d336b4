/* Fuzz target for what QEMU sends on a QMP socket. The input goes through the
 * parser alone, then is played as the server's side of a whole session
 * (greeting, capabilities, one command, events) over a socketpair, so that
 * the checks on greetings, replies, ids and events are fuzzed too. Seeds that
 * reach the session answer the ids the client uses: 1 for
 * qmp_capabilities, 2 for the command. */
#include "config.h"

#include "error.h"
#include "qmp.h"

#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs larger than this skip the session: they would not fit in the socket
 * buffer in one write, and the parser alone already covers them. */
#define SESSION_MAX (64 * 1024)

static void
fuzz_parse(const char *buf, size_t len)
{
    struct json_object **messages = NULL;
    size_t n = 0;
    struct mp_error *err = NULL;
    if (qemu_qmp_parse_messages(buf, len, &messages, &n, &err) == 0) {
        for (size_t i = 0; i < n; i++)
            (void)json_object_to_json_string(messages[i]);
    }
    qemu_qmp_free_messages(messages, n);
    mp_error_free(err);
}

static void
fuzz_session(const char *buf, size_t len)
{
    int sv[2];
    if (len > SESSION_MAX || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return;
    ssize_t w = len ? send(sv[1], buf, len, MSG_NOSIGNAL | MSG_DONTWAIT) : 0;
    /* The server has said everything: the client reads the input, then end
     * of file, and never has to wait. */
    shutdown(sv[1], SHUT_WR);
    if (w != (ssize_t)len) {
        close(sv[0]);
        close(sv[1]);
        return;
    }

    struct qemu_qmp *qmp = NULL;
    struct mp_error *err = NULL;
    if (qemu_qmp_connect_fd(sv[0], 1000, &qmp, &err) == 0) {
        (void)qemu_qmp_version(qmp);
        struct json_object *ret = NULL;
        mp_error_free(err);
        err = NULL;
        if (qemu_qmp_execute(qmp, "query-status", NULL, &ret, &err) == 0)
            json_object_put(ret);
        mp_error_free(err);
        err = NULL;

        struct json_object *event = NULL;
        if (qemu_qmp_wait_event(qmp, "STOP", 0, &event, &err) == 0)
            json_object_put(event);
        mp_error_free(err);
        err = NULL;
        (void)qemu_qmp_poll_events(qmp, &err);
        while ((event = qemu_qmp_next_event(qmp)))
            json_object_put(event);
        qemu_qmp_close(qmp);
    }
    mp_error_free(err);
    close(sv[1]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_parse((const char *)data, size);
    fuzz_session((const char *)data, size);
    return 0;
}
