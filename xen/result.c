/* The receiver's result file: how the incoming stream ended, for Prepare
 * (which port), Finish (which domain, or why not) and migphase-status. The
 * receiver must not take the journal's lock, which Prepare holds while it
 * starts it, so it reports in a file of its own in the journal directory:
 *
 *   state = restored
 *   port = 49152
 *   domid = 7
 *   message = text on one line
 */
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
    memset(r, 0, sizeof(*r));
}

int
xen_result_write(const char *path, const struct xen_result *r, struct mp_error **err)
{
    _cleanup_free_ char *message = xstrdup(r->message ? r->message : "");
    for (char *p = message; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    _cleanup_free_ char *text =
        xasprintf("state = %s\nport = %u\ndomid = %u\nmessage = %s\n",
                  xen_receiver_state_name(r->state), r->port, r->domid, message);
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
