/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "libvirt-xml.h"

#include "log.h"
#include "util.h"

#include <string.h>

const struct mp_xml_limits libvirt_domain_xml_limits = {
    .max_bytes = 16 * 1024 * 1024,
    .max_elements = 1024 * 1024,
    .max_attributes = 256,
};

/* Remove what libvirt's secure formatting puts in: passwd attributes
 * (<graphics>), <secret> elements (disk and hostdev auth, encryption) and
 * <cookies> (HTTP disk sources). Whatever holds a secret goes, not only the
 * ones libvirt 9.0 writes today. */
static void
strip_secrets(xmlNode *n)
{
    while (n) {
        xmlNode *next = n->next;
        if (n->type == XML_ELEMENT_NODE) {
            if (mp_xml_is_element(n, "secret") || mp_xml_is_element(n, "cookies")) {
                xmlUnlinkNode(n);
                xmlFreeNode(n);
            } else {
                xmlAttr *a = n->properties;
                while (a) {
                    xmlAttr *next_attr = a->next;
                    if (xmlStrcasecmp(a->name, BAD_CAST "passwd") == 0)
                        xmlRemoveProp(a);
                    a = next_attr;
                }
                strip_secrets(n->children);
            }
        }
        n = next;
    }
}

/* Read with the reader cookies use: no DOCTYPE, entity or network access,
 * bounded. */
void
libvirt_domain_facts(const char *xml, size_t len, char **uuid, char **description)
{
    *uuid = NULL;
    *description = NULL;
    _cleanup_xml_doc_ xmlDoc *doc = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    if (mp_xml_read(xml, len, &libvirt_domain_xml_limits, &doc, &err) < 0) {
        mp_debug("leaving the domain XML out: it does not parse: %s", err->message);
        return;
    }
    xmlNode *root = xmlDocGetRootElement(doc);
    if (!root || !mp_xml_is_element(root, "domain"))
        return;
    for (xmlNode *n = root->children; n; n = n->next) {
        if (!mp_xml_is_element(n, "uuid"))
            continue;
        _cleanup_free_ char *text = mp_xml_text(n);
        if (strlen(text) == 36 && !*uuid)
            *uuid = steal_ptr(&text);
    }
    strip_secrets(root);
    *description = mp_xml_serialize(root, false);
}

int
libvirt_status_parse(const char *xml, size_t len, struct libvirt_status *st, struct mp_error **err)
{
    *st = (struct libvirt_status){ 0 };
    _cleanup_xml_doc_ xmlDoc *doc = NULL;
    int r = mp_xml_read(xml, len, &libvirt_domain_xml_limits, &doc, err);
    if (r < 0)
        return r;
    xmlNode *root = xmlDocGetRootElement(doc);
    if (!root || !mp_xml_is_element(root, "domstatus"))
        return 0;
    st->readable = true;
    _cleanup_free_ char *state = mp_xml_attr(root, "state");
    _cleanup_free_ char *reason = mp_xml_attr(root, "reason");
    st->running = mp_streq0(state, "running");
    st->paused_migrating = mp_streq0(state, "paused") && mp_streq0(reason, "migration");
    for (xmlNode *n = root->children; n; n = n->next) {
        if (!mp_xml_is_element(n, "job"))
            continue;
        _cleanup_free_ char *async = mp_xml_attr(n, "async");
        st->incoming = mp_streq0(async, "migration in");
        break;
    }
    return 0;
}
