/* A feature table no driver points to would be missing from the matrix. */
static const struct mp_driver_features alpha_features = {
    .live = true, /* 0.1.0 */
};

const struct mp_driver mp_alpha_driver = {
    .name = "alpha",
    .begin = alpha_begin, /* 0.1.0 */
};
