/* A driver the matrix could not label. */
const struct mp_driver mp_alpha_driver = {
    .begin = alpha_begin, /* 0.1.0 */
};
