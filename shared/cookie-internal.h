/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the cookie's element table, reader and writer share; nothing outside
 * shared/cookie*.c uses it. */
#pragma once

#include "buf.h"
#include "cookie.h"
#include "xml.h"

/* Bounds on the shape of a cookie. libxml2 2.9 takes time quadratic in the
 * attributes of one tag and its RelaxNG validator is worse than linear in
 * the number of siblings: within 1 MiB, either lets a cookie cost minutes.
 * These keep any cookie to a fraction of a second, far above what real ones
 * hold (a few hundred elements, at most 7 attributes on one). */
extern const struct mp_xml_limits cookie_limits;

/* ---- The table: every element format 1 defines under the root ---------- */

enum cookie_attr_type {
    ATTR_TEXT,     /* char *, not written when NULL */
    ATTR_COUNT,    /* uint64_t */
    ATTR_YES_NO,   /* bool */
    ATTR_FLAG,     /* bool, written only when true: absent is no */
    ATTR_OUTCOME,  /* enum mp_outcome */
    ATTR_TLS,      /* enum mp_tls_mode */
    ATTR_COPY,     /* enum mp_copy_storage */
    ATTR_COMPRESS, /* enum mp_compress */
    ATTR_CONVERGE, /* enum mp_converge */
};

/* An attribute and the model field it maps to, at offset from its part. */
struct cookie_attr {
    const char *name;
    enum cookie_attr_type type;
    size_t offset;
};

enum cookie_occurs {
    OCCURS_OPTIONAL, /* at most once */
    OCCURS_REQUIRED, /* exactly once */
    OCCURS_REPEATED, /* any number of times */
};

struct cookie_writer;

/* One element. A single (optional or required) element's attributes live
 * at part in struct mp_cookie: the reader fills them, then calls read for
 * what they do not say; the writer writes it when present says so (NULL:
 * when required or a text attribute is set), starts the tag with the
 * attributes, then calls write to end it (NULL: it ends empty). A repeated
 * element lives in an array of the model: read adds an item for each
 * occurrence, write writes them all, both with attrs (offsets in an item). */
struct cookie_element {
    const char *name;
    enum cookie_occurs occurs;
    size_t part;
    const struct cookie_attr *attrs; /* ends with { 0 } */
    bool (*present)(const struct mp_cookie *c);
    int (*read)(struct mp_cookie *c, const xmlNode *n, struct mp_error **err);
    void (*write)(struct cookie_writer *w, const struct mp_cookie *c);
};

/* In the order they are written; at most COOKIE_MAX_ELEMENTS rows. */
#define COOKIE_MAX_ELEMENTS 32
extern const struct cookie_element cookie_elements[];
extern const size_t cookie_n_elements;

/* The row of element n, or NULL when format 1 does not define it. */
const struct cookie_element *cookie_find_element(const xmlNode *n);

/* ---- Reading ------------------------------------------------------------ */

/* Parse buf into *out: every check of mp_cookie_parse but the features.
 * With items, every single element but the required ones counts as read
 * already (mp_cookie_parse_items). */
int cookie_read(const char *buf, size_t len, bool items, struct mp_cookie **out,
                struct mp_error **err);
/* An MP_ERR_INPUT error about node n: "invalid cookie: line N: ...". */
int cookie_node_error(struct mp_error **err, const xmlNode *n, const char *fmt, ...) _printf_(3, 4);
/* Read the attributes of n named in attrs into the model at part. */
int cookie_read_attrs(const struct cookie_attr *attrs, void *part, const xmlNode *n,
                      struct mp_error **err);

/* ---- Writing ------------------------------------------------------------ */

/* The output being built. Writing never fails on the spot: the first value
 * XML cannot carry is recorded in error, and the caller looks once. */
struct cookie_writer {
    struct mp_buf out;
    const char *open;    /* the element under the root being written */
    const char *element; /* the innermost one, for error */
    char *error;
};

/* "  <name" and the attributes in attrs, from the model at part. */
void cookie_write_start(struct cookie_writer *w, const char *name, const struct cookie_attr *attrs,
                        const void *part);
/* End the open element with text (escaped) or xml (as it is) inside, or
 * empty when that is NULL or "". */
void cookie_write_text_end(struct cookie_writer *w, const char *text);
void cookie_write_xml_end(struct cookie_writer *w, const char *xml);
/* End the start tag of the open element for children on lines of their own,
 * each "    <name key=\"...\">text</name>" (no key when key_attr is NULL),
 * and then end the element. */
void cookie_write_children_begin(struct cookie_writer *w);
void cookie_write_child(struct cookie_writer *w, const char *name, const char *key_attr,
                        const char *key, const char *text);
void cookie_write_children_end(struct cookie_writer *w);
