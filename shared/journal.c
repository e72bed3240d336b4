/* The per-host journal (see journal.h and docs/journal-format.md).
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
 * A record is text, one "key = value" per line, every line ending in '\n':
 *
 *   migphase-journal 1                   format version; anything else is refused
 *   migration-id = ...                   required, not empty
 *   domain = ...                         required, same as the directory
 *   uuid = ...                           required, not empty
 *   driver = ...                         required, not empty
 *   role = source|destination            required, same as the directory
 *   step = begin|prepare|...             required, a step that runs in that role
 *   phase = started|done|failed          required
 *   outcome = none|success|failed|cancelled   required
 *   closed = yes|no                      required
 *   message = ...                        optional
 *   updated-us = <decimal>               required, wall clock of the commit
 *   fact.<name> = ...                    zero or more, in insertion order
 *   checksum = <16 hex digits>           last line: FNV-1a 64 of every byte before it
 *
 * Keys appear at most once and unknown keys are refused: we own the format and
 * the version line is what lets it evolve. Fact names are 1-64 letters, digits,
 * '.', '_' or '-'. A value is everything after the first " = " up to the end
 * of the line; '%', control characters and DEL are written as %XX (two hex
 * digits), every other byte (UTF-8 included) as is, so any C string round-trips.
 *
 * Why a checksum when writes are atomic (temp file, fsync, rename, fsync dir)?
 * The rename protects against our own crashes, not against a file system
 * that loses data blocks after a power cut, a disk error or a hand edit. A
 * record without its final checksum line is "torn", one whose checksum does
 * not match is "corrupt"; either is reported and never acted upon.
 *
 * Locking: the lock file is flock()ed with LOCK_EX|LOCK_NB. flock belongs to
 * the open file description, so two opens in one process exclude each other
 * too. mp_journal_remove unlinks the lock file, so after taking the lock, open
 * checks that the file it locked is still the one in a still-linked directory,
 * and starts over otherwise. Readers (mp_journal_list) take no lock: rename
 * guarantees they see a whole record, old or new. */
#include "config.h"

#include "journal.h"

#include "log.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#define JOURNAL_MAGIC   "migphase-journal"
#define JOURNAL_VERSION 1
#define JOURNAL_HEADER  "migphase-journal 1"
#define CHECKSUM_PREFIX "checksum = "
#define CHECKSUM_DIGITS 16
#define FACT_PREFIX     "fact."
#define DOMAIN_MAX      128
#define FACT_NAME_MAX   64
#define RECORD_NAME     "record"
#define LOCK_NAME       "lock"
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

static const char *const phase_names[] = {
    [MP_PHASE_STARTED] = "started",
    [MP_PHASE_DONE] = "done",
    [MP_PHASE_FAILED] = "failed",
};

enum record_key {
    KEY_MIGRATION_ID,
    KEY_DOMAIN,
    KEY_UUID,
    KEY_DRIVER,
    KEY_ROLE,
    KEY_STEP,
    KEY_PHASE,
    KEY_OUTCOME,
    KEY_CLOSED,
    KEY_MESSAGE,
    KEY_UPDATED_US,
    KEY_COUNT,
};

static const char *const key_names[] = {
    [KEY_MIGRATION_ID] = "migration-id",
    [KEY_DOMAIN] = "domain",
    [KEY_UUID] = "uuid",
    [KEY_DRIVER] = "driver",
    [KEY_ROLE] = "role",
    [KEY_STEP] = "step",
    [KEY_PHASE] = "phase",
    [KEY_OUTCOME] = "outcome",
    [KEY_CLOSED] = "closed",
    [KEY_MESSAGE] = "message",
    [KEY_UPDATED_US] = "updated-us",
};

#define REQUIRED_KEYS (((1u << KEY_COUNT) - 1) & ~(1u << KEY_MESSAGE))

const char *
mp_journal_phase_name(enum mp_journal_phase phase)
{
    if ((unsigned)phase >= ARRAY_SIZE(phase_names))
        return NULL;
    return phase_names[phase];
}

