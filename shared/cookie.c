/* Migration cookies: the in-memory model, the parser (libxml2 + the RelaxNG
 * schema compiled into the library) and the formatter.
 *
 * Parsing runs in this order, so that each kind of bad input gets the most
 * useful message and costs as little as possible: size cap, bounds on
 * attributes and elements, well-formedness (DOCTYPE refused), root element
 * and format version, schema, the rules the schema does not say
 * (cardinality, unique keys, namespace declarations), mandatory features.
 *
 * Formatting writes the canonical form by hand (libxml2's indenting would
 * touch extension content) and then reads it back with the same parser. */
#include "config.h"

#include "cookie.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/relaxng.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlsave.h>

/* shared/cookie-schema.gen.c, made from shared/cookie.rng by embed-file.sh. */
extern const char mp_cookie_schema[];
extern const size_t mp_cookie_schema_len;

/* libxml2 2.12 made the error passed to structured handlers const. */
#if LIBXML_VERSION >= 21200
#define XML_ERROR_CONST const
#else
#define XML_ERROR_CONST
#endif

/* Every format-1 reader handles these, so a writer may mark them mandatory
 * without asking. "stats" is the <statistics> element. Features that site
 * hooks bring ("lease") are not here: a caller that runs such hooks passes
 * its own list to mp_cookie_parse. */
const char *const mp_cookie_known_features[] = {
    "stats",
    NULL,
};

/* ---- The model ---------------------------------------------------------- */

struct mp_cookie *
mp_cookie_new(enum mp_step step)
{
    struct mp_cookie *c = xzalloc(sizeof(*c));
    c->version = MP_COOKIE_FORMAT_VERSION;
    c->step = step;
    c->params.live = true;
    c->outcome = MP_OUTCOME_NONE;
    return c;
}

static void
host_clear(struct mp_host *h)
{
    free(h->hostname);
    free(h->host_id);
}

void
mp_cookie_free(struct mp_cookie *c)
{
    if (!c)
        return;
    free(c->migration_id);
    free(c->driver);
    free(c->domain_name);
    free(c->domain_uuid);
    host_clear(&c->source);
    host_clear(&c->destination);
    free(c->description_format);
    mp_strv_free(c->description_args);
    free(c->description_text);
    for (size_t i = 0; i < c->n_driver_data; i++) {
        free(c->driver_data[i].key);
        free(c->driver_data[i].value);
    }
    free(c->driver_data);
    free(c->uri);
    free(c->outcome_message);
    for (size_t i = 0; i < c->n_features; i++)
        free(c->features[i].name);
    free(c->features);
    for (size_t i = 0; i < c->n_extensions; i++) {
        free(c->extensions[i].name);
        free(c->extensions[i].hook);
        free(c->extensions[i].content);
    }
    free(c->extensions);
    mp_strv_free(c->unknown);
    free(c);
}

static void
host_copy(struct mp_host *to, const struct mp_host *from)
{
    to->hostname = xstrdup(from->hostname);
    to->host_id = xstrdup(from->host_id);
}

struct mp_cookie *
mp_cookie_derive(const struct mp_cookie *in, enum mp_step step)
{
    struct mp_cookie *c = mp_cookie_new(step);
    c->migration_id = xstrdup(in->migration_id);
    c->driver = xstrdup(in->driver);
    c->domain_name = xstrdup(in->domain_name);
    c->domain_uuid = xstrdup(in->domain_uuid);
    host_copy(&c->source, &in->source);
    host_copy(&c->destination, &in->destination);
    c->params = in->params;

    c->description_format = xstrdup(in->description_format);
    if (in->description_args)
        c->description_args = mp_strv_copy(in->description_args);
    c->description_text = xstrdup(in->description_text);

    c->driver_data = xreallocarray(NULL, in->n_driver_data, sizeof(*c->driver_data));
    for (size_t i = 0; i < in->n_driver_data; i++) {
        c->driver_data[i].key = xstrdup(in->driver_data[i].key);
        c->driver_data[i].value = xstrdup(in->driver_data[i].value);
    }
    c->n_driver_data = in->n_driver_data;

    c->uri = xstrdup(in->uri);
    c->stats = in->stats;
    c->outcome = in->outcome;
    c->outcome_message = xstrdup(in->outcome_message);

    c->features = xreallocarray(NULL, in->n_features, sizeof(*c->features));
    for (size_t i = 0; i < in->n_features; i++) {
        c->features[i].name = xstrdup(in->features[i].name);
        c->features[i].mandatory = in->features[i].mandatory;
    }
    c->n_features = in->n_features;

    c->extensions = xreallocarray(NULL, in->n_extensions, sizeof(*c->extensions));
    for (size_t i = 0; i < in->n_extensions; i++) {
        c->extensions[i].name = xstrdup(in->extensions[i].name);
        c->extensions[i].hook = xstrdup(in->extensions[i].hook);
        c->extensions[i].content = xstrdup(in->extensions[i].content);
    }
    c->n_extensions = in->n_extensions;

    if (in->unknown)
        c->unknown = mp_strv_copy(in->unknown);
    return c;
}

const char *
mp_cookie_get_data(const struct mp_cookie *cookie, const char *key)
{
    for (size_t i = 0; i < cookie->n_driver_data; i++) {
        if (mp_streq0(cookie->driver_data[i].key, key))
            return cookie->driver_data[i].value;
    }
    return NULL;
}

