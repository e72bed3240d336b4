/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "buf.h"

#include <stdio.h>
#include <string.h>

char *
mp_buf_reserve(struct mp_buf *b, size_t n)
{
    if (n >= SIZE_MAX / 2 - b->len)
        abort(); /* no caller comes near: a length gone wrong */
    if (b->len + n + 1 > b->alloc) {
        b->alloc = (b->len + n + 1) * 2;
        b->data = xrealloc(b->data, b->alloc);
        /* Still a string if the caller then adds nothing (an empty read). */
        b->data[b->len] = '\0';
    }
    return b->data + b->len;
}

void
mp_buf_grew(struct mp_buf *b, size_t n)
{
    b->len += n;
    b->data[b->len] = '\0';
}

void
mp_buf_add(struct mp_buf *b, const void *s, size_t n)
{
    memcpy(mp_buf_reserve(b, n), s, n);
    mp_buf_grew(b, n);
}

void
mp_buf_add_str(struct mp_buf *b, const char *s)
{
    mp_buf_add(b, s, strlen(s));
}

void
mp_buf_printf(struct mp_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *s = xvasprintf(fmt, ap);
    va_end(ap);
    mp_buf_add_str(b, s);
}

void
mp_buf_truncate(struct mp_buf *b, size_t len)
{
    if (len >= b->len)
        return;
    b->len = len;
    b->data[len] = '\0';
}

char *
mp_buf_steal(struct mp_buf *b, size_t *len)
{
    char *s = b->data ? b->data : xstrdup("");
    if (len)
        *len = b->len;
    *b = (struct mp_buf){ 0 };
    return s;
}

void
mp_buf_clear(struct mp_buf *b)
{
    free(b->data);
    *b = (struct mp_buf){ 0 };
}