static int
phase_parse(const char *s, enum mp_journal_phase *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(phase_names); i++) {
        if (strcmp(s, phase_names[i]) == 0) {
            *out = (enum mp_journal_phase)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* Untrusted text quoted in an error message: anything but printable ASCII as
 * \xHH and cut after 64 bytes, so a hostile record cannot garble a terminal. */
static char *
printable(const char *s, size_t n)
{
    size_t shown = n > 64 ? 64 : n;
    char *out = xmalloc(shown * 4 + 4);
    char *p = out;
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            *p++ = (char)c;
        else
            p += sprintf(p, "\\x%02x", c);
    }
    if (shown < n)
        p += sprintf(p, "...");
    *p = '\0';
    return out;
}

static bool
name_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

int
mp_journal_check_domain(const char *domain, struct mp_error **err)
{
    if (!domain || !*domain)
        return mp_error_input(err, EINVAL, "the domain name is empty");
    size_t len = strlen(domain);
    size_t bad = 0;
    while (bad < len && name_char_ok(domain[bad]))
        bad++;
    if (len <= DOMAIN_MAX && domain[0] != '.' && bad == len)
        return 0;

    _cleanup_free_ char *shown = printable(domain, len);
    if (len > DOMAIN_MAX)
        return mp_error_input(err, EINVAL,
                              "domain name '%s' is longer than %d characters, too long to "
                              "name its journal directory",
                              shown, DOMAIN_MAX);
    if (domain[0] == '.')
        return mp_error_input(err, EINVAL,
                              "domain name '%s' starts with '.', which is unsafe as a journal "
                              "directory name",
                              shown);
    _cleanup_free_ char *bad_char = printable(domain + bad, 1);
    return mp_error_input(err, EINVAL,
                          "domain name '%s' contains '%s', which is unsafe in a journal "
                          "directory name (allowed: letters, digits, '.', '_' and '-')",
                          shown, bad_char);
}

static bool
fact_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > FACT_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!name_char_ok(s[i]))
            return false;
    }
    return true;
}

/* ---- records in memory ------------------------------------------------- */

struct mp_journal_record *
mp_journal_record_new(void)
{
    struct mp_journal_record *record = xzalloc(sizeof(*record));
    record->role = MP_ROLE_SOURCE;
    record->step = MP_STEP_BEGIN;
    record->phase = MP_PHASE_STARTED;
    record->outcome = MP_OUTCOME_NONE;
    return record;
}

void
mp_journal_record_free(struct mp_journal_record *record)
{
    if (!record)
        return;
    free(record->migration_id);
    free(record->domain);
    free(record->uuid);
    free(record->driver);
    free(record->message);
    for (size_t i = 0; i < record->n_facts; i++) {
        free(record->facts[i].key);
        free(record->facts[i].value);
    }
    free(record->facts);
    free(record);
}

const char *
mp_journal_record_get_fact(const struct mp_journal_record *record, const char *key)
{
    for (size_t i = 0; i < record->n_facts; i++) {
        if (strcmp(record->facts[i].key, key) == 0)
            return record->facts[i].value;
    }
    return NULL;
}

/* Fact names are constants in driver code, so a bad one is a programming
 * error. A NULL value removes the fact. */
void
mp_journal_record_set_fact(struct mp_journal_record *record, const char *key, const char *value)
{
    assert(key && fact_name_ok(key, strlen(key)));
    for (size_t i = 0; i < record->n_facts; i++) {
        if (strcmp(record->facts[i].key, key) != 0)
            continue;
        free(record->facts[i].value);
        if (value) {
            record->facts[i].value = xstrdup(value);
            return;
        }
        free(record->facts[i].key);
        memmove(&record->facts[i], &record->facts[i + 1],
                (record->n_facts - i - 1) * sizeof(record->facts[0]));
        record->n_facts--;
        return;
    }
    if (!value)
        return;
    record->facts = xreallocarray(record->facts, record->n_facts + 1, sizeof(record->facts[0]));
    record->facts[record->n_facts].key = xstrdup(key);
    record->facts[record->n_facts].value = xstrdup(value);
    record->n_facts++;
}

/* What every record must satisfy, whether we are about to write it or have
 * just read it: a record we commit must always load again. */
