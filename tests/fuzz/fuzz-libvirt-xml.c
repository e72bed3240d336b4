/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target for the libvirt hook's readers of libvirt's XML
 * (hooks/libvirt/libvirt-xml.c): the input is read both as the domain XML
 * libvirt writes on the hook's stdin and as a domain's status file.
 *
 * Whatever the input, neither reader may crash or leak. The domain XML's
 * facts are a 36-character UUID and a copy that, read again, holds none of
 * the secrets the hook promises to strip (passwd attributes, <secret> and
 * <cookies> elements): that copy goes into a cookie other programs read. A
 * status file that does not parse says nothing. Any breach abort()s, which
 * both libFuzzer and the corpus replay (tests/fuzz/replay.c) report as a
 * failure. */
#include "config.h"

#include "libvirt-xml.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* No secret left in n, its attributes or anything under it. */
static void
check_no_secrets(const xmlNode *n)
{
    for (; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (mp_xml_is_element(n, "secret") || mp_xml_is_element(n, "cookies"))
            abort();
        for (const xmlAttr *a = n->properties; a; a = a->next)
            if (xmlStrcasecmp(a->name, BAD_CAST "passwd") == 0)
                abort();
        check_no_secrets(n->children);
    }
}

static void
check_domain_facts(const uint8_t *data, size_t size)
{
    _cleanup_free_ char *uuid = NULL;
    _cleanup_free_ char *description = NULL;
    libvirt_domain_facts((const char *)data, size, &uuid, &description);
    if (uuid && (strlen(uuid) != 36 || !description))
        abort();
    if (!description)
        return;
    /* The copy as the hooks' cookie carries it, read as its readers do. A
     * copy that does not read back is the cookie writer's business. */
    _cleanup_xml_doc_ xmlDoc *doc = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    if (mp_xml_read(description, strlen(description), &libvirt_domain_xml_limits, &doc, &err) < 0)
        return;
    check_no_secrets(xmlDocGetRootElement(doc));
}

static void
check_status(const uint8_t *data, size_t size)
{
    struct libvirt_status st;
    _cleanup_error_ struct mp_error *err = NULL;
    int r = libvirt_status_parse((const char *)data, size, &st, &err);
    if (r < 0 && (!err || err->kind != MP_ERR_INPUT || r != -err->errnum))
        abort();
    if (r == 0 && err)
        abort();
    /* Only a readable file says anything. */
    if (!st.readable && (st.incoming || st.running || st.paused_migrating))
        abort();
    if (st.running && st.paused_migrating)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_domain_facts(data, size);
    check_status(data, size);
    return 0;
}
