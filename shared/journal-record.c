/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Journal records: the in-memory record and its text (see journal.h and
 * docs/journal-format.md).
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
 * not match is "corrupt"; either is reported and never acted upon. */
#include "config.h"

#include "journal-internal.h"

#include "buf.h"
#include "log.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define JOURNAL_MAGIC   "migphase-journal"
#define JOURNAL_VERSION 1
#define JOURNAL_HEADER  "migphase-journal 1"
#define CHECKSUM_PREFIX "checksum = "
#define CHECKSUM_DIGITS 16
#define FACT_PREFIX     "fact."
#define DOMAIN_MAX      128
#define FACT_NAME_MAX   64
/* How much of an untrusted value a message quotes. */
#define SHOWN_MAX 64
/* Domain and fact names: what is safe as a file name and in a record line. */
#define NAME_CHARS MP_CHARS_LOWER MP_CHARS_UPPER MP_CHARS_DIGITS "._-"
/* A domain name does not start with '.': no "..", no hidden directory. */
#define DOMAIN_FIRST MP_CHARS_LOWER MP_CHARS_UPPER MP_CHARS_DIGITS "_-"

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

/* The phase named s. */
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

/* Untrusted text quoted in an error message. */
static char *
quote(const char *s, size_t n)
{
    return mp_log_text(s, n, SHOWN_MAX, MP_LOG_VALUE);
}

int
mp_journal_check_domain(const char *domain, struct mp_error **err)
{
    if (!domain || !*domain)
        return mp_error_input(err, EINVAL, "the domain name is empty");
    if (mp_str_is_name(domain, DOMAIN_MAX, DOMAIN_FIRST, NAME_CHARS))
        return 0;
    size_t len = strlen(domain);
    size_t bad = strspn(domain, NAME_CHARS);

    _cleanup_free_ char *shown = quote(domain, len);
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
    _cleanup_free_ char *bad_char = quote(domain + bad, 1);
    return mp_error_input(err, EINVAL,
                          "domain name '%s' contains '%s', which is unsafe in a journal "
                          "directory name (allowed: letters, digits, '.', '_' and '-')",
                          shown, bad_char);
}

/* Fact names: 1-64 of the characters of domain names. */
static bool
fact_name_ok(const char *s)
{
    return mp_str_is_name(s, FACT_NAME_MAX, NULL, NAME_CHARS);
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
    mp_kv_free(record->facts, record->n_facts);
    free(record);
}

const char *
mp_journal_record_get_fact(const struct mp_journal_record *record, const char *key)
{
    return mp_kv_get(record->facts, record->n_facts, key);
}

/* Fact names are constants in driver code, so a bad one is a programming
 * error. */
void
mp_journal_record_set_fact(struct mp_journal_record *record, const char *key, const char *value)
{
    assert(key && fact_name_ok(key));
    mp_kv_set(&record->facts, &record->n_facts, key, value);
}

/* What every record must satisfy, whether we are about to write it or have
 * just read it: a record we commit must always load again. */
int
journal_record_check(const struct mp_journal_record *record, const char *what, int errnum,
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
        if (!fact->key || !fact_name_ok(fact->key) || !fact->value)
            return mp_error_set(err, errnum, "%s has a malformed fact", what);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(record->facts[j].key, fact->key) == 0)
                return mp_error_set(err, errnum, "%s has fact %s twice", what, fact->key);
        }
    }
    return 0;
}

/* ---- text -------------------------------------------------------------- */

/* A value as the record holds it: '%', control characters and DEL as %XX. */
static void
add_escaped(struct mp_buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '%' || *p < 0x20 || *p == 0x7f)
            mp_buf_printf(b, "%%%02X", *p);
        else
            mp_buf_add(b, p, 1);
    }
}

