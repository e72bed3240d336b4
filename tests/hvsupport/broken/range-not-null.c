/* A removal range on an entry that is still there. */
const struct mp_driver mp_alpha_driver = {
    .name = "alpha",
    .begin = alpha_begin,     /* 0.1.0 */
    .confirm = alpha_confirm, /* 0.1.0 - 0.3.0 */
};
