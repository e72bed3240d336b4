/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the Xen domain of a journal record is doing now, for migphase-status.
 *
 * A localhost migration has two domains with one UUID, so a domain is
 * trusted by its recorded domid (with the UUID checked), or else by the
 * name only its role uses ("NAME--incoming" on the destination); the plain
 * name may belong to the other side. */
#include "config.h"

#include "facts.h"
#include "xen-internal.h"

#include <errno.h>
#include <string.h>

static enum mp_vm_state
source_state(const struct mp_journal_record *record, const struct xen_domain *d)
{
    if (d->info.dying)
        return MP_VM_ABSENT;
    if (xen_domain_suspended(d)) {
        /* Only a Perform that concluded knows the destination has it all;
         * otherwise the stream may have been cut: resuming is safe, since
         * no Perform cookie exists for the destination to finish with. */
        bool completed =
            mp_streq0(mp_journal_record_get_fact(record, MP_FACT_STREAM), MP_FACT_STREAM_COMPLETED);
        return completed ? MP_VM_MIGRATED : MP_VM_MIGRATING;
    }
    if (d->info.shutdown)
        return MP_VM_FAILED;
    _cleanup_free_ char *away = xen_name_with(record->domain, XEN_SUFFIX_MIGRATEDAWAY);
    if (mp_streq0(d->name, away))
        return MP_VM_MIGRATING;
    return d->info.paused ? MP_VM_PAUSED : MP_VM_RUNNING;
}

static int
probe_source(struct xen_ctx *x, const struct mp_journal_record *record, enum mp_vm_state *state,
             struct mp_error **err)
{
    uint32_t domid = xen_recorded_domid(record, XEN_FACT_DOMID);
    if (domid == 0)
        return mp_error_set(err, ENOENT, "the journal names no domain id for it");
    _cleanup_xen_domain_ struct xen_domain d = { 0 };
    int r = xen_domain_get(x, domid, record->uuid, &d, err);
    if (r == -ENOENT) {
        *state = MP_VM_ABSENT;
        return 0;
    }
    if (r < 0)
        return r;
    *state = source_state(record, &d);
    return 0;
}

static enum mp_vm_state
destination_state(const struct mp_journal_record *record, const struct xen_domain *d,
                  const struct xen_result *res, bool receiving)
{
    if (d->info.dying || d->info.shutdown || res->state == XEN_RECEIVER_FAILED)
        return MP_VM_FAILED;
    _cleanup_free_ char *incoming = xen_name_with(record->domain, XEN_SUFFIX_INCOMING);
    /* Under its own name, Finish gave it back; running, it is past the
     * point of no return. */
    if (!mp_streq0(d->name, incoming))
        return xen_domain_running(d) ? MP_VM_RUNNING : MP_VM_PAUSED;
    if (receiving || res->state == XEN_RECEIVER_RESTORED)
        return MP_VM_INCOMING;
    /* Under the incoming name, with its receiver gone before restoring it:
     * half a domain. */
    return MP_VM_FAILED;
}

static int
probe_destination(struct xen_ctx *x, const struct mp_journal_record *record,
                  const struct mp_options *opts, enum mp_vm_state *state, struct mp_error **err)
{
    _cleanup_free_ char *path = xen_result_path_for(opts->state_dir, record->domain);
    _cleanup_xen_result_ struct xen_result res = { 0 };
    if (xen_result_read(path, &res, NULL) < 0)
        res.state = XEN_RECEIVER_STARTING;
    /* A result file of an earlier migration says nothing of this one (its
     * domain may run the guest by now, under its own name). */
    if (!mp_streq0(res.migration_id, record->migration_id)) {
        xen_result_clear(&res);
        res.state = XEN_RECEIVER_STARTING;
    }
    /* The file names the receiver of a Prepare that died while it acted. */
    pid_t pid;
    bool receiving = xen_receiver_fate(record, &res, &pid) == MP_PROC_ALIVE;

    uint32_t domid = xen_recorded_domid(record, XEN_FACT_DOMID);
    if (domid == 0 && res.state == XEN_RECEIVER_RESTORED)
        domid = res.domid;
    _cleanup_xen_domain_ struct xen_domain d = { 0 };
    int r = -ENOENT;
    if (domid != 0)
        r = xen_domain_get(x, domid, record->uuid, &d, err);
    if (r == -ENOENT) {
        xen_domain_clear(&d);
        _cleanup_free_ char *incoming = xen_name_with(record->domain, XEN_SUFFIX_INCOMING);
        r = xen_domain_find(x, incoming, record->uuid, &d, err);
    }
    if (r == -ENOENT) {
        *state = receiving ? MP_VM_INCOMING : MP_VM_ABSENT;
        return 0;
    }
    if (r < 0)
        return r;
    *state = destination_state(record, &d, &res, receiving);
    return 0;
}

int
xen_probe(const struct mp_journal_record *record, const struct mp_options *opts,
          enum mp_vm_state *state, struct mp_error **err)
{
    _cleanup_xen_ctx_ struct xen_ctx *x = NULL;
    int r = xen_ctx_open(&x, err);
    if (r < 0)
        return r;
    if (record->role == MP_ROLE_SOURCE)
        return probe_source(x, record, state, err);
    return probe_destination(x, record, opts, state, err);
}
