/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Cookies: golden round trips and refusals (tests/data/cookies), limits,
 * features, the model's accessors, and what the formatter refuses. */
#include "config.h"

#include "cookie.h"

#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libxml/parser.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define COOKIE_DIR TEST_DATADIR "/cookies"

static char *
read_data(const char *name, size_t *len)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", COOKIE_DIR, name);
    char *buf = NULL;
    struct mp_error *err = NULL;
    int r = mp_read_file(path, 64 * 1024 * 1024, &buf, len, &err);
    cr_assert_eq(r, 0, "%s: %s", path, err ? err->message : "?");
    return buf;
}

static bool
has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The names of the golden files ending in suffix, sorted, without it. */
static char **
list_cases(const char *suffix)
{
    struct dirent **entries;
    int n = scandir(COOKIE_DIR, &entries, NULL, alphasort);
    cr_assert_geq(n, 0, "cannot list %s: %s", COOKIE_DIR, strerror(errno));
    char **names = NULL;
    for (int i = 0; i < n; i++) {
        const char *name = entries[i]->d_name;
        if (has_suffix(name, suffix)) {
            _cleanup_free_ char *base = xstrndup(name, strlen(name) - strlen(suffix));
            names = mp_strv_append(names, base);
        }
        free(entries[i]);
    }
    free(entries);
    return names;
}

static struct mp_cookie *
parse_ok(const char *buf, size_t len, const char *what)
{
    struct mp_cookie *c = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    int r = mp_cookie_parse(buf, len, NULL, &c, &err);
    cr_assert_eq(r, 0, "%s: %s", what, err ? err->message : "no error set");
    cr_assert_not_null(c);
    return c;
}

static char *
format_ok(const struct mp_cookie *c, const char *what)
{
    char *out = NULL;
    size_t len = 0;
    _cleanup_error_ struct mp_error *err = NULL;
    int r = mp_cookie_format(c, &out, &len, &err);
    cr_assert_eq(r, 0, "%s: %s", what, err ? err->message : "no error set");
    cr_assert_eq(len, strlen(out), "%s: length", what);
    return out;
}

/* Formatting must fail with -EINVAL and a message containing expect. */
static void
expect_format_error(const struct mp_cookie *c, const char *expect)
{
    char *out = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    int r = mp_cookie_format(c, &out, NULL, &err);
    cr_expect_eq(r, -EINVAL, "formatting should fail (expected '%s'), got %d", expect, r);
    cr_expect_null(out);
    cr_assert_not_null(err);
    cr_expect(strstr(err->message, expect), "message '%s' lacks '%s'", err->message, expect);
    cr_expect_null(strchr(err->message, '\n'), "message has a newline: '%s'", err->message);
}

static struct mp_cookie *
minimal_cookie(enum mp_step step)
{
    struct mp_cookie *c = mp_cookie_new(step);
    c->migration_id = xstrdup("3f2b8c1e-9d4a-4e6b-8a1c-2d5e7f9a0b13");
    c->driver = xstrdup("qemu");
    c->domain_name = xstrdup("vm");
    return c;
}

/* ---- Golden files ------------------------------------------------------- */

Test(golden, round_trip)
{
    _cleanup_strv_ char **cases = list_cases(".in.xml");
    cr_assert_geq(mp_strv_length(cases), 15, "golden round-trip files are missing");
    for (char **name = cases; *name; name++) {
        _cleanup_free_ char *in_name = xasprintf("%s.in.xml", *name);
        _cleanup_free_ char *out_name = xasprintf("%s.out.xml", *name);
        size_t len;
        _cleanup_free_ char *in = read_data(in_name, &len);
        _cleanup_free_ char *want = read_data(out_name, NULL);
        _cleanup_cookie_ struct mp_cookie *c = parse_ok(in, len, in_name);
        _cleanup_free_ char *got = format_ok(c, in_name);
        cr_expect_str_eq(got, want, "%s does not format to %s", in_name, out_name);
    }
}

/* The formatted form is a fixed point: what the next step reads and writes
 * back is byte for byte what it got. */
Test(golden, output_is_fixed_point)
{
    _cleanup_strv_ char **cases = list_cases(".out.xml");
    for (char **name = cases; *name; name++) {
        _cleanup_free_ char *out_name = xasprintf("%s.out.xml", *name);
        size_t len;
        _cleanup_free_ char *want = read_data(out_name, &len);
        _cleanup_cookie_ struct mp_cookie *c = parse_ok(want, len, out_name);
        _cleanup_free_ char *got = format_ok(c, out_name);
        cr_expect_str_eq(got, want, "%s changes when formatted again", out_name);
    }
}

Test(golden, invalid)
{
    _cleanup_strv_ char **cases = list_cases(".invalid.xml");
    cr_assert_geq(mp_strv_length(cases), 30, "golden invalid files are missing");
    for (char **name = cases; *name; name++) {
        _cleanup_free_ char *in_name = xasprintf("%s.invalid.xml", *name);
        _cleanup_free_ char *error_name = xasprintf("%s.error", *name);
        size_t len, error_len;
        _cleanup_free_ char *in = read_data(in_name, &len);
        _cleanup_free_ char *expect = read_data(error_name, &error_len);
        while (error_len > 0 && expect[error_len - 1] == '\n')
            expect[--error_len] = '\0';
        cr_assert_gt(error_len, 0, "%s is empty", error_name);

        struct mp_cookie *c = NULL;
        _cleanup_error_ struct mp_error *err = NULL;
        int r = mp_cookie_parse(in, len, NULL, &c, &err);
        cr_expect_lt(r, 0, "%s parsed", in_name);
        cr_expect_null(c, "%s: cookie set on failure", in_name);
        mp_cookie_free(c);
        if (r >= 0)
            continue;
        cr_assert_not_null(err, "%s: no error set", in_name);
        cr_expect_eq(r, -err->errnum, "%s: return value and errnum differ", in_name);
        cr_expect_eq(err->kind, MP_ERR_INPUT, "%s: not an input error", in_name);
        cr_expect(strstr(err->message, expect), "%s: message '%s' lacks '%s'", in_name,
                  err->message, expect);
        cr_expect_null(strchr(err->message, '\n'), "%s: message has a newline", in_name);
    }
}

