/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Signed cookies: the trailer's strict form, the host's identity (GnuTLS, as
 * QEMU and libvirt use for the same files), signing and verifying. */
#include "config.h"

#include "sign.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* PEM files of a PKI directory are a few KiB; a CRL may list many serials. */
#define PKI_FILE_MAX (4 * 1024 * 1024)

static void
crt_deinitp(gnutls_x509_crt_t *crt)
{
    if (*crt)
        gnutls_x509_crt_deinit(*crt);
}
#define _cleanup_crt_ _cleanup_(crt_deinitp)

static void
pubkey_deinitp(gnutls_pubkey_t *key)
{
    if (*key)
        gnutls_pubkey_deinit(*key);
}
#define _cleanup_pubkey_ _cleanup_(pubkey_deinitp)

static void
datum_freep(gnutls_datum_t *d)
{
    gnutls_free(d->data);
}
#define _cleanup_datum_ _cleanup_(datum_freep)

/* ---- Algorithms ---------------------------------------------------------- */

struct sign_alg {
    const char *name; /* GnuTLS's name for it, as written in the trailer */
    gnutls_sign_algorithm_t id;
};

/* What a signer may use: no SHA-1, no DSA, nothing a downgrade could pick. */
static const struct sign_alg sign_algs[] = {
    { "RSA-SHA256", GNUTLS_SIGN_RSA_SHA256 },
    { "RSA-SHA384", GNUTLS_SIGN_RSA_SHA384 },
    { "RSA-SHA512", GNUTLS_SIGN_RSA_SHA512 },
    { "RSA-PSS-SHA256", GNUTLS_SIGN_RSA_PSS_SHA256 },
    { "RSA-PSS-SHA384", GNUTLS_SIGN_RSA_PSS_SHA384 },
    { "RSA-PSS-SHA512", GNUTLS_SIGN_RSA_PSS_SHA512 },
    { "RSA-PSS-RSAE-SHA256", GNUTLS_SIGN_RSA_PSS_RSAE_SHA256 },
    { "RSA-PSS-RSAE-SHA384", GNUTLS_SIGN_RSA_PSS_RSAE_SHA384 },
    { "RSA-PSS-RSAE-SHA512", GNUTLS_SIGN_RSA_PSS_RSAE_SHA512 },
    { "ECDSA-SHA256", GNUTLS_SIGN_ECDSA_SHA256 },
    { "ECDSA-SHA384", GNUTLS_SIGN_ECDSA_SHA384 },
    { "ECDSA-SHA512", GNUTLS_SIGN_ECDSA_SHA512 },
    { "EdDSA-Ed25519", GNUTLS_SIGN_EDDSA_ED25519 },
};

static const struct sign_alg *
alg_by_name(const char *name, size_t len)
{
    for (size_t i = 0; i < ARRAY_SIZE(sign_algs); i++)
        if (strlen(sign_algs[i].name) == len && memcmp(sign_algs[i].name, name, len) == 0)
            return &sign_algs[i];
    return NULL;
}

static const struct sign_alg *
alg_by_id(gnutls_sign_algorithm_t id)
{
    for (size_t i = 0; i < ARRAY_SIZE(sign_algs); i++)
        if (sign_algs[i].id == id)
            return &sign_algs[i];
    return NULL;
}

/* ---- Base64 -------------------------------------------------------------- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t
base64_length(size_t n)
{
    return (n + 2) / 3 * 4;
}

static char *
base64_encode(const unsigned char *in, size_t len)
{
    char *out = xmalloc(base64_length(len) + 1), *o = out;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        *o++ = b64_alphabet[v >> 18];
        *o++ = b64_alphabet[(v >> 12) & 63];
        *o++ = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
        *o++ = i + 2 < len ? b64_alphabet[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

static int
base64_value(char c)
{
    const char *p = c ? strchr(b64_alphabet, c) : NULL;
    return p ? (int)(p - b64_alphabet) : -1;
}

/* Strict: the alphabet only, '=' padding to a multiple of four, and zero in
 * the bits the last character has beyond the data. Each byte string has one
 * encoding, so a trailer cannot be rewritten into another that verifies. */
static int
base64_decode(const char *in, size_t len, unsigned char **out, size_t *out_len)
{
    if (len == 0 || len % 4 != 0)
        return -EINVAL;
    size_t pad = (in[len - 1] == '=') + (in[len - 2] == '=' && in[len - 1] == '=');
    _cleanup_free_ unsigned char *buf = xmalloc(len / 4 * 3);
    size_t n = 0;
    for (size_t i = 0; i < len; i += 4) {
        bool last = i + 4 == len;
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++) {
            int d = last && j >= 4 - pad ? 0 : base64_value(in[i + j]);
            if (d < 0)
                return -EINVAL;
            v = v << 6 | (uint32_t)d;
        }
        if (last && ((pad == 1 && (v & 0xff)) || (pad == 2 && (v & 0xffff))))
            return -EINVAL; /* stray bits: a second encoding of the same bytes */
        buf[n++] = (unsigned char)(v >> 16);
        if (!last || pad < 2)
            buf[n++] = (unsigned char)(v >> 8);
        if (!last || pad < 1)
            buf[n++] = (unsigned char)v;
    }
    *out = steal_ptr(&buf);
    *out_len = n;
    return 0;
}

