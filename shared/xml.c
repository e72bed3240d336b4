/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The hardened XML reader and escaper (see xml.h). */
#include "config.h"

#include "xml.h"

#include "log.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlsave.h>

/* libxml2 2.12 made the error passed to structured handlers const. */
#if LIBXML_VERSION >= 21200
#define XML_ERROR_CONST const
#else
#define XML_ERROR_CONST
#endif

/* How much of one libxml2 message an error carries. */
#define MESSAGE_MAX 200

/* What libxml2 reported during one operation, and what mp_xml_read saw. */
struct capture {
    char *first;  /* the first error (warnings do not count), one line */
    bool stopped; /* mp_xml_read stopped the parser: DOCTYPE or too many elements */
    bool too_big;
    size_t elements;
    size_t max_elements;
};

/* Free what a capture holds. */
static void
capture_clear(struct capture *c)
{
    free(c->first);
}

/* libxml2's structured error handler: keeps the first error, as one line. */
static void
capture_error(void *data, XML_ERROR_CONST xmlError *e)
{
    struct capture *c = data;
    if (c->first || e->level < XML_ERR_ERROR)
        return;
    const char *text = e->message ? e->message : "unknown error";
    _cleanup_free_ char *msg = mp_log_text(text, strlen(text), MESSAGE_MAX, MP_LOG_LINE);
    c->first = e->line > 0 ? xasprintf("line %d: %s", e->line, msg) : steal_ptr(&msg);
}

/* libxml2's generic error handler: says nothing, as library code must. */
static void
ignore_generic_error(_unused_ void *ctx, _unused_ const char *msg, ...)
{
}

/* The handlers the caller had, put back by quiet_end. */
struct quiet {
    xmlStructuredErrorFunc serror;
    void *serror_data;
    xmlGenericErrorFunc gerror;
    void *gerror_data;
};

/* libxml2 prints every problem to standard error unless told otherwise:
 * swap in handlers that capture into c. */
static struct quiet
quiet_begin(struct capture *c)
{
    xmlInitParser();
    struct quiet q = {
        .serror = xmlStructuredError,
        .serror_data = xmlStructuredErrorContext,
        .gerror = xmlGenericError,
        .gerror_data = xmlGenericErrorContext,
    };
    xmlSetStructuredErrorFunc(c, capture_error);
    xmlSetGenericErrorFunc(NULL, ignore_generic_error);
    return q;
}

/* Put back the handlers quiet_begin replaced. */
static void
quiet_end(struct quiet *q)
{
    xmlSetStructuredErrorFunc(q->serror_data, q->serror);
    xmlSetGenericErrorFunc(q->gerror_data, q->gerror);
}

/* Bounds the attributes of every start tag without parsing, because the
 * parser's own cost comes before any callback could count them: libxml2 2.9
 * takes time quadratic in the attributes of one tag, both to parse it (its
 * duplicate check) and to validate it. No tag holds a '<' after its first
 * byte, so every '<' starts afresh; in a start tag, each attribute (or
 * namespace declaration) is one '=' outside quotes before the closing '>'.
 * Text, end tags, comments and the like are not counted, and a '<' inside a
 * comment can only make the count higher. Returns the line of a tag with
 * more than max attributes, or 0. */
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

/* Stop the parser for a reason of ours, which becomes the error (unless
 * libxml2 reported one first). Takes why. */
static void
stop_parser(xmlParserCtxt *ctxt, char *why)
{
    struct capture *c = ctxt->_private;
    if (!c->first)
        c->first = why;
    else
        free(why);
    c->stopped = true;
    xmlStopParser(ctxt);
}

/* Called when the parser meets <!DOCTYPE, before any internal subset is
 * read: refusing it outright closes the door on entity expansion and
 * external subsets whatever the options say. */
static void
refuse_doctype(void *ctx, _unused_ const xmlChar *name, _unused_ const xmlChar *external_id,
               _unused_ const xmlChar *system_id)
{
    int line = xmlSAX2GetLineNumber(ctx);
    stop_parser(ctx, xasprintf("line %d: a DOCTYPE declaration is not allowed", line));
}

