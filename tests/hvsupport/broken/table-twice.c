/* With good/alpha.c: the same C table name in two sources. */
const struct mp_driver mp_alpha_driver = {
    .name = "delta",
    .begin = delta_begin, /* 0.1.0 */
};