/* ---- The trailer --------------------------------------------------------- */

#define TRAILER_END "?>\n"

bool
mp_signature_present(const char *data, size_t len)
{
    return data && memmem(data, len, MP_SIGNATURE_MARKER, strlen(MP_SIGNATURE_MARKER)) != NULL;
}

void
mp_signature_trailer_clear(struct mp_signature_trailer *t)
{
    free(t->cert);
    free(t->sig);
    *t = (struct mp_signature_trailer){ 0 };
}

char *
mp_signature_trailer_format(const struct mp_signature_trailer *t, size_t *len)
{
    _cleanup_free_ char *cert = base64_encode(t->cert, t->cert_len);
    _cleanup_free_ char *sig = base64_encode(t->sig, t->sig_len);
    char *s = xasprintf(MP_SIGNATURE_MARKER " v=\"1\" time=\"%" PRId64 "\" alg=\"%s\" cert=\"%s\""
                                            " sig=\"%s\"" TRAILER_END,
                        t->time, t->alg, cert, sig);
    if (len)
        *len = strlen(s);
    return s;
}

static int
malformed(struct mp_error **err, const char *what)
{
    return mp_error_input(err, EBADMSG, "the cookie's signature is malformed: %s", what);
}

/* Where the trailer starts: the beginning of the last line, which must begin
 * with the marker. Anything else means no trailer, or one out of place. */
static int
find_trailer(const char *data, size_t len, size_t *start, struct mp_error **err)
{
    if (len == 0)
        return mp_error_input(err, ENOMSG, "the cookie is not signed");
    size_t end = data[len - 1] == '\n' ? len - 1 : len;
    const char *nl = memrchr(data, '\n', end);
    const char *line = nl ? nl + 1 : data;
    size_t marker = strlen(MP_SIGNATURE_MARKER);
    if ((size_t)(data + len - line) < marker || memcmp(line, MP_SIGNATURE_MARKER, marker) != 0) {
        if (mp_signature_present(data, len))
            return malformed(err, "it is not the cookie's last line");
        return mp_error_input(err, ENOMSG, "the cookie is not signed");
    }
    if (end == len)
        return malformed(err, "it does not end with a newline");
    if (line == data)
        return malformed(err, "there is no cookie before it");
    if ((size_t)(data + len - line) > MP_SIGNATURE_MAX_TRAILER)
        return malformed(err, "it is too long");
    *start = (size_t)(line - data);
    return 0;
}

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool
is_alg_char(char c)
{
    return is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-';
}

static bool
is_base64_char(char c)
{
    return c == '=' || base64_value(c) >= 0;
}

struct cursor {
    const char *p, *end;
};

/* Take ` name="value"` from c: value is at most max characters, each of which
 * allowed() accepts, and no quote. */
static int
take_attr(struct cursor *c, const char *name, bool (*allowed)(char), size_t max, const char **value,
          size_t *value_len, struct mp_error **err)
{
    _cleanup_free_ char *head = xasprintf(" %s=\"", name);
    size_t n = strlen(head);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, head, n) != 0) {
        _cleanup_free_ char *what = xasprintf("expected the %s attribute", name);
        return malformed(err, what);
    }
    const char *v = c->p + n, *q = v;
    while (q < c->end && (size_t)(q - v) <= max && allowed(*q))
        q++;
    if (q == c->end || *q != '"' || q == v || (size_t)(q - v) > max) {
        _cleanup_free_ char *what = xasprintf("bad %s attribute", name);
        return malformed(err, what);
    }
    *value = v;
    *value_len = (size_t)(q - v);
    c->p = q + 1;
    return 0;
}

/* Decimal Unix seconds, no sign, no leading zero, within time_t. */
static bool
parse_time(const char *s, size_t len, int64_t *out)
{
    if (len == 0 || len > 19 || (len > 1 && s[0] == '0'))
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++)
        v = v * 10 + (uint64_t)(s[i] - '0');
    if (v > INT64_MAX || (int64_t)(time_t)v != (int64_t)v)
        return false;
    *out = (int64_t)v;
    return true;
}

static int
take_base64(struct cursor *c, const char *name, size_t max_bytes, unsigned char **out,
            size_t *out_len, struct mp_error **err)
{
    const char *v;
    size_t n;
    int r = take_attr(c, name, is_base64_char, base64_length(max_bytes), &v, &n, err);
    if (r < 0)
        return r;
    if (base64_decode(v, n, out, out_len) < 0) {
        _cleanup_free_ char *what = xasprintf("the %s attribute is not canonical base64", name);
        return malformed(err, what);
    }
    return 0;
}

