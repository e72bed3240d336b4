/* With duplicate-name-a.c: two tables named "alpha". */
const struct mp_driver mp_other_driver = {
    .name = "alpha",
    .begin = other_begin, /* 0.2.0 */
};
