/* A feature's removal range with no end. */
static const struct mp_driver_features alpha_features = {
    .postcopy = false, /* 0.1.0 - */
};

const struct mp_driver mp_alpha_driver = {
    .name = "alpha",
    .features = &alpha_features,
    .begin = alpha_begin, /* 0.1.0 */
};