/* A NULL value removes the key. */
void
mp_cookie_set_data(struct mp_cookie *cookie, const char *key, const char *value)
{
    for (size_t i = 0; i < cookie->n_driver_data; i++) {
        struct mp_kv *kv = &cookie->driver_data[i];
        if (!mp_streq0(kv->key, key))
            continue;
        if (value) {
            free(kv->value);
            kv->value = xstrdup(value);
            return;
        }
        free(kv->key);
        free(kv->value);
        memmove(kv, kv + 1, (cookie->n_driver_data - i - 1) * sizeof(*kv));
        cookie->n_driver_data--;
        return;
    }
    if (!value)
        return;
    cookie->driver_data =
        xreallocarray(cookie->driver_data, cookie->n_driver_data + 1, sizeof(*cookie->driver_data));
    cookie->driver_data[cookie->n_driver_data++] = (struct mp_kv){
        .key = xstrdup(key),
        .value = xstrdup(value),
    };
}

/* Adding a feature twice keeps one entry, mandatory if either call said so:
 * two hooks may rely on the same feature. */
void
mp_cookie_add_feature(struct mp_cookie *cookie, const char *name, bool mandatory)
{
    for (size_t i = 0; i < cookie->n_features; i++) {
        if (mp_streq0(cookie->features[i].name, name)) {
            cookie->features[i].mandatory |= mandatory;
            return;
        }
    }
    cookie->features =
        xreallocarray(cookie->features, cookie->n_features + 1, sizeof(*cookie->features));
    cookie->features[cookie->n_features++] = (struct mp_feature){
        .name = xstrdup(name),
        .mandatory = mandatory,
    };
}

void
mp_cookie_add_extension(struct mp_cookie *cookie, const char *name, const char *hook,
                        const char *content)
{
    cookie->extensions =
        xreallocarray(cookie->extensions, cookie->n_extensions + 1, sizeof(*cookie->extensions));
    cookie->extensions[cookie->n_extensions++] = (struct mp_extension){
        .name = xstrdup(name),
        .hook = xstrdup(hook),
        .content = xstrdup(content ? content : ""),
    };
}

/* ---- libxml2 without its side effects ----------------------------------- */

/* A copy of untrusted text fit for a one-line message: control characters
 * become spaces, trailing blanks go, and text longer than max bytes is cut
 * on a character boundary and marked with "...". */
static char *
one_line(const char *s, size_t max)
{
    size_t n = strlen(s);
    while (n > 0 && (unsigned char)s[n - 1] <= ' ')
        n--;
    bool cut = n > max;
    if (cut) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    char *r = xmalloc(n + 4);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        r[i] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
    }
    strcpy(r + n, cut ? "..." : "");
    return r;
}

/* What libxml2 reported during one operation, and what xml_read saw. */
struct xml_capture {
    char *first;  /* the first error (warnings do not count), one line */
    bool stopped; /* xml_read stopped the parser: DOCTYPE or too many elements */
    bool too_big;
    size_t elements;
};

static void
xml_capture_clear(struct xml_capture *c)
{
    free(c->first);
}

static void
capture_error(void *data, XML_ERROR_CONST xmlError *e)
{
    struct xml_capture *c = data;
    if (c->first || e->level < XML_ERR_ERROR)
        return;
    _cleanup_free_ char *msg = one_line(e->message ? e->message : "unknown error", 200);
    c->first = e->line > 0 ? xasprintf("line %d: %s", e->line, msg) : steal_ptr(&msg);
}

static void
ignore_generic_error(_unused_ void *ctx, _unused_ const char *msg, ...)
{
}

/* libxml2 prints every problem to standard error unless told otherwise, and
 * library code must not print. These swap in handlers that capture into c,
 * and put back whatever the caller had. */
struct xml_quiet {
    xmlStructuredErrorFunc serror;
    void *serror_data;
    xmlGenericErrorFunc gerror;
    void *gerror_data;
};

static struct xml_quiet
xml_quiet_begin(struct xml_capture *c)
{
    xmlInitParser();
    struct xml_quiet q = {
        .serror = xmlStructuredError,
        .serror_data = xmlStructuredErrorContext,
        .gerror = xmlGenericError,
        .gerror_data = xmlGenericErrorContext,
    };
    xmlSetStructuredErrorFunc(c, capture_error);
    xmlSetGenericErrorFunc(NULL, ignore_generic_error);
    return q;
}

static void
xml_quiet_end(struct xml_quiet *q)
{
    xmlSetStructuredErrorFunc(q->serror_data, q->serror);
    xmlSetGenericErrorFunc(q->gerror_data, q->gerror);
}

static void
xml_doc_freep(xmlDoc **doc)
{
    if (*doc)
        xmlFreeDoc(*doc);
}
#define _cleanup_xml_doc_ _cleanup_(xml_doc_freep)

/* Bounds on the shape of untrusted XML. libxml2 2.9 takes time quadratic
 * in the attributes of one tag, both to parse it (its duplicate check) and
 * to validate it, and its RelaxNG validator is worse than linear in the
 * number of siblings: within 1 MiB, either lets a cookie cost minutes. These
 * keep any cookie to a fraction of a second, far above what real ones hold
 * (a few hundred elements, at most 7 attributes on one). */
enum {
    MAX_ELEMENTS = 4096,
    MAX_ATTRIBUTES = 256, /* per tag, namespace declarations included */
};

/* Bounds the attributes of every start tag without parsing, because the
 * parser's own cost comes before any callback could count them. No tag holds
 * a '<' after its first byte, so every '<' starts afresh; in a start tag,
 * each attribute (or namespace declaration) is one '=' outside quotes
 * before the closing '>'. Text, end tags, comments and the like are not
 * counted, and a '<' inside a comment can only make the count higher.
 * Returns the line of a tag with more than max attributes, or 0. */
