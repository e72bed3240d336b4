/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Xen driver's pieces that need no hypervisor: the stream's framing
 * (URI, header, line reads that leave the libxl stream untouched), the
 * receiver's result file and how recovery finds the receiver through it.
 * The rest runs on a real Xen: tests/xen/testbed.sh. */
#include "config.h"

#include "xen-internal.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

Test(xen_uri, host_and_port)
{
    char *host = NULL;
    uint16_t port = 0;
    cr_assert_eq(xen_uri_parse("tcp:dest.example:49152", &host, &port, NULL), 0);
    cr_assert_str_eq(host, "dest.example");
    cr_assert_eq(port, 49152);
    free(host);
    cr_assert_eq(xen_uri_parse("tcp:[::1]:49153", &host, &port, NULL), 0);
    cr_assert_str_eq(host, "::1");
    cr_assert_eq(port, 49153);
    free(host);
}

Test(xen_uri, malformed_is_an_input_error)
{
    const char *bad[] = { "unix:/x",        "tcp:host",   "tcp::1",       "tcp:host:0",
                          "tcp:host:65536", "tcp:[::1:1", "tcp:host:12x", NULL };
    for (size_t i = 0; bad[i]; i++) {
        char *host = NULL;
        uint16_t port = 0;
        struct mp_error *err = NULL;
        cr_assert_lt(xen_uri_parse(bad[i], &host, &port, &err), 0, "%s", bad[i]);
        cr_assert_eq(err->kind, MP_ERR_INPUT, "%s", bad[i]);
        cr_assert_null(host);
        mp_error_free(err);
    }
}

Test(xen_stream, header_names_the_migration)
{
    char *h = xen_stream_header("m-1");
    cr_assert_str_eq(h, XEN_STREAM_MAGIC " 2 m-1\n");
    h[strlen(h) - 1] = '\0';
    cr_assert(xen_stream_header_matches(h, "m-1"));
    cr_assert_not(xen_stream_header_matches(h, "m-2"));
    cr_assert_not(xen_stream_header_matches("GET / HTTP/1.0", "m-1"));
    free(h);
}

/* The line ends at its '\n': the bytes after it (libxl's stream) stay in
 * the socket for the next reader. */
Test(xen_stream, read_line_consumes_nothing_past_the_line)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    const char data[] = "header line\nSTREAM";
    cr_assert_eq(write(sv[0], data, sizeof(data) - 1), (ssize_t)sizeof(data) - 1);
    char line[64];
    cr_assert_eq(xen_stream_read_line(sv[1], 1000, line, sizeof(line), NULL), 0);
    cr_assert_str_eq(line, "header line");
    char rest[16] = { 0 };
    cr_assert_eq(read(sv[1], rest, sizeof(rest)), 6);
    cr_assert_str_eq(rest, "STREAM");
    close(sv[0]);
    close(sv[1]);
}

Test(xen_stream, read_line_reports_eof_timeout_and_overflow)
{
    int sv[2];
    char line[8];
    struct mp_error *err = NULL;
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    cr_assert_eq(xen_stream_read_line(sv[1], 50, line, sizeof(line), &err), -ETIMEDOUT);
    mp_error_free(steal_ptr(&err));
    cr_assert_eq(write(sv[0], "0123456789\n", 11), 11);
    cr_assert_eq(xen_stream_read_line(sv[1], 1000, line, sizeof(line), &err), -EPROTO);
    mp_error_free(steal_ptr(&err));
    close(sv[0]);
    char rest[16];
    while (read(sv[1], rest, sizeof(rest)) > 0)
        ;
    cr_assert_eq(xen_stream_read_line(sv[1], 1000, line, sizeof(line), &err), -ECONNRESET);
    mp_error_free(err);
    close(sv[1]);
}

Test(xen_stream, write_line_then_read_it_back)
{
    int sv[2];
    char line[XEN_STREAM_LINE_MAX];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    cr_assert_eq(xen_stream_write_line(sv[0], "ok 7\n", NULL), 0);
    cr_assert_eq(xen_stream_read_line(sv[1], 1000, line, sizeof(line), NULL), 0);
    cr_assert_str_eq(line, "ok 7");
    close(sv[0]);
    close(sv[1]);
}

static char *
temp_path(void)
{
    char dir[] = "/tmp/test-xen.XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    return xasprintf("%s/receiver.result", dir);
}

static void
remove_temp(char *path)
{
    unlink(path);
    *strrchr(path, '/') = '\0';
    rmdir(path);
    free(path);
}

Test(xen_result, round_trip)
{
    char *path = temp_path();
    struct xen_result in = { .state = XEN_RECEIVER_FAILED,
                             .port = 49160,
                             .domid = 12,
                             .message = (char *)"restore failed:\nbad record",
                             .migration_id = (char *)"mig-1",
                             .pid = 4242,
                             .pid_start = 987654321 };
    cr_assert_eq(xen_result_write(path, &in, NULL), 0);
    struct xen_result out;
    cr_assert_eq(xen_result_read(path, &out, NULL), 0);
    cr_assert_eq(out.state, XEN_RECEIVER_FAILED);
    cr_assert_eq(out.port, 49160);
    cr_assert_eq(out.domid, 12);
    /* One line per key: a newline in the message must not end it. */
    cr_assert_str_eq(out.message, "restore failed: bad record");
    cr_assert_str_eq(out.migration_id, "mig-1");
    cr_assert_eq(out.pid, 4242);
    cr_assert_eq(out.pid_start, 987654321);
    xen_result_clear(&out);
    /* The test bed waits for the stream by reading the first line alone. */
    FILE *f = fopen(path, "r");
    char line[64];
    cr_assert_not_null(fgets(line, sizeof(line), f));
    fclose(f);
    cr_assert_str_eq(line, "state = failed\n");
    remove_temp(path);
}