/* The fields after the marker, in their one order and form. */
static int
parse_fields(struct cursor *c, struct mp_signature_trailer *t, struct mp_error **err)
{
    const char *v;
    size_t n;
    int r = take_attr(c, "v", is_digit, 8, &v, &n, err);
    if (r < 0)
        return r;
    if (n != 1 || v[0] != '1')
        return mp_error_input(err, EPROTO,
                              "the cookie's signature has version %.*s; this build knows version 1",
                              (int)n, v);
    r = take_attr(c, "time", is_digit, 19, &v, &n, err);
    if (r < 0)
        return r;
    if (!parse_time(v, n, &t->time))
        return malformed(err, "bad time attribute");
    r = take_attr(c, "alg", is_alg_char, 32, &v, &n, err);
    if (r < 0)
        return r;
    const struct sign_alg *alg = alg_by_name(v, n);
    if (!alg)
        return mp_error_input(err, EBADMSG,
                              "the cookie's signature uses algorithm %.*s, which is not accepted",
                              (int)n, v);
    t->alg = alg->name;
    r = take_base64(c, "cert", MP_SIGNATURE_MAX_CERT, &t->cert, &t->cert_len, err);
    if (r < 0)
        return r;
    r = take_base64(c, "sig", MP_SIGNATURE_MAX_SIG, &t->sig, &t->sig_len, err);
    if (r < 0)
        return r;
    size_t end = strlen(TRAILER_END);
    if ((size_t)(c->end - c->p) != end || memcmp(c->p, TRAILER_END, end) != 0)
        return malformed(err, "unexpected bytes at its end");
    return 0;
}

int
mp_signature_parse(const char *data, size_t len, struct mp_signature_trailer *out,
                   struct mp_error **err)
{
    struct mp_signature_trailer t = { 0 };
    size_t start = 0;
    int r = find_trailer(data, len, &start, err);
    if (r < 0)
        return r;
    struct cursor c = { data + start + strlen(MP_SIGNATURE_MARKER), data + len };
    r = parse_fields(&c, &t, err);
    if (r < 0) {
        mp_signature_trailer_clear(&t);
        return r;
    }
    /* A second trailer inside the signed part would let a tool that reads
     * the first one disagree with us about what was signed. */
    if (mp_signature_present(data, start)) {
        mp_signature_trailer_clear(&t);
        return mp_error_input(err, EBADMSG, "the cookie carries more than one signature");
    }
    if (memchr(data, '\0', start)) {
        mp_signature_trailer_clear(&t);
        return mp_error_input(err, EBADMSG, "the cookie contains a NUL byte");
    }
    t.payload_len = start;
    *out = t;
    return 0;
}

/* What a signature covers: the payload, a NUL (which no XML document holds),
 * then the trailer's fields in one fixed form, the certificate by its
 * SHA-256. */
static int
signed_message(const char *payload, const struct mp_signature_trailer *t, char **out,
               size_t *out_len, struct mp_error **err)
{
    unsigned char digest[32];
    int r = gnutls_hash_fast(GNUTLS_DIG_SHA256, t->cert, t->cert_len, digest);
    if (r < 0)
        return mp_error_set(err, EIO, "SHA-256 failed: %s", gnutls_strerror(r));
    char hex[2 * sizeof(digest) + 1];
    for (size_t i = 0; i < sizeof(digest); i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    _cleanup_free_ char *fields = xasprintf(
        "migphase-signature v=1 time=%" PRId64 " alg=%s cert-sha256=%s", t->time, t->alg, hex);
    size_t n = strlen(fields);
    char *msg = xmalloc(t->payload_len + 1 + n);
    memcpy(msg, payload, t->payload_len);
    msg[t->payload_len] = '\0';
    memcpy(msg + t->payload_len + 1, fields, n);
    *out = msg;
    *out_len = t->payload_len + 1 + n;
    return 0;
}

/* ---- The identity -------------------------------------------------------- */

struct mp_identity {
    char *pki_dir;
    gnutls_x509_trust_list_t trust; /* NULL without ca-cert.pem */
    gnutls_x509_crt_t cert;         /* NULL without server-cert.pem */
    gnutls_privkey_t key;           /* NULL without server-key.pem */
    gnutls_datum_t cert_der;
    const struct sign_alg *alg; /* what the key signs with */
    const char *missing;        /* the file of key and cert that is not there */
    unsigned holders;           /* its callers, and the last load's (last_load) */
    /* When every CA certificate and CRL of trust is in force: a chain's
     * check, whose only dependence on time is theirs once the signer's own
     * dates are checked apart, holds that long (signer_memo). Not dated
     * when a CA's dates cannot be read: then no check is reused. */
    bool trust_dated;
    time_t trust_from, trust_until;
    struct signer_memo *memo;
};

/* The signer certificate whose chain up to this identity's CA checked last,
 * byte for byte. Finish checks its source's chain ahead of Perform's cookie
 * (mp_identity_check_chain_ahead), and that cookie's check, on the guest's
 * pause, is then one ECDSA verification instead of two (0.2 ms here). */
struct signer_memo {
    unsigned char *der;
    size_t len;
};

void
mp_identity_free(struct mp_identity *id)
{
    if (!id || --id->holders > 0)
        return;
    if (id->trust)
        gnutls_x509_trust_list_deinit(id->trust, 1);
    if (id->cert)
        gnutls_x509_crt_deinit(id->cert);
    if (id->key)
        gnutls_privkey_deinit(id->key);
    if (id->memo)
        free(id->memo->der);
    free(id->memo);
    gnutls_free(id->cert_der.data);
    free(id->pki_dir);
    free(id);
}

/* One line: which file is missing, what for, and how to make one. */
static int
missing_file(const struct mp_identity *id, const char *name, const char *what,
             struct mp_error **err)
{
    return mp_error_input(err, ENOKEY,
                          "%s/%s is missing: this host cannot %s cookies without it (create a lab "
                          "PKI with 'migphase-pki create DIR HOST...' and use DIR/HOST as pki-dir)",
                          id->pki_dir, name, what);
}

/* A file of the PKI directory, as read. */
struct pki_file {
    char *data; /* NULL when there is no such file */
    size_t len;
};

static void
pki_file_clear(struct pki_file *f)
{
    free(f->data);
}

static gnutls_datum_t
pki_datum(const struct pki_file *f)
{
    return (gnutls_datum_t){ (unsigned char *)f->data, (unsigned)f->len };
}

/* Read pki_dir/name into f; no such file leaves f empty and is no error. */
static int
read_pki_file(const char *dir, const char *name, struct pki_file *f, struct mp_error **err)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return mp_error_input(err, errno, "cannot open %s: %s", path, strerror(errno));
    }
    int r = mp_read_fd(fd, PKI_FILE_MAX, &f->data, &f->len, err);
    if (r < 0)
        return mp_error_prefix(err, "%s", path);
    return 0;
}

