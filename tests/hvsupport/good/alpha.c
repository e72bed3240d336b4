/* A driver table in every layout the generator must read. The decoy in this
 * comment must be ignored: const struct mp_driver decoy = { .begin = x };
 */
#include "config.h"

#include "fake-driver.h"

extern const struct mp_driver mp_alpha_driver; /* a declaration, not a table */

static const struct mp_driver_features alpha_features = {
    .live = true,      /* 0.1.0 */
    .offline = true,   /* 0.2.0 */
    /* Postcopy lost data when the destination failed mid-stream; it is gone
     * until that is fixed. */
    .postcopy = false, /* 0.1.0 - 0.3.0 */
    .max_streams = 4,
    .tls = true        /* 0.4.0 */
};

const struct mp_driver mp_alpha_driver = {
    .name = "alpha",
    .features = &alpha_features,
    .capabilities = (1ULL << 21) |
                    (1ULL << 12),
    .begin = alpha_begin,    /* 0.1.0 */
    .prepare = alpha_prepare /* 0.1.0 */,
    .perform = alpha_perform, // 0.2.0
    .finish = alpha_choose(ALPHA_FINISH,
                           ALPHA_FAST), /* 0.2.0 */
    .confirm = NULL,         /* 0.1.0 - 0.4.0 */
    .probe = alpha_probe     /* 0.3.0 */
};
