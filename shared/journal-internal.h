/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the journal's files (journal.c) need of its records
 * (journal-record.c); nothing outside shared/journal*.c uses it. */
#pragma once

#include "journal.h"

/* Parse a record; what names it in messages ("journal record <path>").
 * Malformed input fails with -EBADMSG. */
int journal_record_parse(const char *buf, size_t len, const char *what,
                         struct mp_journal_record **out, struct mp_error **err);
/* What every record must satisfy, whether about to be written or just read:
 * a record we commit must always load again. Fails with -errnum. */
int journal_record_check(const struct mp_journal_record *record, const char *what, int errnum,
                         struct mp_error **err);