/* ---- Limits ------------------------------------------------------------- */

Test(limits, oversize_refused_before_parsing)
{
    size_t len = 2 * 1024 * 1024;
    _cleanup_free_ char *buf = xmalloc(len);
    memset(buf, '<', len); /* would be a parse error, if it were parsed */
    struct mp_cookie *c = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    int r = mp_cookie_parse(buf, len, NULL, &c, &err);
    cr_assert_eq(r, -EFBIG);
    cr_assert_null(c);
    cr_expect_eq(err->kind, MP_ERR_INPUT);
    cr_expect(strstr(err->message, "2097152"), "size not in '%s'", err->message);
    cr_expect(strstr(err->message, "1048576"), "limit not in '%s'", err->message);
}

/* A valid cookie padded to the limit parses; one byte more does not. */
Test(limits, exactly_at_limit)
{
    static const char head[] = "<migphase-cookie version=\"1\" step=\"begin\">"
                               "<migration id=\"m\" driver=\"qemu\"/><domain name=\"vm\"/>"
                               "</migphase-cookie>";
    size_t len = MP_COOKIE_MAX_SIZE + 1;
    _cleanup_free_ char *buf = xmalloc(len);
    memcpy(buf, head, strlen(head));
    memset(buf + strlen(head), '\n', len - strlen(head));

    _cleanup_cookie_ struct mp_cookie *c = parse_ok(buf, MP_COOKIE_MAX_SIZE, "at the limit");
    cr_expect_str_eq(c->domain_name, "vm");
    struct mp_cookie *c2 = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_expect_eq(mp_cookie_parse(buf, len, NULL, &c2, &err), -EFBIG);
    cr_expect_null(c2);
}

/* The parser is given a length, not a string: nothing past it is read
 * (AddressSanitizer builds catch an overread of this exact-size copy). */
Test(limits, buffer_not_terminated)
{
    size_t len;
    _cleanup_free_ char *text = read_data("prepare.in.xml", &len);
    _cleanup_free_ char *exact = xmalloc(len);
    memcpy(exact, text, len);
    _cleanup_cookie_ struct mp_cookie *c = parse_ok(exact, len, "prepare.in.xml");
    cr_expect_str_eq(c->uri, "tcp:192.0.2.20:49152");

    /* Cut short, it must fail cleanly. */
    struct mp_cookie *c2 = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_expect_lt(mp_cookie_parse(exact, len / 2, NULL, &c2, &err), 0);
    cr_expect_eq(err->kind, MP_ERR_INPUT);
}

Test(limits, embedded_nul)
{
    static const char buf[] = "<migphase-cookie version=\"1\" step=\"begin\">\0"
                              "<migration id=\"m\" driver=\"qemu\"/><domain name=\"vm\"/>"
                              "</migphase-cookie>";
    struct mp_cookie *c = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_expect_lt(mp_cookie_parse(buf, sizeof(buf) - 1, NULL, &c, &err), 0);
    cr_expect_null(c);
    cr_expect(strstr(err->message, "malformed cookie"), "%s", err->message);
}

/* libxml2 takes time worse than linear in siblings and in attributes of one
 * tag; well under 1 MiB, these shapes cost it minutes. They are refused
 * before that work starts. */
static const char limits_head[] = "<migphase-cookie version=\"1\" step=\"begin\">"
                                  "<migration id=\"m\" driver=\"qemu\"/><domain name=\"vm\"/>";

static char *
repeat(const char *head, const char *unit, size_t n, const char *tail)
{
    size_t ulen = strlen(unit);
    char *buf = xmalloc(strlen(head) + ulen * n + strlen(tail) + 1);
    char *p = stpcpy(buf, head);
    for (size_t i = 0; i < n; i++)
        p = stpcpy(p, unit);
    strcpy(p, tail);
    return buf;
}

Test(limits, too_many_elements)
{
    _cleanup_free_ char *ok = repeat(limits_head, "<u/>", 4000, "</migphase-cookie>");
    _cleanup_cookie_ struct mp_cookie *c = parse_ok(ok, strlen(ok), "4000 unknown elements");
    cr_expect_eq(mp_strv_length(c->unknown), 4000);

    _cleanup_free_ char *buf = repeat(limits_head, "<u/>", 200000, "</migphase-cookie>");
    struct mp_cookie *c2 = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_cookie_parse(buf, strlen(buf), NULL, &c2, &err), -EFBIG);
    cr_expect_eq(err->kind, MP_ERR_INPUT);
    cr_expect(strstr(err->message, "cookie is too large: more than 4096 elements"), "%s",
              err->message);
}

Test(limits, too_many_attributes_on_a_tag)
{
    _cleanup_free_ char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    fputs(limits_head, f);
    fputs("\n<u", f);
    for (int i = 0; i < 30000; i++)
        fprintf(f, " a%d=\"\"", i);
    fputs("/></migphase-cookie>", f);
    fclose(f);
    struct mp_cookie *c = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_cookie_parse(buf, n, NULL, &c, &err), -EFBIG);
    cr_expect_eq(err->kind, MP_ERR_INPUT);
    cr_expect_str_eq(err->message,
                     "cookie is too large: a tag on line 2 has more than 256 attributes");
}