static size_t
find_crowded_tag(const char *buf, size_t len, size_t max)
{
    size_t count = 0, line = 1, tag_line = 1;
    bool in_start_tag = false;
    char quote = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = buf[i];
        if (ch == '\n')
            line++;
        if (ch == '<') {
            char next = i + 1 < len ? buf[i + 1] : '\0';
            in_start_tag = next != '/' && next != '!' && next != '?' && next != '\0';
            quote = 0;
            count = 0;
            tag_line = line;
        } else if (!in_start_tag) {
            continue;
        } else if (quote) {
            if (ch == quote)
                quote = 0;
        } else if (ch == '"' || ch == '\'') {
            quote = ch;
        } else if (ch == '>') {
            in_start_tag = false;
        } else if (ch == '=' && ++count > max) {
            return tag_line;
        }
    }
    return 0;
}

static void
stop_parser(xmlParserCtxt *ctxt, char *why)
{
    struct xml_capture *c = ctxt->_private;
    if (!c->first)
        c->first = why;
    else
        free(why);
    c->stopped = true;
    xmlStopParser(ctxt);
}

/* Called when the parser meets <!DOCTYPE, before any internal subset is
 * read: a cookie has no use for one, and refusing it outright closes the
 * door on entity expansion and external subsets whatever the options say. */
static void
refuse_doctype(void *ctx, _unused_ const xmlChar *name, _unused_ const xmlChar *external_id,
               _unused_ const xmlChar *system_id)
{
    int line = xmlSAX2GetLineNumber(ctx);
    stop_parser(ctx, xasprintf("line %d: a DOCTYPE declaration is not allowed", line));
}

/* libxml2's own start-element handler, after counting: stopping at the
 * limit also bounds the memory the tree takes. */
static void
count_element(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri,
              int nb_namespaces, const xmlChar **namespaces, int nb_attributes, int nb_defaulted,
              const xmlChar **attributes)
{
    xmlParserCtxt *ctxt = ctx;
    struct xml_capture *c = ctxt->_private;
    if (++c->elements > MAX_ELEMENTS) {
        c->too_big = !c->first; /* else it fails for that first error */
        stop_parser(ctxt, xasprintf("more than %d elements (line %d)", MAX_ELEMENTS,
                                    xmlSAX2GetLineNumber(ctx)));
        return;
    }
    xmlSAX2StartElementNs(ctx, localname, prefix, uri, nb_namespaces, namespaces, nb_attributes,
                          nb_defaulted, attributes);
}

/* Parse len bytes of untrusted XML into *out. Never touches the network or
 * the file system, never substitutes entities. On failure sets *why to a
 * one-line reason ("line 3: ...") and returns -EFBIG when the document is
 * over the bounds above, -EINVAL for anything else. */
static int
xml_read(const char *buf, size_t len, xmlDoc **out, char **why)
{
    size_t line = find_crowded_tag(buf, len, MAX_ATTRIBUTES);
    if (line > 0) {
        *why = xasprintf("a tag on line %zu has more than %d attributes", line, MAX_ATTRIBUTES);
        return -EFBIG;
    }

    _cleanup_(xml_capture_clear) struct xml_capture c = { 0 };
    struct xml_quiet q = xml_quiet_begin(&c);

    /* Callers cap len well below INT_MAX. */
    xmlParserCtxt *ctxt = xmlCreateMemoryParserCtxt(buf, (int)len);
    if (!ctxt)
        abort(); /* only fails for lack of memory */
    /* Cookies are UTF-8. Pinning it keeps iconv and the other converters
     * out of reach of untrusted input: IGNORE_ENC drops the declared
     * encoding, and a set ctxt->encoding stops libxml2 from guessing one
     * from the first bytes (a UTF-16 or UCS-4 byte order mark). */
    xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_IGNORE_ENC);
    xmlSwitchEncoding(ctxt, XML_CHAR_ENCODING_UTF8);
    ctxt->encoding = xmlStrdup(BAD_CAST "UTF-8");
    if (!ctxt->encoding)
        abort();
    ctxt->sax->internalSubset = refuse_doctype;
    ctxt->sax->startElementNs = count_element;
    ctxt->_private = &c;

    xmlParseDocument(ctxt);
    xmlDoc *doc = ctxt->myDoc;
    ctxt->myDoc = NULL;
    bool ok = ctxt->wellFormed && !c.stopped && !c.first && doc;
    xmlFreeParserCtxt(ctxt);
    xml_quiet_end(&q);

    if (!ok) {
        if (doc)
            xmlFreeDoc(doc);
        *why = c.first ? steal_ptr(&c.first) : xstrdup("not well-formed XML");
        return c.too_big ? -EFBIG : -EINVAL;
    }
    /* The text was read as UTF-8 whatever it declared. Saying so makes
     * serialize() write attribute values of unknown elements as UTF-8 too,
     * instead of character references. */
    xmlFree((xmlChar *)doc->encoding);
    doc->encoding = xmlStrdup(BAD_CAST "UTF-8");
    if (!doc->encoding)
        abort();
    *out = doc;
    return 0;
}

/* ---- The schema --------------------------------------------------------- */

static xmlRelaxNG *cookie_schema;
static char *cookie_schema_error;
static pthread_once_t cookie_schema_once = PTHREAD_ONCE_INIT;

