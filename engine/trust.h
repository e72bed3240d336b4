/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Whom a step believes: every cookie a helper writes is signed with its
 * host's key, and every cookie it reads is verified (signature, chain up to
 * this host's CA, signer) before anything in it is used. docs/security.md
 * has the threat model; shared/sign.h the signature's form. */
#pragma once

#include "cookie.h"
#include "error.h"
#include "options.h"
#include "protocol.h"

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* A Begin cookie signed further in the future than this is refused: the
 * hosts' clocks disagree too much for its age to mean anything. */
#define MP_TRUST_MAX_CLOCK_SKEW_S 300

struct mp_trust;

/* This host's trust for a step: its identity from opts->pki_dir, or none
 * when the config says `trust = none` (then a warning is logged). Refuses,
 * with one line naming the missing file and how to create it, when the
 * files the step needs are not there: the CA to read a cookie (every step
 * but Begin), the key and certificate to write one (every step but
 * Confirm). *out is the caller's (mp_trust_free). */
int mp_trust_open(const struct mp_options *opts, enum mp_step step, struct mp_trust **out,
                  struct mp_error **err);
void mp_trust_free(struct mp_trust *trust);
/* Whether pki_dir holds the files a step needs (those mp_trust_open()
 * refuses without): 0, or an MP_ERR_INPUT error naming the first missing
 * one (err may be NULL). */
int mp_trust_check_files(const char *pki_dir, enum mp_step step, struct mp_error **err);
static inline void
mp_trust_freep(struct mp_trust **trust)
{
    mp_trust_free(*trust);
}
#define _cleanup_trust_ _cleanup_(mp_trust_freep)

/* What a verified cookie's signature said. payload points into the bytes
 * given to mp_trust_verify(): the only part of them that may be parsed. */
struct mp_trusted_bytes {
    const char *payload;
    size_t payload_len;
    bool is_signed;   /* false only with trust = none */
    time_t signed_at; /* when the signer says it signed */
    char **signer;    /* the names in the signer's certificate */
};
void mp_trusted_bytes_clear(struct mp_trusted_bytes *bytes);

/* Verify a cookie's bytes before anything in them is read. With trust =
 * none the whole input is the payload. Refusals are MP_ERR_INPUT errors. */
int mp_trust_verify(const struct mp_trust *trust, const char *data, size_t len,
                    struct mp_trusted_bytes *out, struct mp_error **err);

/* After parsing the payload: the signer must be the host the cookie says
 * wrote it (Begin and Perform cookies the source, Prepare and Finish
 * cookies the destination), and a Begin cookie read by Prepare must be no
 * older than opts->cookie_max_age_s. Refusals are MP_ERR_INPUT errors. */
int mp_trust_check_writer(const struct mp_trust *trust, const struct mp_trusted_bytes *bytes,
                          const struct mp_cookie *cookie, enum mp_step reader,
                          struct mp_error **err);

/* Sign the XML of a cookie this host writes (unchanged with trust = none).
 * *out is the caller's. */
int mp_trust_sign(const struct mp_trust *trust, const char *xml, size_t len, char **out,
                  size_t *out_len, struct mp_error **err);
/* Sign a sample and verify it, ignoring the outcome: the first signature
 * and check in a process cost several times the next ones, and Perform's
 * signature and Finish's check fall within the guest's pause. */
void mp_trust_warm(const struct mp_trust *trust);
/* A cookie its writer signed before (Finish: Begin's, which Prepare kept in
 * the journal): its signer's chain is checked now, so that the check of
 * the next cookie it signs, on the guest's pause, is one signature. */
void mp_trust_check_chain_ahead(const struct mp_trust *trust, const char *signed_cookie,
                                size_t len);