/* The attribute count is exact for start tags, and ignores text: '=' and
 * quotes in JSON, in comments or in attribute values do not count. */
Test(limits, attribute_count_ignores_text)
{
    _cleanup_free_ char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    fputs(limits_head, f);
    fputs("<description format=\"xl-json\">", f);
    for (int i = 0; i < 1000; i++)
        fputs("{\"a=\": \"b='c'\"} ", f);
    fputs("</description><!--", f);
    for (int i = 0; i < 1000; i++)
        fputs(" x=\"1\"", f);
    fputs(" --><u a=\"=>='\"", f);
    for (int i = 1; i < 256; i++)
        fprintf(f, " a%d='='", i);
    fputs("/></migphase-cookie>", f);
    fclose(f);
    _cleanup_cookie_ struct mp_cookie *c = parse_ok(buf, n, "256 attributes and busy text");
    cr_expect_eq(mp_strv_length(c->unknown), 1);
}

/* ---- Features ----------------------------------------------------------- */

static const char lease_cookie[] =
    "<migphase-cookie version=\"1\" step=\"prepare\">"
    "<migration id=\"m\" driver=\"qemu\"/><domain name=\"vm\"/>"
    "<feature name=\"lease\" mandatory=\"yes\"/><feature name=\"stats\" mandatory=\"yes\"/>"
    "<feature name=\"colour\" mandatory=\"no\"/>"
    "<extension name=\"lease\" hook=\"10-lease\"><token>t</token></extension>"
    "</migphase-cookie>";

Test(features, lease_is_not_built_in)
{
    cr_expect_not(mp_strv_length((char *const *)mp_cookie_known_features) == 0);
    for (const char *const *f = mp_cookie_known_features; *f; f++)
        cr_expect_str_neq(*f, "lease", "lease belongs to a hook, not the built-in list");
    struct mp_cookie *c = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    int r = mp_cookie_parse(lease_cookie, strlen(lease_cookie), NULL, &c, &err);
    cr_assert_lt(r, 0);
    cr_expect_eq(err->kind, MP_ERR_INPUT);
    cr_expect_str_eq(err->message,
                     "cookie requires feature 'lease' which this host does not support");
}

Test(features, caller_list_accepts_hook_feature)
{
    static const char *const known[] = { "stats", "lease", NULL };
    struct mp_cookie *c = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    int r = mp_cookie_parse(lease_cookie, strlen(lease_cookie), known, &c, &err);
    cr_assert_eq(r, 0, "%s", err ? err->message : "");
    cr_expect_eq(c->n_features, 3);
    cr_expect_str_eq(c->features[0].name, "lease");
    cr_expect(c->features[0].mandatory);
    cr_expect_not(c->features[2].mandatory);
    cr_expect_eq(c->n_extensions, 1);
    cr_expect_str_eq(c->extensions[0].content, "<token>t</token>");
    mp_cookie_free(c);
}

/* The caller's list replaces the built-in one. */
Test(features, caller_list_replaces_built_in)
{
    static const char *const known[] = { "lease", NULL };
    struct mp_cookie *c = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_lt(mp_cookie_parse(lease_cookie, strlen(lease_cookie), known, &c, &err), 0);
    cr_expect(strstr(err->message, "'stats'"), "%s", err->message);
}

/* ---- The model ---------------------------------------------------------- */

Test(model, new_has_defaults)
{
    _cleanup_cookie_ struct mp_cookie *c = mp_cookie_new(MP_STEP_PERFORM);
    cr_expect_eq(c->version, MP_COOKIE_FORMAT_VERSION);
    cr_expect_eq(c->step, MP_STEP_PERFORM);
    cr_expect(c->params.live);
    cr_expect_not(c->params.paused);
    cr_expect_eq(c->outcome, MP_OUTCOME_NONE);
    cr_expect_not(c->stats.present);
    cr_expect_null(c->unknown);
    mp_cookie_free(NULL);
}

Test(model, parse_fills_fields)
{
    size_t len;
    _cleanup_free_ char *buf = read_data("perform.in.xml", &len);
    _cleanup_cookie_ struct mp_cookie *c = parse_ok(buf, len, "perform.in.xml");
    cr_expect_eq(c->step, MP_STEP_PERFORM);
    cr_expect_str_eq(c->migration_id, "3f2b8c1e-9d4a-4e6b-8a1c-2d5e7f9a0b13");
    cr_expect_str_eq(c->driver, "qemu");
    cr_expect_str_eq(c->domain_name, "web01");
    cr_expect_str_eq(c->domain_uuid, "6f1c1a39-49b8-4f57-a0a2-1a4c8e3f7a10");
    cr_expect_str_eq(c->source.hostname, "kvm-a.example.org");
    cr_expect_str_eq(c->destination.host_id, "7d1e9b3c5a2f4e8d9c0b1a2f3e4d5c6b");
    cr_expect(c->params.live);
    cr_expect_eq(c->params.bandwidth_mib, 1024);
    cr_expect_eq(c->params.downtime_ms, 300);
    cr_expect_eq(c->params.timeout_s, 600);
    cr_expect(c->stats.present);
    cr_expect_eq(c->stats.total_ms, 8431);
    cr_expect_eq(c->stats.transferred_bytes, 2214592512ULL);
    cr_expect_eq(c->stats.mbps_x1000, 2101442);
    cr_expect_eq(c->outcome, MP_OUTCOME_SUCCESS);
    cr_expect_null(c->outcome_message);
    cr_expect_null(c->description_format);
}

