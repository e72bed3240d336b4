/* Removed before it was added. */
const struct mp_driver mp_alpha_driver = {
    .name = "alpha",
    .begin = alpha_begin, /* 0.1.0 */
    .confirm = NULL,      /* 0.3.0 - 0.2.0 */
};
