#include "config.h"

#include "log.h"

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
