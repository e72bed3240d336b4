/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of the journal: record format, checksum, locking, atomic commits,
 * cookies, removal and listing. Each test runs in its own process and state
 * directory. */
#include "config.h"

#include "journal.h"
#include "tests/remove-tree.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char state_dir[64];

static void
setup(void)
{
    strcpy(state_dir, "/tmp/test-journal-XXXXXX");
    cr_assert_not_null(mkdtemp(state_dir));
}

static void
teardown(void)
{
    mp_test_remove_tree(state_dir);
}

TestSuite(journal, .init = setup, .fini = teardown);

/* An independent FNV-1a 64, so that the tests check the documented format
 * rather than the module against itself. */
static char *
seal(const char *body, size_t len)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)body[i];
        h *= UINT64_C(0x100000001b3);
    }
    char *out = xmalloc(len + 64);
    memcpy(out, body, len);
    snprintf(out + len, 64, "checksum = %016" PRIx64 "\n", h);
    return out;
}

static const char golden[] = "migphase-journal 1\n"
                             "migration-id = 6f1c2a9e-0d4b-4c8e-9a57-3b2d1e0f4a6c\n"
                             "domain = web-01\n"
                             "uuid = 2b7e1516-28ae-4d2a-a6f7-15880912cf4f\n"
                             "driver = qemu\n"
                             "role = source\n"
                             "step = perform\n"
                             "phase = done\n"
                             "outcome = success\n"
                             "closed = no\n"
                             "message = stream done%0Aat 100%25\n"
                             "updated-us = 1700000000000000\n"
                             "fact.qmp-socket = /run/migphase/web-01.qmp\n"
                             "fact.pid = 4242\n"
                             "checksum = ff92a336bf01c31e\n";

/* The body of the golden record (everything but the checksum line). */
static char *
golden_body(void)
{
    return xstrndup(golden, strstr(golden, "checksum = ") - golden);
}

static struct mp_journal_record *
sample_record(const char *domain, enum mp_role role)
{
    struct mp_journal_record *r = mp_journal_record_new();
    r->migration_id = xstrdup("6f1c2a9e-0d4b-4c8e-9a57-3b2d1e0f4a6c");
    r->domain = xstrdup(domain);
    r->uuid = xstrdup("2b7e1516-28ae-4d2a-a6f7-15880912cf4f");
    r->driver = xstrdup("qemu");
    r->role = role;
    r->step = role == MP_ROLE_SOURCE ? MP_STEP_PERFORM : MP_STEP_FINISH;
    r->phase = MP_PHASE_STARTED;
    return r;
}

static void
assert_records_equal(const struct mp_journal_record *a, const struct mp_journal_record *b)
{
    cr_assert_str_eq(a->migration_id, b->migration_id);
    cr_assert_str_eq(a->domain, b->domain);
    cr_assert_str_eq(a->uuid, b->uuid);
    cr_assert_str_eq(a->driver, b->driver);
    cr_assert_eq(a->role, b->role);
    cr_assert_eq(a->step, b->step);
    cr_assert_eq(a->phase, b->phase);
    cr_assert_eq(a->outcome, b->outcome);
    cr_assert_eq(a->closed, b->closed);
    cr_assert(mp_streq0(a->message, b->message));
    cr_assert_eq(a->updated_us, b->updated_us);
    cr_assert_eq(a->n_facts, b->n_facts);
    for (size_t i = 0; i < a->n_facts; i++) {
        cr_assert_str_eq(a->facts[i].key, b->facts[i].key);
        cr_assert_str_eq(a->facts[i].value, b->facts[i].value);
    }
}

/* Parse a sealed body and expect failure with a message containing want. */
static void
expect_bad_body(const char *body, const char *want)
{
    _cleanup_free_ char *buf = seal(body, strlen(body));
    struct mp_journal_record *record = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    int r = mp_journal_record_parse(buf, strlen(buf), &record, &err);
    cr_assert_eq(r, -EBADMSG, "parsing %s: got %d", body, r);
    cr_assert_null(record);
    cr_assert_not_null(err);
    cr_assert_eq(err->errnum, EBADMSG);
    cr_assert(strstr(err->message, want), "'%s' does not say '%s'", err->message, want);
}

/* The golden body with the line starting with `key` replaced by `line`
 * (removed when line is NULL). */
static char *
golden_with(const char *key, const char *line)
{
    _cleanup_free_ char *body = golden_body();
    _cleanup_free_ char *needle = xasprintf("\n%s = ", key);
    char *start = strstr(body, needle);
    cr_assert_not_null(start, "no key %s", key);
    start++;
    char *end = strchr(start, '\n') + 1;
    *start = '\0';
    return xasprintf("%s%s%s%s", body, line ? line : "", line ? "\n" : "", end);
}

/* <state>/<role>/<domain><suffix> */
static char *
path_in(const char *suffix, const char *role, const char *domain)
{
    return xasprintf("%s/%s/%s%s", state_dir, role, domain, suffix);
}

static mode_t
mode_of(const char *path)
{
    struct stat st;
    cr_assert_eq(lstat(path, &st), 0, "%s: %s", path, strerror(errno));
    return st.st_mode & 07777;
}

static bool
exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static void
write_raw(const char *path, const char *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
    cr_assert_eq(write(fd, buf, len), (ssize_t)len);
    close(fd);
}

/* ---- domain names ------------------------------------------------------ */

Test(journal, check_domain_accepts_safe_names)
{
    char longest[129];
    memset(longest, 'a', 128);
    longest[128] = '\0';
    const char *good[] = { "a", "web-01", "db_2.example.com", "X", "9", "a..b", longest };
    for (size_t i = 0; i < ARRAY_SIZE(good); i++)
        cr_assert_eq(mp_journal_check_domain(good[i], NULL), 0, "%s", good[i]);
}