static int
record_check(const struct mp_journal_record *record, const char *what, int errnum,
             struct mp_error **err)
{
    const struct {
        const char *key;
        const char *value;
    } strings[] = {
        { key_names[KEY_MIGRATION_ID], record->migration_id },
        { key_names[KEY_UUID], record->uuid },
        { key_names[KEY_DRIVER], record->driver },
    };
    for (size_t i = 0; i < ARRAY_SIZE(strings); i++) {
        if (!strings[i].value || !*strings[i].value)
            return mp_error_set(err, errnum, "%s has an empty %s", what, strings[i].key);
    }
    _cleanup_error_ struct mp_error *domain_err = NULL;
    if (mp_journal_check_domain(record->domain, &domain_err) < 0)
        return mp_error_set(err, errnum, "%s: %s", what, domain_err->message);
    if (!mp_role_name(record->role) || !mp_step_name(record->step) ||
        !mp_journal_phase_name(record->phase) || !mp_outcome_name(record->outcome))
        return mp_error_set(err, errnum, "%s has a role, step, phase or outcome out of range",
                            what);
    /* Recovery reads the step as "what this host was doing": a step that
     * never runs in this role would send it down the wrong path. */
    if (mp_step_role(record->step) != record->role)
        return mp_error_set(err, errnum, "%s says step %s on the %s, where it never runs", what,
                            mp_step_name(record->step), mp_role_name(record->role));
    for (size_t i = 0; i < record->n_facts; i++) {
        const struct mp_kv *fact = &record->facts[i];
        if (!fact->key || !fact_name_ok(fact->key, strlen(fact->key)) || !fact->value)
            return mp_error_set(err, errnum, "%s has a malformed fact", what);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(record->facts[j].key, fact->key) == 0)
                return mp_error_set(err, errnum, "%s has fact %s twice", what, fact->key);
        }
    }
    return 0;
}

/* ---- text -------------------------------------------------------------- */

struct text {
    char *s;
    size_t len;
    size_t alloc;
};

static void
text_add(struct text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->alloc) {
        t->alloc = (t->len + n + 1) * 2;
        t->s = xrealloc(t->s, t->alloc);
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = '\0';
}

static void
text_add_str(struct text *t, const char *s)
{
    text_add(t, s, strlen(s));
}

static void
text_add_escaped(struct text *t, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '%' || *p < 0x20 || *p == 0x7f) {
            char esc[4];
            snprintf(esc, sizeof(esc), "%%%02X", *p);
            text_add(t, esc, 3);
        } else {
            text_add(t, (const char *)p, 1);
        }
    }
}

static void
text_add_line(struct text *t, const char *key, const char *value)
{
    text_add_str(t, key);
    text_add_str(t, " = ");
    text_add_escaped(t, value);
    text_add_str(t, "\n");
}

/* Against accidents, not attackers: whoever can write the record can also
 * fix the sum. */
static uint64_t
checksum(const char *buf, size_t len)
{
    return mp_fnv1a64(MP_FNV1A64_INIT, buf, len);
}

char *
mp_journal_record_format(const struct mp_journal_record *record)
{
    struct text t = { 0 };
    const char *role = mp_role_name(record->role);
    const char *step = mp_step_name(record->step);
    const char *phase = mp_journal_phase_name(record->phase);
    const char *outcome = mp_outcome_name(record->outcome);
    assert(role && step && phase && outcome);

    text_add_str(&t, JOURNAL_HEADER "\n");
    /* A missing string is left out: parsing then names what is missing. */
    if (record->migration_id)
        text_add_line(&t, key_names[KEY_MIGRATION_ID], record->migration_id);
    if (record->domain)
        text_add_line(&t, key_names[KEY_DOMAIN], record->domain);
    if (record->uuid)
        text_add_line(&t, key_names[KEY_UUID], record->uuid);
    if (record->driver)
        text_add_line(&t, key_names[KEY_DRIVER], record->driver);
    text_add_line(&t, key_names[KEY_ROLE], role);
    text_add_line(&t, key_names[KEY_STEP], step);
    text_add_line(&t, key_names[KEY_PHASE], phase);
    text_add_line(&t, key_names[KEY_OUTCOME], outcome);
    text_add_line(&t, key_names[KEY_CLOSED], record->closed ? "yes" : "no");
    if (record->message)
        text_add_line(&t, key_names[KEY_MESSAGE], record->message);
    char number[32];
    snprintf(number, sizeof(number), "%" PRIu64, record->updated_us);
    text_add_line(&t, key_names[KEY_UPDATED_US], number);
    for (size_t i = 0; i < record->n_facts; i++) {
        text_add_str(&t, FACT_PREFIX);
        text_add_line(&t, record->facts[i].key, record->facts[i].value);
    }
    char sum[sizeof(CHECKSUM_PREFIX) + CHECKSUM_DIGITS + 2];
    snprintf(sum, sizeof(sum), CHECKSUM_PREFIX "%016" PRIx64 "\n", checksum(t.s, t.len));
    text_add_str(&t, sum);
    return t.s;
}

static int
hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode a raw value. Raw control characters cannot come from us, and %00
 * cannot be held in a C string: both are refused, not skipped. */
