/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The per-host journal's files: its directory, lock and atomic commits
 * (see journal.h and docs/journal-format.md; records are journal-record.c).
 *
 * On disk, under the state directory:
 *
 *   <state>/<role>/<domain>/            0700, one per domain and role
 *       record                          0600, the current record
 *       lock                            0600, flock()ed by the helper at work
 *       <step>-in.xml, <step>-out.xml   0600, cookies a step read and wrote
 *       .<name>.tmp.<pid>               a write that was interrupted; never read
 *
 * <role> is "source" or "destination"; <domain> passes mp_journal_check_domain,
 * so it can never climb out of the state directory or hide as a dot file.
 *
 * Locking: the lock file is flock()ed with LOCK_EX|LOCK_NB. flock belongs to
 * the open file description, so two opens in one process exclude each other
 * too. mp_journal_remove unlinks the lock file, so after taking the lock, open
 * checks that the file it locked is still the one in a still-linked directory,
 * and starts over otherwise. Readers (mp_journal_list) take no lock: rename
 * guarantees they see a whole record, old or new. */
#include "config.h"

#include "journal-internal.h"

#include "log.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#define RECORD_NAME "record"
#define LOCK_NAME   "lock"
/* A record that keeps vanishing under open() means something else is removing
 * journals in a loop; give up rather than spin. */
#define OPEN_ATTEMPTS 5

/* A file written under a temporary name, waiting for the commit that makes
 * it durable and gives it its name. */
struct staged_file {
    char *name;
    char *tmp;
    int fd;
};

/* A step's cookies (in, out) and the record. */
#define MAX_STAGED 3

struct mp_journal {
    char *dir; /* <state>/<role>/<domain>, for messages and the final rmdir */
    char *domain;
    enum mp_role role;
    int dir_fd;
    int lock_fd;
    struct staged_file staged[MAX_STAGED];
    size_t n_staged;
};

/* ---- files ------------------------------------------------------------- */

/* Read a file of a journal directory. O_NONBLOCK so that a FIFO planted there
 * fails the S_ISREG check instead of hanging migphase-status. */
static int
read_at(int dir_fd, const char *dir, const char *name, size_t max, char **out, size_t *len,
        struct mp_error **err)
{
    _cleanup_close_ int fd =
        openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return mp_error_set_errno(err, errno, "cannot open %s/%s", dir, name);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return mp_error_set_errno(err, errno, "cannot stat %s/%s", dir, name);
    if (!S_ISREG(st.st_mode))
        return mp_error_set(err, EBADMSG, "%s/%s is not a regular file", dir, name);
    int r = mp_read_fd(fd, max, out, len, err);
    if (r < 0)
        return mp_error_prefix(err, "%s/%s", dir, name);
    return 0;
}

/* Read and check the record of a journal directory: it must parse and name
 * the domain and role of the directory it was found in, or it could send
 * recovery after the wrong VM. */
static int
load_record_at(int dir_fd, const char *dir, const char *domain, enum mp_role role,
               struct mp_journal_record **out, struct mp_error **err)
{
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    _cleanup_error_ struct mp_error *read_err = NULL;
    int r = read_at(dir_fd, dir, RECORD_NAME, MP_JOURNAL_MAX_RECORD_SIZE, &buf, &len, &read_err);
    _cleanup_free_ char *what = xasprintf("journal record %s/%s", dir, RECORD_NAME);
    if (r == -ENOENT)
        return mp_error_set(err, ENOENT, "there is no journal record in %s", dir);
    if (r == -EFBIG)
        return mp_error_set(err, EBADMSG, "%s is corrupt (larger than %d bytes)", what,
                            MP_JOURNAL_MAX_RECORD_SIZE);
    if (r < 0) {
        if (err && !*err)
            *err = steal_ptr(&read_err);
        return r;
    }
    _cleanup_record_ struct mp_journal_record *record = NULL;
    r = journal_record_parse(buf, len, what, &record, err);
    if (r < 0)
        return r;
    if (strcmp(record->domain, domain) != 0 || record->role != role)
        return mp_error_set(err, EBADMSG,
                            "%s is about domain %s (%s), not %s (%s): was it copied by hand?", what,
                            record->domain, mp_role_name(record->role), domain, mp_role_name(role));
    *out = steal_ptr(&record);
    return 0;
}

