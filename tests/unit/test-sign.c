/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Signed cookies: round trips with each kind of key, every way a signed
 * cookie can be tampered with (each byte, each field, bytes after the
 * trailer, a second trailer), the trust checks (another CA, expiry, the CRL,
 * the signer's name, CA and key-usage rules), the trailer's strict form, and
 * the one-line errors for a PKI directory that lacks a file. Each test makes
 * its own PKI with GnuTLS, in a fresh directory: no external tool. */
#include "config.h"

#include "sign.h"
#include "test-pki.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define DAY (24 * 3600)

static const char xml[] = "<?xml version=\"1.0\"?>\n"
                          "<migphase-cookie version=\"1\" step=\"begin\">\n"
                          "  <migration id=\"m\" driver=\"qemu\"/>\n"
                          "  <domain name=\"vm &amp; co\"/>\n"
                          "</migphase-cookie>\n";

static void
setup(void)
{
    pki_setup("test-sign");
}

static void
teardown(void)
{
    pki_teardown();
}

TestSuite(sign, .init = setup, .fini = teardown, .timeout = 60);

/* ---- Helpers ------------------------------------------------------------- */

static struct mp_identity *
load_ok(const char *dir)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", pki_root, dir);
    struct mp_identity *id = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    int r = mp_identity_load(path, &id, &err);
    cr_assert_eq(r, 0, "loading %s: %s", dir, err ? err->message : "no error set");
    return id;
}

/* An input error with a one-line message containing expect. */
static void
expect_refusal(int r, const struct mp_error *err, const char *expect, const char *what)
{
    cr_assert_lt(r, 0, "%s: accepted (expected '%s')", what, expect);
    cr_assert_not_null(err, "%s: no error set", what);
    cr_expect_eq(r, -err->errnum, "%s: return value and errnum differ", what);
    cr_expect_eq(err->kind, MP_ERR_INPUT, "%s: not an input error: %s", what, err->message);
    cr_expect(strstr(err->message, expect), "%s: message '%s' lacks '%s'", what, err->message,
              expect);
    cr_expect_null(strchr(err->message, '\n'), "%s: message has a newline: '%s'", what,
                   err->message);
}

static void
expect_load_refused(const char *dir, const char *expect)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", pki_root, dir);
    struct mp_identity *id = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    int r = mp_identity_load(path, &id, &err);
    expect_refusal(r, err, expect, dir);
    cr_expect_null(id);
}

static char *
sign_ok(const struct mp_identity *id, size_t *len)
{
    char *out = NULL;
    _cleanup_error_ struct mp_error *err = NULL;
    int r = mp_identity_sign(id, xml, strlen(xml), pki_now, &out, len, &err);
    cr_assert_eq(r, 0, "signing: %s", err ? err->message : "no error set");
    cr_assert_eq(strlen(out), *len);
    return out;
}

/* Sign as host `signer` and return the signed cookie. */
static char *
signed_by(const char *signer, size_t *len)
{
    _cleanup_identity_ struct mp_identity *id = load_ok(signer);
    return sign_ok(id, len);
}

static void
verify_ok(const char *verifier, const char *data, size_t len, const char *expected,
          struct mp_signature_info *info)
{
    _cleanup_identity_ struct mp_identity *id = load_ok(verifier);
    _cleanup_error_ struct mp_error *err = NULL;
    int r = mp_identity_verify(id, data, len, expected, pki_now, info, &err);
    cr_assert_eq(r, 0, "verifying: %s", err ? err->message : "no error set");
}

/* Verification by id must fail with a message containing expect. */
static void
expect_verify_refused(const struct mp_identity *id, const char *data, size_t len,
                      const char *expected, time_t at, const char *expect, const char *what)
{
    struct mp_signature_info info = { 0 };
    _cleanup_error_ struct mp_error *err = NULL;
    int r = mp_identity_verify(id, data, len, expected, at, &info, &err);
    expect_refusal(r, err, expect, what);
    cr_expect_null(info.payload, "%s: info filled on failure", what);
    mp_signature_info_clear(&info);
}

static void
expect_bad(const char *verifier, const char *data, size_t len, const char *expect)
{
    _cleanup_identity_ struct mp_identity *id = load_ok(verifier);
    expect_verify_refused(id, data, len, "hosta", pki_now, expect, expect);
}

/* The signed cookie with its trailer replaced by t's. */
static char *
with_trailer(const char *data, const struct mp_signature_trailer *t, size_t *len)
{
    size_t n = 0;
    _cleanup_free_ char *trailer = mp_signature_trailer_format(t, &n);
    char *out = xasprintf("%.*s%s", (int)t->payload_len, data, trailer);
    *len = t->payload_len + n;
    return out;
}

static void
parse_ok(const char *data, size_t len, struct mp_signature_trailer *t)
{
    _cleanup_error_ struct mp_error *err = NULL;
    int r = mp_signature_parse(data, len, t, &err);
    cr_assert_eq(r, 0, "parsing: %s", err ? err->message : "no error set");
}

/* What the format says a signature covers, computed here from the spec
 * rather than by the module, and signed with key: a trailer that the module
 * itself would never write (a CA signer, a bad key usage). */