static int
pki_error(const struct mp_identity *id, const char *name, const char *what, int gnutls_r,
          struct mp_error **err)
{
    if (gnutls_r < 0)
        return mp_error_input(err, EINVAL, "%s/%s: %s (%s)", id->pki_dir, name, what,
                              gnutls_strerror(gnutls_r));
    return mp_error_input(err, EINVAL, "%s/%s: %s", id->pki_dir, name, what);
}

/* Whether crt's public key is key's: a certificate copied from another host
 * next to this host's key would make every signature fail elsewhere. */
static int
key_matches_cert(gnutls_privkey_t key, gnutls_x509_crt_t crt, bool *match)
{
    _cleanup_pubkey_ gnutls_pubkey_t a = NULL, b = NULL;
    unsigned char ida[64], idb[64];
    size_t na = sizeof(ida), nb = sizeof(idb);
    int r = gnutls_pubkey_init(&a);
    if (r >= 0)
        r = gnutls_pubkey_init(&b);
    if (r >= 0)
        r = gnutls_pubkey_import_privkey(a, key, 0, 0);
    if (r >= 0)
        r = gnutls_pubkey_import_x509(b, crt, 0);
    if (r >= 0)
        r = gnutls_pubkey_get_key_id(a, GNUTLS_KEYID_USE_SHA256, ida, &na);
    if (r >= 0)
        r = gnutls_pubkey_get_key_id(b, GNUTLS_KEYID_USE_SHA256, idb, &nb);
    if (r < 0)
        return r;
    *match = na == nb && memcmp(ida, idb, na) == 0;
    return 0;
}

/* The algorithm this certificate's key signs with: the hash GnuTLS prefers
 * for it (SHA-384 for P-384, ...), and it must be one we accept. */
static const struct sign_alg *
alg_for_cert(gnutls_x509_crt_t crt)
{
    _cleanup_pubkey_ gnutls_pubkey_t pub = NULL;
    gnutls_digest_algorithm_t hash;
    if (gnutls_pubkey_init(&pub) < 0 || gnutls_pubkey_import_x509(pub, crt, 0) < 0 ||
        gnutls_pubkey_get_preferred_hash_algorithm(pub, &hash, NULL) < 0)
        return NULL;
    int pk = gnutls_pubkey_get_pk_algorithm(pub, NULL);
    return alg_by_id(gnutls_pk_to_sign((gnutls_pk_algorithm_t)pk, hash));
}

/* A certificate that may sign cookies: a digitalSignature key if it says
 * what its key is for, and not a CA (a CA is trusted as an anchor, so it
 * would pass the chain check while being no host). */