/* Compiled once per process and kept: it is read-only once built. */
static void
compile_schema(void)
{
    _cleanup_(xml_capture_clear) struct xml_capture c = { 0 };
    struct xml_quiet q = xml_quiet_begin(&c);
    xmlRelaxNGParserCtxt *pctxt =
        xmlRelaxNGNewMemParserCtxt(mp_cookie_schema, (int)mp_cookie_schema_len);
    if (!pctxt)
        abort(); /* only fails for lack of memory */
    xmlRelaxNGSetParserStructuredErrors(pctxt, capture_error, &c);
    cookie_schema = xmlRelaxNGParse(pctxt);
    xmlRelaxNGFreeParserCtxt(pctxt);
    xml_quiet_end(&q);
    if (!cookie_schema)
        cookie_schema_error = c.first ? steal_ptr(&c.first) : xstrdup("unknown error");
}

static int
validate(xmlDoc *doc, struct mp_error **err)
{
    pthread_once(&cookie_schema_once, compile_schema);
    if (!cookie_schema)
        return mp_error_set(err, EINVAL, "the built-in cookie schema does not compile: %s",
                            cookie_schema_error);

    _cleanup_(xml_capture_clear) struct xml_capture c = { 0 };
    struct xml_quiet q = xml_quiet_begin(&c);
    xmlRelaxNGValidCtxt *vctxt = xmlRelaxNGNewValidCtxt(cookie_schema);
    if (!vctxt)
        abort(); /* only fails for lack of memory */
    xmlRelaxNGSetValidStructuredErrors(vctxt, capture_error, &c);
    int r = xmlRelaxNGValidateDoc(vctxt, doc);
    xmlRelaxNGFreeValidCtxt(vctxt);
    xml_quiet_end(&q);
    if (r == 0)
        return 0;
    return mp_error_input(err, EINVAL, "invalid cookie: %s",
                          c.first ? c.first : "it does not match the schema");
}

/* ---- Reading the tree --------------------------------------------------- */

static int node_error(struct mp_error **err, const xmlNode *n, const char *fmt, ...) _printf_(3, 4);

static int
node_error(struct mp_error **err, const xmlNode *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    return mp_error_input(err, EINVAL, "invalid cookie: line %ld: %s", xmlGetLineNo(n), msg);
}

static bool
is_element(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && !n->ns && xmlStrEqual(n->name, BAD_CAST name);
}

static char *
get_attr(const xmlNode *n, const char *name)
{
    xmlChar *v = xmlGetNoNsProp(n, BAD_CAST name);
    if (!v)
        return NULL;
    char *s = xstrdup((const char *)v);
    xmlFree(v);
    return s;
}

/* All the text inside n; "" when there is none. */
static char *
get_text(const xmlNode *n)
{
    xmlChar *v = xmlNodeGetContent(n);
    char *s = xstrdup(v ? (const char *)v : "");
    xmlFree(v);
    return s;
}

/* An optional number: *out keeps its default when the attribute is absent. */
static int
get_u64(const xmlNode *n, const char *name, uint64_t *out, struct mp_error **err)
{
    _cleanup_free_ char *v = get_attr(n, name);
    if (v && mp_parse_u64(v, out) < 0)
        return node_error(err, n, "attribute %s of <%s> is not a number", name, n->name);
    return 0;
}

static void
get_yes_no(const xmlNode *n, const char *name, bool *out)
{
    _cleanup_free_ char *v = get_attr(n, name);
    if (v)
        *out = strcmp(v, "yes") == 0;
}

/* The XML of nodes as written, as UTF-8. With siblings, n and every node
 * after it. */
static char *
serialize(xmlNode *n, bool siblings)
{
    xmlBuffer *buf = xmlBufferCreate();
    if (!buf)
        abort(); /* only fails for lack of memory */
    xmlSaveCtxt *save = xmlSaveToBuffer(buf, "UTF-8", XML_SAVE_NO_DECL | XML_SAVE_AS_XML);
    if (!save)
        abort();
    for (; n; n = siblings ? n->next : NULL)
        xmlSaveTree(save, n);
    xmlSaveClose(save);
    char *s = xstrndup((const char *)xmlBufferContent(buf), (size_t)xmlBufferLength(buf));
    xmlBufferFree(buf);
    return s;
}

static int
read_migration(struct mp_cookie *c, const xmlNode *n, _unused_ struct mp_error **err)
{
    c->migration_id = get_attr(n, "id");
    c->driver = get_attr(n, "driver");
    return 0;
}

static int
read_domain(struct mp_cookie *c, const xmlNode *n, _unused_ struct mp_error **err)
{
    c->domain_name = get_attr(n, "name");
    c->domain_uuid = get_attr(n, "uuid");
    return 0;
}

static void
read_host(struct mp_host *h, const xmlNode *n)
{
    h->hostname = get_attr(n, "hostname");
    h->host_id = get_attr(n, "host-id");
}

static int
read_source(struct mp_cookie *c, const xmlNode *n, _unused_ struct mp_error **err)
{
    read_host(&c->source, n);
    return 0;
}

static int
read_destination(struct mp_cookie *c, const xmlNode *n, _unused_ struct mp_error **err)
{
    read_host(&c->destination, n);
    return 0;
}

