/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QMP client against a scripted fake QEMU: a thread listening on a unix
 * socket plays a script of replies, events, tiny writes, disconnects and
 * garbage, and checks the commands it receives. */
#include "config.h"

#include "error.h"
#include "log.h"
#include "monitor.h"
#include "qmp.h"
#include "util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

/* Long enough that the fake never gives up on a slow but correct client. */
#define FAKE_TIMEOUT_MS 5000
#define MAX_IDS         16

enum fake_op {
    OP_END,
    OP_SEND,   /* text, with $N replaced by the id of the N-th command */
    OP_EXPECT, /* read a command: "execute" must be text, "arguments" args */
    OP_SLEEP,  /* ms */
    OP_CLOSE,  /* hang up now */
    OP_FLOOD,  /* text, then an endless string until the client hangs up */
    OP_HOLD,   /* read nothing more until the client hangs up */
    OP_AGAIN,  /* hang up, and accept the next connection */
};

struct fake_step {
    enum fake_op op;
    const char *text;
    const char *args;
    size_t chunk; /* OP_SEND: write in pieces of this many bytes */
    size_t len;   /* OP_SEND: the length of text, when it holds NUL bytes */
    int ms;
};

/* clang-format off */
#define SEND(t) { .op = OP_SEND, .text = (t) }
#define SEND_SPLIT(t, n) { .op = OP_SEND, .text = (t), .chunk = (n) }
#define SEND_RAW(t) { .op = OP_SEND, .text = (t), .len = sizeof(t) - 1 }
#define EXPECT(c) { .op = OP_EXPECT, .text = (c) }
#define EXPECT_ARGS(c, a) { .op = OP_EXPECT, .text = (c), .args = (a) }
#define SLEEP(n) { .op = OP_SLEEP, .ms = (n) }
#define CLOSE() { .op = OP_CLOSE }
#define FLOOD(t) { .op = OP_FLOOD, .text = (t) }
#define HOLD() { .op = OP_HOLD }
#define AGAIN() { .op = OP_AGAIN }
#define END() { .op = OP_END }
/* clang-format on */

#define GREETING_TEXT                                                                              \
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, "              \
    "\"package\": \"Debian 1:7.2+dfsg-7\"}, \"capabilities\": [\"oob\"]}}\r\n"
#define GREETING  SEND(GREETING_TEXT)
#define HANDSHAKE GREETING, EXPECT("qmp_capabilities"), SEND("{\"return\": {}, \"id\": $0}\r\n")

struct fake {
    const struct fake_step *script;
    int fd; /* the server's end */
    pthread_t thread;

    /* Bind path (now or after delay_ms), listen and accept. */
    const char *listen_path;
    char *own_path; /* a temporary path of the fake's own, removed at the end */
    int listen_fd;
    int delay_ms;
    bool bind_now;

    struct json_tokener *tok;
    char buf[4096];
    size_t start, end;
    /* The bytes of the last command read, when it came in one piece. */
    char raw[1024];
    bool raw_whole;
    char *ids[MAX_IDS];
    size_t n_ids;

    size_t flooded;
    bool failed;
    char failure[512];
};

static void
sleep_ms(int ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void fake_fail(struct fake *f, const char *fmt, ...) _printf_(2, 3);

static void
fake_fail(struct fake *f, const char *fmt, ...)
{
    if (f->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->failure, sizeof(f->failure), fmt, ap);
    va_end(ap);
    f->failed = true;
}

static bool
fake_wait(struct fake *f, int fd, short events)
{
    struct pollfd p = { .fd = fd, .events = events };
    int r;
    do
        r = poll(&p, 1, FAKE_TIMEOUT_MS);
    while (r < 0 && errno == EINTR);
    if (r <= 0) {
        fake_fail(f, "fake QEMU: timed out waiting for the client");
        return false;
    }
    return true;
}

/* Keep the text of the command the tokener just took (used bytes from
 * f->start, with whitespace around it) and the byte after it. */
static void
fake_keep_raw(struct fake *f, size_t used)
{
    const char *p = f->buf + f->start;
    size_t lead = strspn(p, " \t\r\n");
    size_t end = used;
    while (end > lead && strchr(" \t\r\n", p[end - 1]))
        end--;
    size_t len = end - lead + 1;
    if (!f->raw_whole || len >= sizeof(f->raw) || f->start + end >= f->end) {
        f->raw_whole = false;
        return;
    }
    memcpy(f->raw, p + lead, len);
    f->raw[len] = '\0';
}

/* Read one command from the client. */
static struct json_object *
fake_read(struct fake *f)
{
    f->raw_whole = true;
    for (;;) {
        while (f->start < f->end) {
            struct json_object *obj =
                json_tokener_parse_ex(f->tok, f->buf + f->start, (int)(f->end - f->start));
            enum json_tokener_error jerr = json_tokener_get_error(f->tok);
            if (jerr == json_tokener_continue) {
                f->start = f->end;
                f->raw_whole = false;
                break;
            }
            if (jerr != json_tokener_success) {
                fake_fail(f, "fake QEMU: client sent bad JSON: %s", json_tokener_error_desc(jerr));
                return NULL;
            }
            fake_keep_raw(f, json_tokener_get_parse_end(f->tok));
            f->start += json_tokener_get_parse_end(f->tok);
            json_tokener_reset(f->tok);
            return obj;
        }
        if (!fake_wait(f, f->fd, POLLIN))
            return NULL;
        ssize_t n = recv(f->fd, f->buf, sizeof(f->buf), 0);
        if (n <= 0) {
            fake_fail(f, "fake QEMU: client hung up before sending a command");
            return NULL;
        }
        f->start = 0;
        f->end = (size_t)n;
    }
}

/* QEMU reads a command a byte at a time, each byte a turn of its main loop:
 * the client must send no byte it can do without (no spaces, one newline). */
static bool
fake_compact(struct fake *f, struct json_object *cmd)
{
    if (!f->raw_whole)
        return true; /* split across reads: the next command is checked */
    _cleanup_free_ char *want =
        xasprintf("%s\n", json_object_to_json_string_ext(cmd, JSON_C_TO_STRING_PLAIN));
    if (strcmp(f->raw, want) == 0)
        return true;
    fake_fail(f, "fake QEMU: command not compact: sent %s, expected %s", f->raw, want);
    return false;
}

static bool
fake_expect(struct fake *f, const struct fake_step *s)
{
    struct json_object *cmd = fake_read(f);
    if (!cmd)
        return false;
    struct json_object *exec, *id, *args = NULL;
    bool ok = true;
    if (!json_object_object_get_ex(cmd, "execute", &exec) ||
        strcmp(json_object_get_string(exec), s->text) != 0) {
        fake_fail(f, "fake QEMU: expected %s, got %s", s->text, json_object_to_json_string(cmd));
        ok = false;
    } else if (!json_object_object_get_ex(cmd, "id", &id) ||
               !json_object_is_type(id, json_type_int)) {
        fake_fail(f, "fake QEMU: command without a numeric id: %s",
                  json_object_to_json_string(cmd));
        ok = false;
    } else if (!fake_compact(f, cmd)) {
        ok = false;
    } else {
        json_object_object_get_ex(cmd, "arguments", &args);
        struct json_object *want = s->args ? json_tokener_parse(s->args) : NULL;
        if (!json_object_equal(args, want)) {
            fake_fail(f, "fake QEMU: %s with arguments %s, expected %s", s->text,
                      json_object_to_json_string(args), s->args ? s->args : "none");
            ok = false;
        }
        json_object_put(want);
        if (f->n_ids < MAX_IDS)
            f->ids[f->n_ids++] = xstrdup(json_object_to_json_string(id));
    }
    json_object_put(cmd);
    return ok;
}

/* The script text with $N replaced by the N-th command's id. */
static char *
fake_expand(struct fake *f, const char *text)
{
    char *out = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&out, &len);
    for (const char *p = text; *p; p++) {
        if (p[0] == '$' && p[1] >= '0' && p[1] <= '9') {
            size_t n = (size_t)(p[1] - '0');
            fputs(n < f->n_ids ? f->ids[n] : "\"no-such-id\"", m);
            p++;
        } else {
            fputc(*p, m);
        }
    }
    fclose(m);
    return out;
}

/* Send len bytes of data (in pieces of chunk bytes, 0: at once). */
static bool
fake_send_bytes(struct fake *f, const char *data, size_t len, size_t chunk)
{
    if (chunk == 0)
        chunk = len;
    for (size_t off = 0; off < len;) {
        size_t n = len - off < chunk ? len - off : chunk;
        ssize_t w = send(f->fd, data + off, n, MSG_NOSIGNAL);
        if (w < 0) {
            /* The client may hang up once it has its message, before the
             * line end that follows. */
            if (strspn(data + off, "\r\n") == len - off)
                return true;
            fake_fail(f, "fake QEMU: send: %s", strerror(errno));
            return false;
        }
        off += (size_t)w;
        /* Give the client time to read each piece on its own. */
        if (chunk < len)
            usleep(100);
    }
    return true;
}

static bool
fake_send(struct fake *f, const char *text, size_t chunk)
{
    _cleanup_free_ char *data = fake_expand(f, text);
    return fake_send_bytes(f, data, strlen(data), chunk);
}

static void
fake_flood(struct fake *f, const char *prefix)
{
    if (!fake_send(f, prefix, 0))
        return;
    static char junk[64 * 1024];
    memset(junk, 'x', sizeof(junk));
    f->flooded = strlen(prefix);
    while (f->flooded < 64 * 1024 * 1024) {
        ssize_t w = send(f->fd, junk, sizeof(junk), MSG_NOSIGNAL);
        if (w < 0)
            return; /* the client hung up: what we want */
        f->flooded += (size_t)w;
    }
    fake_fail(f, "fake QEMU: the client swallowed 64 MiB of one message");
}