/* libxml2's own start-element handler, after counting: stopping at the
 * limit also bounds the memory the tree takes (and the RelaxNG validator,
 * worse than linear in the number of siblings). */
static void
count_element(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri,
              int nb_namespaces, const xmlChar **namespaces, int nb_attributes, int nb_defaulted,
              const xmlChar **attributes)
{
    xmlParserCtxt *ctxt = ctx;
    struct capture *c = ctxt->_private;
    if (++c->elements > c->max_elements) {
        c->too_big = !c->first; /* else it fails for that first error */
        stop_parser(ctxt, xasprintf("more than %zu elements (line %d)", c->max_elements,
                                    xmlSAX2GetLineNumber(ctx)));
        return;
    }
    xmlSAX2StartElementNs(ctx, localname, prefix, uri, nb_namespaces, namespaces, nb_attributes,
                          nb_defaulted, attributes);
}

/* A parser for len bytes of buf that reads UTF-8 and nothing else, and
 * refuses DOCTYPEs and counts elements into c. */
static xmlParserCtxt *
new_parser(const char *buf, size_t len, struct capture *c)
{
    xmlParserCtxt *ctxt = xmlCreateMemoryParserCtxt(buf, (int)len);
    if (!ctxt)
        abort(); /* only fails for lack of memory */
    /* Pinning UTF-8 keeps iconv and the other converters out of reach of
     * untrusted input: IGNORE_ENC drops the declared encoding, and a set
     * ctxt->encoding stops libxml2 from guessing one from the first bytes
     * (a UTF-16 or UCS-4 byte order mark). No NOENT and no DTDLOAD:
     * entities are never substituted, no DTD is loaded (and refuse_doctype
     * stops at any DOCTYPE first). */
    int options = XML_PARSE_NONET | XML_PARSE_IGNORE_ENC;
#if LIBXML_VERSION >= 21400
    /* Belt and braces where libxml2 offers them. */
    options |= XML_PARSE_NO_XXE | XML_PARSE_NO_SYS_CATALOG;
#endif
    xmlCtxtUseOptions(ctxt, options);
    xmlSwitchEncoding(ctxt, XML_CHAR_ENCODING_UTF8);
    ctxt->encoding = xmlStrdup(BAD_CAST "UTF-8");
    if (!ctxt->encoding)
        abort();
    ctxt->sax->internalSubset = refuse_doctype;
    ctxt->sax->startElementNs = count_element;
    ctxt->_private = c;
    return ctxt;
}

int
mp_xml_read(const char *buf, size_t len, const struct mp_xml_limits *limits, xmlDoc **out,
            struct mp_error **err)
{
    if (len > limits->max_bytes || len > INT_MAX)
        return mp_error_input(err, EFBIG, "%zu bytes, the limit is %zu", len, limits->max_bytes);
    /* libxml2 makes no parser for an empty buffer (new_parser would abort). */
    if (len == 0)
        return mp_error_input(err, EINVAL, "no XML: the input is empty");
    size_t line = find_crowded_tag(buf, len, limits->max_attributes);
    if (line > 0)
        return mp_error_input(err, EFBIG, "a tag on line %zu has more than %zu attributes", line,
                              limits->max_attributes);

    _cleanup_(capture_clear) struct capture c = { .max_elements = limits->max_elements };
    struct quiet q = quiet_begin(&c);
    xmlParserCtxt *ctxt = new_parser(buf, len, &c);
    xmlParseDocument(ctxt);
    _cleanup_xml_doc_ xmlDoc *doc = ctxt->myDoc;
    ctxt->myDoc = NULL;
    bool ok = ctxt->wellFormed && !c.stopped && !c.first && doc;
    xmlFreeParserCtxt(ctxt);
    quiet_end(&q);

    if (!ok)
        return mp_error_input(err, c.too_big ? EFBIG : EINVAL, "%s",
                              c.first ? c.first : "not well-formed XML");
    /* The text was read as UTF-8 whatever it declared. Saying so makes
     * mp_xml_serialize write attribute values as UTF-8 too, instead of
     * character references. */
    xmlFree((xmlChar *)doc->encoding);
    doc->encoding = xmlStrdup(BAD_CAST "UTF-8");
    if (!doc->encoding)
        abort();
    *out = steal_ptr(&doc);
    return 0;
}

