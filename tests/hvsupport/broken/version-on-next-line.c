/* The version must end the entry's own line: a comment on the next line
 * explains the entry after it, it does not annotate the one before. */
const struct mp_driver mp_alpha_driver = {
    .name = "alpha",
    .begin = alpha_begin,
    /* 0.1.0 */
};