Test(journal, check_domain_refuses_unsafe_names)
{
    char too_long[130];
    memset(too_long, 'a', 129);
    too_long[129] = '\0';
    const struct {
        const char *name;
        const char *want;
    } bad[] = {
        { NULL, "empty" },
        { "", "empty" },
        { ".", "starts with '.'" },
        { "..", "starts with '.'" },
        { ".hidden", "starts with '.'" },
        { "../etc", "starts with '.'" },
        { "a/b", "contains '/'" },
        { "/etc", "contains '/'" },
        { "a b", "contains ' '" },
        { "a\nb", "contains '\\x0a'" },
        { "caf\xc3\xa9", "contains '\\xc3'" },
        { "a*", "contains '*'" },
        { too_long, "longer than 128" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        _cleanup_error_ struct mp_error *err = NULL;
        cr_assert_eq(mp_journal_check_domain(bad[i].name, &err), -EINVAL, "%s", bad[i].want);
        cr_assert_eq(err->kind, MP_ERR_INPUT);
        cr_assert(strstr(err->message, bad[i].want), "'%s' does not say '%s'", err->message,
                  bad[i].want);
        cr_assert(!strchr(err->message, '\n'), "raw newline in '%s'", err->message);
    }
}

/* ---- record format ----------------------------------------------------- */

Test(journal, golden_record_parses)
{
    struct mp_journal_record *record = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_journal_record_parse(golden, strlen(golden), &record, &err), 0, "%s",
                 err ? err->message : "");
    _cleanup_record_ struct mp_journal_record *r = record;
    cr_assert_str_eq(r->domain, "web-01");
    cr_assert_eq(r->role, MP_ROLE_SOURCE);
    cr_assert_eq(r->step, MP_STEP_PERFORM);
    cr_assert_eq(r->phase, MP_PHASE_DONE);
    cr_assert_eq(r->outcome, MP_OUTCOME_SUCCESS);
    cr_assert_eq(r->closed, false);
    cr_assert_str_eq(r->message, "stream done\nat 100%");
    cr_assert_eq(r->updated_us, UINT64_C(1700000000000000));
    cr_assert_eq(r->n_facts, 2);
    cr_assert_str_eq(mp_journal_record_get_fact(r, "qmp-socket"), "/run/migphase/web-01.qmp");
    cr_assert_str_eq(mp_journal_record_get_fact(r, "pid"), "4242");
}

Test(journal, format_matches_golden)
{
    _cleanup_record_ struct mp_journal_record *r = sample_record("web-01", MP_ROLE_SOURCE);
    r->phase = MP_PHASE_DONE;
    r->outcome = MP_OUTCOME_SUCCESS;
    r->message = xstrdup("stream done\nat 100%");
    r->updated_us = UINT64_C(1700000000000000);
    mp_journal_record_set_fact(r, "qmp-socket", "/run/migphase/web-01.qmp");
    mp_journal_record_set_fact(r, "pid", "4242");
    _cleanup_free_ char *text = mp_journal_record_format(r);
    cr_assert_str_eq(text, golden);
}

Test(journal, any_byte_string_round_trips)
{
    _cleanup_record_ struct mp_journal_record *r = sample_record("vm", MP_ROLE_DESTINATION);
    r->closed = true;
    r->phase = MP_PHASE_FAILED;
    r->outcome = MP_OUTCOME_CANCELLED;
    /* Every byte from 1 to 255, twice, with the separator in the middle. */
    char all[520];
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int c = 1; c < 256; c++)
            all[n++] = (char)c;
        memcpy(all + n, " = ", 3);
        n += 3;
    }
    all[n] = '\0';
    r->message = xstrdup(all);
    free(r->uuid);
    r->uuid = xstrdup(" leading and trailing spaces ");
    mp_journal_record_set_fact(r, "empty", "");
    mp_journal_record_set_fact(r, "utf8", "caf\xc3\xa9 \xe2\x82\xac");
    mp_journal_record_set_fact(r, "percent", "%%%");
    r->updated_us = UINT64_MAX;

    _cleanup_free_ char *text = mp_journal_record_format(r);
    /* One record per line: no raw newline or control character in a value. */
    size_t lines = 0;
    for (const char *p = text; *p; p++) {
        lines += *p == '\n';
        cr_assert(*p == '\n' || (unsigned char)*p >= 0x20, "raw control character");
    }
    cr_assert_eq(lines, 16);
    cr_assert(strstr(text, "fact.utf8 = caf\xc3\xa9 \xe2\x82\xac\n"));
    cr_assert(strstr(text, "fact.percent = %25%25%25\n"));
    cr_assert(strstr(text, "fact.empty = \n"));

    struct mp_journal_record *parsed = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_journal_record_parse(text, strlen(text), &parsed, &err), 0, "%s",
                 err ? err->message : "");
    _cleanup_record_ struct mp_journal_record *p = parsed;
    assert_records_equal(r, p);
    _cleanup_free_ char *again = mp_journal_record_format(p);
    cr_assert_str_eq(text, again);
}

Test(journal, escapes_decode_in_either_case)
{
    _cleanup_free_ char *body = golden_with("message", "message = a%0ab%0Ac%41");
    _cleanup_free_ char *buf = seal(body, strlen(body));
    struct mp_journal_record *record = NULL;
    cr_assert_eq(mp_journal_record_parse(buf, strlen(buf), &record, NULL), 0);
    cr_assert_str_eq(record->message, "a\nb\ncA");
    mp_journal_record_free(record);
}

Test(journal, message_is_optional)
{
    _cleanup_free_ char *body = golden_with("message", NULL);
    _cleanup_free_ char *buf = seal(body, strlen(body));
    struct mp_journal_record *record = NULL;
    cr_assert_eq(mp_journal_record_parse(buf, strlen(buf), &record, NULL), 0);
    cr_assert_null(record->message);
    mp_journal_record_free(record);
}

Test(journal, every_truncation_is_torn)
{
    size_t len = strlen(golden);
    for (size_t cut = 0; cut < len; cut++) {
        struct mp_journal_record *record = NULL;
        _cleanup_error_ struct mp_error *err = NULL;
        cr_assert_eq(mp_journal_record_parse(golden, cut, &record, &err), -EBADMSG, "cut %zu", cut);
        cr_assert_null(record);
        cr_assert_str_eq(err->message, "journal record is torn (no checksum line)", "cut %zu", cut);
    }
}

Test(journal, every_changed_byte_is_caught)
{
    size_t len = strlen(golden);
    size_t body_len = strstr(golden, "checksum = ") - golden;
    for (size_t i = 0; i < len; i++) {
        _cleanup_free_ char *buf = xstrdup(golden);
        buf[i] ^= 0x01;
        struct mp_journal_record *record = NULL;
        _cleanup_error_ struct mp_error *err = NULL;
        cr_assert_eq(mp_journal_record_parse(buf, len, &record, &err), -EBADMSG, "byte %zu", i);
        cr_assert_null(record);
        /* The newline that ends the body also starts the checksum line. */
        if (i + 1 < body_len)
            cr_assert_str_eq(err->message, "journal record is corrupt (checksum mismatch)",
                             "byte %zu", i);
        else if (i + 1 == body_len)
            cr_assert_str_eq(err->message, "journal record is torn (no checksum line)");
    }
}

