/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading cookies: the parser (the hardened XML reader, then the RelaxNG
 * schema compiled into the library, then the element table).
 *
 * Parsing runs in this order, so that each kind of bad input gets the most
 * useful message and costs as little as possible: size cap, bounds on
 * attributes and elements, well-formedness (DOCTYPE refused), root element
 * and format version, schema, the rules the schema does not say
 * (cardinality, unique keys, namespace declarations), mandatory features. */
#include "config.h"

#include "cookie-internal.h"

#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* shared/cookie-schema.gen.c, made from shared/cookie.rng by embed-file.sh. */
extern const char mp_cookie_schema[];
extern const size_t mp_cookie_schema_len;

static xmlRelaxNG *cookie_schema;
static char *cookie_schema_error;
static pthread_once_t cookie_schema_once = PTHREAD_ONCE_INIT;

/* Compiled once per process and kept: it is read-only once built. */
static void
compile_schema(void)
{
    cookie_schema =
        mp_xml_schema_compile(mp_cookie_schema, mp_cookie_schema_len, &cookie_schema_error);
}

void
mp_cookie_schema_warm(void)
{
    pthread_once(&cookie_schema_once, compile_schema);
}

void
mp_cookie_warm(void)
{
    static const char sample[] =
        "<?xml version=\"1.0\"?>\n<migphase-cookie version=\"1\" step=\"begin\">\n"
        "  <migration id=\"00000000-0000-4000-8000-000000000000\" driver=\"warm-up\"/>\n"
        "  <domain name=\"warm-up\"/>\n</migphase-cookie>\n";
    mp_cookie_schema_warm();
    _cleanup_cookie_ struct mp_cookie *c = NULL;
    if (mp_cookie_parse(sample, sizeof(sample) - 1, NULL, &c, NULL) < 0)
        return;
    _cleanup_free_ char *xml = NULL;
    (void)mp_cookie_format(c, &xml, NULL, NULL);
}

/* Check doc against the built-in schema. */
static int
validate(xmlDoc *doc, struct mp_error **err)
{
    mp_cookie_schema_warm();
    if (!cookie_schema)
        return mp_error_set(err, EINVAL, "the built-in cookie schema does not compile: %s",
                            cookie_schema_error);
    int r = mp_xml_validate(doc, cookie_schema, err);
    if (r < 0)
        mp_error_prefix(err, "invalid cookie");
    return r;
}

int
cookie_node_error(struct mp_error **err, const xmlNode *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    return mp_error_input(err, EINVAL, "invalid cookie: line %ld: %s", xmlGetLineNo(n), msg);
}

/* Read one attribute of n into field; absent, the field keeps its default. */
static int
read_attr(const struct cookie_attr *a, void *field, const xmlNode *n, struct mp_error **err)
{
    _cleanup_free_ char *v = mp_xml_attr(n, a->name);
    if (!v)
        return 0;
    switch (a->type) {
    case ATTR_TEXT:
        free(*(char **)field);
        *(char **)field = steal_ptr(&v);
        return 0;
    case ATTR_COUNT:
        if (mp_parse_u64(v, field) < 0)
            return cookie_node_error(err, n, "attribute %s of <%s> is not a number", a->name,
                                     n->name);
        return 0;
    case ATTR_YES_NO:
    case ATTR_FLAG:
        *(bool *)field = strcmp(v, "yes") == 0;
        return 0;
    case ATTR_OUTCOME:
        if (mp_outcome_parse(v, field) < 0)
            return cookie_node_error(err, n, "<%s> has no valid %s", n->name, a->name);
        return 0;
    case ATTR_TLS:
        if (mp_tls_mode_parse(v, field) < 0)
            return cookie_node_error(err, n, "<%s> has no valid %s", n->name, a->name);
        return 0;
    case ATTR_COPY:
        if (mp_copy_storage_parse(v, field) < 0)
            return cookie_node_error(err, n, "<%s> has no valid %s", n->name, a->name);
        return 0;
    case ATTR_COMPRESS:
        if (mp_compress_parse(v, field) < 0)
            return cookie_node_error(err, n, "<%s> has no valid %s", n->name, a->name);
        return 0;
    case ATTR_CONVERGE:
        if (mp_converge_parse(v, field) < 0)
            return cookie_node_error(err, n, "<%s> has no valid %s", n->name, a->name);
        return 0;
    }
    return 0;
}

