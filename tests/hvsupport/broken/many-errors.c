/* Every problem is reported in one run, not only the first. */
static const struct mp_driver_features alpha_features = {
    .live = true,
    .offline = true, /* 0.9.0 */
};

const struct mp_driver mp_alpha_driver = {
    .name = "alpha",
    .features = &alpha_features,
    .begin = alpha_begin,     /* 0.1.0 */
    .prepare = alpha_prepare, /* 1.0 */
    .perform = NULL,          /* 0.1.0 */
    .finish = alpha_finish,   /* 0.1.0 */
};