static int
read_parameters(struct mp_cookie *c, const xmlNode *n, struct mp_error **err)
{
    struct mp_params *p = &c->params;
    get_yes_no(n, "live", &p->live);
    get_yes_no(n, "paused", &p->paused);
    int r = get_u64(n, "bandwidth-mib", &p->bandwidth_mib, err);
    if (r == 0)
        r = get_u64(n, "downtime-ms", &p->downtime_ms, err);
    if (r == 0)
        r = get_u64(n, "timeout-s", &p->timeout_s, err);
    return r;
}

static int
read_description(struct mp_cookie *c, const xmlNode *n, _unused_ struct mp_error **err)
{
    c->description_format = get_attr(n, "format");
    if (!mp_streq0(c->description_format, "qemu-argv")) {
        c->description_text = get_text(n);
        return 0;
    }
    /* An empty argv is still an argv: callers can count on the array. */
    c->description_args = xzalloc(sizeof(char *));
    for (const xmlNode *arg = n->children; arg; arg = arg->next) {
        if (!is_element(arg, "arg"))
            continue;
        _cleanup_free_ char *text = get_text(arg);
        c->description_args = mp_strv_append(c->description_args, text);
    }
    return 0;
}

static int
read_driver_data(struct mp_cookie *c, const xmlNode *n, struct mp_error **err)
{
    for (const xmlNode *item = n->children; item; item = item->next) {
        if (!is_element(item, "item"))
            continue;
        _cleanup_free_ char *key = get_attr(item, "key");
        if (!key)
            return node_error(err, item, "<item> has no key");
        if (mp_cookie_get_data(c, key))
            return node_error(err, item, "driver-data key '%s' appears twice", key);
        _cleanup_free_ char *value = get_text(item);
        mp_cookie_set_data(c, key, value);
    }
    return 0;
}

static int
read_incoming(struct mp_cookie *c, const xmlNode *n, _unused_ struct mp_error **err)
{
    c->uri = get_attr(n, "uri");
    return 0;
}

