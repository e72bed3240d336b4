/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The per-host journal: for each domain and role, the step reached, whether
 * its side effects are done, and the cookies received and sent, so that any
 * interrupted step can be recovered by hand.
 *
 * Layout under the state directory (default $(localstatedir)/lib/migphase):
 *   <state>/<role>/<domain>/record       the current record (key = value text,
 *                                         ends with a checksum line)
 *   <state>/<role>/<domain>/lock         flock()ed while a helper works on it
 *   <state>/<role>/<domain>/<step>-in.xml, <step>-out.xml   cookies */
#pragma once

#include "cookie.h"
#include "error.h"
#include "kv.h"
#include "protocol.h"

#include <stdint.h>

/* Under the configured localstatedir: /var/lib/migphase in packages. */
#define MP_JOURNAL_DEFAULT_STATE_DIR MP_LOCALSTATEDIR "/lib/migphase"
#define MP_JOURNAL_MAX_RECORD_SIZE   (64 * 1024)

/* Where a step stands. STARTED is written before its first side effect,
 * DONE or FAILED after its last. */
enum mp_journal_phase {
    MP_PHASE_STARTED,
    MP_PHASE_DONE,
    MP_PHASE_FAILED,
};

struct mp_journal_record {
    char *migration_id;
    char *domain;
    char *uuid;
    char *driver;
    enum mp_role role;
    enum mp_step step; /* the last step this host started */
    enum mp_journal_phase phase;
    enum mp_outcome outcome; /* that step's outcome once concluded */
    bool closed;             /* the migration is over on this host: nothing pending */
    char *message;           /* last error or note, may be NULL */
    uint64_t updated_us;     /* wall clock of the last commit */
    /* Driver facts needed to find the VM again (qmp socket, pid, uri...),
     * named in shared/facts.h or a driver's header, in insertion order. */
    struct mp_kv *facts;
    size_t n_facts;
};

struct mp_journal;

/* Validate a domain name for use as a path component: 1-128 characters of
 * letters, digits, '.', '_', '-' and not starting with '.'; -EINVAL otherwise. */
int mp_journal_check_domain(const char *domain, struct mp_error **err);

/* Open (creating directories as needed, mode 0700) the journal of a domain in
 * a role and take its lock without waiting. Another helper holding it fails
 * with -EBUSY. */
int mp_journal_open(const char *state_dir, const char *domain, enum mp_role role,
                    struct mp_journal **out, struct mp_error **err);
void mp_journal_close(struct mp_journal *journal);
static inline void
mp_journal_closep(struct mp_journal **j)
{
    mp_journal_close(*j);
}
#define _cleanup_journal_ _cleanup_(mp_journal_closep)

/* Load the current record. -ENOENT when there is none; a torn or corrupt
 * record fails with -EBADMSG and a message that names the file. */
int mp_journal_load(struct mp_journal *journal, struct mp_journal_record **out,
                    struct mp_error **err);
/* Read the current record of a journal without its lock, as one that
 * another helper holds: rename makes it whole, old or new. Failures as
 * mp_journal_load's. */
int mp_journal_peek(const char *state_dir, const char *domain, enum mp_role role,
                    struct mp_journal_record **out, struct mp_error **err);
/* Replace the record atomically (temp file, fsync, rename, fsync dir),
 * together with the cookies saved since the last commit. Sets updated_us. */
int mp_journal_commit(struct mp_journal *journal, struct mp_journal_record *record,
                      struct mp_error **err);
/* Store or fetch a cookie of a step ("in" is what the step read, "out" what it
 * wrote). A stored cookie joins the journal with the next mp_journal_commit,
 * which writes it and the record in one durable batch; until then it cannot
 * be fetched, and closing the journal drops it. Fetching a missing cookie
 * fails with -ENOENT. */
int mp_journal_save_cookie(struct mp_journal *journal, enum mp_step step, bool out, const char *xml,
                           size_t len, struct mp_error **err);
int mp_journal_load_cookie(const struct mp_journal *journal, enum mp_step step, bool out,
                           char **xml, size_t *len, struct mp_error **err);
/* The path of a file in this journal's directory (VM pid and log files live
 * there too), newly allocated. With no journal (prepare --check, which opens
 * none) the directory is written JOURNAL-DIR. */
char *mp_journal_path(const struct mp_journal *journal, const char *name);
/* Remove the record and cookies of this domain and role. */
int mp_journal_remove(struct mp_journal *journal, struct mp_error **err);

/* One journal found by mp_journal_list. Exactly one of record and error is set. */
struct mp_journal_entry {
    enum mp_role role;
    char *domain;
    struct mp_journal_record *record;
    struct mp_error *error; /* torn or corrupt record: reported, never trusted */
};
/* List every journal under a state directory without taking locks (readers
 * only see whole records thanks to rename). A missing state directory is an
 * empty list. */
int mp_journal_list(const char *state_dir, struct mp_journal_entry **out, size_t *n,
                    struct mp_error **err);
void mp_journal_entries_free(struct mp_journal_entry *entries, size_t n);

/* Record (de)serialization; parse is the entry point of the journal fuzz
 * target. Malformed input fails with -EBADMSG. */
int mp_journal_record_parse(const char *buf, size_t len, struct mp_journal_record **out,
                            struct mp_error **err);
char *mp_journal_record_format(const struct mp_journal_record *record);
struct mp_journal_record *mp_journal_record_new(void);
void mp_journal_record_free(struct mp_journal_record *record);
static inline void
mp_journal_record_freep(struct mp_journal_record **r)
{
    mp_journal_record_free(*r);
}
#define _cleanup_record_ _cleanup_(mp_journal_record_freep)
const char *mp_journal_record_get_fact(const struct mp_journal_record *record, const char *key);
void mp_journal_record_set_fact(struct mp_journal_record *record, const char *key,
                                const char *value);
const char *mp_journal_phase_name(enum mp_journal_phase phase);
