/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The base library's small pieces: URIs, the growable buffer, the key/value
 * list, names, UTF-8, the log-text sanitiser and the hardened XML reader. */
#include "config.h"

#include "buf.h"
#include "kv.h"
#include "log.h"
#include "util.h"
#include "xml.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

static void
expect_uri(const char *listen, unsigned port, const char *want)
{
    _cleanup_free_ char *uri = mp_stream_uri(listen, "dst.example", port);
    cr_assert_str_eq(uri, want, "listening on %s", listen);
}

Test(util, stream_uri_names_the_host_the_source_can_reach)
{
    expect_uri("192.0.2.7", 49152, "tcp:192.0.2.7:49152");
    expect_uri("2001:db8::7", 49153, "tcp:[2001:db8::7]:49153");
    /* Every address: the source is given this host's name. */
    expect_uri("0.0.0.0", 49154, "tcp:dst.example:49154");
    expect_uri("::", 49155, "tcp:dst.example:49155");
    _cleanup_free_ char *v6 = mp_tcp_uri("::", 1);
    cr_assert_str_eq(v6, "tcp:[::]:1");
}

Test(util, names)
{
    const char *chars = MP_CHARS_LOWER MP_CHARS_DIGITS "-";
    cr_assert(mp_str_is_name("web-01", 64, NULL, chars));
    cr_assert(!mp_str_is_name("", 64, NULL, chars));
    cr_assert(!mp_str_is_name("Web", 64, NULL, chars));
    cr_assert(!mp_str_is_name("abcd", 3, NULL, chars));
    cr_assert(!mp_str_is_name("-a", 64, MP_CHARS_LOWER, chars));
}

Test(util, utf8_decode)
{
    uint32_t ch = 0;
    cr_assert_eq(mp_utf8_decode("a", 1, &ch), 1);
    cr_assert_eq(ch, 'a');
    cr_assert_eq(mp_utf8_decode("\xc3\xa9", 2, &ch), 2);
    cr_assert_eq(ch, 0xe9);
    cr_assert_eq(mp_utf8_decode("\xf0\x9f\x98\x80", 4, &ch), 4);
    cr_assert_eq(ch, 0x1f600);
    cr_assert_eq(mp_utf8_decode("\xc3\xa9", 1, &ch), -1, "past len");
    cr_assert_eq(mp_utf8_decode("\xc0\xaf", 2, &ch), -1, "overlong");
    cr_assert_eq(mp_utf8_decode("\xa9", 1, &ch), -1, "stray continuation");
    cr_assert_eq(mp_utf8_decode("\xe2\x28\xa1", 3, &ch), -1, "missing continuation");
    cr_assert_eq(mp_utf8_decode("\xed\xa0\x80", 3, &ch), 3, "surrogates are the caller's");
    cr_assert_eq(ch, 0xd800);
}

Test(buf, grows_and_hands_over)
{
    _cleanup_buf_ struct mp_buf b = { 0 };
    for (int i = 0; i < 1000; i++)
        mp_buf_printf(&b, "%d,", i % 10);
    cr_assert_eq(b.len, 2000);
    cr_assert_eq(strlen(b.data), 2000);
    mp_buf_truncate(&b, 3);
    mp_buf_add(&b, "xy", 1);
    size_t len = 0;
    _cleanup_free_ char *s = mp_buf_steal(&b, &len);
    cr_assert_str_eq(s, "0,1x");
    cr_assert_eq(len, 4);
    cr_assert_null(b.data);
    _cleanup_free_ char *empty = mp_buf_steal(&b, NULL);
    cr_assert_str_eq(empty, "");
}

Test(kv, keeps_order_and_one_of_each_key)
{
    struct mp_kv *kv = NULL;
    size_t n = 0;
    mp_kv_set(&kv, &n, "a", "1");
    mp_kv_set(&kv, &n, "b", "2");
    mp_kv_set(&kv, &n, "c", "3");
    mp_kv_set(&kv, &n, "a", "4");
    cr_assert_eq(n, 3);
    cr_assert_str_eq(kv[0].key, "a");
    cr_assert_str_eq(mp_kv_get(kv, n, "a"), "4");
    mp_kv_set(&kv, &n, "b", NULL);
    mp_kv_set(&kv, &n, "missing", NULL);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(kv[1].key, "c");
    cr_assert_null(mp_kv_get(kv, n, "b"));
    struct mp_kv *copy = mp_kv_copy(kv, n);
    cr_assert_str_eq(copy[1].value, "3");
    cr_assert_neq(copy[1].value, kv[1].value);
    mp_kv_free(copy, n);
    mp_kv_free(kv, n);
}

static void
expect_text(const char *s, size_t max, enum mp_log_text_how how, const char *want)
{
    _cleanup_free_ char *got = mp_log_text(s, strlen(s), max, how);
    cr_assert_str_eq(got, want, "mode %d", (int)how);
}