static char *
forge(const char *payload, gnutls_x509_privkey_t x509_key, gnutls_x509_crt_t crt, size_t *len)
{
    gnutls_datum_t der = { 0 };
    cr_assert_geq(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der), 0);
    unsigned char digest[32];
    cr_assert_geq(gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, digest), 0);
    char hex[65];
    for (size_t i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    _cleanup_free_ char *fields =
        xasprintf("migphase-signature v=1 time=%" PRId64 " alg=ECDSA-SHA256 cert-sha256=%s",
                  (int64_t)pki_now, hex);
    size_t plen = strlen(payload), flen = strlen(fields);
    _cleanup_free_ unsigned char *msg = xmalloc(plen + 1 + flen);
    memcpy(msg, payload, plen);
    msg[plen] = 0;
    memcpy(msg + plen + 1, fields, flen);

    gnutls_privkey_t key;
    cr_assert_geq(gnutls_privkey_init(&key), 0);
    cr_assert_geq(gnutls_privkey_import_x509(key, x509_key, 0), 0);
    gnutls_datum_t m = { msg, (unsigned)(plen + 1 + flen) }, sig = { 0 };
    cr_assert_geq(gnutls_privkey_sign_data2(key, GNUTLS_SIGN_ECDSA_SHA256, 0, &m, &sig), 0);
    gnutls_privkey_deinit(key);

    struct mp_signature_trailer t = {
        .payload_len = plen,
        .time = pki_now,
        .alg = "ECDSA-SHA256",
        .cert = der.data,
        .cert_len = der.size,
        .sig = sig.data,
        .sig_len = sig.size,
    };
    char *out = with_trailer(payload, &t, len);
    gnutls_free(der.data);
    gnutls_free(sig.data);
    return out;
}

/* ---- Round trips --------------------------------------------------------- */

static void
round_trip(gnutls_pk_algorithm_t pk, unsigned bits, gnutls_sign_algorithm_t expect_alg)
{
    struct pki_cert_spec s = pki_host_spec("hosta");
    gnutls_x509_privkey_t key = pki_new_key(pk, bits);
    gnutls_x509_crt_deinit(pki_make_host_with("hosta", key, &s, NULL, NULL));
    gnutls_x509_privkey_deinit(key);
    gnutls_x509_crt_deinit(pki_make_host("hostb"));

    size_t len = 0;
    _cleanup_free_ char *data = signed_by("hosta", &len);
    cr_assert_eq(memcmp(data, xml, strlen(xml)), 0, "the cookie's bytes changed");
    cr_assert(mp_signature_present(data, len));

    struct mp_signature_info info = { 0 };
    verify_ok("hostb", data, len, "hosta", &info);
    cr_expect_eq(info.payload, data, "the payload is not the start of the input");
    cr_expect_eq(info.payload_len, strlen(xml));
    cr_expect_eq(info.time, pki_now);
    cr_expect_str_eq(info.signer, "hosta");
    cr_expect_str_eq(info.alg, gnutls_sign_get_name(expect_alg));
    mp_signature_info_clear(&info);

    /* The signer's own CA is the same: a host reads its own cookies too. */
    verify_ok("hosta", data, len, "hosta", &info);
    mp_signature_info_clear(&info);
}

Test(sign, round_trip_ecdsa_p256)
{
    round_trip(GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
               GNUTLS_SIGN_ECDSA_SHA256);
}

Test(sign, round_trip_ecdsa_p384)
{
    round_trip(GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1),
               GNUTLS_SIGN_ECDSA_SHA384);
}

Test(sign, round_trip_rsa)
{
    round_trip(GNUTLS_PK_RSA, 2048, GNUTLS_SIGN_RSA_SHA256);
}

Test(sign, round_trip_ed25519)
{
    round_trip(GNUTLS_PK_EDDSA_ED25519, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_ED25519),
               GNUTLS_SIGN_EDDSA_ED25519);
}

/* The trailer as documented, field by field, and nothing else. */
Test(sign, trailer_form)
{
    gnutls_x509_crt_deinit(pki_make_host("hosta"));
    size_t len = 0;
    _cleanup_free_ char *data = signed_by("hosta", &len);
    const char *trailer = data + strlen(xml);
    _cleanup_free_ char *head = xasprintf("<?migphase-signature v=\"1\" time=\"%" PRId64 "\" "
                                          "alg=\"ECDSA-SHA256\" cert=\"",
                                          (int64_t)pki_now);
    cr_assert(mp_str_has_prefix(trailer, head), "trailer: %s", trailer);
    cr_assert(strstr(trailer, "\" sig=\""));
    cr_assert_eq(strchr(trailer, '\n'), data + len - 1, "the trailer is not one line");
    cr_assert_str_eq(data + len - 3, "?>\n");
}

Test(sign, verify_without_expected_signer_then_check)
{
    gnutls_x509_crt_deinit(pki_make_host("hosta"));
    gnutls_x509_crt_deinit(pki_make_host("hostb"));
    size_t len = 0;
    _cleanup_free_ char *data = signed_by("hosta", &len);
    struct mp_signature_info info = { 0 };
    verify_ok("hostb", data, len, NULL, &info);
    cr_expect_str_eq(info.signer, "hosta");
    _cleanup_error_ struct mp_error *err = NULL;
    cr_expect_eq(mp_signature_check_signer(&info, "HostA", &err), 0);
    int r = mp_signature_check_signer(&info, "hostb", &err);
    expect_refusal(r, err, "the cookie's signer hosta is not host hostb", "check_signer");
    mp_signature_info_clear(&info);
}