static void
fake_accept(struct fake *f)
{
    if (f->delay_ms)
        sleep_ms(f->delay_ms);
    if (!f->bind_now) {
        f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", f->listen_path);
        if (bind(f->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
            fake_fail(f, "fake QEMU: bind: %s", strerror(errno));
            return;
        }
    }
    if (listen(f->listen_fd, 1) < 0 || !fake_wait(f, f->listen_fd, POLLIN)) {
        fake_fail(f, "fake QEMU: listen: %s", strerror(errno));
        return;
    }
    f->fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (f->fd < 0)
        fake_fail(f, "fake QEMU: accept: %s", strerror(errno));
}

static void
fake_accept_again(struct fake *f)
{
    close(f->fd);
    f->fd = -1;
    if (!fake_wait(f, f->listen_fd, POLLIN))
        return;
    f->fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (f->fd < 0)
        fake_fail(f, "fake QEMU: accept: %s", strerror(errno));
}

static void *
fake_main(void *arg)
{
    struct fake *f = arg;
    fake_accept(f);
    if (f->fd < 0)
        return NULL;
    bool closed = false;
    for (const struct fake_step *s = f->script; s->op != OP_END && !f->failed; s++) {
        switch (s->op) {
        case OP_SEND:
            if (s->len)
                fake_send_bytes(f, s->text, s->len, s->chunk);
            else
                fake_send(f, s->text, s->chunk);
            break;
        case OP_EXPECT:
            fake_expect(f, s);
            break;
        case OP_SLEEP:
            sleep_ms(s->ms);
            break;
        case OP_CLOSE:
            close(f->fd);
            f->fd = -1;
            closed = true;
            break;
        case OP_FLOOD:
            fake_flood(f, s->text);
            break;
        case OP_HOLD:
            /* POLLRDHUP comes with the hangup, however much is unread. */
            fake_wait(f, f->fd, POLLRDHUP);
            close(f->fd);
            f->fd = -1;
            closed = true;
            break;
        case OP_AGAIN:
            fake_accept_again(f);
            break;
        case OP_END:
            break;
        }
        if (closed)
            break;
    }
    if (closed)
        return NULL;
    /* Stay connected until the client hangs up, as QEMU would. */
    while (fake_wait(f, f->fd, POLLIN)) {
        char buf[4096];
        ssize_t n = recv(f->fd, buf, sizeof(buf), 0);
        if (n <= 0)
            break;
    }
    return NULL;
}

static char *
temp_socket_path(void)
{
    char dir[] = "/tmp/test-qmp-XXXXXX";
    cr_assert(mkdtemp(dir));
    return xasprintf("%s/qmp.sock", dir);
}

static void
remove_socket_path(char *path)
{
    unlink(path);
    *strrchr(path, '/') = '\0';
    rmdir(path);
    free(path);
}

static struct fake *
fake_new(const struct fake_step *script)
{
    struct fake *f = xzalloc(sizeof(*f));
    f->script = script;
    f->fd = f->listen_fd = -1;
    f->tok = json_tokener_new();
    return f;
}

/* A fake QEMU listening on path after delay_ms; with bind_now the socket is
 * bound at once (connections are refused) and only listens later. */
static struct fake *
fake_start_listening(const char *path, const struct fake_step *script, int delay_ms, bool bind_now)
{
    struct fake *f = fake_new(script);
    f->listen_path = path;
    f->delay_ms = delay_ms;
    f->bind_now = bind_now;
    if (bind_now) {
        f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
        cr_assert_eq(bind(f->listen_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
        if (delay_ms == 0)
            cr_assert_eq(listen(f->listen_fd, 1), 0);
    }
    cr_assert_eq(pthread_create(&f->thread, NULL, fake_main, f), 0);
    return f;
}

/* A fake QEMU listening on a temporary socket of its own: f->listen_path. */
static struct fake *
fake_start(const struct fake_step *script)
{
    char *path = temp_socket_path();
    struct fake *f = fake_start_listening(path, script, 0, true);
    f->own_path = path;
    return f;
}

/* Wait for the fake to finish (the client must have closed by now) and check
 * that it saw what it expected. */
static void
fake_finish(struct fake *f)
{
    pthread_join(f->thread, NULL);
    if (f->fd >= 0)
        close(f->fd);
    if (f->listen_fd >= 0)
        close(f->listen_fd);
    json_tokener_free(f->tok);
    for (size_t i = 0; i < f->n_ids; i++)
        free(f->ids[i]);
    if (f->own_path)
        remove_socket_path(f->own_path);
    bool failed = f->failed;
    char failure[sizeof(f->failure)];
    memcpy(failure, f->failure, sizeof(failure));
    free(f);
    cr_assert(!failed, "%s", failure);
}

static struct qemu_qmp *
connect_fake(struct fake *f, uint64_t timeout_ms)
{
    struct mp_error *err = NULL;
    struct qemu_qmp *qmp = NULL;
    int r = qemu_qmp_connect(f->listen_path, timeout_ms, &qmp, &err);
    cr_assert_eq(r, 0, "connect: %s", err ? err->message : "?");
    mp_error_free(err);
    return qmp;
}

static const char *
event_name(struct json_object *event)
{
    struct json_object *name;
    cr_assert(json_object_object_get_ex(event, "event", &name));
    return json_object_get_string(name);
}

/* The next event, queued or already received; NULL when there is none. */
static struct json_object *
next_event(struct qemu_qmp *qmp)
{
    struct json_object *e = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    int r = qemu_qmp_wait_event(qmp, NULL, 0, &e, &err);
    cr_assert(r == 0 || r == -ETIMEDOUT, "%s", err ? err->message : "?");
    return e;
}

static void
assert_next_event(struct qemu_qmp *qmp, const char *name)
{
    struct json_object *e = next_event(qmp);
    cr_assert(e, "no queued event, expected %s", name);
    cr_assert_str_eq(event_name(e), name);
    json_object_put(e);
}

#define EV(name)                                                                                   \
    "{\"event\": \"" name "\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}\r\n"

/* ---- handshake ---- */

Test(qmp, handshake_version_and_peer, .timeout = 10)
{
    static const struct fake_step script[] = { HANDSHAKE, END() };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    cr_assert_str_eq(qemu_qmp_version(qmp), "7.2.0");
    pid_t pid = 0;
    cr_assert_eq(qemu_qmp_peer_pid(qmp, &pid), 0);
    cr_assert_eq(pid, getpid());
    qemu_qmp_close(qmp);
    fake_finish(f);
}

static void
expect_connect_failure(const struct fake_step *script, uint64_t timeout_ms, int want,
                       const char *fragment)
{
    struct fake *f = fake_start(script);
    _cleanup_error_ struct mp_error *err = NULL;
    struct qemu_qmp *qmp = NULL;
    int r = qemu_qmp_connect(f->listen_path, timeout_ms, &qmp, &err);
    cr_assert_eq(r, want, "got %d (%s)", r, err ? err->message : "");
    cr_assert_null(qmp);
    cr_assert(err && strstr(err->message, fragment), "message: %s", err ? err->message : "");
    fake_finish(f);
}

Test(qmp, capabilities_go_out_before_the_greeting_is_read, .timeout = 10)
{
    /* This fake greets only once it has the command: a client that waited
     * for the greeting first would time out. */
    static const struct fake_step script[] = {
        EXPECT("qmp_capabilities"),
        GREETING,
        SEND("{\"return\": {}, \"id\": $0}\r\n"),
        END(),
    };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    cr_assert_str_eq(qemu_qmp_version(qmp), "7.2.0");
    qemu_qmp_close(qmp);
    fake_finish(f);
}

Test(qmp, greeting_without_qmp_is_refused, .timeout = 10)
{
    static const struct fake_step script[] = { SEND("{\"return\": {}}\r\n"), END() };
    expect_connect_failure(script, 1000, -EPROTO, "not a QMP greeting");
}

Test(qmp, greeting_that_is_an_event_is_refused, .timeout = 10)
{
    static const struct fake_step script[] = { SEND(EV("STOP")), END() };
    expect_connect_failure(script, 1000, -EPROTO, "not a QMP greeting");
}

Test(qmp, greeting_of_a_human_monitor_is_refused, .timeout = 10)
{
    static const struct fake_step script[] = {
        SEND("QEMU 7.2.0 monitor - type 'help' for more information\r\n(qemu) "),
        END(),
    };
    expect_connect_failure(script, 1000, -EPROTO, "invalid JSON");
}

Test(qmp, greeting_without_version_is_refused, .timeout = 10)
{
    static const struct fake_step script[] = {
        SEND("{\"QMP\": {\"capabilities\": []}}\r\n"),
        END(),
    };
    expect_connect_failure(script, 1000, -EPROTO, "version");
}

Test(qmp, no_greeting_times_out, .timeout = 10)
{
    static const struct fake_step script[] = { END() };
    uint64_t t0 = mp_now_ms();
    expect_connect_failure(script, 100, -ETIMEDOUT, "greeting");
    uint64_t elapsed = mp_now_ms() - t0;
    cr_assert(elapsed >= 100 && elapsed < 1000, "took %llu ms", (unsigned long long)elapsed);
}

Test(qmp, hangup_before_greeting, .timeout = 10)
{
    static const struct fake_step script[] = { CLOSE(), END() };
    expect_connect_failure(script, 1000, -ECONNRESET, "closed");
}

Test(qmp, capabilities_refused, .timeout = 10)
{
    static const struct fake_step script[] = {
        GREETING,
        EXPECT("qmp_capabilities"),
        SEND("{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"no caps today\"}, "
             "\"id\": $0}\r\n"),
        END(),
    };
    expect_connect_failure(script, 1000, -EREMOTEIO, "no caps today");
}

/* ---- commands ---- */

Test(qmp, execute_returns_the_return_member, .timeout = 10)
{
    static const struct fake_step script[] = {
        HANDSHAKE,
        EXPECT("query-status"),
        SEND("{\"return\": {\"status\": \"running\", \"running\": true}, \"id\": $1}\r\n"),
        EXPECT_ARGS("migrate", "{\"uri\": \"tcp:host:4444\"}"),
        SEND("{\"return\": {}, \"id\": $2}\r\n"),
        END(),
    };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    _cleanup_error_ struct mp_error *err = NULL;
    struct json_object *ret = NULL;
    cr_assert_eq(qemu_qmp_execute(qmp, "query-status", NULL, &ret, &err), 0);
    struct json_object *status;
    cr_assert(json_object_object_get_ex(ret, "status", &status));
    cr_assert_str_eq(json_object_get_string(status), "running");
    json_object_put(ret);

    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "uri", json_object_new_string("tcp:host:4444"));
    cr_assert_eq(qemu_qmp_execute(qmp, "migrate", args, NULL, &err), 0);
    cr_assert_null(err);
    qemu_qmp_close(qmp);
    fake_finish(f);
}

Test(qmp, error_reply_is_eremoteio_with_desc, .timeout = 10)
{
    static const struct fake_step script[] = {
        HANDSHAKE,
        EXPECT("migrate"),
        SEND("{\"id\": $1, \"error\": {\"class\": \"GenericError\", "
             "\"desc\": \"Parameter 'uri' is missing\"}}\r\n"),
        EXPECT("query-status"),
        SEND("{\"return\": {}, \"id\": $2}\r\n"),
        END(),
    };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    _cleanup_error_ struct mp_error *err = NULL;
    struct json_object *ret = (struct json_object *)1;
    cr_assert_eq(qemu_qmp_execute(qmp, "migrate", NULL, &ret, &err), -EREMOTEIO);
    cr_assert_null(ret);
    cr_assert(strstr(err->message, "Parameter 'uri' is missing"), "%s", err->message);
    cr_assert(strstr(err->message, "GenericError"), "%s", err->message);
    cr_assert(strstr(err->message, "migrate"), "%s", err->message);
    /* A refusal is an answer: the connection goes on. */
    cr_assert_eq(qemu_qmp_execute(qmp, "query-status", NULL, NULL, NULL), 0);
    qemu_qmp_close(qmp);
    fake_finish(f);
}

Test(qmp, error_without_id_answers_the_command, .timeout = 10)
{
    /* QEMU cannot echo the id of a command it could not parse. */
    static const struct fake_step script[] = {
        HANDSHAKE,
        EXPECT("query-status"),
        SEND("{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error\"}}\r\n"),
        END(),
    };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(qemu_qmp_execute(qmp, "query-status", NULL, NULL, &err), -EREMOTEIO);
    cr_assert(strstr(err->message, "JSON parse error"));
    qemu_qmp_close(qmp);
    fake_finish(f);
}

Test(qmp, malformed_error_reply_is_eproto, .timeout = 10)
{
    static const struct fake_step script[] = {
        HANDSHAKE,
        EXPECT("query-status"),
        SEND("{\"error\": {\"class\": \"GenericError\"}, \"id\": $1}\r\n"),
        END(),
    };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(qemu_qmp_execute(qmp, "query-status", NULL, NULL, &err), -EPROTO);
    qemu_qmp_close(qmp);
    fake_finish(f);
}

Test(qmp, reply_with_wrong_id_is_eproto, .timeout = 10)
{
    static const struct fake_step script[] = {
        HANDSHAKE,
        EXPECT("query-status"),
        SEND("{\"return\": {}, \"id\": 999}\r\n"),
        END(),
    };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(qemu_qmp_execute(qmp, "query-status", NULL, NULL, &err), -EPROTO);
    cr_assert(strstr(err->message, "with id 999"), "%s", err->message);
    /* The stream cannot be trusted any more. */
    _cleanup_error_ struct mp_error *err2 = NULL;
    cr_assert_eq(qemu_qmp_execute(qmp, "query-status", NULL, NULL, &err2), -EPROTO);
    cr_assert(strstr(err2->message, "earlier error"), "%s", err2->message);
    qemu_qmp_close(qmp);
    fake_finish(f);
}

Test(qmp, successful_reply_without_id_is_eproto, .timeout = 10)
{
    static const struct fake_step script[] = {
        HANDSHAKE,
        EXPECT("query-status"),
        SEND("{\"return\": {}}\r\n"),
        END(),
    };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(qemu_qmp_execute(qmp, "query-status", NULL, NULL, &err), -EPROTO);
    qemu_qmp_close(qmp);
    fake_finish(f);
}

Test(qmp, arguments_must_be_an_object)
{
    static const struct fake_step script[] = { HANDSHAKE, END() };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    _cleanup_error_ struct mp_error *err = NULL;
    /* Consumed even when refused. */
    cr_assert_eq(qemu_qmp_execute(qmp, "migrate", json_object_new_array(), NULL, &err), -EINVAL);
    qemu_qmp_close(qmp);
    fake_finish(f);
}

/* ---- events ---- */

Test(qmp, events_between_command_and_reply_are_queued_in_order, .timeout = 10)
{
    static const struct fake_step script[] = {
        HANDSHAKE,
        EXPECT("stop"),
        SEND(EV("STOP")),
        SEND("{\"event\": \"MIGRATION\", \"data\": {\"status\": \"active\"}, "
             "\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}\r\n"),
        SEND(EV("RTC_CHANGE")),
        SEND("{\"return\": {}, \"id\": $1}\r\n"),
        END(),
    };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    cr_assert_eq(qemu_qmp_execute(qmp, "stop", NULL, NULL, NULL), 0);
    assert_next_event(qmp, "STOP");
    struct json_object *e = next_event(qmp);
    cr_assert_str_eq(event_name(e), "MIGRATION");
    struct json_object *data, *status;
    cr_assert(json_object_object_get_ex(e, "data", &data));
    cr_assert(json_object_object_get_ex(data, "status", &status));
    cr_assert_str_eq(json_object_get_string(status), "active");
    json_object_put(e);
    assert_next_event(qmp, "RTC_CHANGE");
    cr_assert_null(next_event(qmp));
    qemu_qmp_close(qmp);
    fake_finish(f);
}

Test(qmp, wait_event_takes_queued_events_by_name, .timeout = 10)
{
    static const struct fake_step script[] = {
        HANDSHAKE,
        EXPECT("cont"),
        SEND(EV("A") EV("B") EV("RESUME") EV("C")),
        SEND("{\"return\": {}, \"id\": $1}\r\n"),
        END(),
    };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    cr_assert_eq(qemu_qmp_execute(qmp, "cont", NULL, NULL, NULL), 0);
    struct json_object *e = NULL;
    cr_assert_eq(qemu_qmp_wait_event(qmp, "RESUME", 0, &e, NULL), 0);
    cr_assert_str_eq(event_name(e), "RESUME");
    json_object_put(e);
    cr_assert_eq(qemu_qmp_wait_event(qmp, NULL, 0, &e, NULL), 0);
    cr_assert_str_eq(event_name(e), "A");
    json_object_put(e);
    assert_next_event(qmp, "B");
    assert_next_event(qmp, "C");
    cr_assert_null(next_event(qmp));
    qemu_qmp_close(qmp);
    fake_finish(f);
}

Test(qmp, wait_event_reads_the_socket_and_queues_others, .timeout = 10)
{
    static const struct fake_step script[] = {
        HANDSHAKE, SLEEP(20), SEND(EV("MIGRATION_PASS")), SLEEP(20), SEND(EV("RESUME")), END(),
    };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    struct json_object *e = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(qemu_qmp_wait_event(qmp, "RESUME", 2000, &e, &err), 0);
    cr_assert_str_eq(event_name(e), "RESUME");
    json_object_put(e);
    assert_next_event(qmp, "MIGRATION_PASS");
    qemu_qmp_close(qmp);
    fake_finish(f);
}

Test(qmp, uncollected_events_do_not_grow_without_bound, .timeout = 10)
{
    /* 1100 events nobody collects: the oldest are dropped past 1024. */
    size_t cap = 64 * 1100;
    _cleanup_free_ char *events = xmalloc(cap);
    size_t len = 0;
    for (int i = 0; i < 1100; i++)
        len += (size_t)snprintf(events + len, cap - len, "{\"event\": \"E%d\"}\r\n", i);
    const struct fake_step script[] = {
        HANDSHAKE, EXPECT("query-status"), SEND(events), SEND("{\"return\": {}, \"id\": $1}"),
        END(),
    };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    cr_assert_eq(qemu_qmp_execute(qmp, "query-status", NULL, NULL, NULL), 0);
    assert_next_event(qmp, "E76");
    size_t n = 1;
    struct json_object *e;
    while ((e = next_event(qmp))) {
        json_object_put(e);
        n++;
    }
    cr_assert_eq(n, 1024);
    qemu_qmp_close(qmp);
    fake_finish(f);
}

Test(qmp, wait_event_times_out, .timeout = 10)
{
    static const struct fake_step script[] = { HANDSHAKE, SEND(EV("OTHER")), END() };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    struct json_object *e = (struct json_object *)1;
    _cleanup_error_ struct mp_error *err = NULL;
    uint64_t t0 = mp_now_ms();
    cr_assert_eq(qemu_qmp_wait_event(qmp, "STOP", 100, &e, &err), -ETIMEDOUT);
    uint64_t elapsed = mp_now_ms() - t0;
    cr_assert(elapsed >= 100 && elapsed < 1000, "took %llu ms", (unsigned long long)elapsed);
    cr_assert_null(e);
    cr_assert(strstr(err->message, "STOP"), "%s", err->message);
    /* A timeout leaves the connection usable; the other event is queued. */
    assert_next_event(qmp, "OTHER");
    qemu_qmp_close(qmp);
    fake_finish(f);
}

Test(qmp, unexpected_reply_while_waiting_for_an_event, .timeout = 10)
{
    static const struct fake_step script[] = {
        HANDSHAKE,
        SEND("{\"return\": {}, \"id\": \"nobody-asked\"}\r\n"),
        END(),
    };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    struct json_object *e = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(qemu_qmp_wait_event(qmp, NULL, 1000, &e, &err), -EPROTO);
    qemu_qmp_close(qmp);
    fake_finish(f);
}

Test(qmp, events_before_a_hangup_are_kept, .timeout = 10)
{
    static const struct fake_step script[] = { HANDSHAKE, SEND(EV("SHUTDOWN")), CLOSE(), END() };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(qemu_qmp_wait_event(qmp, "RESET", 2000, NULL, &err), -ECONNRESET);
    cr_assert(strstr(err->message, "closed"), "%s", err->message);
    /* What QEMU said before it went is still there, and only that. */
    cr_assert_eq(qemu_qmp_wait_event(qmp, "SHUTDOWN", 0, NULL, NULL), 0);
    cr_assert_eq(qemu_qmp_wait_event(qmp, NULL, 100, NULL, NULL), -ECONNRESET);
    qemu_qmp_close(qmp);
    fake_finish(f);
}

/* ---- framing ---- */

Test(qmp, tiny_writes, .timeout = 10)
{
    static const struct fake_step script[] = {
        SEND_SPLIT(GREETING_TEXT, 1),
        EXPECT("qmp_capabilities"),
        SEND_SPLIT("{\"return\": {}, \"id\": $0}\r\n", 1),
        EXPECT("query-status"),
        SEND_SPLIT(EV("STOP") "{\"return\": {\"status\": \"paused\", \"running\": false}, "
                              "\"id\": $1}\r\n",
                   3),
        END(),
    };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 2000);
    cr_assert_str_eq(qemu_qmp_version(qmp), "7.2.0");
    struct json_object *ret = NULL;
    cr_assert_eq(qemu_qmp_execute(qmp, "query-status", NULL, &ret, NULL), 0);
    struct json_object *status;
    cr_assert(json_object_object_get_ex(ret, "status", &status));
    cr_assert_str_eq(json_object_get_string(status), "paused");
    json_object_put(ret);
    assert_next_event(qmp, "STOP");
    qemu_qmp_close(qmp);
    fake_finish(f);
}

Test(qmp, several_messages_in_one_write, .timeout = 10)
{
    /* The greeting and the capabilities reply in one write cannot happen (we
     * answer the greeting first), but everything after can: events, the
     * reply and a trailing event, with and without line ends between them. */
    static const struct fake_step script[] = {
        HANDSHAKE,
        EXPECT("query-status"),
        SEND("{\"event\": \"E1\"}{\"return\": {\"status\": \"running\"}, \"id\": $1}\r\n"
             "{\"event\": \"E2\"}  {\"event\": \"E3\"}"),
        END(),
    };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    cr_assert_eq(qemu_qmp_execute(qmp, "query-status", NULL, NULL, NULL), 0);
    /* The events after the reply came in the same read: already queued. */
    assert_next_event(qmp, "E1");
    assert_next_event(qmp, "E2");
    assert_next_event(qmp, "E3");
    cr_assert_null(next_event(qmp));
    qemu_qmp_close(qmp);
    fake_finish(f);
}

Test(qmp, stray_reply_after_the_reply_fails_the_next_call, .timeout = 10)
{
    /* Read together with our reply, a stray reply is judged on the next call,
     * not thrown at the command that already has its answer. */
    static const struct fake_step script[] = {
        HANDSHAKE,
        EXPECT("query-status"),
        SEND("{\"return\": {}, \"id\": $1}\r\n{\"event\": \"E1\"}\r\n"
             "{\"return\": {}, \"id\": \"stray\"}\r\n{\"event\": \"E2\"}\r\n"),
        EXPECT("query-status"),
        END(),
    };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    cr_assert_eq(qemu_qmp_execute(qmp, "query-status", NULL, NULL, NULL), 0);
    assert_next_event(qmp, "E1");
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(qemu_qmp_execute(qmp, "query-status", NULL, NULL, &err), -EPROTO);
    cr_assert(strstr(err->message, "stray"), "%s", err->message);
    qemu_qmp_close(qmp);
    fake_finish(f);
}

Test(qmp, disconnect_mid_reply, .timeout = 10)
{
    static const struct fake_step script[] = {
        HANDSHAKE, EXPECT("query-status"), SEND("{\"return\": {\"status\": \"runn"), CLOSE(), END(),
    };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(qemu_qmp_execute(qmp, "query-status", NULL, NULL, &err), -ECONNRESET);
    cr_assert(strstr(err->message, "closed"), "%s", err->message);
    _cleanup_error_ struct mp_error *err2 = NULL;
    cr_assert_eq(qemu_qmp_execute(qmp, "query-status", NULL, NULL, &err2), -ECONNRESET);
    qemu_qmp_close(qmp);
    fake_finish(f);
}

Test(qmp, disconnect_before_command, .timeout = 10)
{
    static const struct fake_step script[] = { HANDSHAKE, CLOSE(), END() };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    fake_finish(f); /* the other end is gone for sure */
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(qemu_qmp_execute(qmp, "query-status", NULL, NULL, &err), -ECONNRESET);
    qemu_qmp_close(qmp);
}

/* ---- several commands at once ---- */

static int64_t
int_member(struct json_object *obj, const char *key)
{
    struct json_object *v = NULL;
    cr_assert(obj && json_object_object_get_ex(obj, key, &v), "no %s in %s", key,
              obj ? json_object_to_json_string(obj) : "NULL");
    return json_object_get_int64(v);
}

Test(qmp, execute_all_sends_every_command_before_reading, .timeout = 10)
{
    /* The fake reads all three commands before it answers: a client that
     * waited for each reply before the next command would hang here. */
    static const struct fake_step script[] = {
        HANDSHAKE,
        EXPECT("query-status"),
        EXPECT_ARGS("migrate-set-parameters", "{\"downtime-limit\": 300}"),
        EXPECT("query-name"),
        SEND("{\"return\": {\"n\": 1}, \"id\": $1}\r\n" EV(
            "STOP") "{\"return\": {\"n\": 2}, \"id\": $2}\r\n{\"return\": {\"n\": 3}, \"id\": "
                    "$3}\r\n"),
        END(),
    };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "downtime-limit", json_object_new_int(300));
    struct qemu_qmp_call calls[] = {
        { .command = "query-status" },
        { .command = "migrate-set-parameters", .args = args },
        { .command = "query-name" },
    };
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(qemu_qmp_execute_all(qmp, calls, 3, &err), 0, "%s", err ? err->message : "");
    for (int i = 0; i < 3; i++)
        cr_assert_eq(int_member(calls[i].ret, "n"), i + 1);
    assert_next_event(qmp, "STOP");
    qemu_qmp_calls_free(calls, 3);
    qemu_qmp_close(qmp);
    fake_finish(f);
}

