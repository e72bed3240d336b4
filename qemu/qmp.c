/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QMP client: a byte stream parsed incrementally into JSON messages, one
 * synchronous command at a time matched to its reply by id, events queued,
 * and every wait bounded by a deadline on the monotonic clock. */
#include "config.h"

#include "qmp.h"

#include "log.h"
#include "proc.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

/* Bytes read from the socket at a time. */
#define QMP_READ_CHUNK (64 * 1024)
/* QEMU nests replies as deep as its data (a backing chain in query-block);
 * its own JSON parser accepts 1024 levels, so do we. */
#define QMP_MAX_DEPTH 1024
/* Events nobody collects must not grow without bound: past these, the oldest
 * queued event is dropped. */
#define QMP_MAX_QUEUED_EVENTS 1024
#define QMP_MAX_QUEUED_BYTES  (16 * 1024 * 1024)
/* Replies still owed for commands whose wait timed out or was interrupted. */
#define QMP_MAX_ABANDONED 16
/* With an interrupt flag, poll in slices this long: a signal delivered just
 * before poll(), or to another thread, does not interrupt poll() itself. */
#define QMP_INTERRUPT_SLICE_MS 50
#define QMP_CONNECT_RETRY_MS   10
/* How much of an unexpected message goes into an error message. */
#define QMP_SNIPPET 200

/* json-c returns NULL when malloc fails; like the x-wrappers, give up. */
static struct json_object *
json_checked(struct json_object *obj)
{
    if (!obj)
        abort();
    return obj;
}

static void
json_add(struct json_object *obj, const char *key, struct json_object *val)
{
    if (json_object_object_add(obj, key, json_checked(val)) < 0)
        abort();
}

static const char *
json_text(struct json_object *obj)
{
    const char *s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN);
    if (!s)
        abort();
    return s;
}

static void
qmp_log_message(const char *what, struct json_object *msg)
{
    /* A reply can be a megabyte: serialize it only when it will be printed. */
    if (mp_log_get_level() >= MP_LOG_DEBUG)
        mp_debug("QMP %s: %s", what, json_text(msg));
}

/* The incremental parser: bytes in, whole JSON objects out. */
struct qmp_reader {
    struct json_tokener *tok;
    size_t pending; /* bytes given to tok since the last message ended */
};

static void
qmp_reader_init(struct qmp_reader *rd)
{
    rd->tok = json_tokener_new_ex(QMP_MAX_DEPTH);
    if (!rd->tok)
        abort();
    /* QEMU writes strict JSON, ASCII only (it escapes the rest), and one
     * message after the other: anything laxer is not QEMU talking. */
    json_tokener_set_flags(rd->tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS |
                                        JSON_TOKENER_VALIDATE_UTF8);
    rd->pending = 0;
}

static void
qmp_reader_done(struct qmp_reader *rd)
{
    if (rd->tok)
        json_tokener_free(rd->tok);
    rd->tok = NULL;
}

/* Give up to len bytes to the parser. Returns 1 with *msg when a message
 * ended (*used says how far into buf), 0 when all of buf was taken without
 * ending one, <0 when the stream is not QMP. The parser never holds more than
 * QEMU_QMP_MAX_MESSAGE + 1 bytes of one message. */
static int
qmp_reader_feed(struct qmp_reader *rd, const char *buf, size_t len, size_t *used, size_t *msg_size,
                struct json_object **msg, struct mp_error **err)
{
    *used = 0;
    *msg = NULL;
    size_t room = (size_t)QEMU_QMP_MAX_MESSAGE + 1 - rd->pending;
    size_t n = len < room ? len : room;
    if (n == 0)
        return 0;

    struct json_object *obj = json_tokener_parse_ex(rd->tok, buf, (int)n);
    enum json_tokener_error jerr = json_tokener_get_error(rd->tok);
    if (jerr == json_tokener_continue) {
        rd->pending += n;
        *used = n;
        if (rd->pending > QEMU_QMP_MAX_MESSAGE)
            return mp_error_set(err, EMSGSIZE, "QMP message larger than %d bytes",
                                QEMU_QMP_MAX_MESSAGE);
        return 0;
    }
    if (jerr != json_tokener_success)
        return mp_error_set(err, EPROTO, "invalid JSON from QEMU: %s",
                            json_tokener_error_desc(jerr));

    size_t end = json_tokener_get_parse_end(rd->tok);
    size_t size = rd->pending + end;
    json_tokener_reset(rd->tok);
    rd->pending = 0;
    *used = end;
    if (size > QEMU_QMP_MAX_MESSAGE) {
        json_object_put(obj);
        return mp_error_set(err, EMSGSIZE, "QMP message larger than %d bytes",
                            QEMU_QMP_MAX_MESSAGE);
    }
    /* A bare "null" parses successfully into NULL. */
    if (!obj || !json_object_is_type(obj, json_type_object)) {
        int r = mp_error_set(err, EPROTO, "QMP message is not a JSON object: %.*s", QMP_SNIPPET,
                             obj ? json_text(obj) : "null");
        json_object_put(obj);
        return r;
    }
    *msg = obj;
    *msg_size = size;
    return 1;
}

