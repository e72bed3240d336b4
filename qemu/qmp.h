/* A QMP client: one connection to a QEMU monitor socket, synchronous commands
 * with a bound on every wait, and events queued while waiting for replies. */
#pragma once

#include "error.h"

#include <json-c/json.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

/* A reply or event larger than this is refused (-EMSGSIZE): QEMU's answers to
 * the commands we send are a few KiB. */
#define QEMU_QMP_MAX_MESSAGE (1024 * 1024)

struct qemu_qmp;

static inline void
qemu_json_putp(struct json_object **obj)
{
    json_object_put(*obj);
}
#define _cleanup_json_ _cleanup_(qemu_json_putp)

/* Connect to a unix socket, read the greeting and negotiate capabilities
 * (qmp_capabilities). Every wait is bounded by timeout_ms. */
int qemu_qmp_connect(const char *socket_path, uint64_t timeout_ms, struct qemu_qmp **out,
                     struct mp_error **err);
/* Same on an already connected stream socket (takes ownership of fd). */
int qemu_qmp_connect_fd(int fd, uint64_t timeout_ms, struct qemu_qmp **out, struct mp_error **err);
/* Like qemu_qmp_connect, for a QEMU that is still starting: while the socket
 * is missing or refuses connections, retry every 10 ms. timeout_ms bounds the
 * whole of it, handshake included; -ETIMEDOUT when the socket never answered. */
int qemu_qmp_connect_wait(const char *socket_path, uint64_t timeout_ms, struct qemu_qmp **out,
                          struct mp_error **err);
void qemu_qmp_close(struct qemu_qmp *qmp);
static inline void
qemu_qmp_closep(struct qemu_qmp **q)
{
    qemu_qmp_close(*q);
}
#define _cleanup_qmp_ _cleanup_(qemu_qmp_closep)

/* QEMU's version from the greeting ("7.2.0"); valid while connected. */
const char *qemu_qmp_version(const struct qemu_qmp *qmp);
/* Pid of the process at the other end (SO_PEERCRED), or -ENOTSOCK etc. */
int qemu_qmp_peer_pid(const struct qemu_qmp *qmp, pid_t *pid);
/* Change the bound on waits for replies. */
void qemu_qmp_set_timeout(struct qemu_qmp *qmp, uint64_t timeout_ms);
/* Let a signal handler cancel waits: when *flag takes a new non-zero value,
 * the wait in progress (or the next one) returns -EINTR ("interrupted"). Each
 * value interrupts once: the commands that clean up afterwards (migrate_cancel,
 * cont) run normally with the flag still set; a different value (another
 * signal) interrupts again. The late reply of an interrupted command is
 * discarded. flag may be NULL. */
void qemu_qmp_set_interrupt(struct qemu_qmp *qmp, volatile sig_atomic_t *flag);

/* Execute a command. args (may be NULL) is consumed. On success *ret (if not
 * NULL) receives the "return" member, owned by the caller. Errors:
 *   -EREMOTEIO  QEMU answered with an error (message has its class and desc)
 *   -ETIMEDOUT  no reply within the timeout
 *   -ECONNRESET the connection closed
 *   -EMSGSIZE   an oversized message
 *   -EPROTO     a reply that is not valid QMP */
int qemu_qmp_execute(struct qemu_qmp *qmp, const char *command, struct json_object *args,
                     struct json_object **ret, struct mp_error **err);

/* At most this many commands at once, and the calls of one batch. */
#define QEMU_QMP_MAX_CALLS 8
struct qemu_qmp_call {
    const char *command;
    struct json_object *args; /* may be NULL; consumed */
    /* Out, owned by the caller: the "return" member on success; else the
     * result qemu_qmp_execute would have returned (-ECANCELED for a command
     * not sent or not waited for after an earlier failure) and its error. */
    struct json_object *ret;
    int result;
    struct mp_error *error;
};
/* Send several commands at once, then take their replies in order: one round
 * trip instead of n, which counts on a busy host. QEMU runs every command
 * whatever the others answered, so batch only commands that do not depend on
 * each other (queries). Returns the result of the first command that failed,
 * with a copy of its error in *err; each call has its own outcome. */
int qemu_qmp_execute_all(struct qemu_qmp *qmp, struct qemu_qmp_call *calls, size_t n,
                         struct mp_error **err);
/* Free what the calls received (not the calls themselves). */
void qemu_qmp_calls_free(struct qemu_qmp_call *calls, size_t n);

/* Wait for an event named name (any event when NULL), taking queued events
 * first; events of other names stay queued. *event receives the whole event
 * object (event may be NULL to drop it). -ETIMEDOUT after timeout_ms. */
int qemu_qmp_wait_event(struct qemu_qmp *qmp, const char *name, uint64_t timeout_ms,
                        struct json_object **event, struct mp_error **err);
/* Take the next queued event without waiting; NULL when none. */
struct json_object *qemu_qmp_next_event(struct qemu_qmp *qmp);
/* Read whatever is available without blocking and queue the events. */
int qemu_qmp_poll_events(struct qemu_qmp *qmp, struct mp_error **err);
/* The socket, for poll() together with other descriptors. */
int qemu_qmp_fd(const struct qemu_qmp *qmp);

/* Feed raw bytes as if read from the socket and return the messages parsed:
 * the entry point of the QMP fuzz target. *messages (an array of *n objects)
 * belongs to the caller: free it with qemu_qmp_free_messages. An incomplete
 * last message is left out, as the socket would wait for more. -EPROTO and
 * -EMSGSIZE as for qemu_qmp_execute; on error nothing is returned. */
int qemu_qmp_parse_messages(const char *buf, size_t len, struct json_object ***messages, size_t *n,
                            struct mp_error **err);
void qemu_qmp_free_messages(struct json_object **messages, size_t n);
