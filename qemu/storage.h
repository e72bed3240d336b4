/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Live storage migration over NBD: which disks must travel (Begin), the
 * target images and their export (Prepare, Finish), the mirrors (Perform,
 * Confirm). The order is the safety: the mirrors are in sync before the
 * memory stream starts, and complete, without pivoting, only once the
 * source is paused at the stream's pre-switchover point. */
#pragma once

#include "driver.h"
#include "facts.h"
#include "qmp.h"

/* Journal facts (docs/journal-format.md; migphase-status reads them). */
#define QEMU_FACT_IMAGE   MP_FACT_STORAGE_IMAGE   /* image.N: a target image Prepare creates */
#define QEMU_FACT_NBD     MP_FACT_STORAGE_EXPORT  /* Prepare: the VM exports them */
#define QEMU_FACT_MIRRORS MP_FACT_STORAGE_MIRRORS /* Perform: the disks it mirrors (nodes) */

/* The largest disk a cookie may ask the destination to create. */
#define QEMU_DISK_MAX_BYTES (UINT64_C(64) << 40)

/* ---- source ---- */

/* Begin: classify every writable disk of the VM as shared (network or
 * cluster file system, or under shared-paths) or local; put the ones the
 * migration copies (--copy-storage, --disks) into ctx->out->disks. A local
 * writable disk that is not copied is refused (MP_ERR_INPUT, naming it)
 * unless --unsafe. */
/* devices is query-block's answer when the caller asked it in a batch of its
 * own; NULL: asked here (also the way to its error message). */
int qemu_storage_begin(struct mp_step_ctx *ctx, struct qemu_qmp *qmp, json_object *devices,
                       struct mp_error **err);
/* Perform's plan: the cookie's disks are the VM's and the NBD address is a
 * TCP one; records the mirrors before any starts. 0 when nothing to copy. */
int qemu_storage_plan_mirrors(struct mp_step_ctx *ctx, struct qemu_qmp *qmp, struct mp_error **err);
/* Add an NBD client node for each disk (TLS with tls_creds, checking the
 * destination's certificate against tls_hostname, when tls_creds is not
 * NULL), start one mirror job each, and wait until every job is ready. */
int qemu_storage_mirror(struct mp_step_ctx *ctx, struct qemu_qmp *qmp, const char *tls_creds,
                        const char *tls_hostname, struct mp_error **err);
struct mp_progress_sample;
/* Add the mirrors' size and what they have yet to copy to a progress
 * sample of the memory stream (nothing when there are none). */
void qemu_storage_progress(const struct mp_journal_record *record, struct qemu_qmp *qmp,
                           struct mp_progress_sample *sample);
/* At the pre-switchover point, the source paused: complete every mirror
 * without pivoting (block-job-cancel of a ready job) and wait until each
 * reports it completed in sync. */
int qemu_storage_complete(const struct mp_journal_record *record, struct qemu_qmp *qmp,
                          struct mp_error **err);
/* Cancel whatever mirror of ours is left and remove our NBD client nodes:
 * the source keeps using its own images. Idempotent. Fails (-EBUSY) when a
 * job has not ended within wait_ms: its NBD connection hangs (a cut link),
 * and a later call must finish the work. */
int qemu_storage_release(const struct mp_journal_record *record, struct qemu_qmp *qmp,
                         uint64_t wait_ms, struct mp_error **err);

/* ---- destination ---- */

/* An image Prepare creates for a disk. */
struct qemu_storage_target {
    char *node;
    char *format;
    char *path;
    uint64_t size;
    char *backing; /* incremental: the backing file, already on this host */
    char *backing_format;
};
void qemu_storage_targets_free(struct qemu_storage_target *targets, size_t n);

struct qemu_argv_target;
/* Prepare's plan: for each disk of the cookie, the image the destination's
 * command line (argv, already checked by the policy) opens for its node,
 * which must not exist yet (unless this migration's journal says an earlier
 * Prepare created it); incremental: the backing file must be here, under
 * allowed-paths, with the source's size. Records image.N facts. */
int qemu_storage_plan_targets(struct mp_step_ctx *ctx, char *const *argv,
                              const struct qemu_argv_target *policy,
                              struct qemu_storage_target **targets, size_t *n,
                              struct mp_error **err);
/* Create the images, owned by the VM's user. */
int qemu_storage_create_targets(const struct qemu_storage_target *targets, size_t n,
                                const char *qemu_user, struct mp_error **err);
/* Start the NBD server on the listen address (TLS when tls) and export each
 * target writable under its node name; sets ctx->out->nbd_uri. */
int qemu_storage_export(struct mp_step_ctx *ctx, struct qemu_qmp *qmp, bool tls,
                        struct mp_error **err);
/* Remove the images the record says Prepare created. Best effort. */
void qemu_storage_remove_targets(const struct mp_journal_record *record);
