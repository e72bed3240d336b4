/* SPDX-License-Identifier: LGPL-2.1-or-later */
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

/* How mp_log_text shows untrusted text. In every way, characters that print
 * (UTF-8 included) stay, and bytes that do not (other control characters,
 * C1 controls, bad UTF-8) become \xHH, so the text cannot garble a terminal
 * or forge a line, and is valid UTF-8 that XML can carry. */
enum mp_log_text_how {
    MP_LOG_VALUE, /* a value quoted exactly: nothing trimmed, every control and '\' as \xHH */
    MP_LOG_LINE,  /* another program's words on one line: trimmed, controls as spaces */
    MP_LOG_LINES, /* the same, keeping newlines and tabs */
};
/* The one sanitiser of text for messages and logs: untrusted text (len bytes
 * of s) made safe to show, at most max bytes of it (cut on a character
 * boundary, "..." when cut). Newly allocated. */
char *mp_log_text(const char *s, size_t len, size_t max, enum mp_log_text_how how);

void mp_log(enum mp_log_level level, const char *fmt, ...) _printf_(2, 3);
#define mp_debug(...) mp_log(MP_LOG_DEBUG, __VA_ARGS__)
#define mp_info(...)  mp_log(MP_LOG_INFO, __VA_ARGS__)
#define mp_warn(...)  mp_log(MP_LOG_WARNING, __VA_ARGS__)