static const char *
cert_cannot_sign(gnutls_x509_crt_t crt)
{
    unsigned usage = 0, critical = 0;
    if (gnutls_x509_crt_get_ca_status(crt, &critical) > 0)
        return "it is a CA certificate";
    int r = gnutls_x509_crt_get_key_usage(crt, &usage, &critical);
    if (r < 0 && r != GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
        return "its key usage cannot be read";
    if (r >= 0 && !(usage & GNUTLS_KEY_DIGITAL_SIGNATURE))
        return "its key usage does not include digitalSignature";
    return NULL;
}

static int
load_key_and_cert(struct mp_identity *id, const struct pki_file *key_file,
                  const struct pki_file *cert_file, struct mp_error **err)
{
    gnutls_datum_t key_pem = pki_datum(key_file), cert_pem = pki_datum(cert_file);
    int r = gnutls_privkey_init(&id->key);
    if (r >= 0)
        r = gnutls_privkey_import_x509_raw(id->key, &key_pem, GNUTLS_X509_FMT_PEM, NULL, 0);
    if (r < 0)
        return pki_error(id, MP_PKI_SERVER_KEY, "not a usable private key", r, err);
    r = gnutls_x509_crt_init(&id->cert);
    if (r >= 0)
        r = gnutls_x509_crt_import(id->cert, &cert_pem, GNUTLS_X509_FMT_PEM);
    if (r >= 0)
        r = gnutls_x509_crt_export2(id->cert, GNUTLS_X509_FMT_DER, &id->cert_der);
    if (r < 0)
        return pki_error(id, MP_PKI_SERVER_CERT, "not a usable certificate", r, err);
    if (id->cert_der.size > MP_SIGNATURE_MAX_CERT)
        return pki_error(id, MP_PKI_SERVER_CERT, "too large to travel in a cookie", 0, err);
    const char *why = cert_cannot_sign(id->cert);
    if (why)
        return pki_error(id, MP_PKI_SERVER_CERT, why, 0, err);
    bool match = false;
    r = key_matches_cert(id->key, id->cert, &match);
    if (r < 0 || !match)
        return pki_error(id, MP_PKI_SERVER_KEY, "not the key of " MP_PKI_SERVER_CERT, r, err);
    id->alg = alg_for_cert(id->cert);
    if (!id->alg)
        return pki_error(id, MP_PKI_SERVER_CERT,
                         "its key type cannot sign cookies (use RSA, ECDSA or Ed25519)", 0, err);
    return 0;
}

/* Narrow the time in which every CA certificate and CRL is in force to
 * [from, until]; (time_t)-1 leaves a bound as it was (a CRL without a next
 * update). */
static void
narrow_trust_window(struct mp_identity *id, time_t from, time_t until)
{
    if (from != (time_t)-1 && from > id->trust_from)
        id->trust_from = from;
    if (until != (time_t)-1 && until < id->trust_until)
        id->trust_until = until;
}

static const char *
crl_problem(unsigned status)
{
    if (status & GNUTLS_CERT_SIGNER_NOT_FOUND)
        return "not issued by the CA of " MP_PKI_CA_CERT;
    if (status & GNUTLS_CERT_REVOCATION_DATA_SUPERSEDED)
        return "out of date (past its next update): renew it";
    if (status & GNUTLS_CERT_REVOCATION_DATA_ISSUED_IN_FUTURE)
        return "issued in the future";
    return "its signature does not verify against " MP_PKI_CA_CERT;
}

/* Check every CRL against the CAs and hand them to the trust list. A CRL
 * that does not verify fails the load: silently dropping it, as GnuTLS
 * would, would accept the certificates it revokes. */
static int
load_crls(struct mp_identity *id, gnutls_x509_crt_t *cas, unsigned n_cas,
          const struct pki_file *file, struct mp_error **err)
{
    gnutls_datum_t pem = pki_datum(file);
    gnutls_x509_crl_t *crls = NULL;
    unsigned n = 0;
    int r = gnutls_x509_crl_list_import2(&crls, &n, &pem, GNUTLS_X509_FMT_PEM, 0);
    if (r < 0 || n == 0)
        return pki_error(id, MP_PKI_CA_CRL, "no usable CRL", r, err);
    const char *why = NULL;
    for (unsigned i = 0; i < n && !why; i++) {
        unsigned status = 0;
        r = gnutls_x509_crl_verify(crls[i], cas, n_cas, 0, &status);
        if (r < 0 || status != 0)
            why = crl_problem(status);
    }
    for (unsigned i = 0; i < n && !why; i++)
        narrow_trust_window(id, gnutls_x509_crl_get_this_update(crls[i]),
                            gnutls_x509_crl_get_next_update(crls[i]));
    if (!why) {
        /* The list owns the CRLs from here on. */
        gnutls_x509_trust_list_add_crls(id->trust, crls, n, 0, 0);
    } else {
        for (unsigned i = 0; i < n; i++)
            gnutls_x509_crl_deinit(crls[i]);
    }
    gnutls_free(crls);
    return why ? pki_error(id, MP_PKI_CA_CRL, why, 0, err) : 0;
}

static int
load_trust(struct mp_identity *id, const struct pki_file *ca, const struct pki_file *crl,
           struct mp_error **err)
{
    gnutls_datum_t pem = pki_datum(ca);
    gnutls_x509_crt_t *cas = NULL;
    unsigned n = 0;
    int r = gnutls_x509_crt_list_import2(&cas, &n, &pem, GNUTLS_X509_FMT_PEM, 0);
    if (r < 0 || n == 0)
        return pki_error(id, MP_PKI_CA_CERT, "no usable certificate", r, err);
    r = gnutls_x509_trust_list_init(&id->trust, 0);
    if (r < 0) {
        for (unsigned i = 0; i < n; i++)
            gnutls_x509_crt_deinit(cas[i]);
        gnutls_free(cas);
        return mp_error_set(err, ENOMEM, "GnuTLS: %s", gnutls_strerror(r));
    }
    id->trust_from = gnutls_x509_crt_get_activation_time(cas[0]);
    id->trust_until = gnutls_x509_crt_get_expiration_time(cas[0]);
    id->trust_dated = true;
    for (unsigned i = 0; i < n; i++) {
        time_t from = gnutls_x509_crt_get_activation_time(cas[i]);
        time_t until = gnutls_x509_crt_get_expiration_time(cas[i]);
        if (from == (time_t)-1 || until == (time_t)-1)
            id->trust_dated = false;
        narrow_trust_window(id, from, until);
    }
    /* The list owns the CAs from here on; cas stays valid while it lives. */
    gnutls_x509_trust_list_add_cas(id->trust, cas, n, 0);
    r = crl->data ? load_crls(id, cas, n, crl, err) : 0;
    gnutls_free(cas);
    return r;
}

/* The files of a PKI directory an identity is made of. */
enum { PKI_CA, PKI_CRL, PKI_CERT, PKI_KEY, N_PKI_FILES };

static bool
same_files(const struct pki_file *a, const struct pki_file *b)
{
    for (int i = 0; i < N_PKI_FILES; i++) {
        if (!a[i].data != !b[i].data || a[i].len != b[i].len ||
            (a[i].data && memcmp(a[i].data, b[i].data, a[i].len) != 0))
            return false;
    }
    return true;
}

/* The identity this process loaded last, with the bytes it was made of:
 * the steps that migphase-migrate runs in forks of itself load the keys it
 * loaded before the migration began. They still read the files (the keys
 * may have changed since), but files byte for byte the same need no second
 * parse, which costs a millisecond or more on a busy host. */
static struct {
    struct mp_identity *id;
    struct pki_file files[N_PKI_FILES];
} last_load;

static void
remember_load(struct mp_identity *id, struct pki_file *files)
{
    mp_identity_free(last_load.id);
    for (int i = 0; i < N_PKI_FILES; i++) {
        pki_file_clear(&last_load.files[i]);
        last_load.files[i] = files[i];
        files[i] = (struct pki_file){ 0 };
    }
    id->holders++;
    last_load.id = id;
}

static int
parse_identity(struct mp_identity *id, const struct pki_file *files, struct mp_error **err)
{
    if (files[PKI_CA].data) {
        int r = load_trust(id, &files[PKI_CA], &files[PKI_CRL], err);
        if (r < 0)
            return r;
    }
    /* Half an identity signs nothing: mp_identity_sign() names what is
     * missing. */
    id->missing = !files[PKI_KEY].data    ? MP_PKI_SERVER_KEY
                  : !files[PKI_CERT].data ? MP_PKI_SERVER_CERT
                                          : NULL;
    return id->missing ? 0 : load_key_and_cert(id, &files[PKI_KEY], &files[PKI_CERT], err);
}

int
mp_identity_load(const char *pki_dir, struct mp_identity **out, struct mp_error **err)
{
    static const char *const names[N_PKI_FILES] = { MP_PKI_CA_CERT, MP_PKI_CA_CRL,
                                                    MP_PKI_SERVER_CERT, MP_PKI_SERVER_KEY };
    struct pki_file files[N_PKI_FILES] = { { 0 } };
    int r = 0;
    for (int i = 0; i < N_PKI_FILES && r >= 0; i++)
        r = read_pki_file(pki_dir, names[i], &files[i], err);
    if (r >= 0 && last_load.id && strcmp(last_load.id->pki_dir, pki_dir) == 0 &&
        same_files(files, last_load.files)) {
        last_load.id->holders++;
        *out = last_load.id;
    } else if (r >= 0) {
        _cleanup_identity_ struct mp_identity *id = xzalloc(sizeof(*id));
        id->holders = 1;
        id->memo = xzalloc(sizeof(*id->memo));
        id->pki_dir = xstrdup(pki_dir);
        r = parse_identity(id, files, err);
        if (r >= 0) {
            remember_load(id, files);
            *out = steal_ptr(&id);
        }
    }
    for (int i = 0; i < N_PKI_FILES; i++)
        pki_file_clear(&files[i]);
    return r < 0 ? r : 0;
}

/* ---- Signing ------------------------------------------------------------- */

int
mp_identity_sign(const struct mp_identity *id, const char *xml, size_t len, time_t now,
                 char **signed_out, size_t *signed_len, struct mp_error **err)
{
    if (id->missing)
        return missing_file(id, id->missing, "sign", err);
    if (len == 0 || xml[len - 1] != '\n' || memchr(xml, '\0', len) ||
        mp_signature_present(xml, len))
        return mp_error_set(err, EINVAL,
                            "cannot sign the cookie: it must end with a newline and hold no NUL "
                            "byte and no signature");
    if (now < 0)
        return mp_error_set(err, EINVAL, "cannot sign the cookie: the clock is before 1970");

    struct mp_signature_trailer t = {
        .payload_len = len,
        .time = (int64_t)now,
        .alg = id->alg->name,
        .cert = id->cert_der.data,
        .cert_len = id->cert_der.size,
    };
    _cleanup_free_ char *msg = NULL;
    size_t msg_len = 0;
    int r = signed_message(xml, &t, &msg, &msg_len, err);
    if (r < 0)
        return r;
    gnutls_datum_t m = { (unsigned char *)msg, (unsigned)msg_len };
    _cleanup_datum_ gnutls_datum_t sig = { 0 };
    r = gnutls_privkey_sign_data2(id->key, id->alg->id, 0, &m, &sig);
    if (r < 0)
        return mp_error_set(err, EIO, "signing the cookie failed: %s", gnutls_strerror(r));
    t.sig = sig.data;
    t.sig_len = sig.size;

    size_t trailer_len = 0;
    _cleanup_free_ char *trailer = mp_signature_trailer_format(&t, &trailer_len);
    char *out = xmalloc(len + trailer_len + 1);
    memcpy(out, xml, len);
    memcpy(out + len, trailer, trailer_len + 1);
    *signed_out = out;
    if (signed_len)
        *signed_len = len + trailer_len;
    return 0;
}

/* ---- Verifying ----------------------------------------------------------- */

void
mp_signature_info_clear(struct mp_signature_info *info)
{
    free(info->signer);
    mp_strv_free(info->names);
    *info = (struct mp_signature_info){ 0 };
}

static bool
ascii_case_equal(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a;
        char y = *b >= 'A' && *b <= 'Z' ? (char)(*b + 32) : *b;
        if (x != y)
            return false;
    }
    return *a == *b;
}