Test(qmp, execute_all_reports_the_first_refusal_and_reads_every_reply, .timeout = 10)
{
    static const struct fake_step script[] = {
        HANDSHAKE,
        EXPECT("query-status"),
        EXPECT("migrate-set-capabilities"),
        EXPECT("query-name"),
        SEND("{\"return\": {\"n\": 1}, \"id\": $1}\r\n"
             "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no such capability\"}, "
             "\"id\": $2}\r\n{\"return\": {\"n\": 3}, \"id\": $3}\r\n"),
        EXPECT("query-migrate"),
        SEND("{\"return\": {\"n\": 4}, \"id\": $4}\r\n"),
        END(),
    };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    struct qemu_qmp_call calls[] = {
        { .command = "query-status" },
        { .command = "migrate-set-capabilities" },
        { .command = "query-name" },
    };
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(qemu_qmp_execute_all(qmp, calls, 3, &err), -EREMOTEIO);
    cr_assert(strstr(err->message, "migrate-set-capabilities failed: no such capability"), "%s",
              err->message);
    cr_assert_eq(int_member(calls[0].ret, "n"), 1);
    cr_assert_null(calls[1].ret);
    cr_assert_eq(calls[1].result, -EREMOTEIO);
    cr_assert(strstr(calls[1].error->message, "no such capability"), "%s", calls[1].error->message);
    cr_assert_eq(int_member(calls[2].ret, "n"), 3);
    cr_assert_eq(calls[0].result + calls[2].result, 0);
    cr_assert(!calls[0].error && !calls[2].error);
    qemu_qmp_calls_free(calls, 3);
    /* Every reply was taken: the next command gets its own. */
    struct json_object *ret = NULL;
    cr_assert_eq(qemu_qmp_execute(qmp, "query-migrate", NULL, &ret, NULL), 0);
    cr_assert_eq(int_member(ret, "n"), 4);
    json_object_put(ret);
    qemu_qmp_close(qmp);
    fake_finish(f);
}