Test(journal, checksum_line_must_be_well_formed)
{
    _cleanup_free_ char *body = golden_body();
    const char *tails[] = { "checksum = ff92a336bf01c31\n", "checksum = ff92a336bf01c31e0\n",
                            "checksum = ff92a336bf01c31g\n", "checksum = \n" };
    for (size_t i = 0; i < ARRAY_SIZE(tails); i++) {
        _cleanup_free_ char *buf = xasprintf("%s%s", body, tails[i]);
        _cleanup_error_ struct mp_error *err = NULL;
        struct mp_journal_record *record = NULL;
        cr_assert_eq(mp_journal_record_parse(buf, strlen(buf), &record, &err), -EBADMSG);
        cr_assert_str_eq(err->message, "journal record is corrupt (malformed checksum line)");
    }
    /* Upper-case hex is the same number. */
    _cleanup_free_ char *upper = xasprintf("%schecksum = FF92A336BF01C31E\n", body);
    struct mp_journal_record *record = NULL;
    cr_assert_eq(mp_journal_record_parse(upper, strlen(upper), &record, NULL), 0);
    mp_journal_record_free(record);
    /* Anything after the checksum line makes it not the last line. */
    _cleanup_free_ char *trailing = xasprintf("%sdomain = x\n", golden);
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_journal_record_parse(trailing, strlen(trailing), &record, &err), -EBADMSG);
    cr_assert(strstr(err->message, "torn"));
}

Test(journal, every_required_key_is_required)
{
    const char *required[] = { "migration-id", "domain", "uuid",    "driver", "role",
                               "step",         "phase",  "outcome", "closed", "updated-us" };
    for (size_t i = 0; i < ARRAY_SIZE(required); i++) {
        _cleanup_free_ char *body = golden_with(required[i], NULL);
        _cleanup_free_ char *want = xasprintf("lacks the required key %s", required[i]);
        expect_bad_body(body, want);
    }
}