enum qmp_kind {
    QMP_GREETING,
    QMP_REPLY,
    QMP_EVENT,
};

/* Tell the three kinds of server messages apart and check what the rest of
 * this file relies on: a reply has exactly one of "return" and "error", and
 * an error has a class and a description. */
static int
qmp_classify(struct json_object *msg, enum qmp_kind *kind, struct mp_error **err)
{
    struct json_object *val;
    if (json_object_object_get_ex(msg, "QMP", &val)) {
        if (!json_object_is_type(val, json_type_object))
            return mp_error_set(err, EPROTO, "malformed QMP greeting: %.*s", QMP_SNIPPET,
                                json_text(msg));
        *kind = QMP_GREETING;
        return 0;
    }
    if (json_object_object_get_ex(msg, "event", &val)) {
        if (!json_object_is_type(val, json_type_string))
            return mp_error_set(err, EPROTO, "malformed QMP event: %.*s", QMP_SNIPPET,
                                json_text(msg));
        *kind = QMP_EVENT;
        return 0;
    }
    bool has_return = json_object_object_get_ex(msg, "return", NULL);
    struct json_object *error = NULL;
    bool has_error = json_object_object_get_ex(msg, "error", &error);
    if (has_return == has_error)
        return mp_error_set(err, EPROTO, "unrecognized QMP message: %.*s", QMP_SNIPPET,
                            json_text(msg));
    if (has_error) {
        struct json_object *class, *desc;
        if (!json_object_is_type(error, json_type_object) ||
            !json_object_object_get_ex(error, "class", &class) ||
            !json_object_is_type(class, json_type_string) ||
            !json_object_object_get_ex(error, "desc", &desc) ||
            !json_object_is_type(desc, json_type_string))
            return mp_error_set(err, EPROTO, "malformed QMP error reply: %.*s", QMP_SNIPPET,
                                json_text(msg));
    }
    *kind = QMP_REPLY;
    return 0;
}

static const char *
qmp_event_name(struct json_object *event)
{
    struct json_object *name;
    json_object_object_get_ex(event, "event", &name);
    return json_object_get_string(name);
}

/* Whether a reply carries one of our ids (a positive integer), and which. */
static bool
qmp_reply_id(struct json_object *reply, uint64_t *id)
{
    struct json_object *v;
    if (!json_object_object_get_ex(reply, "id", &v) || !json_object_is_type(v, json_type_int))
        return false;
    int64_t n = json_object_get_int64(v);
    if (n <= 0)
        return false;
    *id = (uint64_t)n;
    return true;
}

struct qmp_event {
    struct qmp_event *next;
    struct json_object *obj;
    size_t size;
};

struct qemu_qmp {
    int fd;
    uint64_t timeout_ms;
    volatile sig_atomic_t *interrupt;
    sig_atomic_t interrupt_seen; /* the value of *interrupt last reported */
    char *version;
    uint64_t last_id;
    uint64_t messages; /* every message read since the greeting: signs of life */

    struct qmp_reader reader;
    size_t in_start, in_end;

    struct qmp_event *events, *events_tail;
    size_t n_events, events_bytes;

    /* A ring of the ids whose replies we no longer wait for (0: none). */
    uint64_t abandoned[QMP_MAX_ABANDONED];
    size_t next_abandoned;

    /* Once the byte stream cannot be trusted (a protocol error, a message cut
     * short), every later call fails with this positive errno and message. */
    int broken;
    char *broken_msg;

    /* Not zeroed: only the bytes between in_start and in_end are read, and
     * zeroing it would touch its 16 pages, a page fault each, in every step
     * that opens a monitor. */
    char *in;
};

static void
qmp_mark_broken(struct qemu_qmp *qmp, int r, struct mp_error **err)
{
    if (qmp->broken)
        return;
    qmp->broken = -r;
    qmp->broken_msg = xstrdup(err && *err ? (*err)->message : strerror(-r));
}

/* Whether an error leaves the stream in a state we cannot resume from. A
 * timeout or an interruption between messages does not; a refusal from QEMU
 * does not; and a bad argument never touched the stream. */
static bool
qmp_error_is_fatal(int r)
{
    return r != -ETIMEDOUT && r != -EINTR && r != -EREMOTEIO && r != -EINVAL;
}

static int
qmp_check_usable(struct qemu_qmp *qmp, struct mp_error **err)
{
    if (!qmp->broken)
        return 0;
    return mp_error_set(err, qmp->broken, "QMP connection unusable after an earlier error: %s",
                        qmp->broken_msg);
}

