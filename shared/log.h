/* Leveled logging to standard error, prefixed with the program's name. */
#pragma once

#include "util.h"

enum mp_log_level {
    MP_LOG_ERROR,
    MP_LOG_WARNING,
    MP_LOG_INFO,
    MP_LOG_DEBUG,
};

/* Set the name printed before every line ("migphase-prepare"). */
void mp_log_init(const char *progname);
const char *mp_log_progname(void);
void mp_log_set_level(enum mp_log_level level);
enum mp_log_level mp_log_get_level(void);
/* Parse "error", "warning", "info" or "debug". Returns -EINVAL otherwise. */
int mp_log_level_parse(const char *s, enum mp_log_level *out);

void mp_log(enum mp_log_level level, const char *fmt, ...) _printf_(2, 3);
#define mp_debug(...) mp_log(MP_LOG_DEBUG, __VA_ARGS__)
#define mp_info(...)  mp_log(MP_LOG_INFO, __VA_ARGS__)
#define mp_warn(...)  mp_log(MP_LOG_WARNING, __VA_ARGS__)
