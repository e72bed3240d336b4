/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Finding, naming and destroying domains, and the domid facts of the journal. */
#include "config.h"

#include "xen-internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <xenctrl.h>

void
xen_domain_clear(struct xen_domain *d)
{
    free(d->name);
    d->name = NULL;
    /* Initialised again so that clearing twice is harmless. */
    libxl_dominfo_dispose(&d->info);
    libxl_dominfo_init(&d->info);
}

int
xen_domain_get(struct xen_ctx *x, uint32_t domid, const char *uuid, struct xen_domain *d,
               struct mp_error **err)
{
    memset(d, 0, sizeof(*d));
    libxl_dominfo_init(&d->info);
    if (domid == 0)
        return -ENOENT;
    int rc = libxl_domain_info(xen_libxl(x), &d->info, domid);
    if (rc == ERROR_DOMAIN_NOTFOUND) {
        xen_forget_error(x);
        return -ENOENT;
    }
    if (rc != 0)
        return xen_fail(x, err, rc, "asking Xen about domain %u", domid);
    d->domid = domid;
    snprintf(d->uuid, sizeof(d->uuid), LIBXL_UUID_FMT, LIBXL_UUID_BYTES(d->info.uuid));
    if (uuid && strcasecmp(uuid, d->uuid) != 0) {
        xen_domain_clear(d);
        return -ENOENT;
    }
    d->name = libxl_domid_to_name(xen_libxl(x), domid);
    xen_forget_error(x);
    return 0;
}

int
xen_domain_find(struct xen_ctx *x, const char *name, const char *uuid, struct xen_domain *d,
                struct mp_error **err)
{
    uint32_t domid;
    memset(d, 0, sizeof(*d));
    libxl_dominfo_init(&d->info);
    if (libxl_name_to_domid(xen_libxl(x), name, &domid) != 0) {
        xen_forget_error(x);
        return -ENOENT;
    }
    return xen_domain_get(x, domid, uuid, d, err);
}

bool
xen_domain_suspended(const struct xen_domain *d)
{
    return d->info.shutdown && d->info.shutdown_reason == LIBXL_SHUTDOWN_REASON_SUSPEND;
}

bool
xen_domain_running(const struct xen_domain *d)
{
    return !d->info.paused && !d->info.shutdown && !d->info.dying;
}

char *
xen_name_with(const char *name, const char *suffix)
{
    return xasprintf("%s%s", name, suffix);
}

int
xen_domain_rename(struct xen_ctx *x, struct xen_domain *d, const char *to, struct mp_error **err)
{
    if (mp_streq0(d->name, to))
        return 0;
    int rc = libxl_domain_rename(xen_libxl(x), d->domid, d->name, to);
    if (rc != 0)
        return xen_fail(x, err, rc, "renaming domain %u from %s to %s", d->domid,
                        d->name ? d->name : "(none)", to);
    free(d->name);
    d->name = xstrdup(to);
    return 0;
}

int
xen_domain_stop_dirty_tracking(const struct xen_domain *d, struct mp_error **err)
{
    xc_interface *xc = xc_interface_open(NULL, NULL, 0);
    if (!xc)
        return mp_error_set_errno(err, errno, "cannot open libxenctrl");
    /* What libxc's own save does at its end; harmless when tracking is off. */
    int rc = xc_shadow_control(xc, d->domid, XEN_DOMCTL_SHADOW_OP_OFF, NULL, 0);
    int e = errno;
    xc_interface_close(xc);
    if (rc < 0)
        return mp_error_set_errno(err, e, "cannot turn off the dirty-memory tracking of domain %u",
                                  d->domid);
    return 0;
}

int
xen_domain_destroy(struct xen_ctx *x, const struct xen_domain *d, struct mp_error **err)
{
    int rc = libxl_domain_destroy(xen_libxl(x), d->domid, NULL);
    if (rc == ERROR_DOMAIN_NOTFOUND) {
        xen_forget_error(x);
        return 0;
    }
    if (rc != 0)
        return xen_fail(x, err, rc, "destroying domain %u (%s)", d->domid,
                        d->name ? d->name : "no name");
    return 0;
}

void
xen_record_domid(struct mp_journal_record *record, const char *key, uint32_t domid)
{
    char buf[16];
    snprintf(buf, sizeof(buf), "%u", domid);
    mp_journal_record_set_fact(record, key, buf);
}

uint32_t
xen_recorded_domid(const struct mp_journal_record *record, const char *key)
{
    const char *s = mp_journal_record_get_fact(record, key);
    uint64_t v = 0;
    if (!s || mp_parse_u64(s, &v) < 0 || v >= UINT32_MAX)
        return 0;
    return (uint32_t)v;
}