/* Take the first queued event called name (any when NULL), or NULL. */
static struct json_object *
qmp_take_event(struct qemu_qmp *qmp, const char *name)
{
    struct qmp_event **pp = &qmp->events, *prev = NULL;
    for (; *pp; prev = *pp, pp = &(*pp)->next) {
        if (name && strcmp(qmp_event_name((*pp)->obj), name) != 0)
            continue;
        struct qmp_event *e = *pp;
        *pp = e->next;
        if (qmp->events_tail == e)
            qmp->events_tail = prev;
        qmp->n_events--;
        qmp->events_bytes -= e->size;
        struct json_object *obj = e->obj;
        free(e);
        return obj;
    }
    return NULL;
}

static void
qmp_queue_event(struct qemu_qmp *qmp, struct json_object *obj, size_t size)
{
    while (qmp->events && (qmp->n_events >= QMP_MAX_QUEUED_EVENTS ||
                           qmp->events_bytes + size > QMP_MAX_QUEUED_BYTES)) {
        struct json_object *old = qmp_take_event(qmp, NULL);
        mp_debug("QMP event queue full, dropping the oldest event (%s)", qmp_event_name(old));
        json_object_put(old);
    }
    struct qmp_event *e = xzalloc(sizeof(*e));
    e->obj = obj;
    e->size = size;
    if (qmp->events_tail)
        qmp->events_tail->next = e;
    else
        qmp->events = e;
    qmp->events_tail = e;
    qmp->n_events++;
    qmp->events_bytes += size;
}

static void
qmp_abandon(struct qemu_qmp *qmp, uint64_t id)
{
    qmp->abandoned[qmp->next_abandoned] = id;
    qmp->next_abandoned = (qmp->next_abandoned + 1) % QMP_MAX_ABANDONED;
}

/* Whether reply answers a command we stopped waiting for; forget it if so. */
static bool
qmp_claim_abandoned(struct qemu_qmp *qmp, struct json_object *reply)
{
    uint64_t id;
    if (!qmp_reply_id(reply, &id))
        return false;
    for (size_t i = 0; i < QMP_MAX_ABANDONED; i++) {
        if (qmp->abandoned[i] == id) {
            qmp->abandoned[i] = 0;
            mp_debug("QMP: discarding the late reply to command %" PRIu64, id);
            return true;
        }
    }
    return false;
}

/* Whether *interrupt holds a value not reported yet. Each value is reported
 * once, so that the commands that clean up after an interruption (cancel the
 * stream, resume the VM) run although the handler's flag stays set. */
static bool
qmp_interrupted(volatile sig_atomic_t *interrupt, sig_atomic_t *seen)
{
    if (!interrupt)
        return false;
    sig_atomic_t v = *interrupt;
    if (v == *seen)
        return false;
    *seen = v;
    return v != 0;
}

/* poll() one descriptor until deadline (monotonic ms). 0 when ready,
 * -ETIMEDOUT, -EINTR when *interrupt took a new non-zero value, or another
 * -errno. */
static int
qmp_poll(int fd, short events, uint64_t deadline, volatile sig_atomic_t *interrupt,
         sig_atomic_t *seen)
{
    for (;;) {
        if (qmp_interrupted(interrupt, seen))
            return -EINTR;
        uint64_t now = mp_now_ms();
        if (now >= deadline)
            return -ETIMEDOUT;
        uint64_t left = deadline - now;
        int slice = left > INT_MAX ? INT_MAX : (int)left;
        if (interrupt && slice > QMP_INTERRUPT_SLICE_MS)
            slice = QMP_INTERRUPT_SLICE_MS;
        struct pollfd p = { .fd = fd, .events = events };
        int r = poll(&p, 1, slice);
        if (r < 0) {
            if (errno == EINTR)
                continue; /* the loop checks the flag, then waits what is left */
            return -errno;
        }
        if (r > 0)
            return (p.revents & POLLNVAL) ? -EBADF : 0;
    }
}

static uint64_t
qmp_deadline(uint64_t timeout_ms)
{
    uint64_t now = mp_now_ms();
    return timeout_ms > UINT64_MAX - now ? UINT64_MAX : now + timeout_ms;
}

static int
qmp_wait_fd(struct qemu_qmp *qmp, short events, uint64_t deadline, uint64_t timeout_ms,
            const char *what, struct mp_error **err)
{
    int r = qmp_poll(qmp->fd, events, deadline, qmp->interrupt, &qmp->interrupt_seen);
    /* The flag holds the signal, as mp_interrupted does: say which, as the
     * waits outside QMP do. */
    if (r == -EINTR)
        return mp_error_set(err, EINTR, "interrupted by signal %d", (int)qmp->interrupt_seen);
    if (r == -ETIMEDOUT)
        return mp_error_set(err, ETIMEDOUT, "timed out after %" PRIu64 " ms waiting for %s",
                            timeout_ms, what);
    if (r < 0)
        return mp_error_set_errno(err, -r, "cannot wait on the QMP socket");
    return 0;
}

