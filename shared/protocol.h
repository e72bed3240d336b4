/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vocabulary of the five-step migration protocol: steps, roles, outcomes. */
#pragma once

#include <stdbool.h>

enum mp_step {
    MP_STEP_BEGIN,
    MP_STEP_PREPARE,
    MP_STEP_PERFORM,
    MP_STEP_FINISH,
    MP_STEP_CONFIRM,
    MP_STEP_COUNT,
};

enum mp_role {
    MP_ROLE_SOURCE,
    MP_ROLE_DESTINATION,
};

/* What the step that wrote a cookie (or journal record) ended with. */
enum mp_outcome {
    MP_OUTCOME_NONE,      /* no outcome yet: the step has not concluded */
    MP_OUTCOME_SUCCESS,   /* the step did what it was asked */
    MP_OUTCOME_FAILED,    /* the step failed; the migration must be cancelled */
    MP_OUTCOME_CANCELLED, /* the step was asked to cancel and did */
    MP_OUTCOME_COUNT,
};

/* Whether the stream is encrypted: Begin's request (auto: when both hosts
 * have certificates) and the configuration's mode. */
enum mp_tls_mode {
    MP_TLS_AUTO,
    MP_TLS_ON,
    MP_TLS_OFF,
    MP_TLS_COUNT,
};

/* Whether the VM's disks are copied with it, and how: none (they are
 * shared, or --unsafe), all (whole images), incremental (the top layer onto
 * a backing chain the destination already has). */
enum mp_copy_storage {
    MP_COPY_STORAGE_NONE,
    MP_COPY_STORAGE_ALL,
    MP_COPY_STORAGE_INCREMENTAL,
    MP_COPY_STORAGE_COUNT,
};

/* How the parallel (multifd) channels compress pages. */
enum mp_compress {
    MP_COMPRESS_NONE,
    MP_COMPRESS_ZLIB,
    MP_COMPRESS_ZSTD,
    MP_COMPRESS_COUNT,
};

/* Whether Perform steers a stream that does not converge (auto) or leaves
 * it to the hypervisor (none). */
enum mp_converge {
    MP_CONVERGE_AUTO,
    MP_CONVERGE_NONE,
    MP_CONVERGE_COUNT,
};

/* Lower-case names ("begin", "destination", "success"); NULL when out of range. */
const char *mp_step_name(enum mp_step step);
const char *mp_role_name(enum mp_role role);
const char *mp_outcome_name(enum mp_outcome outcome);
const char *mp_tls_mode_name(enum mp_tls_mode mode);
const char *mp_copy_storage_name(enum mp_copy_storage mode);
const char *mp_compress_name(enum mp_compress compress);
const char *mp_converge_name(enum mp_converge converge);
/* Parse those names. Return 0, or -EINVAL for anything else. */
int mp_step_parse(const char *s, enum mp_step *out);
int mp_role_parse(const char *s, enum mp_role *out);
int mp_outcome_parse(const char *s, enum mp_outcome *out);
int mp_tls_mode_parse(const char *s, enum mp_tls_mode *out);
int mp_copy_storage_parse(const char *s, enum mp_copy_storage *out);
int mp_compress_parse(const char *s, enum mp_compress *out);
int mp_converge_parse(const char *s, enum mp_converge *out);
/* The host each step runs on. */
enum mp_role mp_step_role(enum mp_step step);
