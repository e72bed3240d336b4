/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "trust.h"

#include "log.h"
#include "sign.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

struct mp_trust {
    struct mp_identity *identity; /* NULL: trust = none */
    const struct mp_options *opts;
};

void
mp_trust_free(struct mp_trust *trust)
{
    if (!trust)
        return;
    mp_identity_free(trust->identity);
    free(trust);
}

/* A file the step will need, or one line that says it is absent and how to
 * make a lab PKI. */
static int
require_file(const char *pki_dir, const char *name, const char *why, struct mp_error **err)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", pki_dir, name);
    if (access(path, R_OK) == 0)
        return 0;
    return mp_error_input(err, ENOKEY,
                          "%s is missing: this host cannot %s without it (create a lab PKI with "
                          "'migphase-pki create DIR HOST...' and set pki-dir to DIR/HOST, or "
                          "set trust = none in migphase.conf for a lab without keys)",
                          path, why);
}

int
mp_trust_check_files(const char *pki_dir, enum mp_step step, struct mp_error **err)
{
    int r = 0;
    if (step != MP_STEP_BEGIN)
        r = require_file(pki_dir, MP_PKI_CA_CERT, "verify cookies", err);
    if (r == 0 && step != MP_STEP_CONFIRM)
        r = require_file(pki_dir, MP_PKI_SERVER_CERT, "sign cookies", err);
    if (r == 0 && step != MP_STEP_CONFIRM)
        r = require_file(pki_dir, MP_PKI_SERVER_KEY, "sign cookies", err);
    return r;
}

int
mp_trust_open(const struct mp_options *opts, enum mp_step step, struct mp_trust **out,
              struct mp_error **err)
{
    _cleanup_free_ struct mp_trust *trust = xzalloc(sizeof(*trust));
    trust->opts = opts;
    if (opts->trust_none) {
        mp_warn("trust = none: cookies are neither signed nor verified; any writer of a "
                "cookie can steer this host");
        *out = steal_ptr(&trust);
        return 0;
    }
    int r = mp_trust_check_files(opts->pki_dir, step, err);
    if (r == 0)
        r = mp_identity_load(opts->pki_dir, &trust->identity, err);
    if (r < 0)
        return r;
    *out = steal_ptr(&trust);
    return 0;
}

void
mp_trusted_bytes_clear(struct mp_trusted_bytes *bytes)
{
    mp_strv_free(bytes->signer);
    *bytes = (struct mp_trusted_bytes){ 0 };
}

int
mp_trust_verify(const struct mp_trust *trust, const char *data, size_t len,
                struct mp_trusted_bytes *out, struct mp_error **err)
{
    *out = (struct mp_trusted_bytes){ .payload = data, .payload_len = len };
    if (!trust->identity)
        return 0;
    struct mp_signature_info info = { 0 };
    int r = mp_identity_verify(trust->identity, data, len, NULL, time(NULL), &info, err);
    if (r < 0)
        return r;
    *out = (struct mp_trusted_bytes){
        .payload = info.payload,
        .payload_len = info.payload_len,
        .is_signed = true,
        .signed_at = info.time,
        .signer = steal_ptr(&info.names),
    };
    mp_signature_info_clear(&info);
    return 0;
}

/* The host that wrote a cookie of this step: its own role's host. */
static const char *
writer_host(const struct mp_cookie *cookie)
{
    return mp_step_role(cookie->step) == MP_ROLE_SOURCE ? cookie->source.hostname
                                                        : cookie->destination.hostname;
}

static bool
signer_is(const struct mp_trusted_bytes *bytes, const char *host)
{
    for (size_t i = 0; bytes->signer && bytes->signer[i]; i++)
        if (strcasecmp(bytes->signer[i], host) == 0)
            return true;
    return false;
}

/* A Begin cookie starts a migration on the destination: an old one replayed
 * must not start another. Cookies for recovery are good at any age. */
static int
check_fresh(const struct mp_trust *trust, const struct mp_trusted_bytes *bytes,
            struct mp_error **err)
{
    time_t now = time(NULL);
    if (bytes->signed_at > now + MP_TRUST_MAX_CLOCK_SKEW_S)
        return mp_error_input(err, EINVAL,
                              "the Begin cookie was signed %lld s in the future: the hosts' "
                              "clocks disagree",
                              (long long)(bytes->signed_at - now));
    uint64_t age = bytes->signed_at < now ? (uint64_t)(now - bytes->signed_at) : 0;
    if (age <= trust->opts->cookie_max_age_s)
        return 0;
    return mp_error_input(err, EINVAL,
                          "the Begin cookie was signed %llu s ago, more than cookie-max-age "
                          "(%llu s): run migphase-begin again",
                          (unsigned long long)age,
                          (unsigned long long)trust->opts->cookie_max_age_s);
}

int
mp_trust_check_writer(const struct mp_trust *trust, const struct mp_trusted_bytes *bytes,
                      const struct mp_cookie *cookie, enum mp_step reader, struct mp_error **err)
{
    if (!bytes->is_signed)
        return 0;
    const char *host = writer_host(cookie);
    if (!host || !signer_is(bytes, host))
        return mp_error_input(err, EPERM,
                              "the %s cookie was signed by %s, not by the host it names as its "
                              "writer (%s)",
                              mp_step_name(cookie->step),
                              bytes->signer && bytes->signer[0] ? bytes->signer[0] : "nobody",
                              host ? host : "none");
    if (reader == MP_STEP_PREPARE && cookie->step == MP_STEP_BEGIN)
        return check_fresh(trust, bytes, err);
    return 0;
}

int
mp_trust_sign(const struct mp_trust *trust, const char *xml, size_t len, char **out,
              size_t *out_len, struct mp_error **err)
{
    if (!trust->identity) {
        *out = xstrndup(xml, len);
        *out_len = len;
        return 0;
    }
    int r = mp_identity_sign(trust->identity, xml, len, time(NULL), out, out_len, err);
    if (r < 0)
        return mp_error_prefix(err, "signing the cookie");
    return 0;
}

void
mp_trust_warm(const struct mp_trust *trust)
{
    static const char sample[] = "<warm-up/>\n";
    /* Also in a step forked from a warm migphase-migrate, with the same
     * identity: a forked process's first check of a signature costs GnuTLS
     * 2 ms more than the next (0.4 ms), and Finish's is on the guest's
     * pause. */
    if (!trust->identity)
        return;
    _cleanup_free_ char *signed_xml = NULL;
    size_t len = 0;
    if (mp_identity_sign(trust->identity, sample, sizeof(sample) - 1, time(NULL), &signed_xml, &len,
                         NULL) < 0)
        return;
    struct mp_signature_info info = { 0 };
    if (mp_identity_verify(trust->identity, signed_xml, len, NULL, time(NULL), &info, NULL) == 0)
        mp_signature_info_clear(&info);
}

void
mp_trust_check_chain_ahead(const struct mp_trust *trust, const char *signed_cookie, size_t len)
{
    if (trust->identity)
        mp_identity_check_chain_ahead(trust->identity, signed_cookie, len, time(NULL));
}
