/* .features names a table that is not in this file. */
const struct mp_driver mp_alpha_driver = {
    .name = "alpha",
    .features = &beta_features,
    .begin = alpha_begin, /* 0.1.0 */
};