Test(log_text, values_are_shown_exactly)
{
    expect_text("a b", 64, MP_LOG_VALUE, "a b");
    expect_text("a\nb\x1b[2J", 64, MP_LOG_VALUE, "a\\x0ab\\x1b[2J");
    expect_text("caf\xc3\xa9 \\", 64, MP_LOG_VALUE, "caf\xc3\xa9 \\x5c");
    expect_text("bad \xff \xc2\x85", 64, MP_LOG_VALUE, "bad \\xff \\xc2\\x85");
    expect_text("1 ", 64, MP_LOG_VALUE, "1 ");
    expect_text("abcdef", 3, MP_LOG_VALUE, "abc...");
    expect_text("ab\xc3\xa9", 3, MP_LOG_VALUE, "ab...");
}

Test(log_text, other_programs_words_on_one_line)
{
    expect_text("  lease held by\nhostB\n\001", 100, MP_LOG_LINE, "lease held by hostB");
    expect_text("tab\there \\ ok", 100, MP_LOG_LINE, "tab here \\ ok");
    expect_text("x\n\ty\r\n", 100, MP_LOG_LINES, "x\n\ty");
    expect_text("bad \xfe", 100, MP_LOG_LINES, "bad \\xfe");
    expect_text("\n\n", 100, MP_LOG_LINE, "");
}

static const struct mp_xml_limits small = {
    .max_bytes = 4096,
    .max_elements = 3,
    .max_attributes = 2,
};

static int
read_xml(const char *text, char **message)
{
    _cleanup_xml_doc_ xmlDoc *doc = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    int r = mp_xml_read(text, strlen(text), &small, &doc, &err);
    cr_assert_eq(r < 0, doc == NULL);
    if (r < 0) {
        cr_assert_eq(err->kind, MP_ERR_INPUT);
        cr_assert_null(strchr(err->message, '\n'), "%s", err->message);
        *message = xstrdup(err->message);
    }
    return r;
}

Test(xml, reads_within_bounds_and_refuses_the_rest)
{
    _cleanup_free_ char *m1 = NULL, *m2 = NULL, *m3 = NULL, *m4 = NULL, *m5 = NULL;
    cr_assert_eq(read_xml("<a x=\"1\" y=\"2\"><b/><c/></a>", &m1), 0);
    cr_assert_eq(read_xml("<a><b/><c/><d/></a>", &m1), -EFBIG);
    cr_assert(strstr(m1, "more than 3 elements"), "%s", m1);
    cr_assert_eq(read_xml("<a x='1' y='2' z='3'/>", &m2), -EFBIG);
    cr_assert(strstr(m2, "more than 2 attributes"), "%s", m2);
    cr_assert_eq(read_xml("<!DOCTYPE a [<!ENTITY e \"boom\">]>\n<a>&e;</a>", &m3), -EINVAL);
    cr_assert_str_eq(m3, "line 1: a DOCTYPE declaration is not allowed");
    cr_assert_eq(read_xml("<a>&e;</a>", &m4), -EINVAL);
    cr_assert(strstr(m4, "line 1: Entity 'e' not defined"), "%s", m4);
    char big[5000];
    memset(big, ' ', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cr_assert_eq(read_xml(big, &m5), -EFBIG);
    cr_assert_str_eq(m5, "4999 bytes, the limit is 4096");
}

Test(xml, declared_encodings_are_not_honoured)
{
    _cleanup_free_ char *m = NULL;
    cr_assert_eq(read_xml("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>caf\xe9</a>", &m),
                 -EINVAL);
    cr_assert(strstr(m, "UTF-8"), "%s", m);
}

Test(xml, escapes_for_attributes_and_text)
{
    _cleanup_buf_ struct mp_buf b = { 0 };
    mp_xml_escape(&b, "<a & \"b\">\t\n\r", true);
    cr_assert_str_eq(b.data, "&lt;a &amp; &quot;b&quot;&gt;&#9;&#10;&#13;");
    mp_buf_truncate(&b, 0);
    mp_xml_escape(&b, "<a & \"b\">\t\n\r", false);
    cr_assert_str_eq(b.data, "&lt;a &amp; \"b\"&gt;\t\n&#13;");
    uint32_t bad = 0;
    cr_assert_eq(mp_xml_check_chars("ok \xc3\xa9", &bad), 0);
    cr_assert_eq(mp_xml_check_chars("esc \x1b", &bad), 1);
    cr_assert_eq(bad, 0x1b);
    cr_assert_eq(mp_xml_check_chars("bad \xff", &bad), -1);
}

/* A read that brings nothing (an empty config file) still leaves a string:
 * the parsers after it look for its end. */
Test(buf, reserved_but_empty_is_a_string)
{
    struct mp_buf b = { 0 };
    char *room = mp_buf_reserve(&b, 4096);
    memset(room, 'x', 4096); /* what a failed or empty read may leave */
    mp_buf_clear(&b);
    (void)mp_buf_reserve(&b, 4096); /* likely the same memory again */
    size_t len = 1;
    _cleanup_free_ char *s = mp_buf_steal(&b, &len);
    cr_assert_eq(len, 0);
    cr_assert_str_eq(s, "");
}