/* Read what the socket has into the empty input buffer. Returns the number of
 * bytes, -EAGAIN when there is nothing yet, or an error. */
static int
qmp_fill(struct qemu_qmp *qmp, const char *what, struct mp_error **err)
{
    qmp->in_start = qmp->in_end = 0;
    for (;;) {
        ssize_t n = recv(qmp->fd, qmp->in, QMP_READ_CHUNK, MSG_DONTWAIT);
        if (n > 0) {
            qmp->in_end = (size_t)n;
            return (int)n;
        }
        if (n == 0 || errno == ECONNRESET)
            return mp_error_set(err, ECONNRESET,
                                "QEMU closed the QMP connection while we waited for %s", what);
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return -EAGAIN;
        if (errno != EINTR)
            return mp_error_set_errno(err, errno, "cannot read from the QMP socket");
    }
}

/* The next message already received: 1 with *msg, 0 when the input buffer
 * ran out first. */
static int
qmp_next_buffered(struct qemu_qmp *qmp, struct json_object **msg, size_t *size,
                  struct mp_error **err)
{
    while (qmp->in_start < qmp->in_end) {
        size_t used;
        int r = qmp_reader_feed(&qmp->reader, qmp->in + qmp->in_start, qmp->in_end - qmp->in_start,
                                &used, size, msg, err);
        qmp->in_start += used;
        if (r != 0)
            return r;
    }
    return 0;
}

/* Wait until deadline for the next message of any kind. */
static int
qmp_read_message(struct qemu_qmp *qmp, uint64_t deadline, uint64_t timeout_ms, const char *what,
                 struct json_object **msg, size_t *size, struct mp_error **err)
{
    for (;;) {
        int r = qmp_next_buffered(qmp, msg, size, err);
        if (r > 0)
            qmp->messages++;
        if (r != 0)
            return r;
        r = qmp_fill(qmp, what, err);
        if (r > 0)
            continue;
        if (r != -EAGAIN)
            return r;
        r = qmp_wait_fd(qmp, POLLIN, deadline, timeout_ms, what, err);
        if (r < 0)
            return r;
    }
}

/* A message that nobody is waiting for: queue an event, drop the late reply
 * to an abandoned command, refuse anything else. */
static int
qmp_dispatch_unsolicited(struct qemu_qmp *qmp, struct json_object *msg, size_t size,
                         struct mp_error **err)
{
    enum qmp_kind kind;
    int r = qmp_classify(msg, &kind, err);
    if (r < 0) {
        json_object_put(msg);
        return r;
    }
    if (kind == QMP_EVENT) {
        qmp_log_message("event", msg);
        qmp_queue_event(qmp, msg, size);
        return 0;
    }
    if (kind == QMP_REPLY && qmp_claim_abandoned(qmp, msg)) {
        json_object_put(msg);
        return 0;
    }
    r = mp_error_set(err, EPROTO, "unexpected QMP message: %.*s", QMP_SNIPPET, json_text(msg));
    json_object_put(msg);
    return r;
}

/* Send all of buf before deadline. *sent says how much went out, so that the
 * caller knows whether the stream now holds half a command. */