Test(journal, refuses_bad_header)
{
    _cleanup_free_ char *body = golden_body();
    const char *rest = strchr(body, '\n') + 1;
    const struct {
        const char *first;
        const char *want;
    } cases[] = {
        { "migphase-journal 2", "has format version 2; this migphase reads version 1" },
        { "migphase-journal 10", "has format version 10" },
        { "migphase-journal 1 ", "has format version 1 " },
        { "migphase-journal\x1b[31m 1", "not a migphase journal record" },
        { "migphase-journal \x1b[31m", "has format version \\x1b[31m" },
        { "hello", "not a migphase journal record" },
        { "", "not a migphase journal record" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_free_ char *b = xasprintf("%s\n%s", cases[i].first, rest);
        expect_bad_body(b, cases[i].want);
    }
    expect_bad_body("", "not a migphase journal record");
}

Test(journal, refuses_bad_lines)
{
    const struct {
        const char *key;
        const char *line;
        const char *want;
    } cases[] = {
        { "role", "role = sideways", "line 6: 'sideways' is not a valid role" },
        { "step", "step = jump", "'jump' is not a valid step" },
        { "step", "step = prepare", "says step prepare on the source, where it never runs" },
        { "phase", "phase = maybe", "not a valid phase" },
        { "outcome", "outcome = ", "'' is not a valid outcome" },
        { "closed", "closed = true", "not a valid closed" },
        { "updated-us", "updated-us = -1", "not a valid updated-us" },
        { "updated-us", "updated-us = 18446744073709551616", "not a valid updated-us" },
        { "updated-us", "updated-us =  1", "not a valid updated-us" },
        { "uuid", "uuid = ", "has an empty uuid" },
        { "migration-id", "migration-id = ", "has an empty migration-id" },
        { "driver", "driver = ", "has an empty driver" },
        { "domain", "domain = ../etc", "starts with '.'" },
        { "domain", "domain = a%2Fb", "contains '/'" },
        { "message", "message = bad %4", "line 11 has a control character or a bad %XX escape" },
        { "message", "message = bad %", "bad %XX escape" },
        { "message", "message = bad %ZZ", "bad %XX escape" },
        { "message", "message = bad %00 nul", "bad %XX escape" },
        { "message", "message = raw\ttab", "control character" },
        { "message", "message = raw\x7f", "control character" },
        { "message", "message = crlf\r", "control character" },
        { "message", "message=no spaces", "line 11 is not 'key = value'" },
        { "message", "", "line 11 is not 'key = value'" },
        { "message", "colour = blue", "line 11: unknown key 'colour'" },
        { "message", "Domain = web-01", "unknown key 'Domain'" },
        { "message", "fact. = x", "unknown key 'fact.'" },
        { "message", "domain = web-01", "line 11: domain appears twice" },
        { "message", "fact.pid = 1", "fact pid appears twice" },
        { "message", "fact.a b = x", "fact names are 1-64" },
        { "message", "fact.a/b = x", "fact names are 1-64" },
        { "message", "unknown\x1b[2J = x", "unknown key 'unknown\\x1b[2J'" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_free_ char *b = golden_with(cases[i].key, cases[i].line);
        expect_bad_body(b, cases[i].want);
    }
}

Test(journal, fact_names_up_to_64_characters)
{
    char name[66];
    memset(name, 'f', 65);
    name[64] = '\0';
    _cleanup_free_ char *ok_line = xasprintf("fact.%s = x", name);
    _cleanup_free_ char *ok = golden_with("message", ok_line);
    _cleanup_free_ char *buf = seal(ok, strlen(ok));
    struct mp_journal_record *record = NULL;
    cr_assert_eq(mp_journal_record_parse(buf, strlen(buf), &record, NULL), 0);
    mp_journal_record_free(record);

    name[64] = 'f';
    name[65] = '\0';
    _cleanup_free_ char *long_line = xasprintf("fact.%s = x", name);
    _cleanup_free_ char *bad = golden_with("message", long_line);
    expect_bad_body(bad, "fact names are 1-64");
}

Test(journal, refuses_nul_and_oversized_records)
{
    _cleanup_free_ char *body = golden_with("message", "message = a");
    size_t len = strlen(body);
    body[strstr(body, "message = a") - body + 10] = '\0';
    _cleanup_free_ char *buf = seal(body, len);
    _cleanup_error_ struct mp_error *err = NULL;
    struct mp_journal_record *record = NULL;
    cr_assert_eq(mp_journal_record_parse(buf, len + 28, &record, &err), -EBADMSG);
    cr_assert_str_eq(err->message, "journal record is corrupt (it holds a NUL byte)");

    /* A record of exactly the maximum size parses; one byte more does not. */
    _cleanup_free_ char *base = golden_body();
    size_t room = MP_JOURNAL_MAX_RECORD_SIZE - strlen(base) - 28 - strlen("fact.pad = \n");
    _cleanup_free_ char *pad = xmalloc(room + 2);
    for (int extra = 0; extra <= 1; extra++) {
        memset(pad, 'p', room + 1);
        pad[room + extra] = '\0';
        _cleanup_free_ char *big = xasprintf("%sfact.pad = %s\n", base, pad);
        _cleanup_free_ char *sealed = seal(big, strlen(big));
        cr_assert_eq(strlen(sealed), (size_t)MP_JOURNAL_MAX_RECORD_SIZE + extra);
        _cleanup_error_ struct mp_error *e = NULL;
        int r = mp_journal_record_parse(sealed, strlen(sealed), &record, &e);
        if (extra) {
            cr_assert_eq(r, -EBADMSG);
            cr_assert_str_eq(e->message, "journal record is corrupt (larger than 65536 bytes)");
        } else {
            cr_assert_eq(r, 0, "%s", e ? e->message : "");
            mp_journal_record_free(record);
        }
    }
}

Test(journal, facts_set_replace_remove)
{
    _cleanup_record_ struct mp_journal_record *r = mp_journal_record_new();
    cr_assert_null(mp_journal_record_get_fact(r, "pid"));
    mp_journal_record_set_fact(r, "pid", "1");
    mp_journal_record_set_fact(r, "qmp-socket", "/run/q");
    mp_journal_record_set_fact(r, "uri", "tcp:h:1");
    mp_journal_record_set_fact(r, "pid", "2");
    cr_assert_eq(r->n_facts, 3);
    cr_assert_str_eq(r->facts[0].key, "pid");
    cr_assert_str_eq(mp_journal_record_get_fact(r, "pid"), "2");
    mp_journal_record_set_fact(r, "qmp-socket", NULL);
    cr_assert_eq(r->n_facts, 2);
    cr_assert_null(mp_journal_record_get_fact(r, "qmp-socket"));
    cr_assert_str_eq(r->facts[1].key, "uri");
    mp_journal_record_set_fact(r, "absent", NULL);
    cr_assert_eq(r->n_facts, 2);
}

Test(journal, names_and_defaults)
{
    cr_assert_str_eq(mp_journal_phase_name(MP_PHASE_STARTED), "started");
    cr_assert_str_eq(mp_journal_phase_name(MP_PHASE_DONE), "done");
    cr_assert_str_eq(mp_journal_phase_name(MP_PHASE_FAILED), "failed");
    cr_assert_null(mp_journal_phase_name((enum mp_journal_phase)3));
    cr_assert_null(mp_journal_phase_name((enum mp_journal_phase)(MP_PHASE_STARTED - 1)));
    _cleanup_record_ struct mp_journal_record *r = mp_journal_record_new();
    cr_assert_eq(r->phase, MP_PHASE_STARTED);
    cr_assert_eq(r->outcome, MP_OUTCOME_NONE);
    cr_assert_eq(r->closed, false);
    cr_assert_eq(r->n_facts, 0);
    mp_journal_record_free(NULL);
}

/* ---- journal on disk --------------------------------------------------- */

static struct mp_journal *
open_ok(const char *domain, enum mp_role role)
{
    struct mp_journal *j = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    int r = mp_journal_open(state_dir, domain, role, &j, &err);
    cr_assert_eq(r, 0, "open %s: %s", domain, err ? err->message : "");
    return j;
}

static void
commit_ok(struct mp_journal *j, struct mp_journal_record *record)
{
    _cleanup_error_ struct mp_error *err = NULL;
    int r = mp_journal_commit(j, record, &err);
    cr_assert_eq(r, 0, "commit: %s", err ? err->message : "");
}

Test(journal, open_creates_private_layout)
{
    umask(0); /* the modes must not depend on the caller's umask */
    _cleanup_journal_ struct mp_journal *j = open_ok("web-01", MP_ROLE_SOURCE);
    _cleanup_free_ char *dir = path_in("", "source", "web-01");
    _cleanup_free_ char *lock = path_in("/lock", "source", "web-01");
    _cleanup_free_ char *record = path_in("/record", "source", "web-01");
    _cleanup_free_ char *role_dir = xasprintf("%s/source", state_dir);
    cr_assert_eq(mode_of(role_dir), 0700);
    cr_assert_eq(mode_of(dir), 0700);
    cr_assert_eq(mode_of(lock), 0600);
    cr_assert(!exists(record));

    _cleanup_record_ struct mp_journal_record *r = sample_record("web-01", MP_ROLE_SOURCE);
    commit_ok(j, r);
    cr_assert_eq(mode_of(record), 0600);
}

Test(journal, open_creates_missing_state_dir)
{
    _cleanup_free_ char *deep = xasprintf("%s/var/lib/migphase", state_dir);
    struct mp_journal *j = NULL;
    cr_assert_eq(mp_journal_open(deep, "vm", MP_ROLE_DESTINATION, &j, NULL), 0);
    mp_journal_close(j);
    _cleanup_free_ char *dir = xasprintf("%s/destination/vm", deep);
    cr_assert_eq(mode_of(dir), 0700);
}

Test(journal, open_refuses_unsafe_domain_before_touching_disk)
{
    const char *bad[] = { "../../etc", "a/b", ".", "", "x y" };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct mp_journal *j = NULL;
        _cleanup_error_ struct mp_error *err = NULL;
        cr_assert_eq(mp_journal_open(state_dir, bad[i], MP_ROLE_SOURCE, &j, &err), -EINVAL);
        cr_assert_null(j);
        cr_assert_eq(err->kind, MP_ERR_INPUT);
        cr_assert(strstr(err->message, "domain name"), "%s", err->message);
    }
    _cleanup_free_ char *role_dir = xasprintf("%s/source", state_dir);
    cr_assert(!exists(role_dir));
}

Test(journal, open_refuses_symlinked_domain_dir)
{
    _cleanup_free_ char *role_dir = xasprintf("%s/source", state_dir);
    _cleanup_free_ char *elsewhere = xasprintf("%s/elsewhere", state_dir);
    _cleanup_free_ char *link = xasprintf("%s/source/vm", state_dir);
    cr_assert_eq(mkdir(role_dir, 0700), 0);
    cr_assert_eq(mkdir(elsewhere, 0700), 0);
    cr_assert_eq(symlink(elsewhere, link), 0);
    struct mp_journal *j = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    int r = mp_journal_open(state_dir, "vm", MP_ROLE_SOURCE, &j, &err);
    cr_assert_lt(r, 0);
    cr_assert_null(j);
    _cleanup_free_ char *planted = xasprintf("%s/lock", elsewhere);
    cr_assert(!exists(planted));
}

Test(journal, load_without_record_is_enoent)
{
    _cleanup_journal_ struct mp_journal *j = open_ok("vm", MP_ROLE_SOURCE);
    struct mp_journal_record *record = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_journal_load(j, &record, &err), -ENOENT);
    cr_assert_null(record);
    cr_assert(strstr(err->message, "there is no journal record in"), "%s", err->message);
}

