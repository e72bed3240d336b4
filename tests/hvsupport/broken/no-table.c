/* A driver source without a table, e.g. one listed by mistake. A pointer and
 * a declaration are not tables:
 */
extern const struct mp_driver mp_alpha_driver;
const struct mp_driver *const alpha_drivers[] = { &mp_alpha_driver, NULL };
