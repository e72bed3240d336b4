/* Removed in a release after the package version. */
const struct mp_driver mp_alpha_driver = {
    .name = "alpha",
    .begin = alpha_begin, /* 0.1.0 */
    .confirm = NULL,      /* 0.1.0 - 0.10.0 */
};