static int
read_statistics(struct mp_cookie *c, const xmlNode *n, struct mp_error **err)
{
    struct mp_stats *s = &c->stats;
    const struct {
        const char *name;
        uint64_t *value;
    } fields[] = {
        { "total-ms", &s->total_ms },       { "downtime-ms", &s->downtime_ms },
        { "setup-ms", &s->setup_ms },       { "transferred-bytes", &s->transferred_bytes },
        { "total-bytes", &s->total_bytes }, { "iterations", &s->iterations },
        { "mbps-x1000", &s->mbps_x1000 },
    };
    s->present = true;
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
        int r = get_u64(n, fields[i].name, fields[i].value, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int
read_outcome(struct mp_cookie *c, const xmlNode *n, struct mp_error **err)
{
    _cleanup_free_ char *result = get_attr(n, "result");
    if (mp_outcome_parse(result, &c->outcome) < 0)
        return node_error(err, n, "<outcome> has no valid result");
    _cleanup_free_ char *message = get_text(n);
    if (*message)
        c->outcome_message = steal_ptr(&message);
    return 0;
}

static int
read_feature(struct mp_cookie *c, const xmlNode *n, struct mp_error **err)
{
    _cleanup_free_ char *name = get_attr(n, "name");
    if (!name)
        return node_error(err, n, "<feature> has no name");
    for (size_t i = 0; i < c->n_features; i++) {
        if (strcmp(c->features[i].name, name) == 0)
            return node_error(err, n, "feature '%s' is listed twice", name);
    }
    bool mandatory = false;
    get_yes_no(n, "mandatory", &mandatory);
    mp_cookie_add_feature(c, name, mandatory);
    return 0;
}

static int
read_extension(struct mp_cookie *c, const xmlNode *n, struct mp_error **err)
{
    /* The content is copied out on its own, so it must not lean on a
     * declaration it would leave behind. */
    if (n->nsDef)
        return node_error(err, n,
                          "namespace declarations are not allowed on <extension>, only "
                          "inside it");
    _cleanup_free_ char *name = get_attr(n, "name");
    _cleanup_free_ char *hook = get_attr(n, "hook");
    _cleanup_free_ char *content = serialize(n->children, true);
    mp_cookie_add_extension(c, name, hook, content);
    return 0;
}

/* The elements format 1 defines under the root, in the order they are
 * written. Anything else is an unknown element. */
static const struct element_reader {
    const char *name;
    bool required;
    bool repeated;
    int (*read)(struct mp_cookie *c, const xmlNode *n, struct mp_error **err);
} element_readers[] = {
    { "migration", true, false, read_migration },
    { "domain", true, false, read_domain },
    { "source", false, false, read_source },
    { "destination", false, false, read_destination },
    { "parameters", false, false, read_parameters },
    { "description", false, false, read_description },
    { "driver-data", false, false, read_driver_data },
    { "incoming", false, false, read_incoming },
    { "statistics", false, false, read_statistics },
    { "outcome", false, false, read_outcome },
    { "feature", false, true, read_feature },
    { "extension", false, true, read_extension },
};

static const struct element_reader *
find_reader(const xmlNode *n)
{
    for (size_t i = 0; i < ARRAY_SIZE(element_readers); i++) {
        if (is_element(n, element_readers[i].name))
            return &element_readers[i];
    }
    return NULL;
}

/* The schema allows each element in any order and any number of times, as
 * libxml2 reports schema errors inside <interleave> too vaguely to act on;
 * how many of each there may be is checked here instead. */
static int
read_elements(struct mp_cookie *c, const xmlNode *root, struct mp_error **err)
{
    bool seen[ARRAY_SIZE(element_readers)] = { false };
    for (xmlNode *n = root->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        const struct element_reader *reader = find_reader(n);
        if (!reader) {
            _cleanup_free_ char *xml = serialize(n, false);
            c->unknown = mp_strv_append(c->unknown, xml);
            continue;
        }
        size_t i = (size_t)(reader - element_readers);
        if (seen[i] && !reader->repeated)
            return node_error(err, n, "more than one <%s> element", reader->name);
        seen[i] = true;
        int r = reader->read(c, n, err);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < ARRAY_SIZE(element_readers); i++) {
        if (element_readers[i].required && !seen[i])
            return mp_error_input(err, EINVAL, "invalid cookie: no <%s> element",
                                  element_readers[i].name);
    }
    return 0;
}

/* What must hold before the schema is worth running: the root, and a format
 * version this build reads (a newer cookie fails the schema in ways that
 * would hide the real problem). */
static int
check_root(const xmlNode *root, enum mp_step *step, struct mp_error **err)
{
    if (!root)
        return mp_error_input(err, EINVAL, "malformed cookie: no root element");
    if (root->ns || !xmlStrEqual(root->name, BAD_CAST "migphase-cookie")) {
        _cleanup_free_ char *name = one_line((const char *)root->name, 64);
        return mp_error_input(err, EINVAL, "not a migphase cookie: the root element is <%s>%s",
                              name, root->ns ? " in a namespace" : "");
    }

    _cleanup_free_ char *version = get_attr(root, "version");
    uint64_t v;
    if (!version)
        return mp_error_input(err, EINVAL, "cookie has no format version");
    if (mp_parse_u64(version, &v) < 0) {
        _cleanup_free_ char *shown = one_line(version, 32);
        return mp_error_input(err, EINVAL, "cookie format version '%s' is not a number", shown);
    }
    if (v != MP_COOKIE_FORMAT_VERSION)
        return mp_error_input(err, EPROTONOSUPPORT,
                              "cookie format version %" PRIu64
                              " is not supported (this build reads version %d)",
                              v, MP_COOKIE_FORMAT_VERSION);

    _cleanup_free_ char *step_name = get_attr(root, "step");
    if (!step_name)
        return mp_error_input(err, EINVAL, "cookie does not say which step wrote it");
    if (mp_step_parse(step_name, step) < 0) {
        _cleanup_free_ char *shown = one_line(step_name, 32);
        return mp_error_input(err, EINVAL, "cookie names an unknown step '%s'", shown);
    }

    /* Unknown elements are copied out on their own (see read_extension). */
    if (root->nsDef)
        return node_error(err, root, "namespace declarations are not allowed on the root element");
    return 0;
}

/* Everything but the feature check, which the formatter's self-check skips:
 * the writer may rely on features that hooks, not this build, provide. */
static int
read_cookie(const char *buf, size_t len, struct mp_cookie **out, struct mp_error **err)
{
    if (len > MP_COOKIE_MAX_SIZE)
        return mp_error_input(err, EFBIG, "cookie is too large: %zu bytes, the limit is %d", len,
                              MP_COOKIE_MAX_SIZE);
    if (len == 0)
        return mp_error_input(err, EINVAL, "cookie is empty");

    _cleanup_xml_doc_ xmlDoc *doc = NULL;
    _cleanup_free_ char *why = NULL;
    int r = xml_read(buf, len, &doc, &why);
    if (r == -EFBIG)
        return mp_error_input(err, EFBIG, "cookie is too large: %s", why);
    if (r < 0)
        return mp_error_input(err, EINVAL, "malformed cookie: %s", why);

    const xmlNode *root = xmlDocGetRootElement(doc);
    enum mp_step step;
    r = check_root(root, &step, err);
    if (r < 0)
        return r;
    r = validate(doc, err);
    if (r < 0)
        return r;

    _cleanup_cookie_ struct mp_cookie *c = mp_cookie_new(step);
    r = read_elements(c, root, err);
    if (r < 0)
        return r;
    *out = steal_ptr(&c);
    return 0;
}

static bool
strv_contains(const char *const *strv, const char *s)
{
    for (; strv && *strv; strv++) {
        if (strcmp(*strv, s) == 0)
            return true;
    }
    return false;
}

int
mp_cookie_parse(const char *buf, size_t len, const char *const *known_features,
                struct mp_cookie **out, struct mp_error **err)
{
    if (!known_features)
        known_features = mp_cookie_known_features;
    _cleanup_cookie_ struct mp_cookie *c = NULL;
    int r = read_cookie(buf, len, &c, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < c->n_features; i++) {
        const struct mp_feature *f = &c->features[i];
        /* The schema keeps feature names short and printable. */
        if (f->mandatory && !strv_contains(known_features, f->name))
            return mp_error_input(err, ENOTSUP,
                                  "cookie requires feature '%s' which this host does not "
                                  "support",
                                  f->name);
    }
    *out = steal_ptr(&c);
    return 0;
}

/* ---- Writing ------------------------------------------------------------ */

/* Checks that s is UTF-8 made only of characters XML 1.0 allows (no
 * control characters but tab, newline and carriage return, no surrogates,
 * no U+FFFE or U+FFFF). Returns 0, or -1 for bad UTF-8, or 1 with the
 * first character it refuses in *bad. */
static int
check_xml_chars(const char *s, uint32_t *bad)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        uint32_t ch;
        size_t n;
        if (*p < 0x80) {
            ch = *p;
            n = 1;
        } else if ((*p & 0xe0) == 0xc0) {
            ch = *p & 0x1f;
            n = 2;
        } else if ((*p & 0xf0) == 0xe0) {
            ch = *p & 0x0f;
            n = 3;
        } else if ((*p & 0xf8) == 0xf0) {
            ch = *p & 0x07;
            n = 4;
        } else {
            return -1;
        }
        /* A NUL fails the continuation test, so this never reads past it. */
        for (size_t i = 1; i < n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return -1;
            ch = ch << 6 | (p[i] & 0x3f);
        }
        static const uint32_t shortest[] = { 0, 0, 0x80, 0x800, 0x10000 };
        if (ch < shortest[n])
            return -1; /* overlong */
        bool allowed = ch == 0x9 || ch == 0xa || ch == 0xd || (ch >= 0x20 && ch <= 0xd7ff) ||
                       (ch >= 0xe000 && ch <= 0xfffd) || (ch >= 0x10000 && ch <= 0x10ffff);
        if (!allowed) {
            *bad = ch;
            return 1;
        }
        p += n;
    }
    return 0;
}