/* The names a certificate stands for: its DNS names, or its common name
 * when it has none (RFC 6125). A name with a NUL in it counts as none. */
static char **
cert_names(gnutls_x509_crt_t crt)
{
    char **names = NULL;
    char buf[256];
    for (unsigned i = 0;; i++) {
        size_t size = sizeof(buf);
        unsigned type = 0;
        int r = gnutls_x509_crt_get_subject_alt_name2(crt, i, buf, &size, &type, NULL);
        if (r == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
            break;
        if (r < 0 && r != GNUTLS_E_SHORT_MEMORY_BUFFER)
            break; /* a malformed extension: its other names are not worth more */
        if (r >= 0 && type == GNUTLS_SAN_DNSNAME && size > 0 && strlen(buf) == size)
            names = mp_strv_append(names, buf);
    }
    if (names)
        return names;
    size_t size = sizeof(buf);
    if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &size) >= 0 &&
        size > 0 && strlen(buf) == size)
        names = mp_strv_append(names, buf);
    return names;
}

static const char *
matching_name(char *const *names, const char *host)
{
    for (; names && *names; names++)
        if (ascii_case_equal(*names, host))
            return *names;
    return NULL;
}

int
mp_signature_check_signer(const struct mp_signature_info *info, const char *host,
                          struct mp_error **err)
{
    if (matching_name(info->names, host))
        return 0;
    return mp_error_input(err, EPERM, "the cookie's signer %s is not host %s",
                          info->signer ? info->signer : "(a certificate without a name)", host);
}

