/* The Xen driver's table (libxenlight). The version comments are parsed by
 * docs/hvsupport.pl into the support matrix: keep one on every entry. */
#include "config.h"

#include "driver.h"

static const struct mp_driver_features xen_features = {
};

const struct mp_driver mp_xen_driver = {
    .name = "xen",
    .features = &xen_features,
    .capabilities = 0,
};
