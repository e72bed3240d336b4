/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* TLS for QEMU's migration stream: QEMU's own tls-creds-x509 objects, fed
 * from this host's pki-dir, and the authorisation of the one source host
 * the destination expects. */
#pragma once

#include "error.h"
#include "qmp.h"

#include <sys/types.h>

/* The ids migphase gives its objects inside a QEMU process. */
#define QEMU_TLS_CREDS_ID "migphase-tls"
#define QEMU_TLS_AUTHZ_ID "migphase-authz"

/* What migrate-set-parameters gets; "" (or NULL) everywhere: clear text. */
struct qemu_tls_params {
    const char *creds;
    const char *hostname; /* source: the name the destination's certificate must have */
    const char *authz;    /* destination: who may send */
};

/* QEMU reads its x509 files as the VM's user, who must not read the host's
 * keys directory: copy the files one side needs (server: ca, server
 * cert and key; client: ca, client cert and key; the CRL when there is one)
 * into a new directory of root's that others may only search, each file
 * uid:gid's own with mode 0400. *dir is freed and the files removed by
 * qemu_tls_unstage, as soon as QEMU has loaded them. */
int qemu_tls_stage(const char *pki_dir, bool server, uid_t uid, gid_t gid, char **dir,
                   struct mp_error **err);
void qemu_tls_unstage(char *dir);

/* The destination's -object options: server credentials from a staged
 * directory, and an authorisation that lets in only the certificate of
 * source_host (its distinguished name begins with CN=source_host). */
char **qemu_tls_destination_objects(const char *staged_dir, const char *source_host);

/* The source's client credentials, added to the running VM: any earlier
 * object of ours goes first (a retried Perform, an earlier migration). */
int qemu_tls_add_client(struct qemu_qmp *qmp, const char *staged_dir, struct mp_error **err);

/* Whether a host name may go into QEMU's options and a glob: letters,
 * digits, dots, dashes, colons (an IPv6 address). */
bool qemu_tls_valid_host(const char *host);