static bool
same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* After flock succeeded: is the lock still the one a newcomer would find?
 * mp_journal_remove unlinks it, and a lock on an unlinked file excludes
 * nobody. */
static bool
lock_is_current(const char *dir, int dir_fd, int lock_fd)
{
    struct stat locked, named, dir_now, dir_named;
    if (fstat(lock_fd, &locked) < 0 || fstatat(dir_fd, LOCK_NAME, &named, AT_SYMLINK_NOFOLLOW) < 0)
        return false;
    if (fstat(dir_fd, &dir_now) < 0 || lstat(dir, &dir_named) < 0)
        return false;
    return same_file(&locked, &named) && same_file(&dir_now, &dir_named);
}

/* The directory of a domain's journal in a role, or NULL (*err set) for a
 * domain name that could climb out of the state directory. */
static char *
journal_dir(const char *state_dir, const char *domain, enum mp_role role, struct mp_error **err)
{
    if (mp_journal_check_domain(domain, err) < 0)
        return NULL;
    const char *role_name = mp_role_name(role);
    assert(role_name);
    return xasprintf("%s/%s/%s", state_dir, role_name, domain);
}

int
mp_journal_open(const char *state_dir, const char *domain, enum mp_role role,
                struct mp_journal **out, struct mp_error **err)
{
    _cleanup_free_ char *dir = journal_dir(state_dir, domain, role, err);
    if (!dir)
        return -EINVAL;
    const char *role_name = mp_role_name(role);
    int r;

    for (int attempt = 1;; attempt++) {
        r = mp_mkdir_p(dir, 0700);
        if (r < 0)
            return mp_error_set_errno(err, -r, "cannot create the journal directory %s", dir);
        /* O_NOFOLLOW: the domain's directory itself must not be a symlink
         * leading the journal elsewhere. */
        _cleanup_close_ int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dir_fd < 0 && errno == ENOENT && attempt < OPEN_ATTEMPTS)
            continue; /* removed between mkdir and open */
        if (dir_fd < 0)
            return mp_error_set_errno(err, errno, "cannot open the journal directory %s", dir);
        _cleanup_close_ int lock_fd =
            openat(dir_fd, LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (lock_fd < 0 && errno == ENOENT && attempt < OPEN_ATTEMPTS)
            continue;
        if (lock_fd < 0)
            return mp_error_set_errno(err, errno, "cannot open %s/%s", dir, LOCK_NAME);
        if (flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
            if (errno == EWOULDBLOCK)
                return mp_error_set(err, EBUSY,
                                    "another migphase helper is working on domain %s (%s) on "
                                    "this host",
                                    domain, role_name);
            return mp_error_set_errno(err, errno, "cannot lock %s/%s", dir, LOCK_NAME);
        }
        if (!lock_is_current(dir, dir_fd, lock_fd)) {
            if (attempt < OPEN_ATTEMPTS)
                continue;
            return mp_error_set(err, EAGAIN,
                                "the journal of domain %s (%s) keeps being removed while "
                                "migphase opens it",
                                domain, role_name);
        }
        struct mp_journal *journal = xzalloc(sizeof(*journal));
        journal->dir = steal_ptr(&dir);
        journal->domain = xstrdup(domain);
        journal->role = role;
        journal->dir_fd = dir_fd;
        journal->lock_fd = lock_fd;
        dir_fd = lock_fd = -1;
        *out = journal;
        return 0;
    }
}

char *
mp_journal_path(const struct mp_journal *journal, const char *name)
{
    if (!journal)
        return xasprintf("JOURNAL-DIR/%s", name);
    return xasprintf("%s/%s", journal->dir, name);
}

/* ---- staged files: one commit makes several files durable ---------------- */

static void
unstage(struct mp_journal *journal, size_t i)
{
    struct staged_file *f = &journal->staged[i];
    close(f->fd);
    (void)unlinkat(journal->dir_fd, f->tmp, 0);
    free(f->name);
    free(f->tmp);
    journal->staged[i] = journal->staged[--journal->n_staged];
}

