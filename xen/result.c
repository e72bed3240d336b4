/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The receiver's result file: how the incoming stream ended, for Prepare
 * (which port), Finish (which domain, or why not) and migphase-status. The
 * receiver must not take the journal's lock, which Prepare holds while it
 * starts it, so it reports in a file of its own in the journal directory:
 *
 *   state = restored
 *   port = 49152
 *   domid = 7
 *   message = text on one line
 *   migration = 5c1f...
 *   pid = 1234
 *   pid-start = 56789
 *
 * The state comes first: the test bed reads that line alone. */
#include "config.h"

#include "xen-internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const state_names[] = {
    [XEN_RECEIVER_STARTING] = "starting",   [XEN_RECEIVER_LISTENING] = "listening",
    [XEN_RECEIVER_RECEIVING] = "receiving", [XEN_RECEIVER_RESTORED] = "restored",
    [XEN_RECEIVER_FAILED] = "failed",
};

const char *
xen_receiver_state_name(enum xen_receiver_state state)
{
    if ((unsigned)state >= ARRAY_SIZE(state_names))
        return "unknown";
    return state_names[state];
}

void
xen_result_clear(struct xen_result *r)
{
    free(r->message);
    free(r->migration_id);
    memset(r, 0, sizeof(*r));
}

int
xen_result_write(const char *path, const struct xen_result *r, struct mp_error **err)
{
    _cleanup_free_ char *message = xstrdup(r->message ? r->message : "");
    for (char *p = message; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    _cleanup_free_ char *text = xasprintf(
        "state = %s\nport = %u\ndomid = %u\nmessage = %s\nmigration = %s\npid = %ld\n"
        "pid-start = %llu\n",
        xen_receiver_state_name(r->state), r->port, r->domid, message,
        r->migration_id ? r->migration_id : "", (long)r->pid, (unsigned long long)r->pid_start);
    return mp_write_file(path, text, strlen(text), err);
}

static int
parse_line(struct xen_result *r, const char *key, const char *value)
{
    uint64_t v;
    if (strcmp(key, "state") == 0) {
        for (size_t i = 0; i < ARRAY_SIZE(state_names); i++) {
            if (strcmp(value, state_names[i]) == 0) {
                r->state = (enum xen_receiver_state)i;
                return 0;
            }
        }
        return -EBADMSG;
    }
    if (strcmp(key, "port") == 0) {
        if (mp_parse_u64(value, &v) < 0 || v > UINT16_MAX)
            return -EBADMSG;
        r->port = (uint16_t)v;
    } else if (strcmp(key, "domid") == 0) {
        if (mp_parse_u64(value, &v) < 0 || v >= UINT32_MAX)
            return -EBADMSG;
        r->domid = (uint32_t)v;
    } else if (strcmp(key, "message") == 0) {
        free(r->message);
        r->message = *value ? xstrdup(value) : NULL;
    } else if (strcmp(key, "migration") == 0) {
        free(r->migration_id);
        r->migration_id = *value ? xstrdup(value) : NULL;
    } else if (strcmp(key, "pid") == 0) {
        if (mp_parse_u64(value, &v) < 0 || v > INT32_MAX)
            return -EBADMSG;
        r->pid = (pid_t)v;
    } else if (strcmp(key, "pid-start") == 0) {
        if (mp_parse_u64(value, &v) < 0)
            return -EBADMSG;
        r->pid_start = v;
    }
    /* Unknown keys are left to newer receivers. */
    return 0;
}

int
xen_result_read(const char *path, struct xen_result *r, struct mp_error **err)
{
    memset(r, 0, sizeof(*r));
    _cleanup_free_ char *text = NULL;
    struct mp_error *read_err = NULL;
    int ret = mp_read_file(path, 64 * 1024, &text, NULL, &read_err);
    if (ret == -ENOENT) {
        mp_error_free(read_err);
        r->state = XEN_RECEIVER_STARTING;
        return 0;
    }
    if (ret < 0) {
        if (!err) {
            mp_error_free(read_err);
            return ret;
        }
        *err = read_err;
        return mp_error_prefix(err, "reading the receiver's result");
    }
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *eq = strstr(line, " = ");
        if (!eq) {
            xen_result_clear(r);
            return mp_error_set(err, EBADMSG, "%s: malformed line '%s'", path, line);
        }
        *eq = '\0';
        if (parse_line(r, line, eq + 3) < 0) {
            xen_result_clear(r);
            return mp_error_set(err, EBADMSG, "%s: bad value for %s", path, line);
        }
    }
    return 0;
}

char *
xen_result_path_for(const char *state_dir, const char *domain)
{
    /* The journal's layout (shared/journal.h): <state>/<role>/<domain>/. */
    return xasprintf("%s/%s/%s/%s", state_dir, mp_role_name(MP_ROLE_DESTINATION), domain,
                     XEN_RECEIVER_RESULT);
}

/* A result file names a receiver of this migration: pid and start time. */
static bool
names_receiver(const struct xen_result *res, const char *migration_id)
{
    return res->pid > 0 && res->pid_start > 0 && mp_streq0(res->migration_id, migration_id);
}

void
xen_receiver_observe(struct mp_journal_record *record, const struct xen_result *res)
{
    if (!names_receiver(res, record->migration_id))
        return;
    char buf[32];
    snprintf(buf, sizeof(buf), "%ld", (long)res->pid);
    mp_journal_record_set_fact(record, XEN_FACT_RECEIVER_PID, buf);
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)res->pid_start);
    mp_journal_record_set_fact(record, XEN_FACT_RECEIVER_PID_START, buf);
}

enum mp_proc_fate
xen_receiver_fate(const struct mp_journal_record *record, const struct xen_result *res, pid_t *pid)
{
    if (!names_receiver(res, record->migration_id))
        return mp_proc_recorded(record, XEN_FACT_RECEIVER_PID, pid);
    /* Judged by the one rule for recorded processes, on a record of its own
     * (the caller's is not ours to change). */
    _cleanup_record_ struct mp_journal_record *seen = mp_journal_record_new();
    seen->migration_id = xstrdup(record->migration_id);
    xen_receiver_observe(seen, res);
    return mp_proc_recorded(seen, XEN_FACT_RECEIVER_PID, pid);
}
