/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Signed cookies: a host signs every cookie it writes with its X.509 key, and
 * a reader checks the signature, the signer's chain up to its own CA and the
 * signer's name before it uses anything in the cookie (DESIGN.md, "Trust
 * between hosts").
 *
 * A signed cookie is the cookie's bytes, unchanged and ending with a newline,
 * followed by one processing instruction on a line of its own, which XML
 * allows after the root element:
 *
 *   <?migphase-signature v="1" time="T" alg="A" cert="C" sig="S"?>\n
 *
 * T is the signing time (decimal Unix seconds), A a signature algorithm by
 * its GnuTLS name, C the signer's certificate (base64 of its DER) and S the
 * signature (base64) over the cookie's bytes, a NUL, and the string
 * "migphase-signature v=1 time=T alg=A cert-sha256=H", H being the lowercase
 * hex SHA-256 of the DER certificate. The reader accepts exactly this form
 * and parses exactly the bytes before it. */
#pragma once

#include "error.h"

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* The files of that layout migphase reads; the CRL is optional. */
#define MP_PKI_CA_CERT     "ca-cert.pem"
#define MP_PKI_CA_CRL      "ca-crl.pem"
#define MP_PKI_SERVER_CERT "server-cert.pem"
#define MP_PKI_SERVER_KEY  "server-key.pem"

/* How the trailer starts: its presence says a cookie was meant to be signed. */
#define MP_SIGNATURE_MARKER "<?migphase-signature"
/* Bounds on the trailer's parts, far above any real key: RSA-16384 signs in
 * 2 KiB; a certificate with a few names is 1 to 3 KiB. */
#define MP_SIGNATURE_MAX_CERT    16384
#define MP_SIGNATURE_MAX_SIG     2048
#define MP_SIGNATURE_MAX_TRAILER 32768

/* A host's identity: its signing key and certificate (server-key.pem,
 * server-cert.pem) and what it trusts (ca-cert.pem, ca-crl.pem). */
struct mp_identity;

/* Load what exists of the PKI in pki_dir. A missing file is not an error
 * here: signing needs the key and the certificate, verifying the CA, and each
 * says what is missing when it is asked. A file that exists but cannot be
 * read or used (bad PEM, a key that is not the certificate's, a CRL that the
 * CA did not sign or that is out of date) fails with an MP_ERR_INPUT error
 * naming it. *out is owned by the caller (mp_identity_free). */
int mp_identity_load(const char *pki_dir, struct mp_identity **out, struct mp_error **err);
void mp_identity_free(struct mp_identity *id);
static inline void
mp_identity_freep(struct mp_identity **id)
{
    mp_identity_free(*id);
}
#define _cleanup_identity_ _cleanup_(mp_identity_freep)

/* Sign len bytes of XML (ending with a newline, carrying no NUL and no
 * signature already) at time now. *signed_out (NUL-terminated, owned by the
 * caller) is the XML unchanged followed by the trailer. Without a key or a
 * certificate, fails with -ENOKEY and a one-line MP_ERR_INPUT error saying
 * which file is missing and how to create it. */
int mp_identity_sign(const struct mp_identity *id, const char *xml, size_t len, time_t now,
                     char **signed_out, size_t *signed_len, struct mp_error **err);

/* What a verified signature says. payload points into the verified buffer:
 * it is the only part of it the caller may parse. */
struct mp_signature_info {
    char *signer;    /* the certificate's name that matched, or its first name */
    char **names;    /* every name the signer's certificate holds (NULL-terminated) */
    time_t time;     /* when the signer says it signed (the caller judges freshness) */
    const char *alg; /* the signature algorithm (a static string) */
    const char *payload;
    size_t payload_len;
};
/* Free what info holds (not the buffer payload points into). */
void mp_signature_info_clear(struct mp_signature_info *info);

/* Verify a signed cookie before anything in it is used: the trailer's form,
 * the signer's certificate (a digitalSignature key, not a CA, valid at now,
 * issued by the CA of id, not in its CRL), the signer's name, then the
 * signature over the bytes before the trailer and the trailer's fields.
 * expected_signer is the host the cookie must come from, matched without
 * regard to case against the certificate's DNS names, or its common name when
 * it has none; NULL skips that check, and the caller must then call
 * mp_signature_check_signer() before trusting the payload. Every refusal is
 * an MP_ERR_INPUT error with a one-line message ("the cookie is not signed",
 * "... does not match its content", "the cookie's signer X is not host Y",
 * "... expired", "... revoked", ...). On success info is filled; clear it. */
int mp_identity_verify(const struct mp_identity *id, const char *data, size_t len,
                       const char *expected_signer, time_t now, struct mp_signature_info *info,
                       struct mp_error **err);

/* Check, ahead of the cookie that matters, the chain of the certificate that
 * signed data: when that cookie is signed by the same certificate, its
 * mp_identity_verify() checks only the signature (and the signer's dates),
 * as long as the CAs and CRLs that answered stay in force. Any failure here
 * is forgotten: the later check meets it again and says what is wrong. */
void mp_identity_check_chain_ahead(const struct mp_identity *id, const char *data, size_t len,
                                   time_t now);

/* Whether host (without regard to case) is one of the signer's names. Fails
 * with -EPERM and "the cookie's signer X is not host Y" otherwise. */
int mp_signature_check_signer(const struct mp_signature_info *info, const char *host,
                              struct mp_error **err);

/* Whether data carries a signature trailer at all, well formed or not: for
 * messages that tell an unsigned cookie from a badly signed one. */
bool mp_signature_present(const char *data, size_t len);

/* The trailer's fields, as mp_signature_parse() found them. Exposed for the
 * fuzz target and the tests; the steps use mp_identity_verify(). */
struct mp_signature_trailer {
    size_t payload_len; /* the bytes before the trailer */
    int64_t time;
    const char *alg; /* a static string from the accepted algorithms */
    unsigned char *cert;
    size_t cert_len;
    unsigned char *sig;
    size_t sig_len;
};
void mp_signature_trailer_clear(struct mp_signature_trailer *t);

/* Find and parse the trailer of data, strictly: the last line, exactly the
 * form above, an accepted algorithm, canonical base64, bounded sizes, and no
 * other signature before it. Refusals are MP_ERR_INPUT errors; -ENOMSG with
 * "the cookie is not signed" when there is no trailer at all. Checks no
 * cryptography. */
int mp_signature_parse(const char *data, size_t len, struct mp_signature_trailer *out,
                       struct mp_error **err);
/* The trailer line for t (NUL-terminated, owned by the caller): what
 * mp_signature_parse() accepts, byte for byte. */
char *mp_signature_trailer_format(const struct mp_signature_trailer *t, size_t *len);
