/* Two drivers in one source sharing one feature table; one operation never
 * implemented (left out), one driver with no feature table at all. */
#include "config.h"

#include "fake-driver.h"

static const struct mp_driver_features beta_features = {
    .compression = true, /* 0.3.0 */
    .offline = true,     /* 0.3.0 */
};

const struct mp_driver mp_beta_driver = {
    .name = "beta",
    .features = &beta_features,
    .capabilities = 0,
    .begin = beta_begin,     /* 0.3.0 */
    .prepare = beta_prepare, /* 0.3.0 */
    .perform = beta_perform, /* 0.3.0 */
    .finish = beta_finish,   /* 0.3.0 */
    .confirm = beta_confirm, /* 0.3.0 */
};

const struct mp_driver mp_gamma_driver_with_a_long_name = {
    .name = "gamma-long-name",
    .begin = gamma_begin, /* 0.4.0 */
};
