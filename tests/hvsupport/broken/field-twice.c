/* The same entry twice: C keeps the last one silently. */
const struct mp_driver mp_alpha_driver = {
    .name = "alpha",
    .begin = alpha_begin,     /* 0.1.0 */
    .prepare = alpha_prepare, /* 0.1.0 */
    .begin = alpha_begin_v2,  /* 0.2.0 */
};