Test(journal, commit_then_load)
{
    _cleanup_journal_ struct mp_journal *j = open_ok("vm", MP_ROLE_DESTINATION);
    _cleanup_record_ struct mp_journal_record *r = sample_record("vm", MP_ROLE_DESTINATION);
    r->message = xstrdup("multi\nline % message");
    mp_journal_record_set_fact(r, "pid", "77");
    uint64_t before = mp_realtime_us();
    commit_ok(j, r);
    uint64_t after = mp_realtime_us();
    cr_assert(r->updated_us >= before && r->updated_us <= after);

    struct mp_journal_record *loaded = NULL;
    cr_assert_eq(mp_journal_load(j, &loaded, NULL), 0);
    assert_records_equal(r, loaded);
    mp_journal_record_free(loaded);

    /* A second commit replaces the first. */
    r->phase = MP_PHASE_DONE;
    r->outcome = MP_OUTCOME_SUCCESS;
    r->closed = true;
    commit_ok(j, r);
    cr_assert_eq(mp_journal_load(j, &loaded, NULL), 0);
    assert_records_equal(r, loaded);
    mp_journal_record_free(loaded);

    /* No temporary file is left behind. */
    _cleanup_free_ char *dir = path_in("", "destination", "vm");
    DIR *d = opendir(dir);
    struct dirent *de;
    while ((de = readdir(d)))
        cr_assert(de->d_name[0] != '.' || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."),
                  "left %s", de->d_name);
    closedir(d);
}

Test(journal, commit_refuses_incomplete_or_foreign_records)
{
    _cleanup_journal_ struct mp_journal *j = open_ok("vm", MP_ROLE_SOURCE);
    _cleanup_free_ char *record_path = path_in("/record", "source", "vm");
    struct {
        const char *want;
        struct mp_journal_record *record;
    } cases[] = {
        { "of domain vm (source) cannot hold a record of domain other (source)",
          sample_record("other", MP_ROLE_SOURCE) },
        { "cannot hold a record of domain vm (destination)",
          sample_record("vm", MP_ROLE_DESTINATION) },
        { "has an empty uuid", sample_record("vm", MP_ROLE_SOURCE) },
        { "has an empty driver", sample_record("vm", MP_ROLE_SOURCE) },
        { "says step finish on the source", sample_record("vm", MP_ROLE_SOURCE) },
    };
    free(cases[2].record->uuid);
    cases[2].record->uuid = NULL;
    free(cases[3].record->driver);
    cases[3].record->driver = xstrdup("");
    cases[4].record->step = MP_STEP_FINISH;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_error_ struct mp_error *err = NULL;
        cr_assert_eq(mp_journal_commit(j, cases[i].record, &err), -EINVAL);
        cr_assert(strstr(err->message, cases[i].want), "'%s' does not say '%s'", err->message,
                  cases[i].want);
        mp_journal_record_free(cases[i].record);
    }
    cr_assert(!exists(record_path));
}

Test(journal, commit_refuses_oversized_record_and_keeps_old_one)
{
    _cleanup_journal_ struct mp_journal *j = open_ok("vm", MP_ROLE_SOURCE);
    _cleanup_record_ struct mp_journal_record *old = sample_record("vm", MP_ROLE_SOURCE);
    commit_ok(j, old);
    _cleanup_record_ struct mp_journal_record *big = sample_record("vm", MP_ROLE_SOURCE);
    big->message = xmalloc(MP_JOURNAL_MAX_RECORD_SIZE + 1);
    memset(big->message, 'x', MP_JOURNAL_MAX_RECORD_SIZE);
    big->message[MP_JOURNAL_MAX_RECORD_SIZE] = '\0';
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_journal_commit(j, big, &err), -EFBIG);
    cr_assert(strstr(err->message, "more than the 65536 allowed"), "%s", err->message);
    struct mp_journal_record *loaded = NULL;
    cr_assert_eq(mp_journal_load(j, &loaded, NULL), 0);
    assert_records_equal(old, loaded);
    mp_journal_record_free(loaded);
}

/* A write that fails half way (here: the file size limit) must leave the
 * previous record whole: this is what temp file + rename is for. Needs no
 * privilege, unlike the ENOSPC test below. */
Test(journal, failed_write_keeps_old_record)
{
    _cleanup_journal_ struct mp_journal *j = open_ok("vm", MP_ROLE_SOURCE);
    _cleanup_record_ struct mp_journal_record *old = sample_record("vm", MP_ROLE_SOURCE);
    commit_ok(j, old);

    _cleanup_record_ struct mp_journal_record *next = sample_record("vm", MP_ROLE_SOURCE);
    next->message = xmalloc(8193);
    memset(next->message, 'y', 8192);
    next->message[8192] = '\0';
    struct rlimit saved, small = { .rlim_cur = 4096 };
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &saved), 0);
    small.rlim_max = saved.rlim_max;
    signal(SIGXFSZ, SIG_IGN);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
    _cleanup_error_ struct mp_error *err = NULL;
    int r = mp_journal_commit(j, next, &err);
    setrlimit(RLIMIT_FSIZE, &saved);
    cr_assert_eq(r, -EFBIG, "got %d", r);
    cr_assert(strstr(err->message, "File too large"), "%s", err->message);
    cr_assert(strstr(err->message, "committing the journal"), "%s", err->message);

    struct mp_journal_record *loaded = NULL;
    cr_assert_eq(mp_journal_load(j, &loaded, NULL), 0);
    assert_records_equal(old, loaded);
    mp_journal_record_free(loaded);
}

static char tmpfs_dir[96];

static void
tmpfs_teardown(void)
{
    if (tmpfs_dir[0])
        umount2(tmpfs_dir, MNT_DETACH);
    teardown();
}

/* A full disk during commit: the old record survives and the error says why.
 * Mounting a tiny tmpfs needs root (CAP_SYS_ADMIN); without it the test is
 * reported as skipped. */