Test(qmp, execute_all_timeout_discards_the_late_replies, .timeout = 10)
{
    static const struct fake_step script[] = {
        HANDSHAKE,
        EXPECT("query-status"),
        EXPECT("query-name"),
        SLEEP(400),
        SEND("{\"return\": {\"n\": 1}, \"id\": $1}\r\n{\"return\": {\"n\": 2}, \"id\": $2}\r\n"),
        EXPECT("query-migrate"),
        SEND("{\"return\": {\"n\": 3}, \"id\": $3}\r\n"),
        END(),
    };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 200);
    struct qemu_qmp_call calls[] = { { .command = "query-status" }, { .command = "query-name" } };
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(qemu_qmp_execute_all(qmp, calls, 2, &err), -ETIMEDOUT);
    cr_assert(strstr(err->message, "query-status"), "%s", err->message);
    cr_assert_null(calls[0].ret);
    cr_assert_null(calls[1].ret);
    cr_assert_eq(calls[0].result, -ETIMEDOUT);
    cr_assert_eq(calls[1].result, -ECANCELED);
    qemu_qmp_calls_free(calls, 2);
    /* The late replies arrive before the next command, which the fake
     * answers at once. */
    sleep_ms(400);
    struct json_object *ret = NULL;
    cr_assert_eq(qemu_qmp_execute(qmp, "query-migrate", NULL, &ret, NULL), 0);
    cr_assert_eq(int_member(ret, "n"), 3);
    json_object_put(ret);
    qemu_qmp_close(qmp);
    fake_finish(f);
}

Test(qmp, execute_all_refuses_too_many_and_sends_nothing, .timeout = 10)
{
    static const struct fake_step script[] = {
        HANDSHAKE,
        EXPECT("query-status"),
        SEND("{\"return\": {\"n\": 1}, \"id\": $1}\r\n"),
        END(),
    };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    struct qemu_qmp_call calls[QEMU_QMP_MAX_CALLS + 1];
    for (size_t i = 0; i < ARRAY_SIZE(calls); i++)
        calls[i] =
            (struct qemu_qmp_call){ .command = "query-name", .args = json_object_new_object() };
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(qemu_qmp_execute_all(qmp, calls, ARRAY_SIZE(calls), &err), -E2BIG);
    for (size_t i = 0; i < ARRAY_SIZE(calls); i++) {
        cr_assert_null(calls[i].args, "the arguments of call %zu were not consumed", i);
        cr_assert_null(calls[i].ret);
        cr_assert_eq(calls[i].result, -ECANCELED);
    }
    /* The fake expects query-status next: nothing of the batch went out. */
    cr_assert_eq(qemu_qmp_execute(qmp, "query-status", NULL, NULL, NULL), 0);
    qemu_qmp_close(qmp);
    fake_finish(f);
}

Test(qmp, no_reply_times_out, .timeout = 10)
{
    static const struct fake_step script[] = { HANDSHAKE, EXPECT("query-status"), END() };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 100);
    _cleanup_error_ struct mp_error *err = NULL;
    uint64_t t0 = mp_now_ms();
    cr_assert_eq(qemu_qmp_execute(qmp, "query-status", NULL, NULL, &err), -ETIMEDOUT);
    uint64_t elapsed = mp_now_ms() - t0;
    cr_assert(elapsed >= 100 && elapsed < 1000, "took %llu ms", (unsigned long long)elapsed);
    cr_assert(strstr(err->message, "query-status"), "%s", err->message);
    qemu_qmp_close(qmp);
    fake_finish(f);
}

Test(qmp, send_to_a_qemu_that_does_not_read_times_out, .timeout = 10)
{
    static const struct fake_step script[] = { HANDSHAKE, HOLD(), END() };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 100);
    /* More than the socket buffers hold: the send itself must wait. */
    size_t len = 4 * 1024 * 1024;
    _cleanup_free_ char *blob = xmalloc(len + 1);
    memset(blob, 'b', len);
    blob[len] = '\0';
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "data", json_object_new_string(blob));
    _cleanup_error_ struct mp_error *err = NULL;
    uint64_t t0 = mp_now_ms();
    cr_assert_eq(qemu_qmp_execute(qmp, "guest-file-write", args, NULL, &err), -ETIMEDOUT);
    uint64_t elapsed = mp_now_ms() - t0;
    cr_assert(elapsed >= 100 && elapsed < 1000, "took %llu ms", (unsigned long long)elapsed);
    cr_assert(strstr(err->message, "QEMU to read guest-file-write"), "%s", err->message);
    /* Half a command went out: nothing can follow it. */
    _cleanup_error_ struct mp_error *err2 = NULL;
    cr_assert_lt(qemu_qmp_execute(qmp, "query-status", NULL, NULL, &err2), 0);
    cr_assert(strstr(err2->message, "earlier error"), "%s", err2->message);
    qemu_qmp_close(qmp);
    fake_finish(f);
}

Test(qmp, late_reply_after_timeout_is_discarded, .timeout = 10)
{
    static const struct fake_step script[] = {
        HANDSHAKE,
        EXPECT("query-migrate"),
        EXPECT("query-status"),
        SEND("{\"return\": {\"late\": true}, \"id\": $1}\r\n"),
        SEND("{\"return\": {\"status\": \"running\"}, \"id\": $2}\r\n"),
        END(),
    };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 200);
    cr_assert_eq(qemu_qmp_execute(qmp, "query-migrate", NULL, NULL, NULL), -ETIMEDOUT);
    /* The fake answers both at once now: the late reply comes first. */
    struct json_object *ret = NULL;
    cr_assert_eq(qemu_qmp_execute(qmp, "query-status", NULL, &ret, NULL), 0);
    cr_assert(json_object_object_get_ex(ret, "status", NULL), "got %s",
              json_object_to_json_string(ret));
    json_object_put(ret);
    qemu_qmp_close(qmp);
    fake_finish(f);
}

Test(qmp, late_reply_while_waiting_for_an_event_is_discarded, .timeout = 10)
{
    static const struct fake_step script[] = {
        HANDSHAKE,        EXPECT("query-migrate"),
        SLEEP(300),       SEND("{\"return\": {}, \"id\": $1}\r\n"),
        SEND(EV("STOP")), END(),
    };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 100);
    cr_assert_eq(qemu_qmp_execute(qmp, "query-migrate", NULL, NULL, NULL), -ETIMEDOUT);
    struct json_object *e = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(qemu_qmp_wait_event(qmp, "STOP", 2000, &e, &err), 0, "%s",
                 err ? err->message : "");
    json_object_put(e);
    qemu_qmp_close(qmp);
    fake_finish(f);
}

Test(qmp, oversized_reply_is_refused_without_unbounded_buffering, .timeout = 10)
{
    static const struct fake_step script[] = {
        HANDSHAKE,
        EXPECT("query-qmp-schema"),
        FLOOD("{\"return\": \""),
        END(),
    };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 3000);
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(qemu_qmp_execute(qmp, "query-qmp-schema", NULL, NULL, &err), -EMSGSIZE);
    qemu_qmp_close(qmp);
    size_t flooded = f->flooded;
    fake_finish(f);
    /* What the client read, plus what the socket buffers held. */
    cr_assert(flooded > QEMU_QMP_MAX_MESSAGE && flooded < 4 * QEMU_QMP_MAX_MESSAGE,
              "the fake wrote %zu bytes", flooded);
}

Test(qmp, large_reply_under_the_limit, .timeout = 10)
{
    size_t len = QEMU_QMP_MAX_MESSAGE - 1024;
    _cleanup_free_ char *reply = xmalloc(len + 64);
    char *p = reply + sprintf(reply, "{\"return\": \"");
    memset(p, 'y', len - 64);
    strcpy(p + len - 64, "\", \"id\": $1}\r\n");
    const struct fake_step script[] = {
        HANDSHAKE,
        EXPECT("query-qmp-schema"),
        SEND_SPLIT(reply, 4096),
        END(),
    };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 3000);
    struct json_object *ret = NULL;
    cr_assert_eq(qemu_qmp_execute(qmp, "query-qmp-schema", NULL, &ret, NULL), 0);
    cr_assert_eq(json_object_get_string_len(ret), (int)(len - 64));
    json_object_put(ret);
    qemu_qmp_close(qmp);
    fake_finish(f);
}

static void
expect_protocol_error(const char *garbage)
{
    const struct fake_step script[] = { HANDSHAKE, EXPECT("query-status"), SEND(garbage), END() };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    _cleanup_error_ struct mp_error *err = NULL;
    int r = qemu_qmp_execute(qmp, "query-status", NULL, NULL, &err);
    cr_assert_eq(r, -EPROTO, "%s: got %d (%s)", garbage, r, err ? err->message : "");
    qemu_qmp_close(qmp);
    fake_finish(f);
}

Test(qmp, garbage_is_eproto, .timeout = 10)
{
    expect_protocol_error("this is not JSON\r\n");
    expect_protocol_error("{\"return\": {}, \"id\": $1,}\r\n");
    expect_protocol_error("\x80\x81\r\n");
}

Test(qmp, non_object_json_is_eproto, .timeout = 10)
{
    expect_protocol_error("[1, 2, 3]\r\n");
    expect_protocol_error("\"just a string\"\r\n");
    expect_protocol_error("42\r\n");
    expect_protocol_error("null\r\n");
    expect_protocol_error("{\"hello\": \"world\"}\r\n");
    expect_protocol_error("{\"return\": {}, \"error\": {\"class\": \"a\", \"desc\": \"b\"}, "
                          "\"id\": $1}\r\n");
    expect_protocol_error("{\"event\": 7}\r\n");
    expect_protocol_error(GREETING_TEXT);
}

/* ---- interruption ---- */

static volatile sig_atomic_t interrupted;

static void
on_sigusr1(int sig)
{
    interrupted = sig;
}

struct kicker {
    pthread_t target;
    bool signal;
};

static void *
kick(void *arg)
{
    struct kicker *k = arg;
    sleep_ms(30);
    if (k->signal)
        pthread_kill(k->target, SIGUSR1);
    else
        interrupted = SIGUSR1; /* as if the signal went to another thread */
    return NULL;
}

static void
expect_interrupted(bool by_signal)
{
    static const struct fake_step script[] = {
        HANDSHAKE,
        EXPECT("migrate"),
        EXPECT("migrate_cancel"),
        SEND("{\"return\": {\"late\": true}, \"id\": $1}\r\n"),
        SEND("{\"return\": {}, \"id\": $2}\r\n"),
        END(),
    };
    struct sigaction sa = { .sa_handler = on_sigusr1 }; /* no SA_RESTART */
    sigaction(SIGUSR1, &sa, NULL);
    interrupted = 0;

    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 5000);
    qemu_qmp_set_interrupt(qmp, &interrupted);
    struct kicker k = { .target = pthread_self(), .signal = by_signal };
    pthread_t t;
    pthread_create(&t, NULL, kick, &k);
    _cleanup_error_ struct mp_error *err = NULL;
    uint64_t t0 = mp_now_ms();
    cr_assert_eq(qemu_qmp_execute(qmp, "migrate", NULL, NULL, &err), -EINTR);
    uint64_t elapsed = mp_now_ms() - t0;
    pthread_join(t, NULL);
    cr_assert(elapsed < 1000, "took %llu ms", (unsigned long long)elapsed);
    _cleanup_free_ char *said = xasprintf("interrupted by signal %d", SIGUSR1);
    cr_assert_str_eq(err->message, said);

    /* Perform cancels next, the flag still set: it interrupted once already. */
    struct json_object *ret = NULL;
    cr_assert_eq(qemu_qmp_execute(qmp, "migrate_cancel", NULL, &ret, NULL), 0);
    cr_assert_null(json_object_object_get(ret, "late"));
    json_object_put(ret);
    qemu_qmp_close(qmp);
    fake_finish(f);
}

