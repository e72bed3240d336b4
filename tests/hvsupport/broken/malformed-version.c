/* Two parts instead of three. */
const struct mp_driver mp_alpha_driver = {
    .name = "alpha",
    .begin = alpha_begin, /* 0.1 */
};
