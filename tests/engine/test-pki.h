/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A test PKI made at test time with GnuTLS's API, in a fresh directory: a
 * CA, another CA nobody trusts, and host directories in QEMU's layout
 * (ca-cert.pem, server-cert.pem, server-key.pem, ca-crl.pem) with any kind
 * of certificate a test needs (expired, of another CA, of another name, a
 * CA as signer...). No external tool. Used by test-sign.c (the signature
 * module) and test-trust.c (the steps with signed cookies). Every failure
 * is a Criterion assertion. */
#pragma once

#include "sign.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#define PKI_DAY (24 * 3600)

/* Set by pki_setup(): the directory every host directory is made in, the
 * time certificates are made relative to, and the two CAs. */
extern char pki_root[64];
extern time_t pki_now;
extern gnutls_x509_privkey_t pki_ca_key, pki_other_ca_key;
extern gnutls_x509_crt_t pki_ca, pki_other_ca;

/* Make /tmp/PREFIX-XXXXXX and both CAs; remove them all. */
void pki_setup(const char *prefix);
void pki_teardown(void);

gnutls_x509_privkey_t pki_new_key(gnutls_pk_algorithm_t pk, unsigned bits);
gnutls_x509_privkey_t pki_new_ec_key(void);

struct pki_cert_spec {
    const char *cn;
    const char *dns[3];
    long from, until; /* seconds from pki_now */
    bool ca;
    unsigned usage; /* key usage; 0 leaves the extension out */
};

/* A host certificate's spec: CN and one DNS name, valid from an hour ago
 * for a day, for signing. */
struct pki_cert_spec pki_host_spec(const char *name);
/* A certificate for key, signed by issuer (itself when NULL). The caller
 * deinits it. */
gnutls_x509_crt_t pki_new_cert(gnutls_x509_privkey_t key, const struct pki_cert_spec *s,
                               gnutls_x509_crt_t issuer, gnutls_x509_privkey_t issuer_key);
gnutls_x509_crt_t pki_new_ca(gnutls_x509_privkey_t key, const char *cn);

/* pki_root/dir/name, newly allocated. */
char *pki_path(const char *dir, const char *name);
/* Write a file, a certificate (PEM) or a key (PKCS#8 PEM) as dir/name. */
void pki_write_datum(const char *dir, const char *name, const gnutls_datum_t *d, mode_t mode);
void pki_write_cert(const char *dir, const char *name, gnutls_x509_crt_t crt);
void pki_write_key(const char *dir, const char *name, gnutls_x509_privkey_t key);

/* A host's directory as migphase-pki makes it: the CA pki_ca, and a key and
 * a certificate issued by issuer (pki_ca when NULL). Returns the
 * certificate. */
gnutls_x509_crt_t pki_make_host_with(const char *dir, gnutls_x509_privkey_t key,
                                     const struct pki_cert_spec *s, gnutls_x509_crt_t issuer,
                                     gnutls_x509_privkey_t issuer_key);
/* The same with a fresh key and pki_host_spec(name), in directory name. */
gnutls_x509_crt_t pki_make_host(const char *name);
/* The same in directory dir for host name; returns nothing. */
void pki_make_host_in(const char *dir, const char *name);

/* A CRL of issuer revoking crt (none when NULL), valid from `from` to
 * `until` seconds from pki_now, written to dir/ca-crl.pem. */
void pki_write_crl(const char *dir, gnutls_x509_crt_t crt, gnutls_x509_crt_t issuer,
                   gnutls_x509_privkey_t issuer_key, long from, long until);
