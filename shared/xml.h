/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The hardened XML reader every reader of XML uses (cookies, hook output,
 * libvirt's domain XML), with the few tree accessors they share, and the
 * one XML escaper.
 *
 * Untrusted XML is read with bounds on its size and shape, no DOCTYPE (so no
 * entity of any kind and no external subset), no network, UTF-8 only, and
 * libxml2 kept from printing anything: its problems come back as errors. */
#pragma once

#include "buf.h"
#include "error.h"

#include <libxml/relaxng.h>
#include <libxml/tree.h>

/* Bounds on what one read may cost. */
struct mp_xml_limits {
    size_t max_bytes;
    size_t max_elements;
    size_t max_attributes; /* on one tag, namespace declarations included */
};

/* Parse len bytes of untrusted XML into *out. Beyond a bound fails with
 * -EFBIG, anything else with -EINVAL, both MP_ERR_INPUT errors with a
 * one-line reason ("line 3: ...") for the caller to prefix. */
int mp_xml_read(const char *buf, size_t len, const struct mp_xml_limits *limits, xmlDoc **out,
                struct mp_error **err);

static inline void
mp_xml_doc_freep(xmlDoc **doc)
{
    if (*doc)
        xmlFreeDoc(*doc);
}
#define _cleanup_xml_doc_ _cleanup_(mp_xml_doc_freep)

/* Compile a RelaxNG schema held in memory; NULL with *why set on failure. */
xmlRelaxNG *mp_xml_schema_compile(const char *text, size_t len, char **why);
/* Validate doc against schema: -EINVAL (MP_ERR_INPUT) with the first problem
 * as the message, or 0. */
int mp_xml_validate(xmlDoc *doc, xmlRelaxNG *schema, struct mp_error **err);

/* Whether n is an element called name, in no namespace. */
bool mp_xml_is_element(const xmlNode *n, const char *name);
/* A copy of attribute name of n (in no namespace), or NULL. */
char *mp_xml_attr(const xmlNode *n, const char *name);
/* A copy of all the text inside n; "" when there is none. */
char *mp_xml_text(const xmlNode *n);
/* The XML of n as written, as UTF-8; with siblings, of n and all after it. */
char *mp_xml_serialize(xmlNode *n, bool siblings);

/* Whether XML 1.0 can carry s: 0 when it is UTF-8 made of characters XML
 * allows, -1 for bad UTF-8, 1 with the first refused character in *bad. */
int mp_xml_check_chars(const char *s, uint32_t *bad);
/* Append s (checked by mp_xml_check_chars) with markup characters escaped,
 * for an attribute value (in_attr) or for text. */
void mp_xml_escape(struct mp_buf *b, const char *s, bool in_attr);