Test(model, parse_description)
{
    size_t len;
    _cleanup_free_ char *buf = read_data("begin.in.xml", &len);
    _cleanup_cookie_ struct mp_cookie *c = parse_ok(buf, len, "begin.in.xml");
    cr_expect_str_eq(c->description_format, "qemu-argv");
    cr_assert_eq(mp_strv_length(c->description_args), 13);
    cr_expect_str_eq(c->description_args[0], "qemu-system-x86_64");
    cr_expect_str_eq(c->description_args[12],
                     "tap,id=net0,ifname=tap-web01,script=no,downscript=no");
    cr_expect_null(c->description_text);
    cr_expect_str_eq(mp_cookie_get_data(c, "qemu-version"), "7.2.0");
    cr_expect_str_eq(c->extensions[0].hook, "10-lease");
    cr_expect_str_eq(c->extensions[0].content,
                     "\n    <lease resource=\"web01-disk\" token=\"a1b2c3\"/>\n  ");

    _cleanup_free_ char *xen = read_data("begin-xen.in.xml", &len);
    _cleanup_cookie_ struct mp_cookie *x = parse_ok(xen, len, "begin-xen.in.xml");
    cr_expect_str_eq(x->description_format, "xl-json");
    cr_expect_null(x->description_args);
    cr_expect(mp_str_has_prefix(x->description_text, "{\n    \"c_info\""), "%s",
              x->description_text);
}

Test(model, parse_unknown_elements_in_order)
{
    size_t len;
    _cleanup_free_ char *buf = read_data("unknown-elements.in.xml", &len);
    _cleanup_cookie_ struct mp_cookie *c = parse_ok(buf, len, "unknown-elements.in.xml");
    cr_assert_eq(mp_strv_length(c->unknown), 5);
    cr_expect_str_eq(c->unknown[0], "<future-thing level=\"3\"/>");
    cr_expect(mp_str_has_prefix(c->unknown[1], "<future-tuning>\n    <postcopy"), "%s",
              c->unknown[1]);
    cr_expect_str_eq(c->unknown[2], "<x:domain xmlns:x=\"urn:example:other\" name=\"not-ours\"/>");
    /* Kept as data, never acted on. */
    cr_expect(mp_str_has_prefix(c->unknown[3], "<xi:include"), "%s", c->unknown[3]);
    cr_expect_str_eq(c->domain_name, "vm");
}

/* derive carries everything forward: formatting the derived cookie gives
 * the original with only the step changed. */
Test(model, derive_copies_everything)
{
    static const char *const known[] = { "stats", "lease", NULL };
    size_t len;
    _cleanup_free_ char *buf = read_data("prepare.out.xml", &len);
    struct mp_cookie *in = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_cookie_parse(buf, len, known, &in, &err), 0);
    mp_cookie_add_extension(in, "extra", NULL, "<x/>");
    in->unknown = mp_strv_append(in->unknown, "<later a=\"b\"/>");
    _cleanup_free_ char *original = format_ok(in, "original");

    _cleanup_cookie_ struct mp_cookie *out = mp_cookie_derive(in, MP_STEP_PERFORM);
    mp_cookie_free(in); /* the copy must not share anything */
    cr_expect_eq(out->step, MP_STEP_PERFORM);
    _cleanup_free_ char *derived = format_ok(out, "derived");

    char *step = strstr(original, "step=\"prepare\"");
    cr_assert_not_null(step);
    _cleanup_free_ char *expect = xasprintf("%.*sstep=\"perform\"%s", (int)(step - original),
                                            original, step + strlen("step=\"prepare\""));
    cr_expect_str_eq(derived, expect);
}

Test(model, derive_empty_cookie)
{
    _cleanup_cookie_ struct mp_cookie *in = mp_cookie_new(MP_STEP_BEGIN);
    _cleanup_cookie_ struct mp_cookie *out = mp_cookie_derive(in, MP_STEP_PREPARE);
    cr_expect_eq(out->step, MP_STEP_PREPARE);
    cr_expect_null(out->migration_id);
    cr_expect_eq(out->n_driver_data, 0);
    cr_expect_null(out->unknown);
}

Test(model, driver_data)
{
    _cleanup_cookie_ struct mp_cookie *c = mp_cookie_new(MP_STEP_BEGIN);
    cr_expect_null(mp_cookie_get_data(c, "a"));
    mp_cookie_set_data(c, "a", "1");
    mp_cookie_set_data(c, "b", "2");
    mp_cookie_set_data(c, "c", "3");
    mp_cookie_set_data(c, "a", "one"); /* replaces, keeps its place */
    cr_assert_eq(c->n_driver_data, 3);
    cr_expect_str_eq(c->driver_data[0].key, "a");
    cr_expect_str_eq(mp_cookie_get_data(c, "a"), "one");
    mp_cookie_set_data(c, "b", NULL); /* removes */
    cr_assert_eq(c->n_driver_data, 2);
    cr_expect_null(mp_cookie_get_data(c, "b"));
    cr_expect_str_eq(c->driver_data[1].key, "c");
    mp_cookie_set_data(c, "missing", NULL);
    cr_expect_eq(c->n_driver_data, 2);
}

Test(model, features_merge)
{
    _cleanup_cookie_ struct mp_cookie *c = mp_cookie_new(MP_STEP_BEGIN);
    mp_cookie_add_feature(c, "lease", false);
    mp_cookie_add_feature(c, "stats", true);
    mp_cookie_add_feature(c, "lease", true);
    mp_cookie_add_feature(c, "stats", false);
    cr_assert_eq(c->n_features, 2);
    cr_expect(c->features[0].mandatory);
    cr_expect(c->features[1].mandatory);
}

