/* A comment that says something else where the version belongs. */
const struct mp_driver mp_alpha_driver = {
    .name = "alpha",
    .begin = alpha_begin, /* since 0.1.0, see qmp.c */
};