xmlRelaxNG *
mp_xml_schema_compile(const char *text, size_t len, char **why)
{
    _cleanup_(capture_clear) struct capture c = { 0 };
    struct quiet q = quiet_begin(&c);
    xmlRelaxNGParserCtxt *pctxt = xmlRelaxNGNewMemParserCtxt(text, (int)len);
    if (!pctxt)
        abort(); /* only fails for lack of memory */
    xmlRelaxNGSetParserStructuredErrors(pctxt, capture_error, &c);
    xmlRelaxNG *schema = xmlRelaxNGParse(pctxt);
    xmlRelaxNGFreeParserCtxt(pctxt);
    quiet_end(&q);
    if (!schema)
        *why = c.first ? steal_ptr(&c.first) : xstrdup("unknown error");
    return schema;
}

int
mp_xml_validate(xmlDoc *doc, xmlRelaxNG *schema, struct mp_error **err)
{
    _cleanup_(capture_clear) struct capture c = { 0 };
    struct quiet q = quiet_begin(&c);
    xmlRelaxNGValidCtxt *vctxt = xmlRelaxNGNewValidCtxt(schema);
    if (!vctxt)
        abort(); /* only fails for lack of memory */
    xmlRelaxNGSetValidStructuredErrors(vctxt, capture_error, &c);
    int r = xmlRelaxNGValidateDoc(vctxt, doc);
    xmlRelaxNGFreeValidCtxt(vctxt);
    quiet_end(&q);
    if (r == 0)
        return 0;
    return mp_error_input(err, EINVAL, "%s", c.first ? c.first : "it does not match the schema");
}

bool
mp_xml_is_element(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && !n->ns && xmlStrEqual(n->name, BAD_CAST name);
}

char *
mp_xml_attr(const xmlNode *n, const char *name)
{
    xmlChar *v = xmlGetNoNsProp(n, BAD_CAST name);
    if (!v)
        return NULL;
    char *s = xstrdup((const char *)v);
    xmlFree(v);
    return s;
}

char *
mp_xml_text(const xmlNode *n)
{
    xmlChar *v = xmlNodeGetContent(n);
    char *s = xstrdup(v ? (const char *)v : "");
    xmlFree(v);
    return s;
}

char *
mp_xml_serialize(xmlNode *n, bool siblings)
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

/* Whether XML 1.0 allows character ch: no control characters but tab,
 * newline and carriage return, no surrogates, no U+FFFE or U+FFFF. */
static bool
xml_char_allowed(uint32_t ch)
{
    return ch == 0x9 || ch == 0xa || ch == 0xd || (ch >= 0x20 && ch <= 0xd7ff) ||
           (ch >= 0xe000 && ch <= 0xfffd) || (ch >= 0x10000 && ch <= 0x10ffff);
}

int
mp_xml_check_chars(const char *s, uint32_t *bad)
{
    size_t len = strlen(s);
    for (size_t i = 0; i < len;) {
        uint32_t ch;
        int n = mp_utf8_decode(s + i, len - i, &ch);
        if (n < 0)
            return -1;
        if (!xml_char_allowed(ch)) {
            *bad = ch;
            return 1;
        }
        i += (size_t)n;
    }
    return 0;
}

/* The reference that stands for ch, or NULL when ch goes out as it is. A
 * parser turns tab, newline and carriage return in attribute values into
 * spaces, and carriage returns in text into newlines, so those become
 * character references to survive. */
static const char *
reference(char ch, bool in_attr)
{
    switch (ch) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return in_attr ? "&quot;" : NULL;
    case '\t':
        return in_attr ? "&#9;" : NULL;
    case '\n':
        return in_attr ? "&#10;" : NULL;
    case '\r':
        return "&#13;";
    }
    return NULL;
}

void
mp_xml_escape(struct mp_buf *b, const char *s, bool in_attr)
{
    const char *start = s;
    for (; *s; s++) {
        const char *ref = reference(*s, in_attr);
        if (!ref)
            continue;
        mp_buf_add(b, start, (size_t)(s - start));
        mp_buf_add_str(b, ref);
        start = s + 1;
    }
    mp_buf_add(b, start, (size_t)(s - start));
}