Test(qmp, interrupt_by_signal, .timeout = 10)
{
    expect_interrupted(true);
}

Test(qmp, interrupt_flag_set_elsewhere, .timeout = 10)
{
    expect_interrupted(false);
}

Test(qmp, interrupt_each_value_once, .timeout = 10)
{
    static const struct fake_step script[] = {
        HANDSHAKE,
        SEND(EV("STOP")),
        END(),
    };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    /* Set between two calls: the next wait reports it at once. */
    static volatile sig_atomic_t flag = SIGINT;
    qemu_qmp_set_interrupt(qmp, &flag);
    _cleanup_error_ struct mp_error *err = NULL;
    uint64_t t0 = mp_now_ms();
    cr_assert_eq(qemu_qmp_wait_event(qmp, "RESUME", 5000, NULL, &err), -EINTR);
    cr_assert_lt(mp_now_ms() - t0, 1000);
    _cleanup_free_ char *said = xasprintf("interrupted by signal %d", SIGINT);
    cr_assert_str_eq(err->message, said);
    /* Reported once: the same value does not interrupt again. */
    cr_assert_eq(qemu_qmp_wait_event(qmp, "RESUME", 20, NULL, NULL), -ETIMEDOUT);
    /* Another signal does. */
    flag = SIGTERM;
    cr_assert_eq(qemu_qmp_wait_event(qmp, "RESUME", 5000, NULL, NULL), -EINTR);
    /* Cleared, then set again: a new interruption. */
    flag = 0;
    cr_assert_eq(qemu_qmp_wait_event(qmp, "RESUME", 20, NULL, NULL), -ETIMEDOUT);
    flag = SIGTERM;
    cr_assert_eq(qemu_qmp_wait_event(qmp, "RESUME", 5000, NULL, NULL), -EINTR);
    /* Without a flag nothing interrupts; event NULL drops what was waited for. */
    qemu_qmp_set_interrupt(qmp, NULL);
    cr_assert_eq(qemu_qmp_wait_event(qmp, "STOP", 1000, NULL, NULL), 0);
    cr_assert_null(next_event(qmp));
    qemu_qmp_close(qmp);
    fake_finish(f);
}

/* ---- connecting by path ---- */

Test(qmp, connect_names_the_socket_on_error)
{
    _cleanup_error_ struct mp_error *err = NULL;
    struct qemu_qmp *qmp = NULL;
    int r = qemu_qmp_connect("/nonexistent/qmp.sock", 1000, &qmp, &err);
    cr_assert_eq(r, -ENOENT);
    cr_assert_null(qmp);
    cr_assert_str_eq(
        err->message,
        "cannot connect to QMP socket /nonexistent/qmp.sock: No such file or directory");
}

Test(qmp, connect_path_too_long)
{
    char path[200];
    memset(path, 'a', sizeof(path) - 1);
    path[0] = '/';
    path[sizeof(path) - 1] = '\0';
    struct qemu_qmp *qmp = NULL;
    cr_assert_eq(qemu_qmp_connect(path, 100, &qmp, NULL), -ENAMETOOLONG);
}

Test(qmp, connect_by_path, .timeout = 10)
{
    static const struct fake_step script[] = {
        HANDSHAKE,
        EXPECT("query-status"),
        SEND("{\"return\": {}, \"id\": $1}\r\n"),
        END(),
    };
    char *path = temp_socket_path();
    struct fake *f = fake_start_listening(path, script, 0, true);
    struct qemu_qmp *qmp = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(qemu_qmp_connect(path, 1000, &qmp, &err), 0, "%s", err ? err->message : "");
    pid_t pid = 0;
    cr_assert_eq(qemu_qmp_peer_pid(qmp, &pid), 0);
    cr_assert_eq(pid, getpid());
    cr_assert_eq(qemu_qmp_execute(qmp, "query-status", NULL, NULL, NULL), 0);
    qemu_qmp_close(qmp);
    fake_finish(f);
    remove_socket_path(path);
}

Test(qmp, connect_handshake_errors_name_the_socket, .timeout = 10)
{
    static const struct fake_step script[] = { SEND("{\"return\": {}}\r\n"), END() };
    char *path = temp_socket_path();
    struct fake *f = fake_start_listening(path, script, 0, true);
    _cleanup_error_ struct mp_error *err = NULL;
    struct qemu_qmp *qmp = NULL;
    cr_assert_eq(qemu_qmp_connect(path, 1000, &qmp, &err), -EPROTO);
    _cleanup_free_ char *want = xasprintf("QMP socket %s: not a QMP greeting", path);
    cr_assert(mp_str_has_prefix(err->message, want), "%s", err->message);
    fake_finish(f);
    remove_socket_path(path);
}

Test(qmp, connect_refused_names_the_socket, .timeout = 10)
{
    char *path = temp_socket_path();
    /* Bound but not listening: connections are refused. */
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    _cleanup_error_ struct mp_error *err = NULL;
    struct qemu_qmp *qmp = NULL;
    cr_assert_eq(qemu_qmp_connect(path, 1000, &qmp, &err), -ECONNREFUSED);
    _cleanup_free_ char *want =
        xasprintf("cannot connect to QMP socket %s: Connection refused", path);
    cr_assert_str_eq(err->message, want);
    remove_socket_path(path);
}

/* connect_wait for a "QEMU" that lives throughout: this process. */
static int
connect_wait(const char *path, uint64_t timeout_ms, struct qemu_qmp **qmp, struct mp_error **err)
{
    struct qemu_qmp_starting vm = { .pid = getpid(),
                                    .what = "the test QEMU",
                                    .log_path = "/nonexistent/qemu.log" };
    return qemu_qmp_connect_wait(path, &vm, timeout_ms, qmp, err);
}

Test(qmp, connect_wait_for_a_socket_that_appears, .timeout = 10)
{
    static const struct fake_step script[] = { HANDSHAKE, END() };
    char *path = temp_socket_path();
    struct fake *f = fake_start_listening(path, script, 50, false);
    struct qemu_qmp *qmp = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    uint64_t t0 = mp_now_ms();
    cr_assert_eq(connect_wait(path, 2000, &qmp, &err), 0, "%s", err ? err->message : "");
    cr_assert_geq(mp_now_ms() - t0, 40);
    cr_assert_str_eq(qemu_qmp_version(qmp), "7.2.0");
    qemu_qmp_close(qmp);
    fake_finish(f);
    remove_socket_path(path);
}

Test(qmp, connect_wait_for_a_socket_that_starts_listening, .timeout = 10)
{
    static const struct fake_step script[] = { HANDSHAKE, END() };
    char *path = temp_socket_path();
    struct fake *f = fake_start_listening(path, script, 50, true);
    struct qemu_qmp *qmp = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(connect_wait(path, 2000, &qmp, &err), 0, "%s", err ? err->message : "");
    qemu_qmp_close(qmp);
    fake_finish(f);
    remove_socket_path(path);
}

Test(qmp, connect_wait_tries_again_after_a_hangup, .timeout = 10)
{
    /* A QEMU may accept, then close, while it sets its monitor up. */
    static const struct fake_step script[] = { AGAIN(), HANDSHAKE, END() };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(connect_wait(f->listen_path, 2000, &qmp, &err), 0, "%s", err ? err->message : "");
    cr_assert_str_eq(qemu_qmp_version(qmp), "7.2.0");
    qemu_qmp_close(qmp);
    fake_finish(f);
}

Test(qmp, connect_wait_refuses_a_stranger_at_once, .timeout = 10)
{
    static const struct fake_step script[] = { SEND("{\"return\": {}}\r\n"), END() };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    uint64_t t0 = mp_now_ms();
    cr_assert_eq(connect_wait(f->listen_path, 5000, &qmp, &err), -EPROTO);
    cr_assert_lt(mp_now_ms() - t0, 2000);
    cr_assert_null(qmp);
    cr_assert(strstr(err->message, "not a QMP greeting"), "%s", err->message);
    fake_finish(f);
}

Test(qmp, connect_wait_times_out, .timeout = 10)
{
    _cleanup_error_ struct mp_error *err = NULL;
    struct qemu_qmp *qmp = NULL;
    uint64_t t0 = mp_now_ms();
    cr_assert_eq(connect_wait("/nonexistent/qmp.sock", 100, &qmp, &err), -ETIMEDOUT);
    uint64_t elapsed = mp_now_ms() - t0;
    cr_assert(elapsed >= 100 && elapsed < 1000, "took %llu ms", (unsigned long long)elapsed);
    cr_assert_str_eq(err->message, "the test QEMU was not ready within 100 ms: cannot connect to "
                                   "QMP socket /nonexistent/qmp.sock: No such file or directory");
}

Test(qmp, connect_wait_gives_up_when_the_process_dies, .timeout = 10)
{
    char dir[] = "/tmp/test-qmp-XXXXXX";
    cr_assert(mkdtemp(dir));
    _cleanup_free_ char *log = xasprintf("%s/qemu.log", dir);
    FILE *fp = fopen(log, "w");
    cr_assert(fp);
    fputs("starting\nqemu: cannot allocate guest memory\n", fp);
    fclose(fp);
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0)
        _exit(1);
    /* Not reaped yet: a zombie counts as dead. */
    struct qemu_qmp_starting vm = { .pid = child, .what = "the test QEMU", .log_path = log };
    _cleanup_free_ char *path = xasprintf("%s/qmp.sock", dir);
    _cleanup_error_ struct mp_error *err = NULL;
    struct qemu_qmp *qmp = NULL;
    uint64_t t0 = mp_now_ms();
    cr_assert_eq(qemu_qmp_connect_wait(path, &vm, 5000, &qmp, &err), -ECHILD);
    cr_assert_lt(mp_now_ms() - t0, 2000);
    cr_assert_str_eq(err->message,
                     "the test QEMU exited at start: qemu: cannot allocate guest memory");
    waitpid(child, NULL, 0);
    unlink(log);
    rmdir(dir);
}

/* Answers taken before hold while QEMU says nothing: an event, which every
 * change of the run state sends, ends that. */
Test(qmp, silent_until_qemu_says_something, .timeout = 10)
{
    static const struct fake_step script[] = {
        HANDSHAKE,
        EXPECT("query-status"),
        SEND("{\"return\": {\"status\": \"running\"}, \"id\": $1}\r\n"),
        SLEEP(300),
        SEND("{\"event\": \"STOP\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}\r\n"),
        EXPECT("query-name"),
        SEND("{\"return\": {}, \"id\": $2}\r\n"),
        END(),
    };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(qemu_qmp_execute(qmp, "query-status", NULL, NULL, &err), 0, "%s",
                 err ? err->message : "");
    cr_assert(qemu_qmp_silent(qmp), "silent right after the reply");
    bool silent = true;
    for (int i = 0; i < 200 && silent; i++) {
        usleep(10000);
        silent = qemu_qmp_silent(qmp);
    }
    cr_assert(!silent, "the STOP event went unnoticed");
    /* Nor once the event is read and queued by the next command. */
    cr_assert_eq(qemu_qmp_execute(qmp, "query-name", NULL, NULL, NULL), 0);
    cr_assert_not(qemu_qmp_silent(qmp));
    qemu_qmp_close(qmp);
    fake_finish(f);
}

/* ---- logging ---- */

