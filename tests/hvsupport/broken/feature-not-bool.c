/* A feature's value is true or false, nothing else. */
static const struct mp_driver_features alpha_features = {
    .live = 1, /* 0.1.0 */
};

const struct mp_driver mp_alpha_driver = {
    .name = "alpha",
    .features = &alpha_features,
    .begin = alpha_begin, /* 0.1.0 */
};