static void
unstage_all(struct mp_journal *journal)
{
    while (journal->n_staged > 0)
        unstage(journal, journal->n_staged - 1);
}

/* Write a file under a temporary name and start its writeback, so that the
 * commit's fsyncs find its data on the way and one journal commit of the
 * file system carries every staged file. A file staged again under the same
 * name replaces the first. */
static int
stage_file(struct mp_journal *journal, const char *name, const char *buf, size_t len,
           struct mp_error **err)
{
    for (size_t i = 0; i < journal->n_staged; i++) {
        if (strcmp(journal->staged[i].name, name) == 0)
            unstage(journal, i);
    }
    assert(journal->n_staged < MAX_STAGED);
    _cleanup_free_ char *tmp = xasprintf(".%s.tmp.%ld", name, (long)getpid());
    int fd =
        openat(journal->dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return mp_error_set_errno(err, errno, "cannot create %s/%s", journal->dir, tmp);
    int r = mp_write_all(fd, buf, len);
    if (r < 0) {
        close(fd);
        (void)unlinkat(journal->dir_fd, tmp, 0);
        return mp_error_set_errno(err, -r, "cannot write %s/%s", journal->dir, tmp);
    }
    /* Only a head start: the fsync in commit_staged is what counts. */
    (void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    journal->staged[journal->n_staged++] =
        (struct staged_file){ .name = xstrdup(name), .tmp = steal_ptr(&tmp), .fd = fd };
    return 0;
}

/* Make every staged file durable, then give each its name (the record last:
 * it may name what the others hold), then make the names durable. */
static int
commit_staged(struct mp_journal *journal, struct mp_error **err)
{
    int r = 0;
    for (size_t i = 0; r == 0 && i < journal->n_staged; i++) {
        if (fsync(journal->staged[i].fd) < 0)
            r = mp_error_set_errno(err, errno, "cannot write %s/%s", journal->dir,
                                   journal->staged[i].name);
    }
    for (size_t i = 0; r == 0 && i < journal->n_staged; i++) {
        struct staged_file *f = &journal->staged[i];
        if (renameat(journal->dir_fd, f->tmp, journal->dir_fd, f->name) < 0)
            r = mp_error_set_errno(err, errno, "cannot write %s/%s", journal->dir, f->name);
    }
    /* The renamed ones are no longer under their temporary names. */
    unstage_all(journal);
    if (r == 0 && fsync(journal->dir_fd) < 0)
        r = mp_error_set_errno(err, errno, "cannot sync the journal directory %s", journal->dir);
    return r;
}

void
mp_journal_close(struct mp_journal *journal)
{
    if (!journal)
        return;
    /* Staged without a commit: not part of the journal. */
    unstage_all(journal);
    /* Closing the last descriptor of the lock releases it. */
    if (journal->lock_fd >= 0)
        close(journal->lock_fd);
    if (journal->dir_fd >= 0)
        close(journal->dir_fd);
    free(journal->dir);
    free(journal->domain);
    free(journal);
}

int
mp_journal_load(struct mp_journal *journal, struct mp_journal_record **out, struct mp_error **err)
{
    return load_record_at(journal->dir_fd, journal->dir, journal->domain, journal->role, out, err);
}

int
mp_journal_commit(struct mp_journal *journal, struct mp_journal_record *record,
                  struct mp_error **err)
{
    _cleanup_free_ char *what = xasprintf("the journal record of domain %s (%s)", journal->domain,
                                          mp_role_name(journal->role));
    record->updated_us = mp_realtime_us();
    int r = journal_record_check(record, what, EINVAL, err);
    if (r < 0)
        return r;
    if (strcmp(record->domain, journal->domain) != 0 || record->role != journal->role)
        return mp_error_set(err, EINVAL, "%s cannot hold a record of domain %s (%s)", what,
                            record->domain, mp_role_name(record->role));
    _cleanup_free_ char *text = mp_journal_record_format(record);
    size_t len = strlen(text);
    /* Refused here rather than written: a record load would refuse is worse
     * than a failed commit, which leaves the previous record in place. */
    if (len > MP_JOURNAL_MAX_RECORD_SIZE)
        return mp_error_set(err, EFBIG, "%s would take %zu bytes, more than the %d allowed", what,
                            len, MP_JOURNAL_MAX_RECORD_SIZE);
    r = stage_file(journal, RECORD_NAME, text, len, err);
    if (r == 0)
        r = commit_staged(journal, err);
    if (r < 0) {
        unstage_all(journal);
        return mp_error_prefix(err, "committing the journal %s", journal->dir);
    }
    return 0;
}

static char *
cookie_name(enum mp_step step, bool out)
{
    const char *name = mp_step_name(step);
    assert(name);
    return xasprintf("%s-%s.xml", name, out ? "out" : "in");
}

int
mp_journal_save_cookie(struct mp_journal *journal, enum mp_step step, bool out, const char *xml,
                       size_t len, struct mp_error **err)
{
    _cleanup_free_ char *name = cookie_name(step, out);
    if (len > MP_COOKIE_MAX_SIZE)
        return mp_error_set(err, EFBIG, "cookie %s/%s would be larger than %d bytes", journal->dir,
                            name, MP_COOKIE_MAX_SIZE);
    /* Made durable, and given its name, by the commit that follows. */
    int r = stage_file(journal, name, xml, len, err);
    if (r < 0)
        return mp_error_prefix(err, "saving a cookie in the journal %s", journal->dir);
    return 0;
}

int
mp_journal_load_cookie(const struct mp_journal *journal, enum mp_step step, bool out, char **xml,
                       size_t *len, struct mp_error **err)
{
    _cleanup_free_ char *name = cookie_name(step, out);
    return read_at(journal->dir_fd, journal->dir, name, MP_COOKIE_MAX_SIZE, xml, len, err);
}

/* ".record.tmp.1234": what mp_write_file_at leaves behind when killed
 * between creating its temporary file and renaming it. */
static bool
is_temp_name(const char *name)
{
    const char *tmp = strstr(name, ".tmp.");
    if (name[0] != '.' || !tmp || tmp == name || !tmp[5])
        return false;
    for (const char *p = tmp + 5; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
    }
    return true;
}

static int
unlink_ours(struct mp_journal *journal, const char *name, struct mp_error **err)
{
    if (unlinkat(journal->dir_fd, name, 0) < 0 && errno != ENOENT)
        return mp_error_set_errno(err, errno, "cannot remove %s/%s", journal->dir, name);
    return 0;
}

int
mp_journal_remove(struct mp_journal *journal, struct mp_error **err)
{
    unstage_all(journal);
    /* The record goes first: once it is gone nothing is pending, and a crash
     * part way through only leaves files that no one reads. */
    int r = unlink_ours(journal, RECORD_NAME, err);
    if (r < 0)
        return r;
    for (enum mp_step step = 0; step < MP_STEP_COUNT; step++) {
        for (int out = 0; out <= 1; out++) {
            _cleanup_free_ char *name = cookie_name(step, out);
            r = unlink_ours(journal, name, err);
            if (r < 0)
                return r;
        }
    }

    /* A fresh descriptor: fdopendir takes it over and reads from its offset. */
    int fd = openat(journal->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return mp_error_set_errno(err, errno, "cannot read the journal directory %s", journal->dir);
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return mp_error_set_errno(err, errno, "cannot read the journal directory %s", journal->dir);
    }
    struct dirent *de;
    while (r == 0 && (de = readdir(d))) {
        if (is_temp_name(de->d_name))
            r = unlink_ours(journal, de->d_name, err);
    }
    closedir(d);
    if (r < 0)
        return r;

    /* The lock goes last: until then we still exclude other helpers. */
    r = unlink_ours(journal, LOCK_NAME, err);
    if (r < 0)
        return r;
    if (rmdir(journal->dir) < 0) {
        /* Files we did not write (an operator's notes) are left alone, and so
         * is their directory: the journal itself is gone. A newcomer that
         * already recreated the lock keeps the directory too. */
        if (errno == ENOTEMPTY || errno == EEXIST) {
            mp_debug("keeping %s: it holds files migphase did not write", journal->dir);
            return 0;
        }
        if (errno != ENOENT)
            return mp_error_set_errno(err, errno, "cannot remove the journal directory %s",
                                      journal->dir);
    }
    return 0;
}

/* ---- listing ----------------------------------------------------------- */

struct entry_list {
    struct mp_journal_entry *entries;
    size_t n;
};

static struct mp_journal_entry *
entry_add(struct entry_list *list, enum mp_role role, const char *domain)
{
    list->entries = xreallocarray(list->entries, list->n + 1, sizeof(list->entries[0]));
    struct mp_journal_entry *entry = &list->entries[list->n++];
    *entry = (struct mp_journal_entry){ .role = role, .domain = xstrdup(domain) };
    return entry;
}

static int
list_role(int state_fd, const char *state_dir, enum mp_role role, struct entry_list *list,
          struct mp_error **err)
{
    const char *role_name = mp_role_name(role);
    int fd = openat(state_fd, role_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return mp_error_set_errno(err, errno, "cannot open %s/%s", state_dir, role_name);
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return mp_error_set_errno(err, errno, "cannot read %s/%s", state_dir, role_name);
    }
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            int saved = errno;
            closedir(d);
            if (saved)
                return mp_error_set_errno(err, saved, "cannot read %s/%s", state_dir, role_name);
            return 0;
        }
        /* Names we could not have created ("." and "..", temporary or
         * operator files) are not journals. */
        if (mp_journal_check_domain(de->d_name, NULL) < 0)
            continue;
        _cleanup_free_ char *dir = xasprintf("%s/%s/%s", state_dir, role_name, de->d_name);
        _cleanup_close_ int dir_fd =
            openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dir_fd < 0 && (errno == ENOTDIR || errno == ELOOP || errno == ENOENT))
            continue;
        struct mp_error *entry_err = NULL;
        struct mp_journal_record *record = NULL;
        int r;
        if (dir_fd < 0)
            r = mp_error_set_errno(&entry_err, errno, "cannot open the journal directory %s", dir);
        else
            r = load_record_at(dir_fd, dir, de->d_name, role, &record, &entry_err);
        /* No record: the helper stopped before its first commit, which comes
         * before any side effect, or a removal was interrupted. */
        if (r == -ENOENT) {
            mp_error_free(entry_err);
            continue;
        }
        struct mp_journal_entry *entry = entry_add(list, role, de->d_name);
        entry->record = record;
        entry->error = entry_err;
    }
}