Test(qmp, commands_and_replies_are_logged_at_debug, .timeout = 10)
{
    static const struct fake_step script[] = {
        HANDSHAKE,
        EXPECT("query-status"),
        SEND("{\"return\": {\"status\": \"running\"}, \"id\": $1}\r\n"),
        END(),
    };
    FILE *log = tmpfile();
    int saved = dup(STDERR_FILENO);
    dup2(fileno(log), STDERR_FILENO);
    mp_log_set_level(MP_LOG_DEBUG);
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    cr_assert_eq(qemu_qmp_execute(qmp, "query-status", NULL, NULL, NULL), 0);
    qemu_qmp_close(qmp);
    fake_finish(f);
    mp_log_set_level(MP_LOG_WARNING);
    dup2(saved, STDERR_FILENO);
    close(saved);

    _cleanup_free_ char *text = NULL;
    rewind(log);
    cr_assert_eq(mp_read_fd(fileno(log), 1 << 20, &text, NULL, NULL), 0);
    fclose(log);
    cr_assert(strstr(text, "QMP command: {\"execute\":\"query-status\""), "%s", text);
    cr_assert(strstr(text, "QMP reply: {\"return\":{\"status\":\"running\"}"), "%s", text);
}

/* ---- what the parser refuses ---- */

Test(qmp, malformed_messages_are_eproto, .timeout = 10)
{
    expect_protocol_error(EV("STOP") "garbage\r\n");
    expect_protocol_error("{}\r\n");
    expect_protocol_error("{\"error\": \"text\", \"id\": $1}\r\n");
    expect_protocol_error("{\"error\": {\"class\": 1, \"desc\": \"b\"}, \"id\": $1}\r\n");
    expect_protocol_error("{\"QMP\": []}\r\n");
    expect_protocol_error("{\"event\": null}\r\n");
    expect_protocol_error("{\"return\": \"\xff\", \"id\": $1}\r\n");
    expect_protocol_error("/* comment */ {\"return\": {}, \"id\": $1}\r\n");
}

static void
expect_protocol_error_script(const struct fake_step *script)
{
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    _cleanup_error_ struct mp_error *err = NULL;
    int r = qemu_qmp_execute(qmp, "query-status", NULL, NULL, &err);
    cr_assert_eq(r, -EPROTO, "got %d (%s)", r, err ? err->message : "");
    qemu_qmp_close(qmp);
    fake_finish(f);
}

Test(qmp, nul_bytes_are_eproto, .timeout = 10)
{
    static const struct fake_step in_string[] = {
        HANDSHAKE,
        EXPECT("query-status"),
        SEND_RAW("{\"return\": \"a\0b\", \"id\": 2}\r\n"),
        END(),
    };
    expect_protocol_error_script(in_string);
    static const struct fake_step alone[] = {
        HANDSHAKE,
        EXPECT("query-status"),
        SEND_RAW("\0"),
        END(),
    };
    expect_protocol_error_script(alone);
}

/* ---- the size of one message ---- */

/* The handshake without a line end after the reply: the next message's
 * size counts from its first byte. */
#define HANDSHAKE_TIGHT GREETING, EXPECT("qmp_capabilities"), SEND("{\"return\": {}, \"id\": $0}")

/* A reply to the second command of exactly size bytes. */
static char *
reply_of_size(size_t size)
{
    static const char tail[] = "\", \"id\": 2}";
    char *s = xmalloc(size + 1);
    size_t head = (size_t)sprintf(s, "{\"return\": \"");
    memset(s + head, 'z', size - head - (sizeof(tail) - 1));
    strcpy(s + size - (sizeof(tail) - 1), tail);
    return s;
}

static int
execute_against(const char *reply, struct mp_error **err)
{
    const struct fake_step script[] = {
        HANDSHAKE_TIGHT,
        EXPECT("query-status"),
        SEND_SPLIT(reply, 64 * 1024),
        END(),
    };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 3000);
    int r = qemu_qmp_execute(qmp, "query-status", NULL, NULL, err);
    qemu_qmp_close(qmp);
    fake_finish(f);
    return r;
}

Test(qmp, a_message_of_the_maximum_size_fits, .timeout = 10)
{
    _cleanup_free_ char *fits = reply_of_size(QEMU_QMP_MAX_MESSAGE);
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(execute_against(fits, &err), 0, "%s", err ? err->message : "");
}

Test(qmp, one_byte_more_is_emsgsize, .timeout = 10)
{
    _cleanup_free_ char *big = reply_of_size(QEMU_QMP_MAX_MESSAGE + 1);
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(execute_against(big, &err), -EMSGSIZE);
    cr_assert(strstr(err->message, "larger than"), "%s", err->message);
}

Test(qmp, blanks_count_towards_the_size, .timeout = 10)
{
    char *blank = xmalloc(QEMU_QMP_MAX_MESSAGE + 3);
    memset(blank, ' ', QEMU_QMP_MAX_MESSAGE + 2);
    blank[QEMU_QMP_MAX_MESSAGE + 2] = '\0';
    cr_assert_eq(execute_against(blank, NULL), -EMSGSIZE);
    free(blank);
}

Test(qmp, deep_nesting, .timeout = 10)
{
    /* QEMU's own limit is 1024 levels; a backing chain nests deep. */
    size_t depth = 300;
    _cleanup_free_ char *s = xmalloc(depth * 8 + 32);
    char *p = s + sprintf(s, "{\"return\": ");
    for (size_t i = 0; i < depth; i++)
        p += sprintf(p, "{\"a\": ");
    p += sprintf(p, "1");
    for (size_t i = 0; i < depth; i++)
        *p++ = '}';
    strcpy(p, ", \"id\": 2}");
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(execute_against(s, &err), 0, "%s", err ? err->message : "");
}

/* ---- migration settings: only what differs from QEMU's report ---- */

#define CAPS_REPLY(list)      "{\"return\": [" list "], \"id\": $1}\n"
#define CAP(name, state)      "{\"capability\": \"" name "\", \"state\": " state "}"
#define PARAMS_REPLY(members) "{\"return\": {" members "}, \"id\": $2}\n"
#define SETTINGS_QUERIES      EXPECT("query-migrate-capabilities"), EXPECT("query-migrate-parameters")
/* clang-format off */
#define EVERY_CAPABILITY                                                                           \
    CAP("events", "true") ","                                                                      \
    CAP("compress", "false") ","                                                                   \
    CAP("release-ram", "false") ","                                                                \
    CAP("return-path", "false") "," CAP("pause-before-switchover", "false") ","                    \
    CAP("late-block-activate", "false") ","                                                        \
    CAP("x-ignore-shared", "false") "," CAP("validate-uuid", "false") ","                          \
    CAP("xbzrle", "false") "," CAP("postcopy-ram", "false") ","                                    \
    CAP("auto-converge", "false") "," CAP("multifd", "false")
/* QEMU's defaults, which a migration without tuning sets. */
#define TUNING_DEFAULTS                                                                            \
    "\"multifd-channels\": 2, \"multifd-compression\": \"none\", "                                  \
    "\"xbzrle-cache-size\": 67108864, \"cpu-throttle-initial\": 20, "                             \
    "\"cpu-throttle-increment\": 10, \"max-cpu-throttle\": 99"
/* clang-format on */

static int
setup_migration(struct fake *f, const struct mp_params *params, struct qemu_qmp_call *then,
                struct mp_error **err)
{
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    int r = qemu_monitor_setup_migration(qmp, QEMU_OUTGOING, params, NULL, NULL, then, err);
    qemu_qmp_close(qmp);
    return r;
}

Test(monitor, fresh_qemu_gets_events_and_the_bandwidth_only, .timeout = 10)
{
    static const struct fake_step script[] = {
        HANDSHAKE,
        SETTINGS_QUERIES,
        SEND(CAPS_REPLY(
            CAP("xbzrle", "false") "," CAP("events", "false") "," CAP("multifd", "false"))),
        SEND(PARAMS_REPLY(
            "\"max-bandwidth\": 134217728, \"downtime-limit\": 300, "
            "\"tls-creds\": \"\", \"tls-hostname\": \"\", \"tls-authz\": \"\", " TUNING_DEFAULTS)),
        EXPECT_ARGS("migrate-set-capabilities", "{\"capabilities\": [" CAP("events", "true") "]}"),
        EXPECT_ARGS("migrate-set-parameters", "{\"max-bandwidth\": 9223372036854775807}"),
        SEND("{\"return\": {}, \"id\": $3}\n{\"return\": {}, \"id\": $4}\n"),
        END(),
    };
    struct fake *f = fake_start(script);
    struct mp_params params = { .live = true, .tuning.converge = MP_CONVERGE_NONE };
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(setup_migration(f, &params, NULL, &err), 0, "%s", err ? err->message : "");
    fake_finish(f);
}

/* Perform asks the capabilities and parameters with the VM's state: the
 * setup then sets what differs from those answers without asking again. */
Test(monitor, settings_asked_ahead_are_not_asked_again, .timeout = 10)
{
    static const struct fake_step script[] = {
        HANDSHAKE,
        EXPECT_ARGS("migrate-set-capabilities", "{\"capabilities\": [" CAP("events", "true") "]}"),
        EXPECT_ARGS("migrate-set-parameters", "{\"max-bandwidth\": 9223372036854775807}"),
        SEND("{\"return\": {}, \"id\": $1}\n{\"return\": {}, \"id\": $2}\n"),
        END(),
    };
    struct fake *f = fake_start(script);
    json_object *reported[2] = {
        json_tokener_parse(
            "[" CAP("xbzrle", "false") "," CAP("events", "false") "," CAP("multifd", "false") "]"),
        json_tokener_parse(
            "{\"max-bandwidth\": 134217728, \"downtime-limit\": 300, "
            "\"tls-creds\": \"\", \"tls-hostname\": \"\", \"tls-authz\": \"\", " TUNING_DEFAULTS
            "}"),
    };
    cr_assert(reported[0] && reported[1]);
    struct mp_params params = { .live = true, .tuning.converge = MP_CONVERGE_NONE };
    _cleanup_error_ struct mp_error *err = NULL;
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    cr_assert_eq(
        qemu_monitor_setup_migration(qmp, QEMU_OUTGOING, &params, NULL, reported, NULL, &err), 0,
        "%s", err ? err->message : "");
    qemu_qmp_close(qmp);
    json_object_put(reported[0]);
    json_object_put(reported[1]);
    fake_finish(f);
}

Test(monitor, settings_left_by_an_earlier_migration_are_undone, .timeout = 10)
{
    /* A QEMU that was the destination of a migration with other settings:
     * they persist in the process, and each one must be put back. */
    static const struct fake_step script[] = {
        HANDSHAKE,
        SETTINGS_QUERIES,
        SEND(CAPS_REPLY(CAP("xbzrle", "true") "," CAP("events", "true") "," CAP(
            "multifd", "true") "," CAP("postcopy-ram", "false"))),
        SEND(PARAMS_REPLY("\"max-bandwidth\": 10485760, \"downtime-limit\": 300, "
                          "\"tls-creds\": \"sec0\", \"tls-hostname\": \"\", \"tls-authz\": "
                          "\"\", " TUNING_DEFAULTS)),
        EXPECT_ARGS("migrate-set-capabilities",
                    "{\"capabilities\": [" CAP("xbzrle", "false") "," CAP("multifd", "false") "]}"),
        EXPECT_ARGS("migrate-set-parameters",
                    "{\"max-bandwidth\": 1048576000, \"downtime-limit\": 50, "
                    "\"tls-creds\": \"\"}"),
        SEND("{\"return\": {}, \"id\": $3}\n{\"return\": {}, \"id\": $4}\n"),
        END(),
    };
    struct fake *f = fake_start(script);
    struct mp_params params = {
        .live = true, .bandwidth_mib = 1000, .downtime_ms = 50, .tuning.converge = MP_CONVERGE_NONE
    };
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(setup_migration(f, &params, NULL, &err), 0, "%s", err ? err->message : "");
    fake_finish(f);
}

/* --postcopy sets postcopy-ram on, and the bandwidth bound holds under
 * postcopy too where QEMU reports max-postcopy-bandwidth. */
