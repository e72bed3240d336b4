/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Xen driver module of another build of migphase: the same table as this
 * build's, stamped with another driver interface. A helper must refuse to
 * load it (tests/modules/abi-stamp.sh). */
#include "config.h"

#include "driver.h"

extern const struct mp_driver mp_xen_driver;

const struct mp_driver mp_xen_driver = {
    .abi = "0.0.0/other-build",
    .name = "xen",
};
