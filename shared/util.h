/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small memory, file and string utilities shared by every module. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#define _cleanup_(f)   __attribute__((cleanup(f)))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_     __attribute__((noreturn))
#define _unused_       __attribute__((unused))
#define ARRAY_SIZE(a)  (sizeof(a) / sizeof((a)[0]))

/* Take ownership out of a cleanup variable: returns *pp and clears it. */
#define steal_ptr(pp)                                                                              \
    ({                                                                                             \
        __typeof__(*(pp)) _p = *(pp);                                                              \
        *(pp) = NULL;                                                                              \
        _p;                                                                                        \
    })

static inline void
freep(void *p)
{
    free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void
closep(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

/* Out of memory is not an error we can recover from: these abort. */
void *xmalloc(size_t size);
void *xzalloc(size_t size);
void *xrealloc(void *p, size_t size);
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) _printf_(1, 2);
char *xvasprintf(const char *fmt, va_list ap) _printf_(1, 0);

/* Free a NULL-terminated array of strings and the array itself. */
void mp_strv_free(char **strv);
static inline void
mp_strv_freep(char ***p)
{
    mp_strv_free(*p);
}
#define _cleanup_strv_ _cleanup_(mp_strv_freep)
size_t mp_strv_length(char *const *strv);
/* Append a copy of s to a NULL-terminated array (which may be NULL). */
char **mp_strv_append(char **strv, const char *s);
char **mp_strv_copy(char *const *strv);

bool mp_streq0(const char *a, const char *b);

/* Character sets for mp_str_is_name. */
#define MP_CHARS_LOWER  "abcdefghijklmnopqrstuvwxyz"
#define MP_CHARS_UPPER  "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define MP_CHARS_DIGITS "0123456789"
/* Whether s is a name: 1 to max characters from chars, the first one from
 * first (NULL: from chars too). The one check behind domain, fact, hook and
 * feature names, each with its own sets. */
bool mp_str_is_name(const char *s, size_t max, const char *first, const char *chars);
/* Decode the UTF-8 character at s (at most len bytes, len > 0) into *ch and
 * return its length, or -1 when s does not start with a well-formed sequence
 * (a stray or missing continuation byte, an overlong form). Surrogates and
 * values above U+10FFFF decode: what is allowed is the caller's to say. */
int mp_utf8_decode(const char *s, size_t len, uint32_t *ch);

/* FNV-1a, 64 bits, continued from h (start with MP_FNV1A64_INIT): no table,
 * a few lines, and any single changed byte changes the sum. It guards
 * against accidents, not attackers. */
#define MP_FNV1A64_INIT UINT64_C(0xcbf29ce484222325)
uint64_t mp_fnv1a64(uint64_t h, const void *buf, size_t len);
bool mp_str_has_prefix(const char *s, const char *prefix);

struct mp_error;

/* Read the whole of fd into a NUL-terminated buffer. More than max bytes
 * fails with -EFBIG (the caller decides what "too big" means). */
int mp_read_fd(int fd, size_t max, char **out, size_t *len, struct mp_error **err);
/* Same for a path, or standard input when path is "-". */
int mp_read_file(const char *path, size_t max, char **out, size_t *len, struct mp_error **err);
/* The last non-empty line of a text file (a log: what a dead process said
 * last), or a copy of fallback when there is none (or path is NULL). */
char *mp_file_last_line(const char *path, const char *fallback);
/* Write all of buf to fd, retrying on short writes and EINTR. */
int mp_write_all(int fd, const void *buf, size_t len);
/* Write buf to path (or standard output for "-"). A regular file is replaced
 * atomically: written to a temporary file, fsynced, renamed, directory fsynced. */
int mp_write_file(const char *path, const void *buf, size_t len, struct mp_error **err);
/* The same for a file only its owner reads (mode 0600), or with a group
 * name its group too (0640): cookies. */
int mp_write_file_private(const char *path, const void *buf, size_t len, const char *group,
                          struct mp_error **err);
/* Same as mp_write_file for a file named relative to an open directory. */
int mp_write_file_at(int dirfd, const char *name, const void *buf, size_t len, mode_t mode,
                     struct mp_error **err);
/* Create a directory and its parents (mode for the ones created). */
int mp_mkdir_p(const char *path, mode_t mode);

/* Parse an unsigned decimal integer that must use the whole string. */
int mp_parse_u64(const char *s, uint64_t *out);

/* Sleep for ms milliseconds (a signal may end it early: callers loop). */
void mp_sleep_ms(unsigned ms);
/* Monotonic clock in milliseconds. */
uint64_t mp_now_ms(void);
/* Wall clock in microseconds since the epoch. */
uint64_t mp_realtime_us(void);

/* "tcp:HOST:PORT", HOST in brackets when it is an IPv6 address. */
char *mp_tcp_uri(const char *host, unsigned port);
/* The URI a source sends the stream to, for a destination that listens on
 * listen_addr:port: this host's name (own_name) in place of an address that
 * means every address. */
char *mp_stream_uri(const char *listen_addr, const char *own_name, unsigned port);
/* This host's name and a stable identity (/etc/machine-id, else hostname). */
char *mp_host_name(void);
char *mp_host_id(void);
/* A fresh random UUID string (36 characters). */
char *mp_uuid_new(void);