/* ---- Formatting --------------------------------------------------------- */

Test(format, minimal)
{
    _cleanup_cookie_ struct mp_cookie *c = minimal_cookie(MP_STEP_BEGIN);
    _cleanup_free_ char *out = format_ok(c, "minimal");
    cr_expect_str_eq(out, "<?xml version=\"1.0\"?>\n"
                          "<migphase-cookie version=\"1\" step=\"begin\">\n"
                          "  <migration id=\"3f2b8c1e-9d4a-4e6b-8a1c-2d5e7f9a0b13\" "
                          "driver=\"qemu\"/>\n"
                          "  <domain name=\"vm\"/>\n"
                          "  <parameters live=\"yes\" bandwidth-mib=\"0\" downtime-ms=\"0\" "
                          "paused=\"no\" timeout-s=\"0\" tls=\"auto\"/>\n"
                          "</migphase-cookie>\n");
}

/* The tuning comes back the same, and a cookie without it reads as none. */
Test(format, tuning_round_trips)
{
    _cleanup_cookie_ struct mp_cookie *c = minimal_cookie(MP_STEP_BEGIN);
    cr_expect_not(mp_tuning_requested(&c->params.tuning));
    _cleanup_free_ char *plain = format_ok(c, "untuned");
    cr_expect_null(strstr(plain, "<tuning"), "%s", plain);
    c->params.tuning = (struct mp_tuning){ .parallel = 8,
                                           .compress = MP_COMPRESS_ZLIB,
                                           .xbzrle_bytes = 1ull << 30,
                                           .auto_converge = true,
                                           .throttle_initial = 35,
                                           .throttle_step = 15 };
    _cleanup_free_ char *out = format_ok(c, "tuned");
    cr_expect(strstr(out, "<tuning parallel=\"8\" compress=\"zlib\" "
                          "xbzrle-cache-bytes=\"1073741824\" auto-converge=\"yes\" "
                          "throttle-initial=\"35\" throttle-step=\"15\" converge=\"auto\"/>"),
              "%s", out);
    _cleanup_cookie_ struct mp_cookie *back = parse_ok(out, strlen(out), "tuned");
    cr_expect_eq(memcmp(&back->params.tuning, &c->params.tuning, sizeof(struct mp_tuning)), 0);
}

/* Postcopy's flags are written only when set: a reader that predates them
 * reads every cookie of a migration that does not use them. */
Test(format, postcopy_round_trips)
{
    _cleanup_cookie_ struct mp_cookie *c = minimal_cookie(MP_STEP_PERFORM);
    c->params.tuning.postcopy = true;
    c->params.tuning.postcopy_after_precopy = true;
    c->stats.present = true;
    c->stats.convergence =
        (struct mp_convergence){ .present = true, .escalations = 1, .postcopy = true };
    _cleanup_free_ char *out = format_ok(c, "postcopy");
    cr_expect(strstr(out, "converge=\"auto\" postcopy=\"yes\" "
                          "postcopy-after-precopy=\"yes\"/>"),
              "%s", out);
    cr_expect(strstr(out, "timed-out=\"no\" postcopy=\"yes\"/>"), "%s", out);
    _cleanup_cookie_ struct mp_cookie *back = parse_ok(out, strlen(out), "postcopy");
    cr_expect(back->params.tuning.postcopy && back->params.tuning.postcopy_after_precopy);
    cr_expect(back->stats.convergence.postcopy);
    c->params.tuning.postcopy_after_precopy = false;
    c->stats.convergence.postcopy = false;
    _cleanup_free_ char *plain = format_ok(c, "postcopy allowed, not started");
    cr_expect_null(strstr(plain, "postcopy-after-precopy"), "%s", plain);
    cr_expect_null(strstr(plain, "timed-out=\"no\" postcopy"), "%s", plain);
}

/* Another host's tuning is checked like the command line's. */
Test(parse, tuning_out_of_range_is_refused)
{
    static const char *const bad[] = {
        "<tuning parallel=\"65\"/>",
        "<tuning compress=\"zstd\"/>",
        "<tuning xbzrle-cache-bytes=\"1000\"/>",
        "<tuning throttle-step=\"100\"/>",
        "<tuning compress=\"lz4\" parallel=\"2\"/>",
        "<tuning postcopy=\"yes\" parallel=\"2\"/>",
        "<tuning postcopy-after-precopy=\"yes\"/>",
        "<tuning postcopy=\"maybe\"/>",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        _cleanup_free_ char *xml = xasprintf(
            "<migphase-cookie version=\"1\" step=\"begin\"><migration id=\"x\" driver=\"qemu\"/>"
            "<domain name=\"vm\"/>%s</migphase-cookie>",
            bad[i]);
        struct mp_cookie *c = NULL;
        _cleanup_error_ struct mp_error *err = NULL;
        cr_expect_lt(mp_cookie_parse(xml, strlen(xml), NULL, &c, &err), 0, "%s", bad[i]);
        cr_expect(err && err->kind == MP_ERR_INPUT, "%s", bad[i]);
        mp_cookie_free(c);
    }
}