static int
qmp_send(struct qemu_qmp *qmp, const char *buf, size_t len, uint64_t deadline, uint64_t timeout_ms,
         const char *what, size_t *sent, struct mp_error **err)
{
    *sent = 0;
    while (*sent < len) {
        /* MSG_NOSIGNAL: a QEMU that died must not kill us with SIGPIPE. */
        ssize_t n = send(qmp->fd, buf + *sent, len - *sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) {
            *sent += (size_t)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno == EPIPE || errno == ECONNRESET)
            return mp_error_set(err, ECONNRESET, "QEMU closed the QMP connection");
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return mp_error_set_errno(err, errno, "cannot write to the QMP socket");
        int r = qmp_wait_fd(qmp, POLLOUT, deadline, timeout_ms, what, err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Wait for the reply to the command with this id, queueing the events that
 * come first. */
static int
qmp_await_reply(struct qemu_qmp *qmp, const char *command, uint64_t id, uint64_t deadline,
                uint64_t timeout_ms, struct json_object **out, struct mp_error **err)
{
    _cleanup_free_ char *what = xasprintf("the reply to %s", command);
    for (;;) {
        _cleanup_json_ struct json_object *msg = NULL;
        size_t size;
        int r = qmp_read_message(qmp, deadline, timeout_ms, what, &msg, &size, err);
        if (r < 0)
            return r;
        enum qmp_kind kind;
        r = qmp_classify(msg, &kind, err);
        if (r < 0)
            return r;
        if (kind == QMP_GREETING)
            return mp_error_set(err, EPROTO, "unexpected QMP greeting in reply to %s", command);
        if (kind == QMP_EVENT) {
            qmp_log_message("event", msg);
            qmp_queue_event(qmp, steal_ptr(&msg), size);
            continue;
        }
        if (qmp_claim_abandoned(qmp, msg))
            continue;
        qmp_log_message("reply", msg);
        struct json_object *reply_id = NULL;
        uint64_t got;
        if (json_object_object_get_ex(msg, "id", &reply_id)) {
            if (!qmp_reply_id(msg, &got) || got != id)
                return mp_error_set(err, EPROTO, "QMP reply to %s (id %" PRIu64 ") with id %s",
                                    command, id, json_text(reply_id));
        } else if (!json_object_object_get_ex(msg, "error", NULL)) {
            return mp_error_set(err, EPROTO, "QMP reply to %s without an id", command);
        }
        /* QEMU leaves "id" out only of the error for a command it could not
         * parse at all; that error still answers the one command in flight. */
        *out = steal_ptr(&msg);
        return 0;
    }
}

/* Send one command; *id_out receives the id its reply will carry. */
static int
qmp_send_command(struct qemu_qmp *qmp, const char *command, struct json_object *args,
                 uint64_t deadline, uint64_t timeout_ms, uint64_t *id_out, struct mp_error **err)
{
    _cleanup_json_ struct json_object *owned_args = args;
    if (args && !json_object_is_type(args, json_type_object))
        return mp_error_set(err, EINVAL, "arguments of QMP command %s are not an object", command);
    int r = qmp_check_usable(qmp, err);
    if (r < 0)
        return r;

    /* QEMU echoes "id" in the reply: it ties a reply to its command even when
     * an earlier command timed out and its reply comes late. A number, and
     * no spaces: QEMU (7.2 at least) reads a command one byte per turn of its
     * main loop, some 5 us a byte on a busy host, so every byte is latency. */
    uint64_t id = ++qmp->last_id;
    _cleanup_json_ struct json_object *cmd = json_checked(json_object_new_object());
    json_add(cmd, "execute", json_object_new_string(command));
    if (owned_args)
        json_add(cmd, "arguments", steal_ptr(&owned_args));
    json_add(cmd, "id", json_object_new_int64((int64_t)id));
    mp_debug("QMP command: %s", json_text(cmd));
    _cleanup_free_ char *line = xasprintf("%s\n", json_text(cmd));

    size_t sent;
    _cleanup_free_ char *what = xasprintf("QEMU to read %s", command);
    r = qmp_send(qmp, line, strlen(line), deadline, timeout_ms, what, &sent, err);
    if (r < 0) {
        /* Half a command would corrupt the stream for the next one. */
        if (sent > 0 || qmp_error_is_fatal(r))
            qmp_mark_broken(qmp, r, err);
        return r;
    }
    *id_out = id;
    return 0;
}

/* The outcome a reply carries: its "return" member, or QEMU's error. */
static int
qmp_reply_value(struct json_object *reply, const char *command, struct json_object **ret,
                struct mp_error **err)
{
    struct json_object *val;
    if (json_object_object_get_ex(reply, "error", &val)) {
        struct json_object *class, *desc;
        json_object_object_get_ex(val, "class", &class);
        json_object_object_get_ex(val, "desc", &desc);
        return mp_error_set(err, EREMOTEIO, "QMP command %s failed: %s (%s)", command,
                            json_object_get_string(desc), json_object_get_string(class));
    }
    if (ret) {
        json_object_object_get_ex(reply, "return", &val);
        *ret = json_object_get(val);
    }
    return 0;
}

/* Wait for the reply to the command sent with this id. A timeout or an
 * interruption leaves it pending (the caller abandons or waits on); any
 * other failure breaks the connection. */
static int
qmp_wait_reply(struct qemu_qmp *qmp, const char *command, uint64_t id, uint64_t deadline,
               uint64_t timeout_ms, struct json_object **ret, struct mp_error **err)
{
    _cleanup_json_ struct json_object *reply = NULL;
    int r = qmp_await_reply(qmp, command, id, deadline, timeout_ms, &reply, err);
    if (r == -ETIMEDOUT || r == -EINTR)
        return r;
    if (r < 0) {
        qmp_mark_broken(qmp, r, err);
        return r;
    }
    return qmp_reply_value(reply, command, ret, err);
}

/* Take the reply to the command sent with this id, or abandon it. */
static int
qmp_take_reply(struct qemu_qmp *qmp, const char *command, uint64_t id, uint64_t deadline,
               uint64_t timeout_ms, struct json_object **ret, struct mp_error **err)
{
    int r = qmp_wait_reply(qmp, command, id, deadline, timeout_ms, ret, err);
    if (r == -ETIMEDOUT || r == -EINTR)
        qmp_abandon(qmp, id);
    return r;
}

static int
qmp_execute_until(struct qemu_qmp *qmp, const char *command, struct json_object *args,
                  struct json_object **ret, uint64_t deadline, uint64_t timeout_ms,
                  struct mp_error **err)
{
    if (ret)
        *ret = NULL;
    uint64_t id;
    int r = qmp_send_command(qmp, command, args, deadline, timeout_ms, &id, err);
    if (r < 0)
        return r;
    return qmp_take_reply(qmp, command, id, deadline, timeout_ms, ret, err);
}

/* A call's own failure, and the batch's first one in *err. */
static int
qmp_call_failed(struct qemu_qmp_call *call, int r, struct mp_error **err)
{
    call->result = r;
    if (err && !*err && call->error) {
        *err = xzalloc(sizeof(**err));
        **err = *call->error;
        (*err)->message = xstrdup(call->error->message);
    }
    return r;
}

int
qemu_qmp_execute_all(struct qemu_qmp *qmp, struct qemu_qmp_call *calls, size_t n,
                     struct mp_error **err)
{
    uint64_t deadline = qmp_deadline(qmp->timeout_ms);
    uint64_t ids[QEMU_QMP_MAX_CALLS] = { 0 };
    int first = 0;
    for (size_t i = 0; i < n; i++) {
        calls[i].ret = NULL;
        calls[i].error = NULL;
        calls[i].result = 0;
    }
    if (n > QEMU_QMP_MAX_CALLS)
        first = mp_error_set(err, E2BIG, "more than %d QMP commands at once", QEMU_QMP_MAX_CALLS);
    size_t sent = 0;
    for (size_t i = 0; i < n; i++) {
        struct json_object *args = steal_ptr(&calls[i].args);
        if (first < 0) {
            json_object_put(args);
            calls[i].result = -ECANCELED;
        } else if (qmp_send_command(qmp, calls[i].command, args, deadline, qmp->timeout_ms, &ids[i],
                                    &calls[i].error) == 0) {
            sent++;
        } else {
            first = qmp_call_failed(&calls[i], -calls[i].error->errnum, err);
        }
    }
    /* Every reply is taken, so that the stream stays in step. After a
     * failure that is not QEMU's answer (a timeout, an interrupt, a broken
     * stream) the replies still to come are left to be discarded. */
    bool give_up = first < 0;
    for (size_t i = 0; i < sent; i++) {
        if (give_up) {
            qmp_abandon(qmp, ids[i]);
            calls[i].result = -ECANCELED;
            continue;
        }
        int r = qmp_take_reply(qmp, calls[i].command, ids[i], deadline, qmp->timeout_ms,
                               &calls[i].ret, &calls[i].error);
        if (r < 0) {
            qmp_call_failed(&calls[i], r, err);
            if (first == 0)
                first = r;
            give_up = r != -EREMOTEIO;
        }
    }
    return first;
}

void
qemu_qmp_calls_free(struct qemu_qmp_call *calls, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_object_put(steal_ptr(&calls[i].ret));
        mp_error_free(steal_ptr(&calls[i].error));
    }
}

int
qemu_qmp_execute(struct qemu_qmp *qmp, const char *command, struct json_object *args,
                 struct json_object **ret, struct mp_error **err)
{
    return qmp_execute_until(qmp, command, args, ret, qmp_deadline(qmp->timeout_ms),
                             qmp->timeout_ms, err);
}

int
qemu_qmp_send(struct qemu_qmp *qmp, const char *command, struct json_object *args, uint64_t *id,
              struct mp_error **err)
{
    return qmp_send_command(qmp, command, args, qmp_deadline(qmp->timeout_ms), qmp->timeout_ms, id,
                            err);
}

int
qemu_qmp_await(struct qemu_qmp *qmp, const char *command, uint64_t id, uint64_t timeout_ms,
               struct json_object **ret, struct mp_error **err)
{
    if (ret)
        *ret = NULL;
    int r = qmp_check_usable(qmp, err);
    if (r < 0)
        return r;
    return qmp_wait_reply(qmp, command, id, qmp_deadline(timeout_ms), timeout_ms, ret, err);
}

void
qemu_qmp_forget(struct qemu_qmp *qmp, uint64_t id)
{
    qmp_abandon(qmp, id);
}

uint64_t
qemu_qmp_messages(const struct qemu_qmp *qmp)
{
    return qmp->messages;
}

bool
qemu_qmp_silent(struct qemu_qmp *qmp)
{
    if (qmp->broken || qmp->n_events || qmp->in_start < qmp->in_end || qmp->reader.pending)
        return false;
    struct pollfd input = { .fd = qmp->fd, .events = POLLIN };
    return poll(&input, 1, 0) == 0;
}

static int
qmp_greeting_version(struct json_object *greeting, char **version, struct mp_error **err)
{
    struct json_object *qmp_obj, *ver, *qemu, *major, *minor, *micro;
    if (!json_object_object_get_ex(greeting, "QMP", &qmp_obj) ||
        !json_object_object_get_ex(qmp_obj, "version", &ver) ||
        !json_object_object_get_ex(ver, "qemu", &qemu) ||
        !json_object_object_get_ex(qemu, "major", &major) ||
        !json_object_object_get_ex(qemu, "minor", &minor) ||
        !json_object_object_get_ex(qemu, "micro", &micro) ||
        !json_object_is_type(major, json_type_int) || !json_object_is_type(minor, json_type_int) ||
        !json_object_is_type(micro, json_type_int))
        return mp_error_set(err, EPROTO, "QMP greeting without a QEMU version: %.*s", QMP_SNIPPET,
                            json_text(greeting));
    *version = xasprintf("%" PRId64 ".%" PRId64 ".%" PRId64, json_object_get_int64(major),
                         json_object_get_int64(minor), json_object_get_int64(micro));
    return 0;
}

static int
qmp_handshake(struct qemu_qmp *qmp, uint64_t deadline, uint64_t timeout_ms, struct mp_error **err)
{
    /* Until qmp_capabilities QEMU accepts no other command. We ask for no
     * capability: out-of-band execution is of no use to us. It goes out
     * before the greeting is read, as QEMU reads commands only after its
     * greeting: the two cross on the wire instead of taking turns. A write
     * that fails here (QEMU hung up) is judged by the greeting's absence. */
    uint64_t caps_id = 0;
    _cleanup_error_ struct mp_error *send_err = NULL;
    (void)qmp_send_command(qmp, "qmp_capabilities", NULL, deadline, timeout_ms, &caps_id,
                           &send_err);
    _cleanup_json_ struct json_object *greeting = NULL;
    size_t size;
    int r = qmp_read_message(qmp, deadline, timeout_ms, "the QMP greeting", &greeting, &size, err);
    if (r < 0)
        return r;
    qmp_log_message("greeting", greeting);
    enum qmp_kind kind;
    r = qmp_classify(greeting, &kind, err);
    if (r < 0)
        return r;
    if (kind != QMP_GREETING)
        return mp_error_set(err, EPROTO, "not a QMP greeting: %.*s", QMP_SNIPPET,
                            json_text(greeting));
    r = qmp_greeting_version(greeting, &qmp->version, err);
    if (r < 0)
        return r;
    if (!caps_id) {
        r = -send_err->errnum;
        if (err && !*err)
            *err = steal_ptr(&send_err);
        return r;
    }
    return qmp_take_reply(qmp, "qmp_capabilities", caps_id, deadline, timeout_ms, NULL, err);
}

/* One non-blocking connect. AF_UNIX stream sockets connect at once or fail;
 * a full listen backlog gives EAGAIN rather than EINPROGRESS. */
static int
qmp_socket_connect(const char *path, int *out)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(addr.sun_path))
        return -ENAMETOOLONG;
    memcpy(addr.sun_path, path, strlen(path) + 1);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        return -errno;
    *out = fd;
    fd = -1;
    return 0;
}