Test(monitor, postcopy_is_set_on_with_its_bandwidth, .timeout = 10)
{
    static const struct fake_step script[] = {
        HANDSHAKE,
        SETTINGS_QUERIES,
        SEND(CAPS_REPLY(CAP("events", "true") "," CAP("postcopy-ram", "false"))),
        SEND(PARAMS_REPLY("\"max-bandwidth\": 16777216, \"max-postcopy-bandwidth\": 0, "
                          "\"downtime-limit\": 300, \"tls-creds\": \"\", \"tls-hostname\": "
                          "\"\", \"tls-authz\": \"\", " TUNING_DEFAULTS)),
        EXPECT_ARGS("migrate-set-capabilities",
                    "{\"capabilities\": [" CAP("postcopy-ram", "true") "]}"),
        EXPECT_ARGS("migrate-set-parameters", "{\"max-postcopy-bandwidth\": 16777216}"),
        SEND("{\"return\": {}, \"id\": $3}\n{\"return\": {}, \"id\": $4}\n"),
        END(),
    };
    struct fake *f = fake_start(script);
    struct mp_params params = { .live = true,
                                .bandwidth_mib = 16,
                                .tuning = { .converge = MP_CONVERGE_NONE, .postcopy = true } };
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(setup_migration(f, &params, NULL, &err), 0, "%s", err ? err->message : "");
    fake_finish(f);
}

/* A migration that cannot switch to postcopy leaves the postcopy bound
 * alone: every byte of a command costs QEMU a turn of its main loop. */
Test(monitor, no_postcopy_bound_without_postcopy, .timeout = 10)
{
    static const struct fake_step script[] = {
        HANDSHAKE,
        SETTINGS_QUERIES,
        SEND(CAPS_REPLY(CAP("events", "true") "," CAP("postcopy-ram", "false"))),
        SEND(PARAMS_REPLY("\"max-bandwidth\": 134217728, \"max-postcopy-bandwidth\": 0, "
                          "\"downtime-limit\": 300, \"tls-creds\": \"\", \"tls-hostname\": "
                          "\"\", \"tls-authz\": \"\", " TUNING_DEFAULTS)),
        EXPECT_ARGS("migrate-set-parameters", "{\"max-bandwidth\": 16777216}"),
        SEND("{\"return\": {}, \"id\": $3}\n"),
        END(),
    };
    struct fake *f = fake_start(script);
    struct mp_params params = { .live = true,
                                .bandwidth_mib = 16,
                                .tuning = { .converge = MP_CONVERGE_NONE } };
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(setup_migration(f, &params, NULL, &err), 0, "%s", err ? err->message : "");
    fake_finish(f);
}

/* The destination gets what both ends share (events, postcopy, channels,
 * TLS), not the sender's bandwidth, pause, delta cache or throttle (and
 * auto-converge), which a fresh QEMU would otherwise be sent whole. */
Test(monitor, incoming_end_gets_only_what_it_reads, .timeout = 10)
{
    static const struct fake_step script[] = {
        HANDSHAKE,
        SETTINGS_QUERIES,
        SEND(CAPS_REPLY(CAP("events", "false") "," CAP("postcopy-ram", "false") "," CAP(
            "auto-converge", "false") "," CAP("multifd", "false") "," CAP("xbzrle", "false"))),
        SEND(PARAMS_REPLY(
            "\"max-bandwidth\": 134217728, \"max-postcopy-bandwidth\": 0, \"downtime-limit\": "
            "300, \"tls-creds\": \"\", \"tls-hostname\": \"\", \"tls-authz\": "
            "\"\", " TUNING_DEFAULTS)),
        EXPECT_ARGS(
            "migrate-set-capabilities",
            "{\"capabilities\": [" CAP("events", "true") "," CAP("postcopy-ram", "true") "]}"),
        EXPECT_ARGS("migrate-set-parameters", "{\"tls-creds\": \"sec0\"}"),
        EXPECT_ARGS("migrate-incoming", "{\"uri\": \"tcp:127.0.0.1:49152\"}"),
        SEND("{\"return\": {}, \"id\": $3}\n{\"return\": {}, \"id\": $4}\n"
             "{\"return\": {}, \"id\": $5}\n"),
        END(),
    };
    struct fake *f = fake_start(script);
    /* --converge auto of a live migration: the held throttle on the source. */
    struct mp_params params = {
        .live = true,
        .bandwidth_mib = 16,
        .downtime_ms = 50,
        .copy_storage = MP_COPY_STORAGE_ALL,
        .tuning = { .converge = MP_CONVERGE_AUTO, .postcopy = true, .xbzrle_bytes = 0 },
    };
    struct qemu_tls_params tls = { .creds = "sec0" };
    json_object *args = json_object_new_object();
    json_object_object_add(args, "uri", json_object_new_string("tcp:127.0.0.1:49152"));
    struct qemu_qmp_call then = { .command = "migrate-incoming", .args = args };
    _cleanup_error_ struct mp_error *err = NULL;
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    cr_assert_eq(qemu_monitor_setup_migration(qmp, QEMU_INCOMING, &params, &tls, NULL, &then, &err),
                 0, "%s", err ? err->message : "");
    cr_assert_eq(then.result, 0);
    qemu_qmp_calls_free(&then, 1);
    qemu_qmp_close(qmp);
    fake_finish(f);
}

/* A QEMU without postcopy-ram is refused before anything is set. */
Test(monitor, postcopy_needs_the_capability, .timeout = 10)
{
    static const struct fake_step script[] = {
        HANDSHAKE,
        SETTINGS_QUERIES,
        SEND(CAPS_REPLY(CAP("events", "true"))),
        SEND(PARAMS_REPLY("\"max-bandwidth\": 16777216")),
        END(),
    };
    struct fake *f = fake_start(script);
    struct mp_params params = { .live = true,
                                .tuning = { .converge = MP_CONVERGE_NONE, .postcopy = true } };
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(setup_migration(f, &params, NULL, &err), -ENOTSUP);
    cr_assert(strstr(err->message, "--postcopy needs the migration capability postcopy-ram"), "%s",
              err->message);
    fake_finish(f);
}

Test(monitor, nothing_to_change_sends_only_the_callers_command, .timeout = 10)
{
    static const struct fake_step script[] = {
        HANDSHAKE,
        SETTINGS_QUERIES,
        SEND(CAPS_REPLY(CAP("events", "true") "," CAP("xbzrle", "false"))),
        SEND(PARAMS_REPLY(
            "\"max-bandwidth\": 9223372036854775807, \"downtime-limit\": 300, "
            "\"tls-creds\": \"\", \"tls-hostname\": \"\", \"tls-authz\": \"\", " TUNING_DEFAULTS)),
        EXPECT_ARGS("migrate-incoming", "{\"uri\": \"tcp:127.0.0.1:49152\"}"),
        SEND("{\"error\": {\"class\": \"GenericError\", \"desc\": \"port taken\"}, \"id\": $3}\n"),
        END(),
    };
    struct fake *f = fake_start(script);
    struct mp_params params = { .live = true, .tuning.converge = MP_CONVERGE_NONE };
    json_object *args = json_object_new_object();
    json_object_object_add(args, "uri", json_object_new_string("tcp:127.0.0.1:49152"));
    struct qemu_qmp_call then = { .command = "migrate-incoming", .args = args };
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(setup_migration(f, &params, &then, &err), 0, "%s", err ? err->message : "");
    cr_assert_eq(then.result, -EREMOTEIO);
    cr_assert(strstr(then.error->message, "port taken"), "%s", then.error->message);
    qemu_qmp_calls_free(&then, 1);
    fake_finish(f);
}

Test(monitor, without_a_report_everything_is_set, .timeout = 10)
{
    static const struct fake_step script[] = {
        HANDSHAKE,
        SETTINGS_QUERIES,
        SEND("{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"no\"}, \"id\": $1}\n"
             "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"no\"}, \"id\": $2}\n"),
        EXPECT_ARGS("migrate-set-capabilities", "{\"capabilities\": [" EVERY_CAPABILITY "]}"),
        EXPECT_ARGS("migrate-set-parameters",
                    "{\"max-bandwidth\": 9223372036854775807, \"downtime-limit\": 300, "
                    "\"multifd-channels\": 2, \"multifd-compression\": \"none\", "
                    "\"xbzrle-cache-size\": 67108864, \"tls-creds\": \"\", "
                    "\"tls-hostname\": \"\", \"tls-authz\": \"\"}"),
        SEND("{\"error\": {\"class\": \"GenericError\", \"desc\": \"no such cap\"}, \"id\": $3}\n"
             "{\"return\": {}, \"id\": $4}\n"),
        END(),
    };
    struct fake *f = fake_start(script);
    struct mp_params params = { .live = true, .tuning.converge = MP_CONVERGE_NONE };
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(setup_migration(f, &params, NULL, &err), -EREMOTEIO);
    cr_assert(strstr(err->message, "setting migration capabilities: "), "%s", err->message);
    cr_assert(strstr(err->message, "no such cap"), "%s", err->message);
    fake_finish(f);
}

Test(monitor, tuning_is_set_on_and_its_parameters_said, .timeout = 10)
{
    static const struct fake_step script[] = {
        HANDSHAKE,
        SETTINGS_QUERIES,
        SEND(CAPS_REPLY(CAP("events", "true") "," CAP("xbzrle", "false") "," CAP(
            "auto-converge", "false") "," CAP("multifd", "false"))),
        SEND(PARAMS_REPLY(
            "\"max-bandwidth\": 9223372036854775807, \"downtime-limit\": 300, "
            "\"tls-creds\": \"\", \"tls-hostname\": \"\", \"tls-authz\": \"\", " TUNING_DEFAULTS)),
        EXPECT_ARGS("migrate-set-capabilities",
                    "{\"capabilities\": [" CAP("xbzrle", "true") "," CAP(
                        "auto-converge", "true") "," CAP("multifd", "true") "]}"),
        EXPECT_ARGS("migrate-set-parameters",
                    "{\"multifd-channels\": 4, \"multifd-compression\": \"zstd\", "
                    "\"xbzrle-cache-size\": 16777216}"),
        SEND("{\"return\": {}, \"id\": $3}\n{\"return\": {}, \"id\": $4}\n"),
        END(),
    };
    struct fake *f = fake_start(script);
    struct mp_params params = { .live = true,
                                .tuning = { .parallel = 4,
                                            .compress = MP_COMPRESS_ZSTD,
                                            .xbzrle_bytes = 16 << 20,
                                            .auto_converge = true,
                                            .throttle_initial = 30,
                                            .throttle_step = 5 } };
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(setup_migration(f, &params, NULL, &err), 0, "%s", err ? err->message : "");
    fake_finish(f);
}

Test(monitor, a_capability_qemu_lacks_is_refused_before_any_setting, .timeout = 10)
{
    /* Nothing is sent after the queries: not the settings, not the
     * caller's command. */
    static const struct fake_step script[] = {
        HANDSHAKE,
        SETTINGS_QUERIES,
        SEND(CAPS_REPLY(CAP("events", "true") "," CAP("xbzrle", "false"))),
        SEND(PARAMS_REPLY("\"max-bandwidth\": 9223372036854775807")),
        END(),
    };
    struct fake *f = fake_start(script);
    struct mp_params params = { .live = true,
                                .tuning = { .parallel = 2, .converge = MP_CONVERGE_NONE } };
    struct qemu_qmp_call then = { .command = "migrate-incoming", .args = json_object_new_object() };
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(setup_migration(f, &params, &then, &err), -ENOTSUP);
    cr_expect_eq(err->kind, MP_ERR_INPUT);
    cr_expect(strstr(err->message, "--parallel needs the migration capability multifd"), "%s",
              err->message);
    qemu_qmp_calls_free(&then, 1);
    fake_finish(f);
}

Test(monitor, converge_auto_holds_the_throttle_back, .timeout = 10)
{
    /* --converge auto: the capability on where QEMU has it, the throttle
     * capped at 1% until Perform releases it. */
    static const struct fake_step script[] = {
        HANDSHAKE,
        SETTINGS_QUERIES,
        SEND(CAPS_REPLY(CAP("events", "true") "," CAP("auto-converge", "false"))),
        SEND(PARAMS_REPLY(
            "\"max-bandwidth\": 9223372036854775807, \"downtime-limit\": 300, "
            "\"tls-creds\": \"\", \"tls-hostname\": \"\", \"tls-authz\": \"\", " TUNING_DEFAULTS)),
        EXPECT_ARGS("migrate-set-capabilities",
                    "{\"capabilities\": [" CAP("auto-converge", "true") "]}"),
        SEND("{\"return\": {}, \"id\": $3}\n"),
        END(),
    };
    struct fake *f = fake_start(script);
    struct mp_params params = { .live = true };
    mp_tuning_init(&params.tuning);
    cr_assert(qemu_monitor_throttle_held(&params));
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(setup_migration(f, &params, NULL, &err), 0, "%s", err ? err->message : "");
    fake_finish(f);
    /* The throttle, at 1%, goes right after `migrate`. */
    _cleanup_json_ json_object *values = json_tokener_parse("{" TUNING_DEFAULTS "}");
    json_object *const reported[2] = { NULL, values };
    _cleanup_json_ json_object *args = qemu_monitor_throttle_args(reported, &params);
    cr_assert_str_eq(json_object_to_json_string_ext(args, JSON_C_TO_STRING_SPACED),
                     "{ \"cpu-throttle-initial\": 1, \"cpu-throttle-increment\": 1, "
                     "\"max-cpu-throttle\": 1 }");
}