/* ---- Tampering ----------------------------------------------------------- */

/* Every single changed byte, in the cookie or in its trailer, is refused;
 * in the cookie (but for the newline the trailer stands on) it is the
 * signature that says so. */
Test(sign, every_byte_flip_fails)
{
    gnutls_x509_crt_deinit(pki_make_host("hosta"));
    gnutls_x509_crt_deinit(pki_make_host("hostb"));
    size_t len = 0;
    _cleanup_free_ char *data = signed_by("hosta", &len);
    _cleanup_identity_ struct mp_identity *id = load_ok("hostb");
    _cleanup_free_ char *copy = xmalloc(len + 1);
    size_t payload_len = strlen(xml);
    for (size_t i = 0; i < len; i++) {
        for (unsigned bit = 0x01; bit <= 0x80; bit <<= 3) {
            memcpy(copy, data, len + 1);
            copy[i] ^= (char)bit;
            _cleanup_free_ char *what = xasprintf("byte %zu ^ 0x%02x", i, bit);
            bool in_payload = i + 1 < payload_len && copy[i] != '\n' && copy[i] != '\0' &&
                              !mp_signature_present(copy, payload_len);
            expect_verify_refused(id, copy, len, "hosta", pki_now,
                                  in_payload ? "does not match its content" : "", what);
        }
    }
}

Test(sign, changed_time_fails)
{
    gnutls_x509_crt_deinit(pki_make_host("hosta"));
    gnutls_x509_crt_deinit(pki_make_host("hostb"));
    size_t len = 0, bad_len = 0;
    _cleanup_free_ char *data = signed_by("hosta", &len);
    _cleanup_(mp_signature_trailer_clear) struct mp_signature_trailer t = { 0 };
    parse_ok(data, len, &t);
    t.time -= 3600; /* an old cookie made to look fresh, or the reverse */
    _cleanup_free_ char *bad = with_trailer(data, &t, &bad_len);
    expect_bad("hostb", bad, bad_len, "does not match its content");
}

Test(sign, changed_alg_fails)
{
    gnutls_x509_crt_deinit(pki_make_host("hosta"));
    gnutls_x509_crt_deinit(pki_make_host("hostb"));
    size_t len = 0, bad_len = 0;
    _cleanup_free_ char *data = signed_by("hosta", &len);
    _cleanup_(mp_signature_trailer_clear) struct mp_signature_trailer t = { 0 };
    parse_ok(data, len, &t);
    static const char *const others[] = { "ECDSA-SHA384", "ECDSA-SHA512", "RSA-SHA256",
                                          "EdDSA-Ed25519" };
    const char *orig = t.alg;
    for (size_t i = 0; i < ARRAY_SIZE(others); i++) {
        t.alg = others[i];
        _cleanup_free_ char *bad = with_trailer(data, &t, &bad_len);
        expect_bad("hostb", bad, bad_len, "does not match");
    }
    t.alg = orig;
}

/* Another certificate of the same host, from the same CA: valid, but not
 * the one that signed. */
Test(sign, changed_cert_fails)
{
    gnutls_x509_crt_deinit(pki_make_host("hosta"));
    gnutls_x509_crt_deinit(pki_make_host("hostb"));
    size_t len = 0, bad_len = 0;
    _cleanup_free_ char *data = signed_by("hosta", &len);
    struct pki_cert_spec s = pki_host_spec("hosta");
    gnutls_x509_privkey_t key = pki_new_ec_key();
    gnutls_x509_crt_t crt = pki_new_cert(key, &s, pki_ca, pki_ca_key);
    gnutls_datum_t der = { 0 };
    cr_assert_geq(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der), 0);

    _cleanup_(mp_signature_trailer_clear) struct mp_signature_trailer t = { 0 };
    parse_ok(data, len, &t);
    free(t.cert);
    t.cert = xmalloc(der.size);
    memcpy(t.cert, der.data, der.size);
    t.cert_len = der.size;
    _cleanup_free_ char *bad = with_trailer(data, &t, &bad_len);
    expect_bad("hostb", bad, bad_len, "does not match its content");
    gnutls_free(der.data);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
}

Test(sign, trailing_bytes_fail)
{
    gnutls_x509_crt_deinit(pki_make_host("hosta"));
    gnutls_x509_crt_deinit(pki_make_host("hostb"));
    size_t len = 0;
    _cleanup_free_ char *data = signed_by("hosta", &len);
    static const char *const tails[] = { "\n", " ", "x", "<!-- -->\n", "\r\n", "<?pi?>\n" };
    for (size_t i = 0; i < ARRAY_SIZE(tails); i++) {
        _cleanup_free_ char *bad = xasprintf("%s%s", data, tails[i]);
        expect_bad("hostb", bad, strlen(bad), "malformed");
    }
    /* A NUL after the trailer: the length says it is there. */
    _cleanup_free_ char *nul = xmalloc(len + 1);
    memcpy(nul, data, len);
    nul[len] = '\0';
    expect_bad("hostb", nul, len + 1, "");
}