/* What a driver builds field by field comes back the same. */
Test(format, built_cookie_round_trips)
{
    _cleanup_cookie_ struct mp_cookie *c = minimal_cookie(MP_STEP_PERFORM);
    c->source.hostname = xstrdup("a\tb");
    c->destination.hostname = xstrdup("dest");
    c->destination.host_id = xstrdup("id with \"quotes\" & <angles>\r\n");
    c->params.live = false;
    c->params.bandwidth_mib = UINT64_MAX;
    c->description_format = xstrdup("qemu-argv");
    c->description_args = mp_strv_append(c->description_args, "qemu-system-x86_64");
    c->description_args = mp_strv_append(c->description_args, "-append");
    c->description_args = mp_strv_append(c->description_args, "a\r\nb\tc ]]> </arg>");
    c->description_args = mp_strv_append(c->description_args, "");
    mp_cookie_set_data(c, "k", "v\r");
    c->uri = xstrdup("tcp:[::1]:49152");
    c->stats.present = true;
    c->stats.total_bytes = 1;
    c->outcome = MP_OUTCOME_FAILED;
    c->outcome_message = xstrdup("multi\nline\r\nmessage, \xc3\xa9t\xc3\xa9");
    mp_cookie_add_feature(c, "stats", true);
    mp_cookie_add_extension(c, "lease", "10-lease", "<t a=\"1\">x</t>");
    mp_cookie_add_extension(c, "empty", NULL, NULL);

    _cleanup_free_ char *out = format_ok(c, "built");
    _cleanup_cookie_ struct mp_cookie *back = parse_ok(out, strlen(out), "built");
    cr_expect_str_eq(back->source.hostname, "a\tb");
    cr_expect_str_eq(back->destination.host_id, "id with \"quotes\" & <angles>\r\n");
    cr_expect_not(back->params.live);
    cr_expect_eq(back->params.bandwidth_mib, UINT64_MAX);
    cr_assert_eq(mp_strv_length(back->description_args), 4);
    cr_expect_str_eq(back->description_args[2], "a\r\nb\tc ]]> </arg>");
    cr_expect_str_eq(back->description_args[3], "");
    cr_expect_str_eq(mp_cookie_get_data(back, "k"), "v\r");
    cr_expect_str_eq(back->uri, "tcp:[::1]:49152");
    cr_expect_eq(back->stats.total_bytes, 1);
    cr_expect_eq(back->outcome, MP_OUTCOME_FAILED);
    cr_expect_str_eq(back->outcome_message, "multi\nline\r\nmessage, \xc3\xa9t\xc3\xa9");
    cr_assert_eq(back->n_extensions, 2);
    cr_expect_str_eq(back->extensions[0].content, "<t a=\"1\">x</t>");
    cr_expect_null(back->extensions[1].hook);
    cr_expect_str_eq(back->extensions[1].content, "");

    _cleanup_free_ char *again = format_ok(back, "built, again");
    cr_expect_str_eq(again, out);
}

