/* Two entries on one line: the comment annotates only the second. */
const struct mp_driver mp_alpha_driver = {
    .name = "alpha",
    .begin = alpha_begin, .prepare = alpha_prepare, /* 0.1.0 */
};
