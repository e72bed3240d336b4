/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QEMU driver's table. The version comments are parsed by
 * docs/hvsupport.pl into the support matrix: keep one on every entry. */
#include "config.h"

#include "qemu-internal.h"

#include <linux/capability.h>

static const struct mp_driver_features qemu_features = {
    .live = true,            /* 0.1.0 */
    .offline = true,         /* 0.1.0 */
    .bandwidth_limit = true, /* 0.1.0 */
    .downtime_limit = true,  /* 0.1.0 */
    /* QEMU 4.0 and later (multifd); zstd only where QEMU was built with it
     * (Debian's is): Prepare and Perform check what their QEMU reports. */
    .parallel_streams = true,   /* 0.1.0 */
    .compression = true,        /* 0.1.0 */
    .xbzrle = true,             /* 0.1.0 */
    .auto_converge = true,      /* 0.1.0 */
    .paused_destination = true, /* 0.1.0 */
    .progress = true,           /* 0.1.0 */
    .cancel = true,             /* 0.1.0 */
    .storage_copy = true,       /* 0.1.0 */
    /* With a paused postcopy's recovery. The destination's QEMU needs
     * userfaultfd: as qemu-user, vm.unprivileged_userfaultfd=1 (QEMU 7.2). */
    .postcopy = true, /* 0.1.0 */
};

const struct mp_driver mp_qemu_driver = {
    .abi = MP_DRIVER_ABI,
    .name = "qemu",
    .features = &qemu_features,
    /* Prepare starts QEMU as qemu-user: CAP_SETUID and CAP_SETGID to change
     * to it (and its groups) before the exec. The VM then runs as another
     * uid: CAP_KILL to stop it (Finish, Confirm, recovery). QEMU reads its
     * TLS files as the VM's user: CAP_CHOWN to give it the copies it loads
     * (Prepare, Perform). */
    .capabilities = 1ull << CAP_SETUID | 1ull << CAP_SETGID | 1ull << CAP_KILL | 1ull << CAP_CHOWN,
    /* Begin reads the VM's /proc/PID/exe (a root QEMU has every capability). */
    .begin_capabilities = 1ull << CAP_SYS_PTRACE,
    .begin = qemu_begin,                 /* 0.1.0 */
    .prepare = qemu_prepare,             /* 0.1.0 */
    .perform = qemu_perform,             /* 0.1.0 */
    .finish = qemu_finish,               /* 0.1.0 */
    .finish_ahead = qemu_finish_ahead,   /* 0.1.0 */
    .perform_ahead = qemu_perform_ahead, /* 0.1.0 */
    .confirm = qemu_confirm,             /* 0.1.0 */
    .probe = qemu_probe,                 /* 0.1.0 */
};