static void
format_utc(time_t t, char *buf, size_t size)
{
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(buf, size, "@%lld", (long long)t);
}

static int
import_signer(const struct mp_signature_trailer *t, gnutls_x509_crt_t *out, struct mp_error **err)
{
    gnutls_datum_t der = { t->cert, (unsigned)t->cert_len };
    int r = gnutls_x509_crt_init(out);
    if (r >= 0)
        r = gnutls_x509_crt_import(*out, &der, GNUTLS_X509_FMT_DER);
    if (r < 0)
        return mp_error_input(err, EBADMSG, "the cookie's signer certificate is malformed (%s)",
                              gnutls_strerror(r));
    const char *why = cert_cannot_sign(*out);
    if (why)
        return mp_error_input(err, EKEYREJECTED, "the signer's certificate cannot sign cookies: %s",
                              why);
    return 0;
}

/* The signer's own validity at now, checked here so that the message can say
 * whose certificate expired and when. */
static int
check_validity(gnutls_x509_crt_t crt, time_t now, struct mp_error **err)
{
    time_t from = gnutls_x509_crt_get_activation_time(crt);
    time_t until = gnutls_x509_crt_get_expiration_time(crt);
    char when[64];
    if (from == (time_t)-1 || until == (time_t)-1)
        return mp_error_input(err, EBADMSG, "the signer's certificate has no valid period");
    if (now > until) {
        format_utc(until, when, sizeof(when));
        return mp_error_input(err, EKEYEXPIRED, "the signer's certificate expired on %s", when);
    }
    if (now < from) {
        format_utc(from, when, sizeof(when));
        return mp_error_input(err, EKEYREJECTED, "the signer's certificate is not valid before %s",
                              when);
    }
    return 0;
}

/* The chain up to id's CA, and its CRL. The signer's own dates were checked
 * already, so an expiry here is the CA's. */
static int
check_chain(const struct mp_identity *id, gnutls_x509_crt_t crt, struct mp_error **err)
{
    unsigned status = 0;
    int r = gnutls_x509_trust_list_verify_crt(id->trust, &crt, 1, 0, &status, NULL);
    if (r < 0)
        return mp_error_input(err, EKEYREJECTED, "the signer's certificate cannot be checked (%s)",
                              gnutls_strerror(r));
    if (status == 0)
        return 0;
    if (status & GNUTLS_CERT_REVOKED)
        return mp_error_input(err, EKEYREVOKED, "the signer's certificate is revoked (%s/%s)",
                              id->pki_dir, MP_PKI_CA_CRL);
    if (status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA))
        return mp_error_input(err, EKEYREJECTED,
                              "the signer's certificate is not issued by this host's CA "
                              "(pki-dir %s)",
                              id->pki_dir);
    if (status & GNUTLS_CERT_EXPIRED)
        return mp_error_input(err, EKEYEXPIRED, "this host's CA certificate expired (%s/%s)",
                              id->pki_dir, MP_PKI_CA_CERT);
    _cleanup_datum_ gnutls_datum_t text = { 0 };
    if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) < 0)
        return mp_error_input(err, EKEYREJECTED, "the signer's certificate is not trusted");
    return mp_error_input(err, EKEYREJECTED, "the signer's certificate is not trusted: %s",
                          (const char *)text.data);
}