Test(sign, two_signatures_fail)
{
    gnutls_x509_crt_deinit(pki_make_host("hosta"));
    gnutls_x509_crt_deinit(pki_make_host("hostb"));
    size_t len = 0;
    _cleanup_free_ char *data = signed_by("hosta", &len);
    const char *trailer = data + strlen(xml);
    _cleanup_free_ char *twice = xasprintf("%s%s", data, trailer);
    expect_bad("hostb", twice, strlen(twice), "more than one signature");

    /* Nor does a host sign what already carries one. */
    _cleanup_identity_ struct mp_identity *id = load_ok("hosta");
    char *out = NULL;
    size_t out_len = 0;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_expect_eq(mp_identity_sign(id, data, len, pki_now, &out, &out_len, &err), -EINVAL);
    cr_expect_null(out);
}

Test(sign, unsigned_cookie_fails)
{
    gnutls_x509_crt_deinit(pki_make_host("hostb"));
    _cleanup_identity_ struct mp_identity *id = load_ok("hostb");
    expect_verify_refused(id, xml, strlen(xml), "hosta", pki_now, "the cookie is not signed",
                          "xml");
    expect_verify_refused(id, "", 0, "hosta", pki_now, "the cookie is not signed", "empty");
    _cleanup_error_ struct mp_error *err = NULL;
    struct mp_signature_info info = { 0 };
    cr_expect_eq(mp_identity_verify(id, xml, strlen(xml), "hosta", pki_now, &info, &err), -ENOMSG);
    cr_expect_not(mp_signature_present(xml, strlen(xml)));
}

/* ---- Trust --------------------------------------------------------------- */

Test(sign, other_ca_fails)
{
    struct pki_cert_spec s = pki_host_spec("hosta");
    gnutls_x509_privkey_t key = pki_new_ec_key();
    gnutls_x509_crt_deinit(pki_make_host_with("hosta", key, &s, pki_other_ca, pki_other_ca_key));
    pki_write_cert("hosta", MP_PKI_CA_CERT, pki_other_ca);
    gnutls_x509_privkey_deinit(key);
    gnutls_x509_crt_deinit(pki_make_host("hostb"));
    size_t len = 0;
    _cleanup_free_ char *data = signed_by("hosta", &len);
    expect_bad("hostb", data, len, "the signer's certificate is not issued by this host's CA");
}

/* A self-signed certificate for the right name is no better. */
Test(sign, self_signed_fails)
{
    gnutls_x509_crt_deinit(pki_make_host("hostb"));
    gnutls_x509_privkey_t key = pki_new_ec_key();
    struct pki_cert_spec s = pki_host_spec("hosta");
    gnutls_x509_crt_t crt = pki_new_cert(key, &s, NULL, NULL);
    size_t len = 0;
    _cleanup_free_ char *data = forge(xml, key, crt, &len);
    expect_bad("hostb", data, len, "not issued by this host's CA");
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
}

Test(sign, expired_fails)
{
    struct pki_cert_spec s = pki_host_spec("hosta");
    s.from = -2 * DAY;
    s.until = -DAY;
    gnutls_x509_privkey_t key = pki_new_ec_key();
    gnutls_x509_crt_deinit(pki_make_host_with("hosta", key, &s, NULL, NULL));
    gnutls_x509_privkey_deinit(key);
    gnutls_x509_crt_deinit(pki_make_host("hostb"));
    size_t len = 0;
    _cleanup_free_ char *data = signed_by("hosta", &len);
    expect_bad("hostb", data, len, "the signer's certificate expired on");
}

/* Validity is judged at the time the caller gives. */
Test(sign, expired_at_now_fails)
{
    gnutls_x509_crt_deinit(pki_make_host("hosta"));
    gnutls_x509_crt_deinit(pki_make_host("hostb"));
    size_t len = 0;
    _cleanup_free_ char *data = signed_by("hosta", &len);
    _cleanup_identity_ struct mp_identity *id = load_ok("hostb");
    expect_verify_refused(id, data, len, "hosta", pki_now + 2 * DAY, "expired on", "later");
    expect_verify_refused(id, data, len, "hosta", pki_now - 2 * 3600, "not valid before",
                          "earlier");
}

Test(sign, revoked_fails)
{
    gnutls_x509_crt_t a = pki_make_host("hosta");
    gnutls_x509_crt_deinit(pki_make_host("hostb"));
    gnutls_x509_crt_deinit(pki_make_host("hostc"));
    pki_write_crl("hostb", a, pki_ca, pki_ca_key, -60, DAY);
    size_t len = 0;
    _cleanup_free_ char *data = signed_by("hosta", &len);
    expect_bad("hostb", data, len, "the signer's certificate is revoked");

    /* The CRL revokes that one certificate, not every host. */
    _cleanup_free_ char *c_data = signed_by("hostc", &len);
    struct mp_signature_info info = { 0 };
    verify_ok("hostb", c_data, len, "hostc", &info);
    mp_signature_info_clear(&info);
    gnutls_x509_crt_deinit(a);
}

/* GnuTLS judges a chain by its own clock: moved past the CA's end, every
 * chain GnuTLS is asked to check fails, and a check it was not asked for
 * shows by passing. */
static time_t gnutls_clock;

static time_t
moved_clock(time_t *t)
{
    if (t)
        *t = gnutls_clock;
    return gnutls_clock;
}

static int
verify_with_gnutls_clock_at(const struct mp_identity *id, const char *data, size_t len,
                            const char *expected, time_t now, struct mp_error **err)
{
    struct mp_signature_info info = { 0 };
    gnutls_clock = pki_now + 31 * DAY;
    gnutls_global_set_time_function(moved_clock);
    int r = mp_identity_verify(id, data, len, expected, now, &info, err);
    gnutls_global_set_time_function(time);
    mp_signature_info_clear(&info);
    return r;
}

