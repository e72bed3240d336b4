/* Positional initializers: the generator cannot tell which field is which. */
const struct mp_driver mp_alpha_driver = {
    "alpha",
    NULL,
    0,
    alpha_begin, /* 0.1.0 */
};
