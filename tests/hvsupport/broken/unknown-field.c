/* struct mp_driver has no .migrate. */
const struct mp_driver mp_alpha_driver = {
    .name = "alpha",
    .begin = alpha_begin,     /* 0.1.0 */
    .migrate = alpha_migrate, /* 0.1.0 */
};