Test(sign, a_chain_checked_ahead_holds_for_that_certificate_while_the_ca_is_in_force)
{
    /* hosta's certificate outlives the CA (30 days), to reach past it. */
    struct pki_cert_spec s = pki_host_spec("hosta");
    s.until = 60 * DAY;
    gnutls_x509_privkey_t key = pki_new_ec_key();
    gnutls_x509_crt_deinit(pki_make_host_with("hosta", key, &s, NULL, NULL));
    gnutls_x509_privkey_deinit(key);
    gnutls_x509_crt_deinit(pki_make_host("hostb"));
    gnutls_x509_crt_deinit(pki_make_host("hostc"));
    size_t len = 0, c_len = 0;
    _cleanup_free_ char *data = signed_by("hosta", &len);
    _cleanup_free_ char *c_data = signed_by("hostc", &c_len);
    _cleanup_identity_ struct mp_identity *id = load_ok("hostb");

    /* Not checked ahead: GnuTLS is asked, and refuses. */
    _cleanup_error_ struct mp_error *fresh = NULL;
    int r = verify_with_gnutls_clock_at(id, data, len, "hosta", pki_now, &fresh);
    expect_refusal(r, fresh, "expired", "not checked ahead");

    mp_identity_check_chain_ahead(id, data, len, pki_now);
    _cleanup_error_ struct mp_error *err = NULL;
    r = verify_with_gnutls_clock_at(id, data, len, "hosta", pki_now, &err);
    cr_expect_eq(r, 0, "checked ahead: %s", err ? err->message : "");

    /* Another certificate of the same CA is asked of GnuTLS. */
    _cleanup_error_ struct mp_error *other = NULL;
    r = verify_with_gnutls_clock_at(id, c_data, c_len, "hostc", pki_now, &other);
    expect_refusal(r, other, "expired", "another signer");

    /* Past the CA's end the check ahead no longer holds. */
    _cleanup_error_ struct mp_error *late = NULL;
    r = verify_with_gnutls_clock_at(id, data, len, "hosta", pki_now + 31 * DAY, &late);
    expect_refusal(r, late, "expired", "past the CA's end");

    /* Nor is it taken for a signature: a changed cookie still fails. */
    data[strlen("<?xml")] ^= 1;
    expect_verify_refused(id, data, len, "hosta", pki_now, "does not match its content",
                          "changed after its chain was checked");
}

Test(sign, a_chain_refused_ahead_is_refused_again)
{
    gnutls_x509_privkey_t key = pki_new_ec_key();
    struct pki_cert_spec s = pki_host_spec("hosta");
    gnutls_x509_crt_deinit(pki_make_host_with("hosta", key, &s, pki_other_ca, pki_other_ca_key));
    gnutls_x509_privkey_deinit(key);
    gnutls_x509_crt_deinit(pki_make_host("hostb"));
    size_t len = 0;
    _cleanup_free_ char *data = signed_by("hosta", &len);
    _cleanup_identity_ struct mp_identity *id = load_ok("hostb");
    mp_identity_check_chain_ahead(id, data, len, pki_now);
    expect_verify_refused(id, data, len, "hosta", pki_now, "not issued by this host's CA",
                          "after the check ahead");
}

Test(sign, bad_crl_refused_at_load)
{
    gnutls_x509_crt_t a = pki_make_host("hosta");
    pki_write_crl("hosta", a, pki_other_ca, pki_other_ca_key, -60, DAY);
    expect_load_refused("hosta", "not issued by the CA");
    pki_write_crl("hosta", a, pki_ca, pki_ca_key, -2 * DAY, -DAY);
    expect_load_refused("hosta", "out of date");
    pki_write_datum("hosta", MP_PKI_CA_CRL, &(gnutls_datum_t){ (unsigned char *)"junk\n", 5 },
                    0644);
    expect_load_refused("hosta", "no usable CRL");
    gnutls_x509_crt_deinit(a);
}

Test(sign, wrong_signer_fails)
{
    gnutls_x509_crt_deinit(pki_make_host("hosta"));
    gnutls_x509_crt_deinit(pki_make_host("hostb"));
    size_t len = 0;
    _cleanup_free_ char *data = signed_by("hosta", &len);
    _cleanup_identity_ struct mp_identity *id = load_ok("hostb");
    expect_verify_refused(id, data, len, "hostb", pki_now,
                          "the cookie's signer hosta is not host hostb", "hostb");
    expect_verify_refused(id, data, len, "hosta.example", pki_now, "is not host", "longer name");
    expect_verify_refused(id, data, len, "host", pki_now, "is not host", "prefix");
    struct mp_signature_info info = { 0 };
    verify_ok("hostb", data, len, "HOSTA", &info);
    cr_expect_str_eq(info.signer, "hosta", "the certificate's spelling is reported");
    mp_signature_info_clear(&info);
}