/* Greet the QEMU at the other end of fd (which is taken) as a client. */
static int
qmp_open(const char *path, int fd, uint64_t deadline, uint64_t timeout_ms, struct qemu_qmp **out,
         struct mp_error **err)
{
    struct qemu_qmp *qmp = xzalloc(sizeof(*qmp));
    qmp->in = xmalloc(QMP_READ_CHUNK);
    qmp->fd = fd;
    qmp->timeout_ms = timeout_ms;
    qmp_reader_init(&qmp->reader);
    int r = qmp_handshake(qmp, deadline, timeout_ms, err);
    if (r < 0) {
        qemu_qmp_close(qmp);
        return mp_error_prefix(err, "QMP socket %s", path);
    }
    mp_debug("QMP: connected to QEMU %s", qmp->version);
    *out = qmp;
    return 0;
}

/* One attempt: connect to path and greet QEMU before deadline. */
static int
qmp_connect_once(const char *path, uint64_t deadline, uint64_t timeout_ms, struct qemu_qmp **out,
                 struct mp_error **err)
{
    int fd = -1;
    int r = qmp_socket_connect(path, &fd);
    if (r < 0)
        return mp_error_set_errno(err, -r, "cannot connect to QMP socket %s", path);
    return qmp_open(path, fd, deadline, timeout_ms, out, err);
}

