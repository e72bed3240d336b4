/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Writing cookies: the canonical form, by hand (libxml2's indenting would
 * touch extension content), element by element from the table, then read
 * back with the parser so that a bad cookie fails on the host that made it. */
#include "config.h"

#include "cookie-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

/* Extension content and unknown elements are checked on their own, with
 * the cookie's bounds on shape; their size counts in the whole cookie. */
static const struct mp_xml_limits fragment_limits = {
    .max_bytes = INT_MAX,
    .max_elements = 4096,
    .max_attributes = 256,
};

/* Append s as it is. */
static void
put(struct cookie_writer *w, const char *s)
{
    mp_buf_add_str(&w->out, s);
}

/* Append s escaped, or record why XML cannot carry it (attr names the
 * attribute it is the value of; NULL for text). */
static void
put_escaped(struct cookie_writer *w, const char *s, const char *attr)
{
    uint32_t bad = 0;
    int r = mp_xml_check_chars(s, &bad);
    if (r == 0) {
        mp_xml_escape(&w->out, s, attr != NULL);
        return;
    }
    if (w->error)
        return;
    _cleanup_free_ char *what = attr ? xasprintf("the %s attribute of <%s>", attr, w->element)
                                     : xasprintf("the text of <%s>", w->element);
    w->error =
        r < 0 ? xasprintf("%s is not valid UTF-8", what)
              : xasprintf("%s contains U+%04" PRIX32 ", which XML 1.0 cannot carry", what, bad);
}

/* "<name", indented by depth levels of two spaces. */
static void
start_tag(struct cookie_writer *w, int depth, const char *name)
{
    for (int i = 0; i < depth; i++)
        put(w, "  ");
    put(w, "<");
    put(w, name);
    w->element = name;
}

/* An attribute; nothing when value is NULL. */
static void
put_attr(struct cookie_writer *w, const char *name, const char *value)
{
    if (!value)
        return;
    put(w, " ");
    put(w, name);
    put(w, "=\"");
    put_escaped(w, value, name);
    put(w, "\"");
}

/* One attribute from its model field. */
static void
put_attr_field(struct cookie_writer *w, const struct cookie_attr *a, const void *field)
{
    char number[24];
    switch (a->type) {
    case ATTR_TEXT:
        put_attr(w, a->name, *(char *const *)field);
        return;
    case ATTR_COUNT:
        snprintf(number, sizeof(number), "%" PRIu64, *(const uint64_t *)field);
        put_attr(w, a->name, number);
        return;
    case ATTR_YES_NO:
        put_attr(w, a->name, *(const bool *)field ? "yes" : "no");
        return;
    case ATTR_FLAG:
        /* Absent unless set: a reader that predates the attribute reads
         * every cookie that does not use it. */
        if (*(const bool *)field)
            put_attr(w, a->name, "yes");
        return;
    case ATTR_OUTCOME:
        put_attr(w, a->name, mp_outcome_name(*(const enum mp_outcome *)field));
        return;
    case ATTR_TLS:
        put_attr(w, a->name, mp_tls_mode_name(*(const enum mp_tls_mode *)field));
        return;
    case ATTR_COPY:
        /* Absent means none: cookies of migrations without disks to copy
         * read as they always did. */
        if (*(const enum mp_copy_storage *)field != MP_COPY_STORAGE_NONE)
            put_attr(w, a->name, mp_copy_storage_name(*(const enum mp_copy_storage *)field));
        return;
    case ATTR_COMPRESS:
        put_attr(w, a->name, mp_compress_name(*(const enum mp_compress *)field));
        return;
    case ATTR_CONVERGE:
        put_attr(w, a->name, mp_converge_name(*(const enum mp_converge *)field));
        return;
    }
}

void
cookie_write_start(struct cookie_writer *w, const char *name, const struct cookie_attr *attrs,
                   const void *part)
{
    start_tag(w, 1, name);
    w->open = name;
    for (const struct cookie_attr *a = attrs; a && a->name; a++)
        put_attr_field(w, a, (const char *)part + a->offset);
}

/* End the open element with s inside, escaped or not, or empty. */
static void
end_with(struct cookie_writer *w, const char *s, bool escape)
{
    if (!s || !*s) {
        put(w, "/>\n");
        return;
    }
    put(w, ">");
    if (escape)
        put_escaped(w, s, NULL);
    else
        put(w, s);
    put(w, "</");
    put(w, w->open);
    put(w, ">\n");
}

void
cookie_write_text_end(struct cookie_writer *w, const char *text)
{
    end_with(w, text, true);
}

void
cookie_write_xml_end(struct cookie_writer *w, const char *xml)
{
    end_with(w, xml, false);
}

void
cookie_write_children_begin(struct cookie_writer *w)
{
    put(w, ">\n");
}

void
cookie_write_child(struct cookie_writer *w, const char *name, const char *key_attr, const char *key,
                   const char *text)
{
    start_tag(w, 2, name);
    if (key_attr)
        put_attr(w, key_attr, key);
    put(w, ">");
    if (text)
        put_escaped(w, text, NULL);
    put(w, "</");
    put(w, name);
    put(w, ">\n");
}

void
cookie_write_children_end(struct cookie_writer *w)
{
    put(w, "  </");
    put(w, w->open);
    put(w, ">\n");
}

/* Whether a single element is written. */
static bool
is_present(const struct cookie_element *e, const struct mp_cookie *c)
{
    if (e->present)
        return e->present(c);
    if (e->occurs == OCCURS_REQUIRED)
        return true;
    for (const struct cookie_attr *a = e->attrs; a && a->name; a++) {
        if (a->type == ATTR_TEXT && *(char *const *)((const char *)c + e->part + a->offset))
            return true;
    }
    return false;
}