/* DNS names rule when there are any; the common name only when not. */
Test(sign, names_dns_over_cn)
{
    struct pki_cert_spec s = pki_host_spec("hosta");
    s.dns[0] = "hosta.example";
    s.dns[1] = "a.example";
    gnutls_x509_privkey_t key = pki_new_ec_key();
    gnutls_x509_crt_deinit(pki_make_host_with("hosta", key, &s, NULL, NULL));
    s = pki_host_spec("hostc");
    s.dns[0] = NULL;
    gnutls_x509_crt_deinit(pki_make_host_with("hostc", key, &s, NULL, NULL));
    gnutls_x509_privkey_deinit(key);
    gnutls_x509_crt_deinit(pki_make_host("hostb"));

    size_t len = 0;
    _cleanup_free_ char *data = signed_by("hosta", &len);
    _cleanup_identity_ struct mp_identity *id = load_ok("hostb");
    expect_verify_refused(id, data, len, "hosta", pki_now, "is not host hosta", "CN with SANs");
    struct mp_signature_info info = { 0 };
    verify_ok("hostb", data, len, "A.Example", &info);
    cr_expect_str_eq(info.signer, "a.example");
    cr_expect_eq(mp_strv_length(info.names), 2);
    mp_signature_info_clear(&info);

    _cleanup_free_ char *c_data = signed_by("hostc", &len);
    verify_ok("hostb", c_data, len, "hostc", &info);
    mp_signature_info_clear(&info);
}

/* A CA is trusted as an anchor, so its own signature would pass the chain
 * check: it is refused as a signer, when loading as when verifying, even
 * with a key usage that allows signing. */
Test(sign, ca_signer_fails)
{
    struct pki_cert_spec s = {
        .cn = "hosta",
        .dns = { "hosta" },
        .from = -DAY,
        .until = DAY,
        .ca = true,
        .usage = GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_DIGITAL_SIGNATURE,
    };
    gnutls_x509_privkey_t key = pki_new_ec_key();
    gnutls_x509_crt_t signing_ca = pki_new_cert(key, &s, NULL, NULL);
    pki_write_cert("hosta", MP_PKI_CA_CERT, signing_ca);
    pki_write_cert("hosta", MP_PKI_SERVER_CERT, signing_ca);
    pki_write_key("hosta", MP_PKI_SERVER_KEY, key);
    pki_write_cert("reader", MP_PKI_CA_CERT, signing_ca);
    expect_load_refused("hosta", "it is a CA certificate");
    size_t len = 0;
    _cleanup_free_ char *data = forge(xml, key, signing_ca, &len);
    expect_bad("reader", data, len, "it is a CA certificate");
    gnutls_x509_crt_deinit(signing_ca);
    gnutls_x509_privkey_deinit(key);
}

Test(sign, key_usage_without_signing_fails)
{
    gnutls_x509_crt_deinit(pki_make_host("hostb"));
    struct pki_cert_spec s = pki_host_spec("hosta");
    s.usage = GNUTLS_KEY_KEY_ENCIPHERMENT;
    gnutls_x509_privkey_t key = pki_new_ec_key();
    gnutls_x509_crt_t crt = pki_make_host_with("hosta", key, &s, NULL, NULL);
    expect_load_refused("hosta", "digitalSignature");
    size_t len = 0;
    _cleanup_free_ char *data = forge(xml, key, crt, &len);
    expect_bad("hostb", data, len, "digitalSignature");

    /* Without the extension, the key may do anything, signing included. */
    s.usage = 0;
    gnutls_x509_crt_deinit(crt);
    crt = pki_make_host_with("hosta", key, &s, NULL, NULL);
    free(data);
    data = signed_by("hosta", &len);
    struct mp_signature_info info = { 0 };
    verify_ok("hostb", data, len, "hosta", &info);
    mp_signature_info_clear(&info);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
}

/* ---- The PKI directory --------------------------------------------------- */

/* Each missing file is named, with the command that makes one. */
static void
expect_missing(const char *dir, bool signing, const char *file)
{
    _cleanup_identity_ struct mp_identity *id = load_ok(dir);
    _cleanup_error_ struct mp_error *err = NULL;
    int r;
    if (signing) {
        char *out = NULL;
        size_t len = 0;
        r = mp_identity_sign(id, xml, strlen(xml), pki_now, &out, &len, &err);
        cr_expect_null(out);
    } else {
        struct mp_signature_info info = { 0 };
        r = mp_identity_verify(id, xml, strlen(xml), "hosta", pki_now, &info, &err);
    }
    cr_expect_eq(r, -ENOKEY);
    _cleanup_free_ char *expect = xasprintf("%s/%s/%s is missing", pki_root, dir, file);
    expect_refusal(r, err, expect, file);
    cr_expect(strstr(err->message, "migphase-pki create"), "no remedy in '%s'", err->message);
}

Test(sign, missing_files)
{
    expect_missing("nowhere", true, MP_PKI_SERVER_KEY);
    expect_missing("nowhere", false, MP_PKI_CA_CERT);

    gnutls_x509_crt_deinit(pki_make_host("hosta"));
    _cleanup_free_ char *cert = pki_path("hosta", MP_PKI_SERVER_CERT);
    _cleanup_free_ char *key = pki_path("hosta", MP_PKI_SERVER_KEY);
    _cleanup_free_ char *cacert = pki_path("hosta", MP_PKI_CA_CERT);
    cr_assert_eq(unlink(cert), 0);
    expect_missing("hosta", true, MP_PKI_SERVER_CERT);
    cr_assert_eq(unlink(key), 0);
    expect_missing("hosta", true, MP_PKI_SERVER_KEY);
    cr_assert_eq(unlink(cacert), 0);
    expect_missing("hosta", false, MP_PKI_CA_CERT);
}

