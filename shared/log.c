/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "log.h"

#include "buf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *log_progname = "migphase";
static enum mp_log_level log_level = MP_LOG_WARNING;

static const char *const level_names[] = {
    [MP_LOG_ERROR] = "error",
    [MP_LOG_WARNING] = "warning",
    [MP_LOG_INFO] = "info",
    [MP_LOG_DEBUG] = "debug",
};

void
mp_log_init(const char *progname)
{
    const char *slash = strrchr(progname, '/');
    log_progname = slash ? slash + 1 : progname;
}

const char *
mp_log_progname(void)
{
    return log_progname;
}

void
mp_log_set_level(enum mp_log_level level)
{
    log_level = level;
}

enum mp_log_level
mp_log_get_level(void)
{
    return log_level;
}

int
mp_log_level_parse(const char *s, enum mp_log_level *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum mp_log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* Whether character ch (n bytes of UTF-8, or n < 0 for a bad byte) is shown
 * as it is. */
static bool
prints(uint32_t ch, int n, enum mp_log_text_how how)
{
    if (n < 0 || (ch >= 0x7f && ch < 0xa0))
        return false;
    if (ch < 0x20)
        return how == MP_LOG_LINES && (ch == '\n' || ch == '\t');
    if (ch == '\\')
        return how != MP_LOG_VALUE; /* in a value, \xHH must be unambiguous */
    /* Surrogates and the non-characters XML refuses (and no font draws). */
    return ch < 0xd800 || (ch > 0xdfff && ch < 0xfffe) || (ch >= 0x10000 && ch <= 0x10ffff);
}

/* One character of s: as it is, a space, or \xHH for each of its bytes. */
static void
add_char(struct mp_buf *b, const char *s, int n, uint32_t ch, enum mp_log_text_how how)
{
    if (prints(ch, n, how)) {
        mp_buf_add(b, s, (size_t)n);
        return;
    }
    if (how != MP_LOG_VALUE && n == 1) {
        mp_buf_add_str(b, " ");
        return;
    }
    for (int i = 0; i < (n < 0 ? 1 : n); i++)
        mp_buf_printf(b, "\\x%02x", (unsigned char)s[i]);
}

char *
mp_log_text(const char *s, size_t len, size_t max, enum mp_log_text_how how)
{
    /* Around another program's words, blanks and line ends are layout. */
    if (how != MP_LOG_VALUE) {
        while (len > 0 && (unsigned char)s[len - 1] <= ' ')
            len--;
        while (len > 0 && (unsigned char)*s <= ' ') {
            s++;
            len--;
        }
    }
    _cleanup_buf_ struct mp_buf b = { 0 };
    size_t i = 0;
    while (i < len) {
        uint32_t ch = 0;
        int n = mp_utf8_decode(s + i, len - i, &ch);
        size_t used = n < 0 ? 1 : (size_t)n;
        if (i + used > max)
            break;
        add_char(&b, s + i, n, ch, how);
        i += used;
    }
    if (i < len)
        mp_buf_add_str(&b, "...");
    return mp_buf_steal(&b, NULL);
}

void
mp_log(enum mp_log_level level, const char *fmt, ...)
{
    if (level > log_level)
        return;
    int saved_errno = errno;
    /* One write per line so lines of concurrent helpers do not interleave. */
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    _cleanup_free_ char *line =
        level == MP_LOG_ERROR ? xasprintf("%s: %s\n", log_progname, msg)
                              : xasprintf("%s: %s: %s\n", log_progname, level_names[level], msg);
    (void)!mp_write_all(STDERR_FILENO, line, strlen(line));
    errno = saved_errno;
}
