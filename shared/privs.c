/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "privs.h"

#include "log.h"

#include <cap-ng.h>
#include <errno.h>
#include <pwd.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>

static int
resolve_user(const char *user, uid_t *uid, gid_t *gid, struct mp_error **err)
{
    errno = 0;
    struct passwd *pw = getpwnam(user);
    if (!pw)
        return mp_error_input(err, errno ? errno : ENOENT, "unknown user '%s'", user);
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return 0;
}

static int
apply_capabilities(uint64_t keep, uint64_t for_hooks, const char *user, struct mp_error **err)
{
    capng_clear(CAPNG_SELECT_BOTH);
    for (int cap = 0; cap <= CAP_LAST_CAP && cap < 64; cap++) {
        if (keep & (UINT64_C(1) << cap))
            capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_BOUNDING_SET,
                         (unsigned)cap);
        if (for_hooks & (UINT64_C(1) << cap))
            capng_update(CAPNG_ADD, CAPNG_PERMITTED | CAPNG_INHERITABLE | CAPNG_BOUNDING_SET,
                         (unsigned)cap);
    }
    if (user) {
        uid_t uid = 0;
        gid_t gid = 0;
        int r = resolve_user(user, &uid, &gid, err);
        if (r < 0)
            return r;
        /* capng_change_id keeps the capabilities we asked for across setuid
         * and drops supplementary groups, so nothing of root survives. */
        if (capng_change_id((int)uid, (int)gid, CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING) < 0)
            return mp_error_set(err, EPERM, "cannot change to user '%s'", user);
        return 0;
    }
    if (capng_apply(CAPNG_SELECT_BOTH) < 0)
        return mp_error_set(err, EPERM, "cannot drop capabilities");
    return 0;
}

uint64_t
mp_privs_effective(void)
{
    capng_get_caps_process();
    uint64_t mask = 0;
    for (int cap = 0; cap <= CAP_LAST_CAP && cap < 64; cap++)
        if (capng_have_capability(CAPNG_EFFECTIVE, (unsigned)cap))
            mask |= UINT64_C(1) << cap;
    return mask;
}

int
mp_privs_parse(const char *names, uint64_t *mask, struct mp_error **err)
{
    *mask = 0;
    _cleanup_free_ char *copy = xstrdup(names);
    for (char *save = NULL, *tok = strtok_r(copy, ", ", &save); tok;
         tok = strtok_r(NULL, ", ", &save)) {
        const char *name = strncasecmp(tok, "cap_", 4) == 0 ? tok + 4 : tok;
        int cap = capng_name_to_capability(name);
        if (cap < 0 || cap >= 64)
            return mp_error_input(err, EINVAL, "unknown capability '%s'", tok);
        *mask |= UINT64_C(1) << cap;
    }
    return 0;
}

int
mp_privs_drop(uint64_t keep, uint64_t for_hooks, const char *user, struct mp_error **err)
{
    bool privileged = geteuid() == 0 || capng_have_capabilities(CAPNG_SELECT_CAPS) != CAPNG_NONE;
    if (user && !privileged)
        return mp_error_input(err, EPERM, "--user needs the helper to start as root");
    if (privileged) {
        int r = apply_capabilities(keep, for_hooks, user, err);
        if (r < 0)
            return r;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return mp_error_set_errno(err, errno, "cannot set no_new_privs");

    /* Trust nothing: read back what the kernel says we have. */
    uint64_t have = mp_privs_effective();
    if (have & ~keep)
        return mp_error_set(err, EPERM,
                            "capabilities still held after dropping them (0x%llx, wanted 0x%llx)",
                            (unsigned long long)have, (unsigned long long)keep);
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
        return mp_error_set(err, EPERM, "no_new_privs is not set");
    mp_debug("privileges dropped: capabilities 0x%llx%s%s", (unsigned long long)have,
             user ? ", user " : "", user ? user : "");
    return 0;
}