Test(monitor, the_throttle_is_said_where_it_differs)
{
    _cleanup_json_ json_object *values = json_tokener_parse("{" TUNING_DEFAULTS "}");
    json_object *const reported[2] = { NULL, values };
    struct mp_params params = { .live = true,
                                .tuning = { .converge = MP_CONVERGE_NONE,
                                            .auto_converge = true,
                                            .throttle_initial = 30,
                                            .throttle_step = 10 } };
    _cleanup_json_ json_object *args = qemu_monitor_throttle_args(reported, &params);
    cr_assert_str_eq(json_object_to_json_string_ext(args, JSON_C_TO_STRING_SPACED),
                     "{ \"cpu-throttle-initial\": 30 }");
    /* QEMU's own defaults asked for: nothing to send. */
    params.tuning.throttle_initial = 20;
    cr_assert_null(qemu_monitor_throttle_args(reported, &params));
    /* Without a report, all of it. */
    _cleanup_json_ json_object *all = qemu_monitor_throttle_args(NULL, &params);
    cr_assert_eq(json_object_object_length(all), 3);
}

#define STATE_AND_NAME_QUERIES                                                                     \
    HANDSHAKE, EXPECT("query-status"), EXPECT("query-migrate"), EXPECT("query-name")

/* qemu_monitor_state_and with query-name beside its own queries. */
static int
state_and_name(const struct fake_step *script, char **status, struct qemu_migration_info *info,
               struct qemu_qmp_call *name, struct mp_error **err)
{
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    *name = (struct qemu_qmp_call){ .command = "query-name" };
    int r = qemu_monitor_state_and(qmp, status, info, name, 1, err);
    qemu_qmp_close(qmp);
    fake_finish(f);
    return r;
}

Test(monitor, state_and_the_callers_queries_share_one_round_trip, .timeout = 10)
{
    /* The fake answers only once it holds all three commands. */
    static const struct fake_step script[] = {
        STATE_AND_NAME_QUERIES,
        SEND("{\"return\": {\"status\": \"running\", \"running\": true}, \"id\": $1}\n"
             "{\"return\": {\"status\": \"active\"}, \"id\": $2}\n"
             "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no name\"}, \"id\": $3}\n"),
        END(),
    };
    struct qemu_qmp_call name;
    _cleanup_free_ char *status = NULL;
    struct qemu_migration_info info;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(state_and_name(script, &status, &info, &name, &err), 0, "%s",
                 err ? err->message : "");
    cr_assert_str_eq(status, "running");
    cr_assert_str_eq(info.status, "active");
    cr_assert_eq(name.result, -EREMOTEIO);
    qemu_qmp_calls_free(&name, 1);
}

Test(monitor, state_and_fails_on_its_own_queries_only, .timeout = 10)
{
    static const struct fake_step script[] = {
        STATE_AND_NAME_QUERIES,
        SEND("{\"error\": {\"class\": \"GenericError\", \"desc\": \"busy\"}, \"id\": $1}\n"
             "{\"return\": {\"status\": \"none\"}, \"id\": $2}\n"
             "{\"return\": {\"name\": \"vm\"}, \"id\": $3}\n"),
        END(),
    };
    struct qemu_qmp_call name;
    _cleanup_free_ char *status = NULL;
    struct qemu_migration_info info;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(state_and_name(script, &status, &info, &name, &err), -EREMOTEIO);
    cr_assert(strstr(err->message, "query-status") && strstr(err->message, "busy"), "%s",
              err->message);
    cr_assert_eq(name.result, 0);
    cr_assert_not_null(name.ret);
    qemu_qmp_calls_free(&name, 1);
}

/* QEMU 7.2 says what blocks a migration in "blocked-reasons" alone. */
Test(monitor, migration_blockers_are_reported_with_their_reasons, .timeout = 10)
{
    static const struct fake_step script[] = {
        HANDSHAKE,
        EXPECT("query-status"),
        EXPECT("query-migrate"),
        SEND("{\"return\": {\"status\": \"running\", \"running\": true}, \"id\": $1}\n"
             "{\"return\": {\"blocked-reasons\": [\"a non-migratable device\", \"a second "
             "one\"]}, \"id\": $2}\n"),
        EXPECT("query-migrate"),
        SEND("{\"return\": {\"blocked\": true}, \"id\": $3}\n"),
        EXPECT("query-migrate"),
        SEND("{\"return\": {\"blocked-reasons\": []}, \"id\": $4}\n"),
        END(),
    };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    _cleanup_free_ char *status = NULL;
    struct qemu_migration_info info;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(qemu_monitor_state(qmp, &status, &info, &err), 0, "%s", err ? err->message : "");
    cr_assert(info.blocked);
    cr_assert_str_eq(info.blocked_reasons, "a non-migratable device; a second one");
    cr_assert_str_eq(info.status, "none");
    /* The flag of QEMU 6.0's development tree, without reasons. */
    cr_assert_eq(qemu_monitor_query_migrate(qmp, &info, &err), 0);
    cr_assert(info.blocked);
    cr_assert_str_eq(info.blocked_reasons, "");
    cr_assert_eq(qemu_monitor_query_migrate(qmp, &info, &err), 0);
    cr_assert(!info.blocked);
    qemu_qmp_close(qmp);
    fake_finish(f);
}

/* ---- a monitor that is slow, not gone ---- */

static void
count_slow(void *data, uint64_t waited_ms)
{
    (void)waited_ms;
    (*(unsigned *)data)++;
}

static int
patient_query(const struct fake_step *script, uint64_t first_ms, uint64_t silence_ms,
              struct qemu_migration_info *info, unsigned *slow_calls, struct mp_error **err)
{
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, first_ms);
    struct qemu_patience p = {
        .first_ms = first_ms, .silence_ms = silence_ms, .slow = count_slow, .data = slow_calls
    };
    int r = qemu_monitor_query_migrate_patient(qmp, &p, info, err);
    qemu_qmp_close(qmp);
    fake_finish(f);
    return r;
}

Test(patience, a_late_reply_after_events_is_taken, .timeout = 10)
{
    /* The reply comes 600 ms after a 200 ms QMP timeout; an event in
     * between shows the monitor alive. */
    static const struct fake_step script[] = {
        HANDSHAKE,
        EXPECT("query-migrate"),
        SLEEP(300),
        SEND("{\"event\": \"MIGRATION_PASS\", \"data\": {\"pass\": 2}, \"timestamp\": "
             "{\"seconds\": 1, \"microseconds\": 0}}\n"),
        SLEEP(300),
        SEND("{\"return\": {\"status\": \"active\", \"ram\": {\"transferred\": 42}}, "
             "\"id\": $1}\n"),
        END(),
    };
    struct qemu_migration_info info;
    unsigned slow = 0;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(patient_query(script, 200, 500, &info, &slow, &err), 0, "%s",
                 err ? err->message : "");
    cr_expect_str_eq(info.status, "active");
    cr_expect_eq(info.transferred_bytes, 42);
    cr_expect_geq(slow, 1);
}

Test(patience, a_silent_monitor_times_out, .timeout = 10)
{
    static const struct fake_step script[] = {
        HANDSHAKE,
        EXPECT("query-migrate"),
        SLEEP(1500),
        END(),
    };
    struct qemu_migration_info info;
    unsigned slow = 0;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(patient_query(script, 200, 600, &info, &slow, &err), -ETIMEDOUT);
    cr_expect(strstr(err->message, "monitor said nothing for"), "%s", err->message);
    cr_expect(strstr(err->message, "no reply to query-migrate, no event"), "%s", err->message);
}

Test(monitor, a_migration_event_says_its_status_only_as_a_string)
{
    static const struct {
        const char *event;
        const char *status;
    } cases[] = {
        { "{\"event\": \"MIGRATION\", \"data\": {\"status\": \"completed\"}}", "completed" },
        { "{\"event\": \"MIGRATION\", \"data\": {\"status\": \"postcopy-active\"}}",
          "postcopy-active" },
        { "{\"event\": \"MIGRATION\"}", NULL },
        { "{\"event\": \"MIGRATION\", \"data\": \"completed\"}", NULL },
        { "{\"event\": \"MIGRATION\", \"data\": {\"status\": 1}}", NULL },
        { "{\"event\": \"MIGRATION\", \"data\": {\"status\": [\"completed\"]}}", NULL },
        { "{\"event\": \"MIGRATION\", \"status\": \"completed\"}", NULL },
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_json_ json_object *event = json_tokener_parse(cases[i].event);
        cr_assert_not_null(event, "%s", cases[i].event);
        const char *status = qemu_monitor_migration_event_status(event);
        if (cases[i].status)
            cr_expect_str_eq(status, cases[i].status, "%s", cases[i].event);
        else
            cr_expect_null(status, "%s", cases[i].event);
    }
}

#define MIGRATION_EV(status)                                                                       \
    "{\"event\": \"MIGRATION\", \"data\": {\"status\": \"" status "\"}, "                          \
    "\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}\r\n"

/* What qemu_monitor_incoming_ended() makes of the MIGRATION events sent
 * before a RESUME: *ended and *postcopy, and whether a STOP sent among
 * them is still queued for whoever wants it. */
static void
incoming_ended_after(const char *events, bool *ended, bool *postcopy)
{
    const struct fake_step script[] = {
        HANDSHAKE,
        SEND(events),
        SEND(EV("RESUME")),
        END(),
    };
    struct fake *f = fake_start(script);
    struct qemu_qmp *qmp = connect_fake(f, 1000);
    /* RESUME comes last: every event before it is read by then. */
    json_object *resume = NULL;
    cr_assert_eq(qemu_qmp_wait_event(qmp, "RESUME", 2000, &resume, NULL), 0);
    json_object_put(resume);
    *postcopy = false;
    *ended = qemu_monitor_incoming_ended(qmp, postcopy);
    cr_expect_eq(qemu_qmp_wait_event(qmp, "MIGRATION", 0, NULL, NULL), -ETIMEDOUT,
                 "every MIGRATION event is taken");
    if (strstr(events, "STOP"))
        assert_next_event(qmp, "STOP");
    qemu_qmp_close(qmp);
    fake_finish(f);
}

Test(monitor, the_last_migration_event_says_whether_the_incoming_stream_ended, .timeout = 10)
{
    bool ended, postcopy;
    incoming_ended_after(MIGRATION_EV("active") EV("STOP") MIGRATION_EV("completed"), &ended,
                         &postcopy);
    cr_expect(ended && !postcopy, "completed");

    incoming_ended_after(MIGRATION_EV("active") MIGRATION_EV("postcopy-active"), &ended, &postcopy);
    cr_expect(ended && postcopy, "postcopy-active");

    incoming_ended_after(MIGRATION_EV("postcopy-active") MIGRATION_EV("completed"), &ended,
                         &postcopy);
    cr_expect(ended && !postcopy, "completed after postcopy");

    incoming_ended_after(MIGRATION_EV("postcopy-active") MIGRATION_EV("failed"), &ended, &postcopy);
    cr_expect(!ended, "failed after postcopy-active is for query-migrate to explain");

    incoming_ended_after(MIGRATION_EV("setup") MIGRATION_EV("active"), &ended, &postcopy);
    cr_expect(!ended, "still active");

    incoming_ended_after(EV("STOP"), &ended, &postcopy);
    cr_expect(!ended, "no MIGRATION event");

    /* An event without a status says nothing, and changes nothing. */
    incoming_ended_after(MIGRATION_EV("completed") EV("MIGRATION"), &ended, &postcopy);
    cr_expect(ended, "completed, then an event without a status");
}