/* The output being built. Writing never fails on the spot: the first value
 * XML cannot carry is recorded in error, and the caller looks once. */
struct writer {
    char *buf;
    size_t len;
    size_t alloc;
    const char *element; /* the element being written, for error */
    char *error;
};

static void
put(struct writer *w, const char *s, size_t n)
{
    if (w->len + n + 1 > w->alloc) {
        w->alloc = (w->len + n + 1) * 2;
        w->buf = xrealloc(w->buf, w->alloc);
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

static void
put_str(struct writer *w, const char *s)
{
    put(w, s, strlen(s));
}

/* Write s with markup characters escaped. A parser turns tab, newline and
 * carriage return in attribute values into spaces, and carriage returns in
 * text into newlines, so those become character references to survive. */
static void
put_escaped(struct writer *w, const char *s, const char *attr)
{
    uint32_t bad = 0;
    int r = check_xml_chars(s, &bad);
    if (r != 0) {
        if (!w->error) {
            _cleanup_free_ char *what =
                attr ? xasprintf("the %s attribute of <%s>", attr, w->element)
                     : xasprintf("the text of <%s>", w->element);
            w->error = r < 0 ? xasprintf("%s is not valid UTF-8", what)
                             : xasprintf("%s contains U+%04" PRIX32 ", which XML 1.0 cannot carry",
                                         what, bad);
        }
        return;
    }
    const char *start = s;
    for (; *s; s++) {
        const char *ref = NULL;
        switch (*s) {
        case '&':
            ref = "&amp;";
            break;
        case '<':
            ref = "&lt;";
            break;
        case '>':
            ref = "&gt;";
            break;
        case '"':
            ref = attr ? "&quot;" : NULL;
            break;
        case '\t':
            ref = attr ? "&#9;" : NULL;
            break;
        case '\n':
            ref = attr ? "&#10;" : NULL;
            break;
        case '\r':
            ref = "&#13;";
            break;
        }
        if (!ref)
            continue;
        put(w, start, (size_t)(s - start));
        put_str(w, ref);
        start = s + 1;
    }
    put(w, start, (size_t)(s - start));
}

/* "<name", indented by depth levels of two spaces. */
static void
start_tag(struct writer *w, int depth, const char *name)
{
    for (int i = 0; i < depth; i++)
        put_str(w, "  ");
    put_str(w, "<");
    put_str(w, name);
    w->element = name;
}

/* An attribute; nothing when value is NULL. */
static void
put_attr(struct writer *w, const char *name, const char *value)
{
    if (!value)
        return;
    put_str(w, " ");
    put_str(w, name);
    put_str(w, "=\"");
    put_escaped(w, value, name);
    put_str(w, "\"");
}

static void
put_attr_u64(struct writer *w, const char *name, uint64_t value)
{
    char s[24];
    snprintf(s, sizeof(s), "%" PRIu64, value);
    put_attr(w, name, s);
}

static void
put_attr_yes_no(struct writer *w, const char *name, bool value)
{
    put_attr(w, name, value ? "yes" : "no");
}

static void
end_empty_tag(struct writer *w)
{
    put_str(w, "/>\n");
}

/* Close the start tag, and write text and the end tag (or close it empty). */
static void
put_text_and_end(struct writer *w, const char *text)
{
    if (!text || !*text) {
        end_empty_tag(w);
        return;
    }
    const char *name = w->element;
    put_str(w, ">");
    put_escaped(w, text, NULL);
    put_str(w, "</");
    put_str(w, name);
    put_str(w, ">\n");
}

static void
write_host(struct writer *w, const char *element, const struct mp_host *h)
{
    if (!h->hostname && !h->host_id)
        return;
    start_tag(w, 1, element);
    put_attr(w, "hostname", h->hostname);
    put_attr(w, "host-id", h->host_id);
    end_empty_tag(w);
}

static void
write_description(struct writer *w, const struct mp_cookie *c)
{
    if (!c->description_format)
        return;
    start_tag(w, 1, "description");
    put_attr(w, "format", c->description_format);
    if (strcmp(c->description_format, "qemu-argv") != 0) {
        put_text_and_end(w, c->description_text);
        return;
    }
    if (!c->description_args || !c->description_args[0]) {
        end_empty_tag(w);
        return;
    }
    put_str(w, ">\n");
    for (char **arg = c->description_args; *arg; arg++) {
        start_tag(w, 2, "arg");
        put_str(w, ">");
        put_escaped(w, *arg, NULL);
        put_str(w, "</arg>\n");
    }
    put_str(w, "  </description>\n");
}

static void
write_driver_data(struct writer *w, const struct mp_cookie *c)
{
    if (c->n_driver_data == 0)
        return;
    put_str(w, "  <driver-data>\n");
    for (size_t i = 0; i < c->n_driver_data; i++) {
        start_tag(w, 2, "item");
        put_attr(w, "key", c->driver_data[i].key);
        put_str(w, ">");
        if (c->driver_data[i].value)
            put_escaped(w, c->driver_data[i].value, NULL);
        put_str(w, "</item>\n");
    }
    put_str(w, "  </driver-data>\n");
}

static void
write_statistics(struct writer *w, const struct mp_stats *s)
{
    if (!s->present)
        return;
    start_tag(w, 1, "statistics");
    put_attr_u64(w, "total-ms", s->total_ms);
    put_attr_u64(w, "downtime-ms", s->downtime_ms);
    put_attr_u64(w, "setup-ms", s->setup_ms);
    put_attr_u64(w, "transferred-bytes", s->transferred_bytes);
    put_attr_u64(w, "total-bytes", s->total_bytes);
    put_attr_u64(w, "iterations", s->iterations);
    put_attr_u64(w, "mbps-x1000", s->mbps_x1000);
    end_empty_tag(w);
}

static void
write_cookie(struct writer *w, const struct mp_cookie *c)
{
    put_str(w, "<?xml version=\"1.0\"?>\n");
    start_tag(w, 0, "migphase-cookie");
    put_attr_u64(w, "version", MP_COOKIE_FORMAT_VERSION);
    put_attr(w, "step", mp_step_name(c->step));
    put_str(w, ">\n");

    start_tag(w, 1, "migration");
    put_attr(w, "id", c->migration_id);
    put_attr(w, "driver", c->driver);
    end_empty_tag(w);

    start_tag(w, 1, "domain");
    put_attr(w, "name", c->domain_name);
    put_attr(w, "uuid", c->domain_uuid);
    end_empty_tag(w);

    write_host(w, "source", &c->source);
    write_host(w, "destination", &c->destination);

    /* Always written, defaults included, so that no reader has to know
     * them. */
    start_tag(w, 1, "parameters");
    put_attr_yes_no(w, "live", c->params.live);
    put_attr_u64(w, "bandwidth-mib", c->params.bandwidth_mib);
    put_attr_u64(w, "downtime-ms", c->params.downtime_ms);
    put_attr_yes_no(w, "paused", c->params.paused);
    put_attr_u64(w, "timeout-s", c->params.timeout_s);
    end_empty_tag(w);

    write_description(w, c);
    write_driver_data(w, c);

    if (c->uri) {
        start_tag(w, 1, "incoming");
        put_attr(w, "uri", c->uri);
        end_empty_tag(w);
    }

    write_statistics(w, &c->stats);

    if (c->outcome != MP_OUTCOME_NONE || (c->outcome_message && *c->outcome_message)) {
        start_tag(w, 1, "outcome");
        put_attr(w, "result", mp_outcome_name(c->outcome));
        put_text_and_end(w, c->outcome_message);
    }

    for (size_t i = 0; i < c->n_features; i++) {
        start_tag(w, 1, "feature");
        put_attr(w, "name", c->features[i].name);
        put_attr_yes_no(w, "mandatory", c->features[i].mandatory);
        end_empty_tag(w);
    }

    /* Extension content and unknown elements were checked to be well-formed
     * (check_fragment) and go out exactly as they came in. */
    for (size_t i = 0; i < c->n_extensions; i++) {
        const struct mp_extension *e = &c->extensions[i];
        start_tag(w, 1, "extension");
        put_attr(w, "name", e->name);
        put_attr(w, "hook", e->hook);
        if (!e->content || !*e->content) {
            end_empty_tag(w);
            continue;
        }
        put_str(w, ">");
        put_str(w, e->content);
        put_str(w, "</extension>\n");
    }

    for (char **u = c->unknown; u && *u; u++) {
        put_str(w, "  ");
        put_str(w, *u);
        put_str(w, "\n");
    }

    put_str(w, "</migphase-cookie>\n");
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
    if (xml_read(doc_text, strlen(doc_text), &doc, why) < 0)
        return -EINVAL;
    if (!one_element)
        return 0;
    const xmlNode *n = xmlDocGetRootElement(doc)->children;
    if (!n || n->next || n->type != XML_ELEMENT_NODE) {
        *why = xstrdup("it is not a single element");
        return -EINVAL;
    }
    if (find_reader(n)) {
        *why = xasprintf("<%s> is an element format %d defines", n->name, MP_COOKIE_FORMAT_VERSION);
        return -EINVAL;
    }
    return 0;
}

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

    struct writer w = { 0 };
    write_cookie(&w, cookie);
    _cleanup_free_ char *buf = w.buf;
    _cleanup_free_ char *bad = w.error;
    if (bad)
        return mp_error_set(err, EINVAL, "cannot format the cookie: %s", bad);

    /* Read the result back as the next step will, so that a bad value (a
     * UUID that is not one, a duplicate key, a cookie over the size cap)
     * fails here, on the host that made it, and not on the other host. */
    _cleanup_cookie_ struct mp_cookie *check = NULL;
    _cleanup_error_ struct mp_error *check_err = NULL;
    if (read_cookie(buf, w.len, &check, &check_err) < 0)
        return mp_error_set(err, check_err->errnum, "cannot format the cookie: %s",
                            check_err->message);

    *out = steal_ptr(&buf);
    if (len)
        *len = w.len;
    return 0;
}