/* One "key = value" line. */
static void
add_line(struct mp_buf *b, const char *key, const char *value)
{
    mp_buf_add_str(b, key);
    mp_buf_add_str(b, " = ");
    add_escaped(b, value);
    mp_buf_add_str(b, "\n");
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
    _cleanup_buf_ struct mp_buf t = { 0 };
    const char *role = mp_role_name(record->role);
    const char *step = mp_step_name(record->step);
    const char *phase = mp_journal_phase_name(record->phase);
    const char *outcome = mp_outcome_name(record->outcome);
    assert(role && step && phase && outcome);

    mp_buf_add_str(&t, JOURNAL_HEADER "\n");
    /* A missing string is left out: parsing then names what is missing. */
    if (record->migration_id)
        add_line(&t, key_names[KEY_MIGRATION_ID], record->migration_id);
    if (record->domain)
        add_line(&t, key_names[KEY_DOMAIN], record->domain);
    if (record->uuid)
        add_line(&t, key_names[KEY_UUID], record->uuid);
    if (record->driver)
        add_line(&t, key_names[KEY_DRIVER], record->driver);
    add_line(&t, key_names[KEY_ROLE], role);
    add_line(&t, key_names[KEY_STEP], step);
    add_line(&t, key_names[KEY_PHASE], phase);
    add_line(&t, key_names[KEY_OUTCOME], outcome);
    add_line(&t, key_names[KEY_CLOSED], record->closed ? "yes" : "no");
    if (record->message)
        add_line(&t, key_names[KEY_MESSAGE], record->message);
    char number[32];
    snprintf(number, sizeof(number), "%" PRIu64, record->updated_us);
    add_line(&t, key_names[KEY_UPDATED_US], number);
    for (size_t i = 0; i < record->n_facts; i++) {
        mp_buf_add_str(&t, FACT_PREFIX);
        add_line(&t, record->facts[i].key, record->facts[i].value);
    }
    mp_buf_printf(&t, CHECKSUM_PREFIX "%016" PRIx64 "\n", checksum(t.data, t.len));
    return mp_buf_steal(&t, NULL);
}

/* The value of a hex digit, or -1. */
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

/* Store the value of one of the fixed keys (taking value) in the record. */
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
        _cleanup_free_ char *shown = quote(value, strlen(value));
        return mp_error_set(err, EBADMSG, "%s, line %u: '%s' is not a valid %s", what, line, shown,
                            key_names[key]);
    }
    return 0;
}

/* One "key = value" line of the body: a fact or a fixed key, each once. */
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
        _cleanup_free_ char *key = xstrndup(p + strlen(FACT_PREFIX), key_len - strlen(FACT_PREFIX));
        if (!fact_name_ok(key))
            return mp_error_set(err, EBADMSG,
                                "%s, line %u: fact names are 1-%d letters, digits, '.', '_' "
                                "or '-'",
                                what, line, FACT_NAME_MAX);
        if (mp_journal_record_get_fact(record, key))
            return mp_error_set(err, EBADMSG, "%s, line %u: fact %s appears twice", what, line,
                                key);
        mp_journal_record_set_fact(record, key, value);
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
    _cleanup_free_ char *shown = quote(p, key_len);
    return mp_error_set(err, EBADMSG, "%s, line %u: unknown key '%s'", what, line, shown);
}

/* The checksum is verified before anything else is looked at: a record that
 * fails it is not read any further, let alone trusted. */
int
journal_record_parse(const char *buf, size_t len, const char *what, struct mp_journal_record **out,
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
                quote(p + strlen(JOURNAL_MAGIC " "), first_len - strlen(JOURNAL_MAGIC " "));
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
    int r = journal_record_check(record, what, EBADMSG, err);
    if (r < 0)
        return r;
    *out = steal_ptr(&record);
    return 0;
}

int
mp_journal_record_parse(const char *buf, size_t len, struct mp_journal_record **out,
                        struct mp_error **err)
{
    return journal_record_parse(buf, len, "journal record", out, err);
}