static int
entry_compare(const void *a, const void *b)
{
    const struct mp_journal_entry *x = a, *y = b;
    if (x->role != y->role)
        return x->role < y->role ? -1 : 1;
    return strcmp(x->domain, y->domain);
}

int
mp_journal_peek(const char *state_dir, const char *domain, enum mp_role role,
                struct mp_journal_record **out, struct mp_error **err)
{
    _cleanup_free_ char *dir = journal_dir(state_dir, domain, role, err);
    if (!dir)
        return -EINVAL;
    _cleanup_close_ int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (dir_fd < 0)
        return mp_error_set_errno(err, errno, "cannot open the journal directory %s", dir);
    return load_record_at(dir_fd, dir, domain, role, out, err);
}

int
mp_journal_list(const char *state_dir, struct mp_journal_entry **out, size_t *n,
                struct mp_error **err)
{
    *out = NULL;
    *n = 0;
    _cleanup_close_ int state_fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (state_fd < 0) {
        if (errno == ENOENT)
            return 0;
        return mp_error_set_errno(err, errno, "cannot open the state directory %s", state_dir);
    }
    struct entry_list list = { 0 };
    static const enum mp_role roles[] = { MP_ROLE_SOURCE, MP_ROLE_DESTINATION };
    for (size_t i = 0; i < ARRAY_SIZE(roles); i++) {
        int r = list_role(state_fd, state_dir, roles[i], &list, err);
        if (r < 0) {
            mp_journal_entries_free(list.entries, list.n);
            return r;
        }
    }
    /* readdir order is arbitrary; an operator compares runs of migphase-status. */
    if (list.n > 1)
        qsort(list.entries, list.n, sizeof(list.entries[0]), entry_compare);
    *out = list.entries;
    *n = list.n;
    return 0;
}

void
mp_journal_entries_free(struct mp_journal_entry *entries, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(entries[i].domain);
        mp_journal_record_free(entries[i].record);
        mp_error_free(entries[i].error);
    }
    free(entries);
}