static void
qmp_sleep_until(uint64_t deadline, uint64_t ms)
{
    uint64_t now = mp_now_ms();
    if (now >= deadline)
        return;
    if (ms > deadline - now)
        ms = deadline - now;
    struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000 };
    /* Woken early by a signal, the caller's loop simply tries again. */
    nanosleep(&ts, NULL);
}

int
qemu_qmp_connect(const char *socket_path, uint64_t timeout_ms, struct qemu_qmp **out,
                 struct mp_error **err)
{
    *out = NULL;
    uint64_t deadline = qmp_deadline(timeout_ms);
    for (;;) {
        _cleanup_error_ struct mp_error *e = NULL;
        int r = qmp_connect_once(socket_path, deadline, timeout_ms, out, &e);
        /* A QEMU that is busy accepting may have a full backlog for a moment. */
        if (r == -EAGAIN && mp_now_ms() < deadline) {
            qmp_sleep_until(deadline, QMP_CONNECT_RETRY_MS);
            continue;
        }
        if (r == -EAGAIN)
            return mp_error_set(err, ETIMEDOUT,
                                "cannot connect to QMP socket %s within %" PRIu64 " ms: %s",
                                socket_path, timeout_ms, strerror(EAGAIN));
        if (r < 0 && err && !*err)
            *err = steal_ptr(&e);
        return r;
    }
}

