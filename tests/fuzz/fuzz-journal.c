/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target for the journal record parser. Records are read back from disk
 * by privileged helpers, so the parser must never crash or leak, and whatever
 * it accepts must survive a format and parse round trip unchanged: otherwise
 * a commit could write a record that a later load reads differently. */
#include "config.h"

#include "journal.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
records_equal(const struct mp_journal_record *a, const struct mp_journal_record *b)
{
    if (!mp_streq0(a->migration_id, b->migration_id) || !mp_streq0(a->domain, b->domain) ||
        !mp_streq0(a->uuid, b->uuid) || !mp_streq0(a->driver, b->driver) ||
        !mp_streq0(a->message, b->message))
        return false;
    if (a->role != b->role || a->step != b->step || a->phase != b->phase ||
        a->outcome != b->outcome || a->closed != b->closed || a->updated_us != b->updated_us ||
        a->n_facts != b->n_facts)
        return false;
    for (size_t i = 0; i < a->n_facts; i++) {
        if (strcmp(a->facts[i].key, b->facts[i].key) != 0 ||
            strcmp(a->facts[i].value, b->facts[i].value) != 0)
            return false;
    }
    return true;
}

static void
check_round_trip(const char *data, size_t size)
{
    struct mp_journal_record *first = NULL;
    struct mp_error *err = NULL;
    if (mp_journal_record_parse(data, size, &first, &err) < 0) {
        /* A refusal must say why, and must not hand out a half record. */
        if (!err || !err->message || first)
            abort();
        mp_error_free(err);
        return;
    }
    if (err)
        abort();

    char *text = mp_journal_record_format(first);
    struct mp_journal_record *second = NULL;
    if (mp_journal_record_parse(text, strlen(text), &second, &err) < 0)
        abort();
    if (!records_equal(first, second))
        abort();
    /* The format is canonical: formatting the copy gives the same bytes. */
    char *again = mp_journal_record_format(second);
    if (strcmp(text, again) != 0)
        abort();

    free(again);
    free(text);
    mp_journal_record_free(second);
    mp_journal_record_free(first);
}

/* The fuzzer would almost never guess a right checksum, and so never get
 * past it: the input is also tried as a body with a correct checksum line
 * appended (the documented FNV-1a 64, written here independently). */
static char *
seal(const uint8_t *data, size_t size, size_t *sealed_size)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < size; i++) {
        h ^= data[i];
        h *= UINT64_C(0x100000001b3);
    }
    char line[64];
    int n = snprintf(line, sizeof(line), "checksum = %016" PRIx64 "\n", h);
    char *out = xmalloc(size + (size_t)n);
    if (size)
        memcpy(out, data, size);
    memcpy(out + size, line, (size_t)n);
    *sealed_size = size + (size_t)n;
    return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_round_trip((const char *)data, size);
    size_t sealed_size;
    char *sealed = seal(data, size, &sealed_size);
    check_round_trip(sealed, sealed_size);
    free(sealed);
    return 0;
}