static int
unescape(const char *s, size_t n, char **out)
{
    _cleanup_free_ char *value = xmalloc(n + 1);
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return -EINVAL;
        if (c == '%') {
            if (n - i < 3)
                return -EINVAL;
            int hi = hex_digit(s[i + 1]);
            int lo = hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -EINVAL;
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        value[len++] = (char)c;
    }
    value[len] = '\0';
    *out = steal_ptr(&value);
    return 0;
}

static int
parse_key(struct mp_journal_record *record, enum record_key key, char *value, unsigned line,
          const char *what, struct mp_error **err)
{
    _cleanup_free_ char *owned = value;
    int r = 0;
    switch (key) {
    case KEY_MIGRATION_ID:
        record->migration_id = steal_ptr(&owned);
        return 0;
    case KEY_DOMAIN:
        record->domain = steal_ptr(&owned);
        return 0;
    case KEY_UUID:
        record->uuid = steal_ptr(&owned);
        return 0;
    case KEY_DRIVER:
        record->driver = steal_ptr(&owned);
        return 0;
    case KEY_MESSAGE:
        record->message = steal_ptr(&owned);
        return 0;
    case KEY_ROLE:
        r = mp_role_parse(value, &record->role);
        break;
    case KEY_STEP:
        r = mp_step_parse(value, &record->step);
        break;
    case KEY_PHASE:
        r = phase_parse(value, &record->phase);
        break;
    case KEY_OUTCOME:
        r = mp_outcome_parse(value, &record->outcome);
        break;
    case KEY_CLOSED:
        if (strcmp(value, "yes") == 0)
            record->closed = true;
        else if (strcmp(value, "no") == 0)
            record->closed = false;
        else
            r = -EINVAL;
        break;
    case KEY_UPDATED_US:
        r = mp_parse_u64(value, &record->updated_us);
        break;
    case KEY_COUNT:
        assert(!"not a key");
    }
    if (r < 0) {
        _cleanup_free_ char *shown = printable(value, strlen(value));
        return mp_error_set(err, EBADMSG, "%s, line %u: '%s' is not a valid %s", what, line, shown,
                            key_names[key]);
    }
    return 0;
}

static int
parse_line(struct mp_journal_record *record, const char *p, size_t n, unsigned line, unsigned *seen,
           const char *what, struct mp_error **err)
{
    const char *sep = memmem(p, n, " = ", 3);
    if (!sep)
        return mp_error_set(err, EBADMSG, "%s, line %u is not 'key = value'", what, line);
    size_t key_len = (size_t)(sep - p);
    const char *raw = sep + 3;
    size_t raw_len = n - key_len - 3;

    _cleanup_free_ char *value = NULL;
    if (unescape(raw, raw_len, &value) < 0)
        return mp_error_set(err, EBADMSG,
                            "%s, line %u has a control character or a bad %%XX escape", what, line);

    if (key_len > strlen(FACT_PREFIX) && memcmp(p, FACT_PREFIX, strlen(FACT_PREFIX)) == 0) {
        const char *name = p + strlen(FACT_PREFIX);
        size_t name_len = key_len - strlen(FACT_PREFIX);
        if (!fact_name_ok(name, name_len))
            return mp_error_set(err, EBADMSG,
                                "%s, line %u: fact names are 1-%d letters, digits, '.', '_' "
                                "or '-'",
                                what, line, FACT_NAME_MAX);
        _cleanup_free_ char *key = xstrndup(name, name_len);
        if (mp_journal_record_get_fact(record, key))
            return mp_error_set(err, EBADMSG, "%s, line %u: fact %s appears twice", what, line,
                                key);
        record->facts = xreallocarray(record->facts, record->n_facts + 1, sizeof(record->facts[0]));
        record->facts[record->n_facts].key = steal_ptr(&key);
        record->facts[record->n_facts].value = steal_ptr(&value);
        record->n_facts++;
        return 0;
    }

    for (unsigned k = 0; k < KEY_COUNT; k++) {
        if (strlen(key_names[k]) != key_len || memcmp(p, key_names[k], key_len) != 0)
            continue;
        if (*seen & (1u << k))
            return mp_error_set(err, EBADMSG, "%s, line %u: %s appears twice", what, line,
                                key_names[k]);
        *seen |= 1u << k;
        return parse_key(record, (enum record_key)k, steal_ptr(&value), line, what, err);
    }
    _cleanup_free_ char *shown = printable(p, key_len);
    return mp_error_set(err, EBADMSG, "%s, line %u: unknown key '%s'", what, line, shown);
}

/* The checksum is verified before anything else is looked at: a record that
 * fails it is not read any further, let alone trusted. */