Test(format, refuses_characters_xml_cannot_carry)
{
    static const struct {
        const char *value;
        const char *message;
    } cases[] = {
        { "a\001b", "U+0001" },
        { "esc\033[0m", "U+001B" },
        { "\x7f ok but \x0c not", "U+000C" },
        { "bad \xff utf-8", "not valid UTF-8" },
        { "overlong \xc0\xaf", "not valid UTF-8" },
        { "truncated \xe2\x82", "not valid UTF-8" },
        { "surrogate \xed\xa0\x80", "U+D800" },
        { "nonchar \xef\xbf\xbe", "U+FFFE" },
        { "beyond \xf4\x90\x80\x80", "U+110000" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_cookie_ struct mp_cookie *c = minimal_cookie(MP_STEP_BEGIN);
        free(c->domain_name);
        c->domain_name = xstrdup(cases[i].value);
        expect_format_error(c, cases[i].message);
        expect_format_error(c, "the name attribute of <domain>");

        _cleanup_cookie_ struct mp_cookie *t = minimal_cookie(MP_STEP_BEGIN);
        t->description_format = xstrdup("qemu-argv");
        t->description_args = mp_strv_append(NULL, "ok");
        t->description_args = mp_strv_append(t->description_args, cases[i].value);
        expect_format_error(t, "the text of <arg>");
    }
}

Test(format, refuses_missing_identity)
{
    _cleanup_cookie_ struct mp_cookie *c = mp_cookie_new(MP_STEP_BEGIN);
    expect_format_error(c, "no migration id");
    c->migration_id = xstrdup("m");
    expect_format_error(c, "no driver");
    c->driver = xstrdup("qemu");
    expect_format_error(c, "no domain name");
    c->domain_name = xstrdup("vm");
    _cleanup_free_ char *out = format_ok(c, "complete");
    cr_expect(strstr(out, "<domain name=\"vm\"/>"), "%s", out);
    c->step = MP_STEP_COUNT;
    expect_format_error(c, "step");
}

/* Values the schema refuses fail on the writer's side, not the reader's. */
Test(format, refuses_what_the_reader_would)
{
    _cleanup_cookie_ struct mp_cookie *c = minimal_cookie(MP_STEP_BEGIN);
    c->domain_uuid = xstrdup("not-a-uuid");
    expect_format_error(c, "Invalid attribute uuid for element domain");

    _cleanup_cookie_ struct mp_cookie *d = minimal_cookie(MP_STEP_BEGIN);
    d->n_driver_data = 2;
    d->driver_data = xreallocarray(NULL, 2, sizeof(*d->driver_data));
    d->driver_data[0] = (struct mp_kv){ xstrdup("k"), xstrdup("1") };
    d->driver_data[1] = (struct mp_kv){ xstrdup("k"), xstrdup("2") };
    expect_format_error(d, "appears twice");

    _cleanup_cookie_ struct mp_cookie *s = minimal_cookie(MP_STEP_BEGIN);
    free(s->domain_name);
    s->domain_name = xstrdup("../etc");
    expect_format_error(s, "domain");
}

Test(format, refuses_bad_extension_content)
{
    static const char *const bad[] = {
        "<unclosed>",
        "</extension><domain name=\"evil\"/><extension name=\"x\">",
        "<l:token>undeclared prefix</l:token>",
        "a & b",
        "<!DOCTYPE x>",
        "<?xml version=\"1.0\"?><x/>",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        _cleanup_cookie_ struct mp_cookie *c = minimal_cookie(MP_STEP_BEGIN);
        mp_cookie_add_extension(c, "lease", "10-lease", bad[i]);
        expect_format_error(c, "the content of extension 'lease' is not well-formed XML");
    }
}

Test(format, refuses_bad_unknown_elements)
{
    static const struct {
        const char *xml;
        const char *message;
    } bad[] = {
        { "plain text", "not a single element" },
        { "<a/><b/>", "not a single element" },
        { " <a/>", "not a single element" },
        { "<domain name=\"x\"/>", "<domain> is an element format 1 defines" },
        { "<a>", "unknown element 1" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        _cleanup_cookie_ struct mp_cookie *c = minimal_cookie(MP_STEP_BEGIN);
        c->unknown = mp_strv_append(c->unknown, bad[i].xml);
        expect_format_error(c, bad[i].message);
    }
}

/* ---- libxml2 stays quiet, and leaves things as it found them ------------ */

static int foreign_calls;

#if LIBXML_VERSION >= 21200
#define XML_ERROR_CONST const
#else
#define XML_ERROR_CONST
#endif

static void
foreign_structured(_unused_ void *data, _unused_ XML_ERROR_CONST xmlError *e)
{
    foreign_calls++;
}

static void
foreign_generic(_unused_ void *ctx, _unused_ const char *msg, ...)
{
    foreign_calls++;
}

Test(quiet, handlers_restored_and_nothing_printed, .init = cr_redirect_stderr)
{
    int marker;
    xmlSetStructuredErrorFunc(&marker, foreign_structured);
    xmlSetGenericErrorFunc(&marker, foreign_generic);

    _cleanup_strv_ char **cases = list_cases(".invalid.xml");
    for (int round = 0; round < 3; round++) {
        for (char **name = cases; *name; name++) {
            _cleanup_free_ char *in_name = xasprintf("%s.invalid.xml", *name);
            size_t len;
            _cleanup_free_ char *in = read_data(in_name, &len);
            struct mp_cookie *c = NULL;
            _cleanup_error_ struct mp_error *err = NULL;
            cr_expect_lt(mp_cookie_parse(in, len, NULL, &c, &err), 0);
        }
        size_t len;
        _cleanup_free_ char *ok = read_data("extensions.out.xml", &len);
        _cleanup_cookie_ struct mp_cookie *c = parse_ok(ok, len, "extensions.out.xml");
        _cleanup_free_ char *out = format_ok(c, "extensions.out.xml");
        cr_expect_str_eq(out, ok);
        mp_cookie_add_extension(c, "bad", NULL, "<unclosed>");
        expect_format_error(c, "not well-formed");
    }

    cr_expect_eq(xmlStructuredError, foreign_structured);
    cr_expect_eq(xmlStructuredErrorContext, &marker);
    cr_expect_eq(xmlGenericError, foreign_generic);
    cr_expect_eq(xmlGenericErrorContext, &marker);
    cr_expect_eq(foreign_calls, 0, "the caller's handlers were called");
    fflush(stderr);
    cr_expect_stderr_eq_str("");
}

/* A DOCTYPE that names a local file: refused, and the file is never read
 * (the error would otherwise quote its contents or a path error). */
Test(quiet, doctype_never_loads_anything)
{
    char path[] = "/tmp/test-cookie-secret-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(mp_write_all(fd, "TOPSECRET", 9), 0);
    close(fd);

    _cleanup_free_ char *doc = xasprintf(
        "<?xml version=\"1.0\"?>\n"
        "<!DOCTYPE migphase-cookie SYSTEM \"%s\" [<!ENTITY s SYSTEM \"file://%s\">]>\n"
        "<migphase-cookie version=\"1\" step=\"begin\"><migration id=\"m\" driver=\"qemu\"/>"
        "<domain name=\"&s;\"/></migphase-cookie>",
        path, path);
    struct stat before, after;
    cr_assert_eq(stat(path, &before), 0);
    struct mp_cookie *c = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_expect_lt(mp_cookie_parse(doc, strlen(doc), NULL, &c, &err), 0);
    cr_expect_null(c);
    cr_expect(strstr(err->message, "DOCTYPE"), "%s", err->message);
    cr_expect_null(strstr(err->message, "TOPSECRET"));
    cr_assert_eq(stat(path, &after), 0);
    /* Reading would not change atime on every mount, so this is a check of
     * last resort; the message and the refusal are the real test. */
    cr_expect_eq(before.st_atim.tv_sec, after.st_atim.tv_sec);
    unlink(path);
}

Test(quiet, long_names_are_cut_in_messages)
{
    size_t n = 5000;
    _cleanup_free_ char *doc = xmalloc(2 * n + 10);
    char *p = doc;
    *p++ = '<';
    memset(p, 'x', n);
    p += n;
    p = stpcpy(p, "/>");
    struct mp_cookie *c = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_lt(mp_cookie_parse(doc, (size_t)(p - doc), NULL, &c, &err), 0);
    cr_expect(strstr(err->message, "not a migphase cookie"), "%s", err->message);
    cr_expect_lt(strlen(err->message), 200, "message not cut: %zu bytes", strlen(err->message));
    cr_expect(strstr(err->message, "..."), "%s", err->message);
}

/* ---- Items: what a site hook may add ------------------------------------ */

static void
expect_items_refused(const char *xml, int want_r, const char *want)
{
    struct mp_cookie *c = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_cookie_parse_items(xml, NULL, &c, &err), want_r, "%s", xml);
    cr_assert_null(c);
    cr_assert_eq(err->kind, MP_ERR_INPUT);
    cr_assert(strstr(err->message, want), "'%s' lacks '%s'", err->message, want);
}

Test(items, only_repeated_elements_may_be_added)
{
    _cleanup_cookie_ struct mp_cookie *c = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_assert_eq(mp_cookie_parse_items("<feature name=\"x\" mandatory=\"no\"/>\n"
                                       "<extension name=\"e\"><a/></extension><u/>",
                                       NULL, &c, &err),
                 0, "%s", err ? err->message : "");
    cr_assert_eq(c->n_features, 1);
    cr_assert_eq(c->n_extensions, 1);
    cr_assert_str_eq(c->extensions[0].content, "<a/>");
    cr_assert_str_eq(c->unknown[0], "<u/>");

    expect_items_refused("<outcome result=\"success\"/>", -EINVAL,
                         "line 1: more than one <outcome> element");
    expect_items_refused("\n<domain name=\"x\"/>", -EINVAL, "line 2: more than one <domain>");
    expect_items_refused("<feature name=\"lease\" mandatory=\"yes\"/>", -ENOTSUP, "'lease'");
    expect_items_refused("<!DOCTYPE x><feature name=\"x\"/>", -EINVAL, "malformed cookie: line 1");
}

/* ---- Storage copy: <parameters copy-storage>, <disk>, <incoming nbd> ---- */

static const char storage_cookie[] =
    "<migphase-cookie version=\"1\" step=\"prepare\">"
    "<migration id=\"3f2b8c1e-9d4a-4e6b-8a1c-2d5e7f9a0b13\" driver=\"qemu\"/>"
    "<domain name=\"vm\"/>"
    "<parameters copy-storage=\"incremental\"/>"
    "<incoming uri=\"tcp:h:49152\" nbd=\"tcp:h:49153\"/>"
    "<disk node=\"disk0\" format=\"qcow2\" path=\"/i/top.qcow2\" size=\"1048576\" "
    "backing=\"/i/base.qcow2\" backing-size=\"1048576\"/>"
    "<disk node=\"disk1\" format=\"raw\" path=\"/i/d1\" size=\"4096\"/>"
    "</migphase-cookie>";

Test(storage, disks_round_trip)
{
    _cleanup_cookie_ struct mp_cookie *c =
        parse_ok(storage_cookie, strlen(storage_cookie), "storage");
    cr_assert_eq(c->params.copy_storage, MP_COPY_STORAGE_INCREMENTAL);
    cr_assert_str_eq(c->nbd_uri, "tcp:h:49153");
    cr_assert_eq(c->n_disks, 2);
    cr_assert_str_eq(c->disks[0].backing, "/i/base.qcow2");
    cr_assert_eq(c->disks[0].backing_size, 1048576);
    cr_assert_null(c->disks[1].backing);
    _cleanup_cookie_ struct mp_cookie *d = mp_cookie_derive(c, MP_STEP_PERFORM);
    _cleanup_free_ char *out = format_ok(d, "derived");
    cr_expect(strstr(out, "copy-storage=\"incremental\""), "%s", out);
    cr_expect(strstr(out, "<disk node=\"disk1\" format=\"raw\" path=\"/i/d1\" size=\"4096\""), "%s",
              out);
    cr_expect(strstr(out, "nbd=\"tcp:h:49153\""), "%s", out);
}

Test(storage, no_copy_writes_no_attribute)
{
    _cleanup_cookie_ struct mp_cookie *c = minimal_cookie(MP_STEP_BEGIN);
    _cleanup_free_ char *out = format_ok(c, "minimal");
    cr_expect_null(strstr(out, "copy-storage"), "%s", out);
}

Test(storage, bad_disks_refused)
{
    const char *bad[] = {
        "<disk node=\"disk0\" format=\"vmdk\" path=\"/x\" size=\"1\"/>",
        "<disk node=\"a b\" format=\"raw\" path=\"/x\" size=\"1\"/>",
        "<disk node=\"d\" format=\"raw\" path=\"/x\"/>",
        "<disk node=\"d\" format=\"raw\" path=\"/x\" size=\"-1\"/>",
        /* One entry: two disks of the same node. */
        ("<disk node=\"d\" format=\"raw\" path=\"/x\" size=\"1\"/>"
         "<disk node=\"d\" format=\"raw\" path=\"/y\" size=\"1\"/>"),
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        _cleanup_free_ char *xml = xasprintf(
            "<migphase-cookie version=\"1\" step=\"begin\"><migration id=\"m\" driver=\"qemu\"/>"
            "<domain name=\"vm\"/>%s</migphase-cookie>",
            bad[i]);
        struct mp_cookie *c = NULL;
        _cleanup_error_ struct mp_error *err = NULL;
        cr_expect_lt(mp_cookie_parse(xml, strlen(xml), NULL, &c, &err), 0, "%s", bad[i]);
        mp_cookie_free(c);
    }
}

Test(storage, a_hook_cannot_add_a_disk)
{
    expect_items_refused("<disk node=\"d\" format=\"raw\" path=\"/x\" size=\"1\"/>", -EINVAL,
                         "not a hook's");
}
