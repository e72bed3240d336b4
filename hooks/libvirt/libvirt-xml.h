/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the libvirt hook reads of libvirt's XML: the domain XML libvirt writes
 * on the hook's stdin (its UUID, and a copy without secrets for the hooks'
 * cookie) and the status file libvirt keeps of a running domain. Pure
 * parsers of bytes, apart from the hook's file and journal work, so that
 * they can be fuzzed (tests/fuzz/fuzz-libvirt-xml.c). */
#pragma once

#include "error.h"
#include "xml.h"

#include <stdbool.h>
#include <stddef.h>

/* Domain XML is written by libvirtd, but bounds keep a mistake cheap: far
 * above the largest domains (thousands of devices). libvirt's status files
 * hold the same XML and a little more. */
extern const struct mp_xml_limits libvirt_domain_xml_limits;

/* From len bytes of domain XML: its UUID (*uuid, 36 characters) and the XML
 * without secrets (*description), each a new string or NULL. XML that does
 * not parse, or whose root is not <domain>, gives neither (never the text as
 * it came). */
void libvirt_domain_facts(const char *xml, size_t len, char **uuid, char **description);

/* What libvirt's status file of a domain says: whether an incoming migration
 * is still under way and whether the VM runs. */
struct libvirt_status {
    bool readable;         /* false: no file (the domain is gone) or not libvirt's */
    bool incoming;         /* its job is "migration in" */
    bool running;          /* <domstatus state="running"> */
    bool paused_migrating; /* state="paused" reason="migration": never resumed */
};

/* Read len bytes of a status file into *st. Returns 0 (st->readable false
 * when the root is not <domstatus>), or <0 with *err set (MP_ERR_INPUT) when
 * the XML does not parse; *st is all false then. */
int libvirt_status_parse(const char *xml, size_t len, struct libvirt_status *st,
                         struct mp_error **err);