/* Verifying needs only the CA: a host without keys can still read. */
Test(sign, verify_needs_only_the_ca)
{
    gnutls_x509_crt_deinit(pki_make_host("hosta"));
    pki_write_cert("reader", MP_PKI_CA_CERT, pki_ca);
    size_t len = 0;
    _cleanup_free_ char *data = signed_by("hosta", &len);
    struct mp_signature_info info = { 0 };
    verify_ok("reader", data, len, "hosta", &info);
    mp_signature_info_clear(&info);
}

Test(sign, unusable_files_refused_at_load)
{
    gnutls_x509_crt_deinit(pki_make_host("hosta"));
    gnutls_x509_privkey_t other = pki_new_ec_key();
    pki_write_key("hosta", MP_PKI_SERVER_KEY, other);
    gnutls_x509_privkey_deinit(other);
    expect_load_refused("hosta", "server-key.pem: not the key of server-cert.pem");

    gnutls_datum_t junk = { (unsigned char *)"-----BEGIN JUNK-----\n", 21 };
    pki_write_datum("hosta", MP_PKI_SERVER_KEY, &junk, 0600);
    expect_load_refused("hosta", "server-key.pem: not a usable private key");
    pki_write_datum("hosta", MP_PKI_CA_CERT, &junk, 0644);
    expect_load_refused("hosta", "ca-cert.pem: no usable certificate");
}

/* ---- Loading the same files again ---------------------------------------- */

/* A step forked from migphase-migrate loads the keys the migration loaded
 * first: the same bytes give the same identity, parsed once; a file that
 * changed in between gives the new one. */
Test(sign, load_reuses_only_unchanged_files)
{
    gnutls_x509_crt_deinit(pki_make_host("hosta"));
    struct mp_identity *first = load_ok("hosta");
    struct mp_identity *again = load_ok("hosta");
    cr_expect_eq(again, first, "the unchanged files were parsed again");
    mp_identity_free(first);

    /* Still whole for its other holder. */
    size_t len = 0;
    _cleanup_free_ char *data = sign_ok(again, &len);
    struct mp_signature_info info = { 0 };
    verify_ok("hosta", data, len, "hosta", &info);
    mp_signature_info_clear(&info);

    /* The same directory now holds another host's certificate and key. */
    pki_make_host_in("hosta", "hostc");
    _cleanup_identity_ struct mp_identity *changed = load_ok("hosta");
    cr_expect_neq(changed, again, "changed files were not parsed again");
    mp_identity_free(again);
    _cleanup_free_ char *other = sign_ok(changed, &len);
    verify_ok("hosta", other, len, NULL, &info);
    cr_expect_str_eq(info.signer, "hostc", "signed with the key loaded first");
    mp_signature_info_clear(&info);
}

/* ---- The trailer's form -------------------------------------------------- */

static void
expect_parse_refused(const char *data, const char *expect)
{
    struct mp_signature_trailer t = { 0 };
    _cleanup_error_ struct mp_error *err = NULL;
    int r = mp_signature_parse(data, strlen(data), &t, &err);
    expect_refusal(r, err, expect, data);
    cr_expect_null(t.cert);
    cr_expect_null(t.sig);
}

/* "Zm9v" is "foo", "YQ==" is "a". */
#define COOKIE    "<c/>\n"
#define PI(attrs) COOKIE "<?migphase-signature " attrs "?>\n"

Test(sign, parse_accepts_exact_form)
{
    const char *data = PI("v=\"1\" time=\"0\" alg=\"RSA-SHA256\" cert=\"Zm9v\" sig=\"YQ==\"");
    _cleanup_(mp_signature_trailer_clear) struct mp_signature_trailer t = { 0 };
    parse_ok(data, strlen(data), &t);
    cr_expect_eq(t.payload_len, strlen(COOKIE));
    cr_expect_eq(t.time, 0);
    cr_expect_str_eq(t.alg, "RSA-SHA256");
    cr_expect_eq(t.cert_len, 3);
    cr_expect_eq(memcmp(t.cert, "foo", 3), 0);
    cr_expect_eq(t.sig_len, 1);
    size_t n = 0;
    _cleanup_free_ char *again = mp_signature_trailer_format(&t, &n);
    cr_expect_str_eq(again, data + strlen(COOKIE));
}

