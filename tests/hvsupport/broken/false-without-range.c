/* A feature set false with a plain version. */
static const struct mp_driver_features alpha_features = {
    .live = true,      /* 0.1.0 */
    .postcopy = false, /* 0.2.0 */
};

const struct mp_driver mp_alpha_driver = {
    .name = "alpha",
    .features = &alpha_features,
    .begin = alpha_begin, /* 0.1.0 */
};