/* Whether an attempt on a QEMU that is starting may succeed later: its
 * socket is not there yet (ENOENT), bound but not listening yet
 * (ECONNREFUSED), its backlog full (EAGAIN). A QEMU that hung up or stayed
 * silent (ECONNRESET, ETIMEDOUT) may be dying: the look at the process that
 * follows tells, with its last words. */
static bool
qmp_worth_waiting(int r)
{
    return r == -ENOENT || r == -ECONNREFUSED || r == -EAGAIN || r == -ECONNRESET ||
           r == -ETIMEDOUT;
}

int
qemu_qmp_connect_wait(const char *socket_path, const struct qemu_qmp_starting *vm,
                      uint64_t timeout_ms, struct qemu_qmp **out, struct mp_error **err)
{
    *out = NULL;
    uint64_t deadline = qmp_deadline(timeout_ms);
    for (;;) {
        _cleanup_error_ struct mp_error *e = NULL;
        int r = qmp_connect_once(socket_path, deadline, timeout_ms, out, &e);
        if (r == 0)
            return 0;
        if (!qmp_worth_waiting(r)) {
            if (err && !*err)
                *err = steal_ptr(&e);
            return r;
        }
        _cleanup_error_ struct mp_error *why = NULL;
        r = mp_proc_wait_starting(vm->pid, vm->what, vm->log_path, deadline, timeout_ms, &why);
        /* Out of time, what the last try met (no socket, a refusal,
         * silence) is the best clue. */
        if (r == -ETIMEDOUT)
            return mp_error_set(err, ETIMEDOUT, "%s: %s", why->message, e->message);
        if (r < 0) {
            if (err && !*err)
                *err = steal_ptr(&why);
            return r;
        }
    }
}

void
qemu_qmp_close(struct qemu_qmp *qmp)
{
    if (!qmp)
        return;
    if (qmp->fd >= 0)
        close(qmp->fd);
    qmp_reader_done(&qmp->reader);
    struct json_object *e;
    while ((e = qmp_take_event(qmp, NULL)))
        json_object_put(e);
    free(qmp->version);
    free(qmp->broken_msg);
    free(qmp->in);
    free(qmp);
}

const char *
qemu_qmp_version(const struct qemu_qmp *qmp)
{
    return qmp->version;
}

int
qemu_qmp_peer_pid(const struct qemu_qmp *qmp, pid_t *pid)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(qmp->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return -errno;
    *pid = cred.pid;
    return 0;
}

void
qemu_qmp_set_interrupt(struct qemu_qmp *qmp, volatile sig_atomic_t *flag)
{
    qmp->interrupt = flag;
    qmp->interrupt_seen = 0;
}

int
qemu_qmp_fd(const struct qemu_qmp *qmp)
{
    return qmp->fd;
}

int
qemu_qmp_wait_event(struct qemu_qmp *qmp, const char *name, uint64_t timeout_ms,
                    struct json_object **event, struct mp_error **err)
{
    struct json_object *dropped = NULL;
    if (!event)
        event = &dropped; /* the caller only waits for the event to happen */
    *event = qmp_take_event(qmp, name);
    if (*event) {
        json_object_put(dropped);
        return 0;
    }
    int r = qmp_check_usable(qmp, err);
    if (r < 0)
        return r;

    uint64_t deadline = qmp_deadline(timeout_ms);
    _cleanup_free_ char *what = name ? xasprintf("QMP event %s", name) : xstrdup("a QMP event");
    for (;;) {
        struct json_object *msg;
        size_t size;
        r = qmp_read_message(qmp, deadline, timeout_ms, what, &msg, &size, err);
        if (r < 0)
            break;
        r = qmp_dispatch_unsolicited(qmp, msg, size, err);
        if (r < 0)
            break;
        /* The message just queued is the tail: take it if it is the one. */
        *event = qmp_take_event(qmp, name);
        if (*event) {
            json_object_put(dropped);
            return 0;
        }
    }
    if (qmp_error_is_fatal(r))
        qmp_mark_broken(qmp, r, err);
    return r;
}