Test(sign, parse_refuses_other_forms)
{
    static const struct {
        const char *data, *expect;
    } cases[] = {
        { PI("v=\"2\" time=\"0\" alg=\"RSA-SHA256\" cert=\"Zm9v\" sig=\"YQ==\""), "version 2" },
        { PI("v=\"1\" time=\"0\" alg=\"RSA-SHA1\" cert=\"Zm9v\" sig=\"YQ==\""), "RSA-SHA1" },
        { PI("v=\"1\" time=\"0\" alg=\"rsa-sha256\" cert=\"Zm9v\" sig=\"YQ==\""), "not accepted" },
        { PI("v=\"1\" time=\"0\" alg=\"DSA-SHA256\" cert=\"Zm9v\" sig=\"YQ==\""), "not accepted" },
        { PI("v=\"1\" time=\"01\" alg=\"RSA-SHA256\" cert=\"Zm9v\" sig=\"YQ==\""), "time" },
        { PI("v=\"1\" time=\"-1\" alg=\"RSA-SHA256\" cert=\"Zm9v\" sig=\"YQ==\""), "time" },
        { PI("v=\"1\" time=\"99999999999999999999\" alg=\"RSA-SHA256\" cert=\"Zm9v\" "
             "sig=\"YQ==\""),
          "time" },
        { PI("v=\"1\" time=\"\" alg=\"RSA-SHA256\" cert=\"Zm9v\" sig=\"YQ==\""), "time" },
        { PI("time=\"0\" v=\"1\" alg=\"RSA-SHA256\" cert=\"Zm9v\" sig=\"YQ==\""), "v attribute" },
        { PI("v=\"1\"  time=\"0\" alg=\"RSA-SHA256\" cert=\"Zm9v\" sig=\"YQ==\""), "time" },
        { PI("v='1' time=\"0\" alg=\"RSA-SHA256\" cert=\"Zm9v\" sig=\"YQ==\""), "v attribute" },
        { PI("v=\"1\" time=\"0\" alg=\"RSA-SHA256\" cert=\"Zm9v\""), "sig attribute" },
        { PI("v=\"1\" time=\"0\" alg=\"RSA-SHA256\" cert=\"Zm9v\" sig=\"YQ==\" x=\"y\""),
          "unexpected bytes" },
        { PI("v=\"1\" time=\"0\" alg=\"RSA-SHA256\" cert=\"Zm9v\" sig=\"YQ==\" "),
          "unexpected bytes" },
        /* Base64: stray bits, missing padding, bad characters, nothing. */
        { PI("v=\"1\" time=\"0\" alg=\"RSA-SHA256\" cert=\"Zm9v\" sig=\"YR==\""), "canonical" },
        { PI("v=\"1\" time=\"0\" alg=\"RSA-SHA256\" cert=\"Zm9v\" sig=\"YQ\""), "canonical" },
        { PI("v=\"1\" time=\"0\" alg=\"RSA-SHA256\" cert=\"Zm=v\" sig=\"YQ==\""), "canonical" },
        { PI("v=\"1\" time=\"0\" alg=\"RSA-SHA256\" cert=\"Zm9v\" sig=\"Y Q==\""),
          "sig attribute" },
        { PI("v=\"1\" time=\"0\" alg=\"RSA-SHA256\" cert=\"\" sig=\"YQ==\""), "cert attribute" },
        { PI("v=\"1\" time=\"0\" alg=\"RSA-SHA256\" cert=\"Zm9v\" sig=\"YQ==\"?>\n<x/"),
          "last line" },
        /* Not on a line of its own, or with nothing before it. */
        { "<c/><?migphase-signature v=\"1\" time=\"0\" alg=\"RSA-SHA256\" cert=\"Zm9v\" "
          "sig=\"YQ==\"?>\n",
          "last line" },
        { "<?migphase-signature v=\"1\" time=\"0\" alg=\"RSA-SHA256\" cert=\"Zm9v\" "
          "sig=\"YQ==\"?>\n",
          "no cookie before it" },
        { COOKIE "<?migphase-signature?>\n", "expected the v attribute" },
        { COOKIE "<?migphase-signaturex v=\"1\"?>\n", "expected the v attribute" },
        { COOKIE "<?migphase-signature v=\"1\" time=\"0\" alg=\"RSA-SHA256\" cert=\"Zm9v\" "
                 "sig=\"YQ==\"?>",
          "does not end with a newline" },
        { COOKIE, "not signed" },
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        expect_parse_refused(cases[i].data, cases[i].expect);
}

Test(sign, parse_refuses_oversized_fields)
{
    size_t n = 4 * ((MP_SIGNATURE_MAX_SIG + 2) / 3 + 1); /* one group too many */
    _cleanup_free_ char *sig = xmalloc(n + 1);
    memset(sig, 'A', n);
    sig[n] = '\0';
    _cleanup_free_ char *data =
        xasprintf(COOKIE "<?migphase-signature v=\"1\" time=\"0\" alg=\"RSA-SHA256\" cert=\"Zm9v\" "
                         "sig=\"%s\"?>\n",
                  sig);
    expect_parse_refused(data, "sig attribute");

    n = MP_SIGNATURE_MAX_TRAILER;
    _cleanup_free_ char *big = xmalloc(n + 1);
    memset(big, 'A', n);
    big[n] = '\0';
    _cleanup_free_ char *long_line = xasprintf(COOKIE "<?migphase-signature %s?>\n", big);
    expect_parse_refused(long_line, "too long");
}

Test(sign, sign_refuses_what_it_cannot_carry)
{
    gnutls_x509_crt_deinit(pki_make_host("hosta"));
    _cleanup_identity_ struct mp_identity *id = load_ok("hosta");
    static const char *const bad[] = { "<c/>", "", "<c><?migphase-signature?></c>\n" };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        char *out = NULL;
        size_t len = 0;
        _cleanup_error_ struct mp_error *err = NULL;
        cr_expect_eq(mp_identity_sign(id, bad[i], strlen(bad[i]), pki_now, &out, &len, &err),
                     -EINVAL, "signed '%s'", bad[i]);
        cr_expect_null(out);
    }
    char *out = NULL;
    size_t len = 0;
    _cleanup_error_ struct mp_error *err = NULL;
    cr_expect_eq(mp_identity_sign(id, "<c>\0</c>\n", 9, pki_now, &out, &len, &err), -EINVAL);
}
