/* A table cut short. */
const struct mp_driver mp_alpha_driver = {
    .name = "alpha",
    .begin = alpha_begin, /* 0.1.0 */
