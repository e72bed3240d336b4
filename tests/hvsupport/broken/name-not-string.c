/* The name must be a literal the generator can read. */
const struct mp_driver mp_alpha_driver = {
    .name = ALPHA_NAME,
    .begin = alpha_begin, /* 0.1.0 */
};
