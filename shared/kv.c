/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "kv.h"

#include "util.h"

#include <string.h>

/* The entry of key, or NULL. Keys may be NULL in a list built by hand. */
static struct mp_kv *
find(const struct mp_kv *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (mp_streq0(kv[i].key, key))
            return (struct mp_kv *)&kv[i];
    }
    return NULL;
}

const char *
mp_kv_get(const struct mp_kv *kv, size_t n, const char *key)
{
    const struct mp_kv *e = find(kv, n, key);
    return e ? e->value : NULL;
}

void
mp_kv_set(struct mp_kv **kv, size_t *n, const char *key, const char *value)
{
    struct mp_kv *e = find(*kv, *n, key);
    if (e && value) {
        free(e->value);
        e->value = xstrdup(value);
    } else if (e) {
        free(e->key);
        free(e->value);
        memmove(e, e + 1, (size_t)(*kv + *n - (e + 1)) * sizeof(*e));
        (*n)--;
    } else if (value) {
        *kv = xreallocarray(*kv, *n + 1, sizeof(**kv));
        (*kv)[(*n)++] = (struct mp_kv){ .key = xstrdup(key), .value = xstrdup(value) };
    }
}

struct mp_kv *
mp_kv_copy(const struct mp_kv *kv, size_t n)
{
    struct mp_kv *copy = xreallocarray(NULL, n, sizeof(*copy));
    for (size_t i = 0; i < n; i++)
        copy[i] = (struct mp_kv){ .key = xstrdup(kv[i].key), .value = xstrdup(kv[i].value) };
    return copy;
}

void
mp_kv_free(struct mp_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}
