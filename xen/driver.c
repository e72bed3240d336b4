/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Xen driver's table (libxenlight). The version comments are parsed by
 * docs/hvsupport.pl into the support matrix: keep one on every entry. */
#include "config.h"

#include "xen-internal.h"

/* Left out, so "-" in the support matrix: postcopy (libxl 4.17 sends
 * pre-copy only; Begin refuses --postcopy), the stream's tuning. */
static const struct mp_driver_features xen_features = {
    .live = true,               /* 0.1.0 */
    .offline = true,            /* 0.1.0 */
    .paused_destination = true, /* 0.1.0 */
    .progress = true,           /* 0.1.0 */
    .cancel = true,             /* 0.1.0 */
};

const struct mp_driver mp_xen_driver = {
    .abi = MP_DRIVER_ABI,
    .name = "xen",
    .features = &xen_features,
    /* libxl talks to Xen through /dev/xen/privcmd, /dev/xen/gntdev and
     * xenstore's socket, all root's own files with mode 0600, and keeps its
     * state under /var/lib/xen and /run/xen, root's directories: uid 0 opens
     * them by ownership alone, and Xen itself decides what dom0 may do. No
     * capability is needed (checked in a real dom0 by tests/xen). */
    .capabilities = 0,
    .begin = xen_begin,     /* 0.1.0 */
    .prepare = xen_prepare, /* 0.1.0 */
    .perform = xen_perform, /* 0.1.0 */
    .finish = xen_finish,   /* 0.1.0 */
    .confirm = xen_confirm, /* 0.1.0 */
    .probe = xen_probe,     /* 0.1.0 */
};
