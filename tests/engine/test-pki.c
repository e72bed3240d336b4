/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The test PKI (test-pki.h). */
#include "config.h"

#include "test-pki.h"

#include "tests/remove-tree.h"
#include "util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

char pki_root[64];
time_t pki_now;
gnutls_x509_privkey_t pki_ca_key, pki_other_ca_key;
gnutls_x509_crt_t pki_ca, pki_other_ca;
static unsigned next_serial = 1;

gnutls_x509_privkey_t
pki_new_key(gnutls_pk_algorithm_t pk, unsigned bits)
{
    gnutls_x509_privkey_t key;
    cr_assert_geq(gnutls_x509_privkey_init(&key), 0);
    int r = gnutls_x509_privkey_generate(key, pk, bits, 0);
    cr_assert_geq(r, 0, "key generation: %s", gnutls_strerror(r));
    return key;
}

gnutls_x509_privkey_t
pki_new_ec_key(void)
{
    return pki_new_key(GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1));
}

struct pki_cert_spec
pki_host_spec(const char *name)
{
    return (struct pki_cert_spec){
        .cn = name,
        .dns = { name },
        .from = -3600,
        .until = PKI_DAY,
        .usage = GNUTLS_KEY_DIGITAL_SIGNATURE | GNUTLS_KEY_KEY_ENCIPHERMENT,
    };
}

gnutls_x509_crt_t
pki_new_cert(gnutls_x509_privkey_t key, const struct pki_cert_spec *s, gnutls_x509_crt_t issuer,
             gnutls_x509_privkey_t issuer_key)
{
    gnutls_x509_crt_t crt;
    unsigned char serial[4] = { 0, 0, (unsigned char)(next_serial >> 8),
                                (unsigned char)next_serial };
    next_serial++;
    cr_assert_geq(gnutls_x509_crt_init(&crt), 0);
    cr_assert_geq(gnutls_x509_crt_set_version(crt, 3), 0);
    cr_assert_geq(gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)), 0);
    cr_assert_geq(
        gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, s->cn, strlen(s->cn)),
        0);
    cr_assert_geq(gnutls_x509_crt_set_key(crt, key), 0);
    cr_assert_geq(gnutls_x509_crt_set_activation_time(crt, pki_now + s->from), 0);
    cr_assert_geq(gnutls_x509_crt_set_expiration_time(crt, pki_now + s->until), 0);
    cr_assert_geq(gnutls_x509_crt_set_basic_constraints(crt, s->ca, -1), 0);
    if (s->usage)
        cr_assert_geq(gnutls_x509_crt_set_key_usage(crt, s->usage), 0);
    for (size_t i = 0; i < ARRAY_SIZE(s->dns) && s->dns[i]; i++)
        cr_assert_geq(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, s->dns[i],
                                                           strlen(s->dns[i]), GNUTLS_FSAN_APPEND),
                      0);
    unsigned char id[64];
    size_t id_size = sizeof(id);
    cr_assert_geq(gnutls_x509_crt_get_key_id(crt, 0, id, &id_size), 0);
    cr_assert_geq(gnutls_x509_crt_set_subject_key_id(crt, id, id_size), 0);
    if (issuer) {
        id_size = sizeof(id);
        cr_assert_geq(gnutls_x509_crt_get_subject_key_id(issuer, id, &id_size, NULL), 0);
        cr_assert_geq(gnutls_x509_crt_set_authority_key_id(crt, id, id_size), 0);
    }
    int r = gnutls_x509_crt_sign2(crt, issuer ? issuer : crt, issuer ? issuer_key : key,
                                  GNUTLS_DIG_SHA256, 0);
    cr_assert_geq(r, 0, "signing the certificate: %s", gnutls_strerror(r));
    return crt;
}

gnutls_x509_crt_t
pki_new_ca(gnutls_x509_privkey_t key, const char *cn)
{
    struct pki_cert_spec s = {
        .cn = cn,
        .from = -PKI_DAY,
        .until = 30 * PKI_DAY,
        .ca = true,
        .usage = GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN,
    };
    return pki_new_cert(key, &s, NULL, NULL);
}

char *
pki_path(const char *dir, const char *name)
{
    return xasprintf("%s/%s/%s", pki_root, dir, name);
}

void
pki_write_datum(const char *dir, const char *name, const gnutls_datum_t *d, mode_t mode)
{
    _cleanup_free_ char *d_path = xasprintf("%s/%s", pki_root, dir);
    cr_assert_eq(mp_mkdir_p(d_path, 0700), 0, "mkdir %s", d_path);
    _cleanup_free_ char *path = pki_path(dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(d->data, 1, d->size, f), d->size);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(chmod(path, mode), 0);
}