/* Whether t's signer certificate is the one whose chain checked last, and
 * that check still holds at now: it was made with the same CAs and CRLs
 * (an identity's never change), and now is in the time they are all in
 * force. A CA whose dates cannot be read never lets a check be reused. */
static bool
chain_checked_before(const struct mp_identity *id, const struct mp_signature_trailer *t, time_t now)
{
    const struct signer_memo *m = id->memo;
    return m->der && id->trust_dated && now >= id->trust_from && now <= id->trust_until &&
           m->len == t->cert_len && memcmp(m->der, t->cert, t->cert_len) == 0;
}

/* check_chain, once per signer certificate while its answer holds. */
static int
check_chain_once(const struct mp_identity *id, const struct mp_signature_trailer *t,
                 gnutls_x509_crt_t crt, time_t now, struct mp_error **err)
{
    if (chain_checked_before(id, t, now))
        return 0;
    int r = check_chain(id, crt, err);
    if (r < 0)
        return r;
    free(id->memo->der);
    id->memo->der = xmalloc(t->cert_len);
    memcpy(id->memo->der, t->cert, t->cert_len);
    id->memo->len = t->cert_len;
    return 0;
}

/* data's signer, short of the signature itself: the trailer parsed (*t),
 * the certificate imported (*crt, the caller's to free either way), its
 * dates at now and its chain up to id's CA checked. */
static int
check_signer(const struct mp_identity *id, const char *data, size_t len, time_t now,
             struct mp_signature_trailer *t, gnutls_x509_crt_t *crt, struct mp_error **err)
{
    int r = mp_signature_parse(data, len, t, err);
    if (r >= 0)
        r = import_signer(t, crt, err);
    if (r >= 0)
        r = check_validity(*crt, now, err);
    if (r >= 0)
        r = check_chain_once(id, t, *crt, now, err);
    return r;
}

static int
check_signature(gnutls_x509_crt_t crt, const char *data, const struct mp_signature_trailer *t,
                struct mp_error **err)
{
    _cleanup_free_ char *msg = NULL;
    size_t msg_len = 0;
    int r = signed_message(data, t, &msg, &msg_len, err);
    if (r < 0)
        return r;
    _cleanup_pubkey_ gnutls_pubkey_t pub = NULL;
    r = gnutls_pubkey_init(&pub);
    if (r >= 0)
        r = gnutls_pubkey_import_x509(pub, crt, 0);
    if (r < 0)
        return mp_error_input(err, EKEYREJECTED, "the signer's key cannot be used (%s)",
                              gnutls_strerror(r));
    gnutls_datum_t m = { (unsigned char *)msg, (unsigned)msg_len };
    gnutls_datum_t s = { t->sig, (unsigned)t->sig_len };
    r = gnutls_pubkey_verify_data2(pub, alg_by_name(t->alg, strlen(t->alg))->id, 0, &m, &s);
    if (r == GNUTLS_E_PK_SIG_VERIFY_FAILED)
        return mp_error_input(err, EBADMSG, "the cookie's signature does not match its content");
    if (r < 0)
        return mp_error_input(err, EBADMSG,
                              "the cookie's signature does not match its signer's key (%s: %s)",
                              t->alg, gnutls_strerror(r));
    return 0;
}

int
mp_identity_verify(const struct mp_identity *id, const char *data, size_t len,
                   const char *expected_signer, time_t now, struct mp_signature_info *info,
                   struct mp_error **err)
{
    if (!id->trust)
        return missing_file(id, MP_PKI_CA_CERT, "verify", err);
    _cleanup_(mp_signature_trailer_clear) struct mp_signature_trailer t = { 0 };
    _cleanup_crt_ gnutls_x509_crt_t crt = NULL;
    int r = check_signer(id, data, len, now, &t, &crt, err);
    if (r < 0)
        return r;

    _cleanup_(mp_signature_info_clear) struct mp_signature_info found = {
        .names = cert_names(crt),
        .time = (time_t)t.time,
        .alg = t.alg,
        .payload = data,
        .payload_len = t.payload_len,
    };
    found.signer = xstrdup(found.names ? found.names[0] : "(a certificate without a name)");
    if (expected_signer) {
        r = mp_signature_check_signer(&found, expected_signer, err);
        if (r < 0)
            return r;
        free(found.signer);
        found.signer = xstrdup(matching_name(found.names, expected_signer));
    }
    r = check_signature(crt, data, &t, err);
    if (r < 0)
        return r;
    *info = found;
    found = (struct mp_signature_info){ 0 };
    return 0;
}

void
mp_identity_check_chain_ahead(const struct mp_identity *id, const char *data, size_t len,
                              time_t now)
{
    if (!id->trust)
        return;
    _cleanup_(mp_signature_trailer_clear) struct mp_signature_trailer t = { 0 };
    _cleanup_crt_ gnutls_x509_crt_t crt = NULL;
    (void)check_signer(id, data, len, now, &t, &crt, NULL);
}