int
cookie_read_attrs(const struct cookie_attr *attrs, void *part, const xmlNode *n,
                  struct mp_error **err)
{
    for (const struct cookie_attr *a = attrs; a && a->name; a++) {
        int r = read_attr(a, (char *)part + a->offset, n, err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* One element the table defines: its attributes (a single element's), then
 * what its row reads beyond them. */
static int
read_element(struct mp_cookie *c, const struct cookie_element *e, const xmlNode *n,
             struct mp_error **err)
{
    if (e->occurs != OCCURS_REPEATED) {
        int r = cookie_read_attrs(e->attrs, (char *)c + e->part, n, err);
        if (r < 0)
            return r;
    }
    return e->read ? e->read(c, n, err) : 0;
}

/* The schema allows each element in any order and any number of times, as
 * libxml2 reports schema errors inside <interleave> too vaguely to act on;
 * how many of each there may be is checked here instead. Unknown elements
 * are kept as written. */
static int
read_elements(struct mp_cookie *c, const xmlNode *root, bool items, struct mp_error **err)
{
    bool seen[COOKIE_MAX_ELEMENTS];
    for (size_t i = 0; i < cookie_n_elements; i++)
        seen[i] = items && cookie_elements[i].occurs == OCCURS_OPTIONAL;
    for (xmlNode *n = root->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        const struct cookie_element *e = cookie_find_element(n);
        if (!e) {
            _cleanup_free_ char *xml = mp_xml_serialize(n, false);
            c->unknown = mp_strv_append(c->unknown, xml);
            continue;
        }
        size_t i = (size_t)(e - cookie_elements);
        if (seen[i] && e->occurs != OCCURS_REPEATED)
            return cookie_node_error(err, n, "more than one <%s> element", e->name);
        /* The disks a migration copies are Begin's own finding: a hook
         * cannot add one. */
        if (items && strcmp(e->name, "disk") == 0)
            return cookie_node_error(err, n, "<disk> is the driver's, not a hook's");
        seen[i] = true;
        int r = read_element(c, e, n, err);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < cookie_n_elements; i++) {
        if (cookie_elements[i].occurs == OCCURS_REQUIRED && !seen[i])
            return mp_error_input(err, EINVAL, "invalid cookie: no <%s> element",
                                  cookie_elements[i].name);
    }
    return 0;
}

/* Untrusted text quoted in a message about the root. */
static char *
shown(const char *s, size_t max)
{
    return mp_log_text(s, strlen(s), max, MP_LOG_VALUE);
}

/* The format version: this build reads its own only (a newer cookie fails
 * the schema in ways that would hide the real problem). */
static int
check_version(const xmlNode *root, struct mp_error **err)
{
    _cleanup_free_ char *version = mp_xml_attr(root, "version");
    uint64_t v;
    if (!version)
        return mp_error_input(err, EINVAL, "cookie has no format version");
    if (mp_parse_u64(version, &v) < 0) {
        _cleanup_free_ char *text = shown(version, 32);
        return mp_error_input(err, EINVAL, "cookie format version '%s' is not a number", text);
    }
    if (v != MP_COOKIE_FORMAT_VERSION)
        return mp_error_input(err, EPROTONOSUPPORT,
                              "cookie format version %" PRIu64
                              " is not supported (this build reads version %d)",
                              v, MP_COOKIE_FORMAT_VERSION);
    return 0;
}

/* What must hold before the schema is worth running: the root, its format
 * version and the step that wrote it. */
static int
check_root(const xmlNode *root, enum mp_step *step, struct mp_error **err)
{
    if (!root)
        return mp_error_input(err, EINVAL, "malformed cookie: no root element");
    if (root->ns || !xmlStrEqual(root->name, BAD_CAST "migphase-cookie")) {
        _cleanup_free_ char *name = shown((const char *)root->name, 64);
        return mp_error_input(err, EINVAL, "not a migphase cookie: the root element is <%s>%s",
                              name, root->ns ? " in a namespace" : "");
    }
    int r = check_version(root, err);
    if (r < 0)
        return r;

    _cleanup_free_ char *step_name = mp_xml_attr(root, "step");
    if (!step_name)
        return mp_error_input(err, EINVAL, "cookie does not say which step wrote it");
    if (mp_step_parse(step_name, step) < 0) {
        _cleanup_free_ char *text = shown(step_name, 32);
        return mp_error_input(err, EINVAL, "cookie names an unknown step '%s'", text);
    }

    /* Unknown elements are copied out on their own (see read_extension). */
    if (root->nsDef)
        return cookie_node_error(err, root,
                                 "namespace declarations are not allowed on the root element");
    return 0;
}

int
cookie_read(const char *buf, size_t len, bool items, struct mp_cookie **out, struct mp_error **err)
{
    if (len == 0)
        return mp_error_input(err, EINVAL, "cookie is empty");
    _cleanup_xml_doc_ xmlDoc *doc = NULL;
    int r = mp_xml_read(buf, len, &cookie_limits, &doc, err);
    if (r < 0) {
        mp_error_prefix(err, r == -EFBIG ? "cookie is too large" : "malformed cookie");
        return r;
    }

    const xmlNode *root = xmlDocGetRootElement(doc);
    enum mp_step step;
    r = check_root(root, &step, err);
    if (r < 0)
        return r;
    r = validate(doc, err);
    if (r < 0)
        return r;

    _cleanup_cookie_ struct mp_cookie *c = mp_cookie_new(step);
    r = read_elements(c, root, items, err);
    if (r < 0)
        return r;
    *out = steal_ptr(&c);
    return 0;
}

/* Refuse a cookie that relies on a feature this host does not know. */
static int
check_features(const struct mp_cookie *c, const char *const *known, struct mp_error **err)
{
    if (!known)
        known = mp_cookie_known_features;
    for (size_t i = 0; i < c->n_features; i++) {
        const struct mp_feature *f = &c->features[i];
        bool understood = false;
        for (const char *const *k = known; *k && !understood; k++)
            understood = strcmp(*k, f->name) == 0;
        /* The schema keeps feature names short and printable. */
        if (f->mandatory && !understood)
            return mp_error_input(err, ENOTSUP,
                                  "cookie requires feature '%s' which this host does not "
                                  "support",
                                  f->name);
    }
    return 0;
}

int
mp_cookie_parse(const char *buf, size_t len, const char *const *known_features,
                struct mp_cookie **out, struct mp_error **err)
{
    _cleanup_cookie_ struct mp_cookie *c = NULL;
    int r = cookie_read(buf, len, false, &c, err);
    if (r == 0)
        r = check_features(c, known_features, err);
    if (r < 0)
        return r;
    *out = steal_ptr(&c);
    return 0;
}

int
mp_cookie_parse_items(const char *xml, const char *const *known_features, struct mp_cookie **out,
                      struct mp_error **err)
{
    /* On one line, so that line numbers are the items' own. The schema
     * wants the required elements; read_elements counts the others as
     * read. */
    _cleanup_free_ char *doc =
        xasprintf("<migphase-cookie version=\"%d\" step=\"begin\"><migration id=\"items\" "
                  "driver=\"items\"/><domain name=\"items\"/>%s\n</migphase-cookie>\n",
                  MP_COOKIE_FORMAT_VERSION, xml);
    _cleanup_cookie_ struct mp_cookie *c = NULL;
    int r = cookie_read(doc, strlen(doc), true, &c, err);
    if (r == 0)
        r = check_features(c, known_features, err);
    if (r < 0)
        return r;
    *out = steal_ptr(&c);
    return 0;
}
