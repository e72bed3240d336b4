/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The growable buffer every writer of text builds into: always
 * NUL-terminated, grown by doubling, out of memory aborts. */
#pragma once

#include "util.h"

struct mp_buf {
    char *data; /* NULL until something is added */
    size_t len;
    size_t alloc;
};

/* Append n bytes of s / a C string / printf output. */
void mp_buf_add(struct mp_buf *b, const void *s, size_t n);
void mp_buf_add_str(struct mp_buf *b, const char *s);
void mp_buf_printf(struct mp_buf *b, const char *fmt, ...) _printf_(2, 3);
/* Room for n more bytes at data + len (which stays where it is); the caller
 * fills some and calls mp_buf_grew with how many. For read(2). */
char *mp_buf_reserve(struct mp_buf *b, size_t n);
void mp_buf_grew(struct mp_buf *b, size_t n);
/* Forget everything after the first len bytes. */
void mp_buf_truncate(struct mp_buf *b, size_t len);
/* Hand the text over ("" when nothing was added) and empty the buffer. */
char *mp_buf_steal(struct mp_buf *b, size_t *len);
/* Free the text; the buffer is empty and usable again. */
void mp_buf_clear(struct mp_buf *b);
#define _cleanup_buf_ _cleanup_(mp_buf_clear)
