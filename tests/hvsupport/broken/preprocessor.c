/* A conditional entry: the matrix could not say which build it describes. */
const struct mp_driver mp_alpha_driver = {
    .name = "alpha",
    .begin = alpha_begin, /* 0.1.0 */
#ifdef ALPHA_POSTCOPY
    .perform = alpha_perform, /* 0.2.0 */
#endif
};
