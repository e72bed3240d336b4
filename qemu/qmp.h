/* SPDX-License-Identifier: LGPL-2.1-or-later */
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
 * (qmp_capabilities). Every wait, the connection's later commands included,
 * is bounded by timeout_ms. */
int qemu_qmp_connect(const char *socket_path, uint64_t timeout_ms, struct qemu_qmp **out,
                     struct mp_error **err);

/* The QEMU process that qemu_qmp_connect_wait waits for. */
struct qemu_qmp_starting {
    pid_t pid;            /* the process that will answer on the socket */
    const char *what;     /* what names it in errors ("the destination QEMU") */
    const char *log_path; /* its output, whose last line says why it died */
};
/* Like qemu_qmp_connect, for a QEMU we just started: while its socket is
 * missing, refuses connections or hangs up, retry, checking between tries
 * that the process lives (mp_proc_wait_starting). Fails with the last line
 * of its log if it died, -EINTR on an interrupt, -ETIMEDOUT with what the
 * last try met when it did not answer within timeout_ms (which bounds the
 * whole, handshake included), and at once on any other error (not QMP at
 * the other end). */
int qemu_qmp_connect_wait(const char *socket_path, const struct qemu_qmp_starting *vm,
                          uint64_t timeout_ms, struct qemu_qmp **out, struct mp_error **err);
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
/* Let a signal handler cancel waits: when *flag takes a new non-zero value
 * (the signal's number), the wait in progress (or the next one) returns
 * -EINTR ("interrupted by signal N"). Each
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

/* A command whose reply may be slow in coming: qemu_qmp_send sends it and
 * gives the id its reply will carry; qemu_qmp_await waits up to timeout_ms
 * for that reply, with qemu_qmp_execute's results, except that -ETIMEDOUT
 * and -EINTR leave the command pending: wait again, or qemu_qmp_forget it
 * (its reply is then dropped when it comes). While a reply is pending, wait
 * for nothing else on the connection. */
int qemu_qmp_send(struct qemu_qmp *qmp, const char *command, struct json_object *args, uint64_t *id,
                  struct mp_error **err);
int qemu_qmp_await(struct qemu_qmp *qmp, const char *command, uint64_t id, uint64_t timeout_ms,
                   struct json_object **ret, struct mp_error **err);
void qemu_qmp_forget(struct qemu_qmp *qmp, uint64_t id);
/* How many messages (replies, late replies, events) QEMU has sent since the
 * greeting: a monitor whose count grows is slow, not gone. */
uint64_t qemu_qmp_messages(const struct qemu_qmp *qmp);
/* Whether QEMU said nothing since the last reply taken: no event queued,
 * nothing half read, nothing waiting on the socket. QEMU sends an event on
 * every change of the VM's run state (STOP, RESUME, SHUTDOWN, SUSPEND...),
 * so answers taken before still hold, as far as this connection can tell. */
bool qemu_qmp_silent(struct qemu_qmp *qmp);

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

/* The connection's socket, to poll() beside other descriptors: readable
 * when QEMU sent something (qemu_qmp_wait_event with timeout 0 takes it
 * without blocking). */
int qemu_qmp_fd(const struct qemu_qmp *qmp);

/* Wait for an event named name (any event when NULL), taking queued events
 * first; events of other names stay queued. *event receives the whole event
 * object (event may be NULL to drop it). -ETIMEDOUT after timeout_ms. */
int qemu_qmp_wait_event(struct qemu_qmp *qmp, const char *name, uint64_t timeout_ms,
                        struct json_object **event, struct mp_error **err);