static int
record_parse(const char *buf, size_t len, const char *what, struct mp_journal_record **out,
             struct mp_error **err)
{
    if (len > MP_JOURNAL_MAX_RECORD_SIZE)
        return mp_error_set(err, EBADMSG, "%s is corrupt (larger than %d bytes)", what,
                            MP_JOURNAL_MAX_RECORD_SIZE);
    if (len == 0 || buf[len - 1] != '\n')
        return mp_error_set(err, EBADMSG, "%s is torn (no checksum line)", what);
    size_t body_len = len - 1;
    while (body_len > 0 && buf[body_len - 1] != '\n')
        body_len--;
    const char *sum_line = buf + body_len;
    size_t sum_line_len = len - 1 - body_len;
    if (sum_line_len < strlen(CHECKSUM_PREFIX) ||
        memcmp(sum_line, CHECKSUM_PREFIX, strlen(CHECKSUM_PREFIX)) != 0)
        return mp_error_set(err, EBADMSG, "%s is torn (no checksum line)", what);
    if (sum_line_len != strlen(CHECKSUM_PREFIX) + CHECKSUM_DIGITS)
        return mp_error_set(err, EBADMSG, "%s is corrupt (malformed checksum line)", what);
    uint64_t sum = 0;
    for (size_t i = strlen(CHECKSUM_PREFIX); i < sum_line_len; i++) {
        int d = hex_digit(sum_line[i]);
        if (d < 0)
            return mp_error_set(err, EBADMSG, "%s is corrupt (malformed checksum line)", what);
        sum = sum << 4 | (uint64_t)d;
    }
    if (checksum(buf, body_len) != sum)
        return mp_error_set(err, EBADMSG, "%s is corrupt (checksum mismatch)", what);
    if (memchr(buf, '\0', body_len))
        return mp_error_set(err, EBADMSG, "%s is corrupt (it holds a NUL byte)", what);

    /* Every line of the body ends in '\n': the checksum line starts after one. */
    const char *p = buf;
    const char *end = buf + body_len;
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol || (size_t)(eol - p) != strlen(JOURNAL_HEADER) ||
        memcmp(p, JOURNAL_HEADER, strlen(JOURNAL_HEADER)) != 0) {
        size_t first_len = eol ? (size_t)(eol - p) : 0;
        if (first_len > strlen(JOURNAL_MAGIC " ") &&
            memcmp(p, JOURNAL_MAGIC " ", strlen(JOURNAL_MAGIC " ")) == 0) {
            _cleanup_free_ char *version =
                printable(p + strlen(JOURNAL_MAGIC " "), first_len - strlen(JOURNAL_MAGIC " "));
            return mp_error_set(err, EBADMSG,
                                "%s has format version %s; this migphase reads version %d", what,
                                version, JOURNAL_VERSION);
        }
        return mp_error_set(err, EBADMSG, "%s is not a migphase journal record", what);
    }

    _cleanup_record_ struct mp_journal_record *record = mp_journal_record_new();
    unsigned seen = 0;
    unsigned line = 1;
    for (p = eol + 1; p < end; p = eol + 1) {
        line++;
        eol = memchr(p, '\n', (size_t)(end - p));
        int r = parse_line(record, p, (size_t)(eol - p), line, &seen, what, err);
        if (r < 0)
            return r;
    }
    for (unsigned k = 0; k < KEY_COUNT; k++) {
        if ((REQUIRED_KEYS & (1u << k)) && !(seen & (1u << k)))
            return mp_error_set(err, EBADMSG, "%s lacks the required key %s", what, key_names[k]);
    }
    int r = record_check(record, what, EBADMSG, err);
    if (r < 0)
        return r;
    *out = steal_ptr(&record);
    return 0;
}

int
mp_journal_record_parse(const char *buf, size_t len, struct mp_journal_record **out,
                        struct mp_error **err)
{
    return record_parse(buf, len, "journal record", out, err);
}

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
    r = record_parse(buf, len, what, &record, err);
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

int
mp_journal_open(const char *state_dir, const char *domain, enum mp_role role,
                struct mp_journal **out, struct mp_error **err)
{
    int r = mp_journal_check_domain(domain, err);
    if (r < 0)
        return r;
    const char *role_name = mp_role_name(role);
    assert(role_name);
    _cleanup_free_ char *dir = xasprintf("%s/%s/%s", state_dir, role_name, domain);

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
    int r = record_check(record, what, EINVAL, err);
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
mp_journal_load_cookie(struct mp_journal *journal, enum mp_step step, bool out, char **xml,
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
