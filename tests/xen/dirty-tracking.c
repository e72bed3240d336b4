/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* xen-dirty-tracking DOMID: prints "on" when Xen tracks the domain's dirty
 * memory (log-dirty mode, which a live stream turns on), "off" otherwise.
 * For the test bed (tests/xen/dom0-tests.sh): Xen has no query for it, but
 * refuses to turn it on twice (EINVAL); when the probe does turn it on, it
 * turns it off again. Exit 0, or 2 with a message on stderr. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenctrl.h>

int
main(int argc, char **argv)
{
    char *end = NULL;
    unsigned long domid = argc == 2 ? strtoul(argv[1], &end, 10) : 0;
    if (argc != 2 || !*argv[1] || *end || domid == 0 || domid >= DOMID_FIRST_RESERVED) {
        fprintf(stderr, "usage: xen-dirty-tracking DOMID (a guest's, not 0)\n");
        return 2;
    }
    xc_interface *xc = xc_interface_open(NULL, NULL, 0);
    if (!xc) {
        fprintf(stderr, "xen-dirty-tracking: cannot open libxenctrl: %s\n", strerror(errno));
        return 2;
    }
    int status = 0;
    if (xc_shadow_control(xc, (uint32_t)domid, XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY, NULL, 0) ==
        0) {
        if (xc_shadow_control(xc, (uint32_t)domid, XEN_DOMCTL_SHADOW_OP_OFF, NULL, 0) < 0) {
            fprintf(stderr,
                    "xen-dirty-tracking: the probe turned it on and cannot turn it off: %s\n",
                    strerror(errno));
            status = 2;
        } else {
            puts("off");
        }
    } else if (errno == EINVAL) {
        puts("on");
    } else {
        fprintf(stderr, "xen-dirty-tracking: domain %lu: %s\n", domid, strerror(errno));
        status = 2;
    }
    xc_interface_close(xc);
    return status;
}