void
pki_write_cert(const char *dir, const char *name, gnutls_x509_crt_t crt)
{
    gnutls_datum_t d = { 0 };
    cr_assert_geq(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &d), 0);
    pki_write_datum(dir, name, &d, 0644);
    gnutls_free(d.data);
}

void
pki_write_key(const char *dir, const char *name, gnutls_x509_privkey_t key)
{
    gnutls_datum_t d = { 0 };
    cr_assert_geq(
        gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &d),
        0);
    pki_write_datum(dir, name, &d, 0600);
    gnutls_free(d.data);
}

gnutls_x509_crt_t
pki_make_host_with(const char *dir, gnutls_x509_privkey_t key, const struct pki_cert_spec *s,
                   gnutls_x509_crt_t issuer, gnutls_x509_privkey_t issuer_key)
{
    gnutls_x509_crt_t crt =
        pki_new_cert(key, s, issuer ? issuer : pki_ca, issuer ? issuer_key : pki_ca_key);
    pki_write_cert(dir, MP_PKI_CA_CERT, pki_ca);
    pki_write_cert(dir, MP_PKI_SERVER_CERT, crt);
    pki_write_key(dir, MP_PKI_SERVER_KEY, key);
    return crt;
}

void
pki_make_host_in(const char *dir, const char *name)
{
    struct pki_cert_spec s = pki_host_spec(name);
    gnutls_x509_privkey_t key = pki_new_ec_key();
    gnutls_x509_crt_deinit(pki_make_host_with(dir, key, &s, NULL, NULL));
    gnutls_x509_privkey_deinit(key);
}

gnutls_x509_crt_t
pki_make_host(const char *name)
{
    struct pki_cert_spec s = pki_host_spec(name);
    gnutls_x509_privkey_t key = pki_new_ec_key();
    gnutls_x509_crt_t crt = pki_make_host_with(name, key, &s, NULL, NULL);
    gnutls_x509_privkey_deinit(key);
    return crt;
}

void
pki_write_crl(const char *dir, gnutls_x509_crt_t crt, gnutls_x509_crt_t issuer,
              gnutls_x509_privkey_t issuer_key, long from, long until)
{
    gnutls_x509_crl_t crl;
    cr_assert_geq(gnutls_x509_crl_init(&crl), 0);
    cr_assert_geq(gnutls_x509_crl_set_version(crl, 2), 0);
    cr_assert_geq(gnutls_x509_crl_set_this_update(crl, pki_now + from), 0);
    cr_assert_geq(gnutls_x509_crl_set_next_update(crl, pki_now + until), 0);
    if (crt)
        cr_assert_geq(gnutls_x509_crl_set_crt(crl, crt, pki_now - 60), 0);
    int r = gnutls_x509_crl_sign2(crl, issuer, issuer_key, GNUTLS_DIG_SHA256, 0);
    cr_assert_geq(r, 0, "signing the CRL: %s", gnutls_strerror(r));
    gnutls_datum_t d = { 0 };
    cr_assert_geq(gnutls_x509_crl_export2(crl, GNUTLS_X509_FMT_PEM, &d), 0);
    pki_write_datum(dir, MP_PKI_CA_CRL, &d, 0644);
    gnutls_free(d.data);
    gnutls_x509_crl_deinit(crl);
}

void
pki_setup(const char *prefix)
{
    pki_now = time(NULL);
    int n = snprintf(pki_root, sizeof(pki_root), "/tmp/%s-XXXXXX", prefix);
    cr_assert(n > 0 && (size_t)n < sizeof(pki_root), "prefix %s too long", prefix);
    cr_assert_not_null(mkdtemp(pki_root), "mkdtemp: %s", strerror(errno));
    pki_ca_key = pki_new_ec_key();
    pki_ca = pki_new_ca(pki_ca_key, "migphase test CA");
    pki_other_ca_key = pki_new_ec_key();
    pki_other_ca = pki_new_ca(pki_other_ca_key, "another CA");
}

void
pki_teardown(void)
{
    if (pki_root[0])
        mp_test_remove_tree(pki_root);
    pki_root[0] = '\0';
    gnutls_x509_crt_deinit(pki_ca);
    gnutls_x509_crt_deinit(pki_other_ca);
    gnutls_x509_privkey_deinit(pki_ca_key);
    gnutls_x509_privkey_deinit(pki_other_ca_key);
    pki_ca = pki_other_ca = NULL;
    pki_ca_key = pki_other_ca_key = NULL;
}