Test(journal, full_disk_keeps_old_record, .fini = tmpfs_teardown)
{
    snprintf(tmpfs_dir, sizeof(tmpfs_dir), "%s/tmpfs", state_dir);
    cr_assert_eq(mkdir(tmpfs_dir, 0700), 0);
    if (mount("tmpfs", tmpfs_dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0700") < 0) {
        int e = errno;
        tmpfs_dir[0] = '\0';
        teardown(); /* a skipped test does not run .fini */
        cr_skip_test("cannot mount a tmpfs to fill (%s); needs root", strerror(e));
    }
    struct mp_journal *j = NULL;
    _cleanup_error_ struct mp_error *open_err = NULL;
    cr_assert_eq(mp_journal_open(tmpfs_dir, "vm", MP_ROLE_SOURCE, &j, &open_err), 0);
    _cleanup_journal_ struct mp_journal *journal = j;
    _cleanup_record_ struct mp_journal_record *old = sample_record("vm", MP_ROLE_SOURCE);
    commit_ok(journal, old);

    _cleanup_free_ char *filler = xasprintf("%s/filler", tmpfs_dir);
    int fd = open(filler, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    cr_assert_geq(fd, 0);
    char block[4096];
    memset(block, 'f', sizeof(block));
    ssize_t n;
    while ((n = write(fd, block, sizeof(block))) > 0)
        ;
    cr_assert_eq(errno, ENOSPC, "filling: %s", strerror(errno));
    close(fd);

    _cleanup_record_ struct mp_journal_record *next = sample_record("vm", MP_ROLE_SOURCE);
    next->phase = MP_PHASE_DONE;
    next->outcome = MP_OUTCOME_SUCCESS;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_journal_commit(journal, next, &err), -ENOSPC);
    cr_assert(strstr(err->message, "No space left on device"), "%s", err->message);

    struct mp_journal_record *loaded = NULL;
    cr_assert_eq(mp_journal_load(journal, &loaded, NULL), 0);
    assert_records_equal(old, loaded);
    mp_journal_record_free(loaded);

    /* Space back: the same commit now goes through. */
    cr_assert_eq(unlink(filler), 0);
    commit_ok(journal, next);
}

Test(journal, lock_excludes_a_second_open_in_the_same_process)
{
    _cleanup_journal_ struct mp_journal *first = open_ok("web-01", MP_ROLE_SOURCE);
    struct mp_journal *second = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_journal_open(state_dir, "web-01", MP_ROLE_SOURCE, &second, &err), -EBUSY);
    cr_assert_null(second);
    cr_assert_eq(err->kind, MP_ERR_FAILED);
    cr_assert_str_eq(err->message,
                     "another migphase helper is working on domain web-01 (source) on this host");

    /* Other roles and domains are independent. */
    struct mp_journal *other_role = open_ok("web-01", MP_ROLE_DESTINATION);
    struct mp_journal *other_domain = open_ok("web-02", MP_ROLE_SOURCE);
    mp_journal_close(other_role);
    mp_journal_close(other_domain);

    /* Closing releases the lock. */
    mp_journal_close(first);
    first = open_ok("web-01", MP_ROLE_SOURCE);
}

Test(journal, lock_excludes_another_process)
{
    _cleanup_journal_ _unused_ struct mp_journal *held = open_ok("vm", MP_ROLE_DESTINATION);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct mp_journal *j = NULL;
        int r = mp_journal_open(state_dir, "vm", MP_ROLE_DESTINATION, &j, NULL);
        _exit(r == -EBUSY ? 0 : 1);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

Test(journal, cookies_round_trip)
{
    _cleanup_journal_ struct mp_journal *j = open_ok("vm", MP_ROLE_DESTINATION);
    static const char in[] = "<cookie step='begin'>\0binary\xff</cookie>";
    static const char out[] = "<cookie step='prepare'/>";
    cr_assert_eq(mp_journal_save_cookie(j, MP_STEP_PREPARE, false, in, sizeof(in), NULL), 0);
    cr_assert_eq(mp_journal_save_cookie(j, MP_STEP_PREPARE, true, "old", 3, NULL), 0);
    cr_assert_eq(mp_journal_save_cookie(j, MP_STEP_PREPARE, true, out, strlen(out), NULL), 0);
    _cleanup_free_ char *in_path = path_in("/prepare-in.xml", "destination", "vm");
    _cleanup_free_ char *out_path = path_in("/prepare-out.xml", "destination", "vm");
    cr_assert(!exists(in_path), "a cookie is in the journal only once committed");
    _cleanup_record_ struct mp_journal_record *r = sample_record("vm", MP_ROLE_DESTINATION);
    commit_ok(j, r);

    cr_assert_eq(mode_of(in_path), 0600);
    cr_assert_eq(mode_of(out_path), 0600);

    _cleanup_free_ char *got_in = NULL, *got_out = NULL;
    size_t in_len = 0, out_len = 0;
    cr_assert_eq(mp_journal_load_cookie(j, MP_STEP_PREPARE, false, &got_in, &in_len, NULL), 0);
    cr_assert_eq(in_len, sizeof(in));
    cr_assert_eq(memcmp(got_in, in, sizeof(in)), 0);
    cr_assert_eq(mp_journal_load_cookie(j, MP_STEP_PREPARE, true, &got_out, &out_len, NULL), 0);
    cr_assert_str_eq(got_out, out);

    char *missing = NULL;
    size_t missing_len = 0;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_journal_load_cookie(j, MP_STEP_FINISH, false, &missing, &missing_len, &err),
                 -ENOENT);
    cr_assert_null(missing);
    cr_assert(strstr(err->message, "finish-in.xml"), "%s", err->message);
}

/* A cookie saved by a step that never committed is not part of the journal:
 * nothing of it stays, not even under a temporary name. */
Test(journal, cookies_without_a_commit_are_dropped)
{
    struct mp_journal *j = open_ok("vm", MP_ROLE_SOURCE);
    _cleanup_record_ struct mp_journal_record *r = sample_record("vm", MP_ROLE_SOURCE);
    commit_ok(j, r);
    cr_assert_eq(mp_journal_save_cookie(j, MP_STEP_PERFORM, false, "<c/>", 4, NULL), 0);
    mp_journal_close(j);

    _cleanup_free_ char *dir = path_in("", "source", "vm");
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        bool ours = strcmp(n, ".") == 0 || strcmp(n, "..") == 0 || strcmp(n, "lock") == 0 ||
                    strcmp(n, "record") == 0;
        cr_assert(ours, "left behind: %s", n);
    }
    closedir(d);
}

