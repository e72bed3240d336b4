/* 0.5.0 is after the package version (0.4.0 in ../fixture-configure.ac). */
const struct mp_driver mp_alpha_driver = {
    .name = "alpha",
    .begin = alpha_begin,     /* 0.1.0 */
    .prepare = alpha_prepare, /* 0.5.0 */
};