/* One row of the table: a repeated element's items, or a single element. */
static void
write_element(struct cookie_writer *w, const struct cookie_element *e, const struct mp_cookie *c)
{
    if (e->occurs == OCCURS_REPEATED) {
        e->write(w, c);
        return;
    }
    if (!is_present(e, c))
        return;
    cookie_write_start(w, e->name, e->attrs, (const char *)c + e->part);
    if (e->write)
        e->write(w, c);
    else
        cookie_write_text_end(w, NULL);
}

/* The whole cookie: the root, the table's elements, the unknown ones. */
static void
write_cookie(struct cookie_writer *w, const struct mp_cookie *c)
{
    put(w, "<?xml version=\"1.0\"?>\n");
    start_tag(w, 0, "migphase-cookie");
    mp_buf_printf(&w->out, " version=\"%d\"", MP_COOKIE_FORMAT_VERSION);
    put_attr(w, "step", mp_step_name(c->step));
    put(w, ">\n");
    for (size_t i = 0; i < cookie_n_elements; i++)
        write_element(w, &cookie_elements[i], c);
    /* Checked to be single well-formed elements (check_fragment): they go
     * out exactly as they came in. */
    for (char **u = c->unknown; u && *u; u++) {
        put(w, "  ");
        put(w, *u);
        put(w, "\n");
    }
    put(w, "</migphase-cookie>\n");
}

/* Checks that xml, written verbatim inside an element, stays inside it: a
 * well-formed sequence of content (a single element for one_element) with
 * no namespace prefix declared elsewhere. A wrapper element makes the
 * parser do the work: anything that closed it early would leave a second
 * root element or an unmatched end tag. */
static int
check_fragment(const char *xml, bool one_element, char **why)
{
    _cleanup_free_ char *doc_text = xasprintf("<fragment>%s</fragment>", xml);
    _cleanup_xml_doc_ xmlDoc *doc = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    if (mp_xml_read(doc_text, strlen(doc_text), &fragment_limits, &doc, &err) < 0) {
        *why = steal_ptr(&err->message);
        return -EINVAL;
    }
    if (!one_element)
        return 0;
    const xmlNode *n = xmlDocGetRootElement(doc)->children;
    if (!n || n->next || n->type != XML_ELEMENT_NODE) {
        *why = xstrdup("it is not a single element");
        return -EINVAL;
    }
    if (cookie_find_element(n)) {
        *why = xasprintf("<%s> is an element format %d defines", n->name, MP_COOKIE_FORMAT_VERSION);
        return -EINVAL;
    }
    return 0;
}

/* What the writer cannot make a valid cookie of, refused before writing. */
static int
check_before_writing(const struct mp_cookie *c, struct mp_error **err)
{
    if (!mp_step_name(c->step))
        return mp_error_set(err, EINVAL, "cannot format the cookie: step %d is not valid",
                            (int)c->step);
    if (!mp_outcome_name(c->outcome))
        return mp_error_set(err, EINVAL, "cannot format the cookie: outcome %d is not valid",
                            (int)c->outcome);
    if (!c->migration_id)
        return mp_error_set(err, EINVAL, "cannot format the cookie: it has no migration id");
    if (!c->driver)
        return mp_error_set(err, EINVAL, "cannot format the cookie: it has no driver");
    if (!c->domain_name)
        return mp_error_set(err, EINVAL, "cannot format the cookie: it has no domain name");

    for (size_t i = 0; i < c->n_extensions; i++) {
        const struct mp_extension *e = &c->extensions[i];
        _cleanup_free_ char *why = NULL;
        if (e->content && *e->content && check_fragment(e->content, false, &why) < 0)
            return mp_error_set(err, EINVAL,
                                "cannot format the cookie: the content of extension '%s' is "
                                "not well-formed XML: %s",
                                e->name ? e->name : "", why);
    }
    for (size_t i = 0; c->unknown && c->unknown[i]; i++) {
        _cleanup_free_ char *why = NULL;
        if (check_fragment(c->unknown[i], true, &why) < 0)
            return mp_error_set(err, EINVAL, "cannot format the cookie: unknown element %zu: %s",
                                i + 1, why);
    }
    return 0;
}

int
mp_cookie_format(const struct mp_cookie *cookie, char **out, size_t *len, struct mp_error **err)
{
    int r = check_before_writing(cookie, err);
    if (r < 0)
        return r;

    struct cookie_writer w = { 0 };
    write_cookie(&w, cookie);
    size_t buf_len = 0;
    _cleanup_free_ char *buf = mp_buf_steal(&w.out, &buf_len);
    _cleanup_free_ char *bad = w.error;
    if (bad)
        return mp_error_set(err, EINVAL, "cannot format the cookie: %s", bad);

    /* Read the result back as the next step will, so that a bad value (a
     * UUID that is not one, a duplicate key, a cookie over the size cap)
     * fails here, on the host that made it, and not on the other host. */
    _cleanup_cookie_ struct mp_cookie *check = NULL;
    _cleanup_error_ struct mp_error *check_err = NULL;
    if (cookie_read(buf, buf_len, false, &check, &check_err) < 0)
        return mp_error_set(err, check_err->errnum, "cannot format the cookie: %s",
                            check_err->message);

    *out = steal_ptr(&buf);
    if (len)
        *len = buf_len;
    return 0;
}