Test(journal, cookies_are_size_capped)
{
    _cleanup_journal_ struct mp_journal *j = open_ok("vm", MP_ROLE_SOURCE);
    _cleanup_free_ char *big = xzalloc(MP_COOKIE_MAX_SIZE + 1);
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_journal_save_cookie(j, MP_STEP_BEGIN, true, big, MP_COOKIE_MAX_SIZE + 1, &err),
                 -EFBIG);
    _cleanup_free_ char *path = path_in("/begin-out.xml", "source", "vm");
    cr_assert(!exists(path));
    /* Planted by hand: load refuses it rather than reading without bound. */
    write_raw(path, big, MP_COOKIE_MAX_SIZE + 1);
    char *xml = NULL;
    size_t len;
    _cleanup_error_ struct mp_error *load_err = NULL;
    cr_assert_eq(mp_journal_load_cookie(j, MP_STEP_BEGIN, true, &xml, &len, &load_err), -EFBIG);
    cr_assert_null(xml);
}

Test(journal, load_reports_torn_and_corrupt_files_by_path)
{
    _cleanup_journal_ struct mp_journal *j = open_ok("vm", MP_ROLE_SOURCE);
    _cleanup_free_ char *path = path_in("/record", "source", "vm");
    _cleanup_record_ struct mp_journal_record *r = sample_record("vm", MP_ROLE_SOURCE);
    commit_ok(j, r);
    _cleanup_free_ char *text = mp_journal_record_format(r);

    const struct {
        size_t len;
        int flip;
        const char *want;
    } cases[] = {
        { 0, -1, "is torn (no checksum line)" },
        { 40, -1, "is torn (no checksum line)" },
        { strlen(text), 30, "is corrupt (checksum mismatch)" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_free_ char *bad = xstrdup(text);
        if (cases[i].flip >= 0)
            bad[cases[i].flip] ^= 0x20;
        write_raw(path, bad, cases[i].len);
        struct mp_journal_record *loaded = NULL;
        _cleanup_error_ struct mp_error *err = NULL;
        cr_assert_eq(mp_journal_load(j, &loaded, &err), -EBADMSG);
        cr_assert_null(loaded);
        _cleanup_free_ char *want = xasprintf("journal record %s %s", path, cases[i].want);
        cr_assert_str_eq(err->message, want);
    }

    /* Larger than any record we write. */
    _cleanup_free_ char *huge = xmalloc(MP_JOURNAL_MAX_RECORD_SIZE + 10);
    memset(huge, 'h', MP_JOURNAL_MAX_RECORD_SIZE + 10);
    write_raw(path, huge, MP_JOURNAL_MAX_RECORD_SIZE + 10);
    struct mp_journal_record *loaded = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_journal_load(j, &loaded, &err), -EBADMSG);
    cr_assert(strstr(err->message, "is corrupt (larger than 65536 bytes)"), "%s", err->message);
}

Test(journal, load_refuses_a_record_of_another_journal)
{
    _cleanup_journal_ struct mp_journal *a = open_ok("vm-a", MP_ROLE_SOURCE);
    _cleanup_journal_ struct mp_journal *b = open_ok("vm-b", MP_ROLE_SOURCE);
    _cleanup_record_ struct mp_journal_record *r = sample_record("vm-a", MP_ROLE_SOURCE);
    commit_ok(a, r);
    _cleanup_free_ char *from = path_in("/record", "source", "vm-a");
    _cleanup_free_ char *to = path_in("/record", "source", "vm-b");
    cr_assert_eq(link(from, to), 0);
    struct mp_journal_record *loaded = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_journal_load(b, &loaded, &err), -EBADMSG);
    cr_assert(strstr(err->message, "is about domain vm-a (source), not vm-b (source)"), "%s",
              err->message);
}

/* Peeking reads the record a helper holding the lock committed, with the
 * checks of a load, and follows no symlinked domain directory. */
Test(journal, peek_reads_a_held_record_as_load_does)
{
    _cleanup_journal_ struct mp_journal *held = open_ok("vm-a", MP_ROLE_SOURCE);
    _cleanup_record_ struct mp_journal_record *r = sample_record("vm-a", MP_ROLE_SOURCE);
    commit_ok(held, r);
    _cleanup_record_ struct mp_journal_record *peeked = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_journal_peek(state_dir, "vm-a", MP_ROLE_SOURCE, &peeked, &err), 0, "%s",
                 err ? err->message : "");
    assert_records_equal(r, peeked);

    _cleanup_journal_ struct mp_journal *b = open_ok("vm-b", MP_ROLE_SOURCE);
    _cleanup_free_ char *from = path_in("/record", "source", "vm-a");
    _cleanup_free_ char *to = path_in("/record", "source", "vm-b");
    cr_assert_eq(link(from, to), 0);
    struct mp_journal_record *copied = NULL;
    cr_assert_eq(mp_journal_peek(state_dir, "vm-b", MP_ROLE_SOURCE, &copied, NULL), -EBADMSG);

    /* A journal of vm-c kept elsewhere, its directory linked in. */
    _cleanup_free_ char *other_state = xasprintf("%s/other", state_dir);
    struct mp_journal *other = NULL;
    cr_assert_eq(mp_journal_open(other_state, "vm-c", MP_ROLE_SOURCE, &other, NULL), 0);
    _cleanup_record_ struct mp_journal_record *c = sample_record("vm-c", MP_ROLE_SOURCE);
    commit_ok(other, c);
    mp_journal_close(other);
    _cleanup_free_ char *elsewhere = xasprintf("%s/source/vm-c", other_state);
    _cleanup_free_ char *link_dir = path_in("", "source", "vm-c");
    cr_assert_eq(symlink(elsewhere, link_dir), 0);
    struct mp_journal_record *followed = NULL;
    cr_assert_lt(mp_journal_peek(state_dir, "vm-c", MP_ROLE_SOURCE, &followed, NULL), 0);
    cr_assert_null(followed);
    struct mp_journal_record *climbed = NULL;
    cr_assert_eq(mp_journal_peek(state_dir, "../source/vm-a", MP_ROLE_SOURCE, &climbed, NULL),
                 -EINVAL);
}

Test(journal, load_refuses_a_fifo)
{
    _cleanup_journal_ struct mp_journal *j = open_ok("vm", MP_ROLE_SOURCE);
    _cleanup_free_ char *path = path_in("/record", "source", "vm");
    cr_assert_eq(mkfifo(path, 0600), 0);
    struct mp_journal_record *loaded = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_journal_load(j, &loaded, &err), -EBADMSG);
    cr_assert(strstr(err->message, "is not a regular file"), "%s", err->message);
}