Test(xen_result, missing_file_means_starting)
{
    struct xen_result out;
    cr_assert_eq(xen_result_read("/nonexistent/receiver.result", &out, NULL), 0);
    cr_assert_eq(out.state, XEN_RECEIVER_STARTING);
    cr_assert_null(out.message);
}

Test(xen_result, garbage_is_refused)
{
    char *path = temp_path();
    const char *bad[] = { "state = dancing\n", "port = 70000\n", "no equals sign\n", NULL };
    for (size_t i = 0; bad[i]; i++) {
        cr_assert_eq(mp_write_file(path, bad[i], strlen(bad[i]), NULL), 0);
        struct xen_result out;
        struct mp_error *err = NULL;
        cr_assert_eq(xen_result_read(path, &out, &err), -EBADMSG, "%s", bad[i]);
        mp_error_free(err);
    }
    remove_temp(path);
}

Test(xen_result, path_follows_the_journal_layout)
{
    char *p = xen_result_path_for("/var/lib/migphase", "web-01");
    cr_assert_str_eq(p, "/var/lib/migphase/destination/web-01/" XEN_RECEIVER_RESULT);
    free(p);
}

/* A result file that names this very process, as the receiver names itself. */
static struct xen_result
result_naming_self(const char *migration_id)
{
    struct xen_result res = { .state = XEN_RECEIVER_LISTENING,
                              .migration_id = (char *)migration_id,
                              .pid = getpid() };
    cr_assert_eq(mp_proc_start_time(res.pid, &res.pid_start), 0);
    return res;
}

static struct mp_journal_record *
record_of(const char *migration_id)
{
    struct mp_journal_record *record = mp_journal_record_new();
    record->migration_id = xstrdup(migration_id);
    return record;
}

Test(xen_receiver, found_through_its_result_file)
{
    struct mp_journal_record *record = record_of("mig-1");
    struct xen_result res = result_naming_self("mig-1");
    pid_t pid = 0;
    /* Before any plan recorded it: the file alone names it. */
    cr_assert_eq(xen_receiver_fate(record, &res, &pid), MP_PROC_ALIVE);
    cr_assert_eq(pid, getpid());
    cr_assert_null(mp_journal_record_get_fact(record, XEN_FACT_RECEIVER_PID));
    /* A plan records it, in the facts mp_proc_recorded reads. */
    xen_receiver_observe(record, &res);
    struct xen_result none = { .state = XEN_RECEIVER_STARTING };
    cr_assert_eq(xen_receiver_fate(record, &none, &pid), MP_PROC_ALIVE);
    cr_assert_eq(pid, getpid());
    mp_journal_record_free(record);
}

Test(xen_receiver, another_migrations_file_is_ignored)
{
    struct mp_journal_record *record = record_of("mig-2");
    struct xen_result res = result_naming_self("mig-1");
    pid_t pid = 0;
    xen_receiver_observe(record, &res);
    cr_assert_null(mp_journal_record_get_fact(record, XEN_FACT_RECEIVER_PID));
    cr_assert_eq(xen_receiver_fate(record, &res, &pid), MP_PROC_UNKNOWN);
    cr_assert_eq(pid, 0);
    mp_journal_record_free(record);
}

Test(xen_receiver, a_reused_pid_is_not_the_receiver)
{
    struct mp_journal_record *record = record_of("mig-1");
    struct xen_result res = result_naming_self("mig-1");
    res.pid_start += 1; /* another process that had our pid */
    pid_t pid = 0;
    cr_assert_eq(xen_receiver_fate(record, &res, &pid), MP_PROC_GONE);
    cr_assert_eq(pid, 0);
    /* Without a start time nothing can be said, and nothing is recorded. */
    res.pid_start = 0;
    cr_assert_eq(xen_receiver_fate(record, &res, &pid), MP_PROC_UNKNOWN);
    xen_receiver_observe(record, &res);
    cr_assert_null(mp_journal_record_get_fact(record, XEN_FACT_RECEIVER_PID));
    mp_journal_record_free(record);
}

Test(xen_names, suffixes_fit_the_journal)
{
    char *in = xen_name_with("web-01", XEN_SUFFIX_INCOMING);
    char *away = xen_name_with("web-01", XEN_SUFFIX_MIGRATEDAWAY);
    cr_assert_str_eq(in, "web-01--incoming");
    cr_assert_eq(mp_journal_check_domain(in, NULL), 0);
    cr_assert_eq(mp_journal_check_domain(away, NULL), 0);
    free(in);
    free(away);
}
