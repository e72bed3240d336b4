/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The key/value list: named strings kept in insertion order, each key at
 * most once. A cookie's driver data and a journal record's facts are both
 * one. The array and its count are the owner's fields; these functions keep
 * them in step. */
#pragma once

#include <stddef.h>

struct mp_kv {
    char *key;
    char *value;
};

/* The value of key, or NULL. */
const char *mp_kv_get(const struct mp_kv *kv, size_t n, const char *key);
/* Set key to a copy of value, in place if it is there, else at the end. A
 * NULL value removes the key; the others keep their order. */
void mp_kv_set(struct mp_kv **kv, size_t *n, const char *key, const char *value);
/* A deep copy of n entries (an array even when n is 0). */
struct mp_kv *mp_kv_copy(const struct mp_kv *kv, size_t n);
/* Free n entries and the array. */
void mp_kv_free(struct mp_kv *kv, size_t n);