Test(journal, remove_deletes_everything_it_wrote)
{
    _cleanup_journal_ struct mp_journal *j = open_ok("vm", MP_ROLE_SOURCE);
    _cleanup_record_ struct mp_journal_record *r = sample_record("vm", MP_ROLE_SOURCE);
    cr_assert_eq(mp_journal_save_cookie(j, MP_STEP_BEGIN, true, "<c/>", 4, NULL), 0);
    cr_assert_eq(mp_journal_save_cookie(j, MP_STEP_CONFIRM, false, "<c/>", 4, NULL), 0);
    commit_ok(j, r);
    _cleanup_free_ char *stray = path_in("/.record.tmp.12345", "source", "vm");
    write_raw(stray, "half", 4);

    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_journal_remove(j, &err), 0, "%s", err ? err->message : "");
    _cleanup_free_ char *dir = path_in("", "source", "vm");
    _cleanup_free_ char *role_dir = xasprintf("%s/source", state_dir);
    cr_assert(!exists(dir));
    cr_assert(exists(role_dir));

    /* A removal that finds nothing (twice, or never committed) is fine. */
    _cleanup_journal_ struct mp_journal *k = open_ok("fresh", MP_ROLE_SOURCE);
    cr_assert_eq(mp_journal_remove(k, NULL), 0);
}

Test(journal, remove_leaves_foreign_files)
{
    _cleanup_journal_ struct mp_journal *j = open_ok("vm", MP_ROLE_SOURCE);
    _cleanup_record_ struct mp_journal_record *r = sample_record("vm", MP_ROLE_SOURCE);
    commit_ok(j, r);
    _cleanup_free_ char *notes = path_in("/notes.txt", "source", "vm");
    write_raw(notes, "operator was here", 17);
    cr_assert_eq(mp_journal_remove(j, NULL), 0);
    _cleanup_free_ char *record = path_in("/record", "source", "vm");
    _cleanup_free_ char *lock = path_in("/lock", "source", "vm");
    cr_assert(exists(notes));
    cr_assert(!exists(record));
    cr_assert(!exists(lock));
}

/* After a removal the old lock file is unlinked: a newcomer must get a fresh
 * lock and a fresh directory, not be locked out by a file that is gone. */
Test(journal, open_after_remove_gets_a_fresh_lock)
{
    struct mp_journal *old = open_ok("vm", MP_ROLE_SOURCE);
    cr_assert_eq(mp_journal_remove(old, NULL), 0);
    _cleanup_journal_ struct mp_journal *fresh = open_ok("vm", MP_ROLE_SOURCE);
    mp_journal_close(old);
    _cleanup_record_ struct mp_journal_record *r = sample_record("vm", MP_ROLE_SOURCE);
    commit_ok(fresh, r);
    struct mp_journal *third = NULL;
    cr_assert_eq(mp_journal_open(state_dir, "vm", MP_ROLE_SOURCE, &third, NULL), -EBUSY);
}

Test(journal, list_missing_state_dir_is_empty)
{
    _cleanup_free_ char *missing = xasprintf("%s/nothing/here", state_dir);
    struct mp_journal_entry *entries = (void *)1;
    size_t n = 99;
    cr_assert_eq(mp_journal_list(missing, &entries, &n, NULL), 0);
    cr_assert_null(entries);
    cr_assert_eq(n, 0);
    mp_journal_entries_free(entries, n);
}

Test(journal, list_reports_good_and_bad_journals_in_order)
{
    /* Committed journals, one of them still locked by a helper at work. */
    _cleanup_journal_ struct mp_journal *busy = open_ok("zeta", MP_ROLE_SOURCE);
    _cleanup_record_ struct mp_journal_record *z = sample_record("zeta", MP_ROLE_SOURCE);
    commit_ok(busy, z);
    const struct {
        const char *domain;
        enum mp_role role;
    } good[] = { { "alpha", MP_ROLE_DESTINATION }, { "alpha", MP_ROLE_SOURCE } };
    for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
        struct mp_journal *j = open_ok(good[i].domain, good[i].role);
        struct mp_journal_record *r = sample_record(good[i].domain, good[i].role);
        commit_ok(j, r);
        mp_journal_record_free(r);
        mp_journal_close(j);
    }
    /* A corrupt record, and a directory opened but never committed. */
    struct mp_journal *j = open_ok("broken", MP_ROLE_SOURCE);
    mp_journal_close(j);
    _cleanup_free_ char *broken = path_in("/record", "source", "broken");
    static const char zero_sum[] = "migphase-journal 1\nchecksum = 0000000000000000\n";
    write_raw(broken, zero_sum, strlen(zero_sum));
    j = open_ok("empty", MP_ROLE_SOURCE);
    mp_journal_close(j);
    /* Things that are not journals at all. */
    _cleanup_free_ char *file = xasprintf("%s/source/file.txt", state_dir);
    _cleanup_free_ char *hidden = xasprintf("%s/source/.hidden", state_dir);
    _cleanup_free_ char *spaced = xasprintf("%s/source/bad name", state_dir);
    _cleanup_free_ char *other = xasprintf("%s/elsewhere", state_dir);
    write_raw(file, "x", 1);
    cr_assert_eq(mkdir(hidden, 0700), 0);
    cr_assert_eq(mkdir(spaced, 0700), 0);
    cr_assert_eq(mkdir(other, 0700), 0);

    struct mp_journal_entry *entries = NULL;
    size_t n = 0;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_journal_list(state_dir, &entries, &n, &err), 0, "%s", err ? err->message : "");
    cr_assert_eq(n, 4);
    cr_assert_eq(entries[0].role, MP_ROLE_SOURCE);
    cr_assert_str_eq(entries[0].domain, "alpha");
    cr_assert_str_eq(entries[1].domain, "broken");
    cr_assert_str_eq(entries[2].domain, "zeta");
    cr_assert_eq(entries[3].role, MP_ROLE_DESTINATION);
    cr_assert_str_eq(entries[3].domain, "alpha");
    for (size_t i = 0; i < n; i++) {
        if (i == 1)
            continue;
        cr_assert_not_null(entries[i].record);
        cr_assert_null(entries[i].error);
        cr_assert_str_eq(entries[i].record->domain, entries[i].domain);
    }
    cr_assert_null(entries[1].record);
    cr_assert_not_null(entries[1].error);
    _cleanup_free_ char *want =
        xasprintf("journal record %s is corrupt (checksum mismatch)", broken);
    cr_assert_str_eq(entries[1].error->message, want);
    mp_journal_entries_free(entries, n);
}
