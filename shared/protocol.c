/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "protocol.h"

#include "util.h"

#include <errno.h>
#include <string.h>

static const char *const step_names[] = {
    [MP_STEP_BEGIN] = "begin",   [MP_STEP_PREPARE] = "prepare", [MP_STEP_PERFORM] = "perform",
    [MP_STEP_FINISH] = "finish", [MP_STEP_CONFIRM] = "confirm",
};

static const char *const role_names[] = {
    [MP_ROLE_SOURCE] = "source",
    [MP_ROLE_DESTINATION] = "destination",
};

static const char *const outcome_names[] = {
    [MP_OUTCOME_NONE] = "none",
    [MP_OUTCOME_SUCCESS] = "success",
    [MP_OUTCOME_FAILED] = "failed",
    [MP_OUTCOME_CANCELLED] = "cancelled",
};

static const char *const tls_mode_names[] = {
    [MP_TLS_AUTO] = "auto",
    [MP_TLS_ON] = "on",
    [MP_TLS_OFF] = "off",
};

static const char *const copy_storage_names[] = {
    [MP_COPY_STORAGE_NONE] = "none",
    [MP_COPY_STORAGE_ALL] = "all",
    [MP_COPY_STORAGE_INCREMENTAL] = "incremental",
};

static const char *const compress_names[] = {
    [MP_COMPRESS_NONE] = "none",
    [MP_COMPRESS_ZLIB] = "zlib",
    [MP_COMPRESS_ZSTD] = "zstd",
};

static const char *const converge_names[] = {
    [MP_CONVERGE_AUTO] = "auto",
    [MP_CONVERGE_NONE] = "none",
};

static const char *
name_of(const char *const *names, size_t n, int value)
{
    if (value < 0 || (size_t)value >= n)
        return NULL;
    return names[value];
}

static int
parse_name(const char *const *names, size_t n, const char *s, int *out)
{
    for (size_t i = 0; s && i < n; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (int)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *
mp_step_name(enum mp_step step)
{
    return name_of(step_names, ARRAY_SIZE(step_names), step);
}

const char *
mp_role_name(enum mp_role role)
{
    return name_of(role_names, ARRAY_SIZE(role_names), role);
}

const char *
mp_outcome_name(enum mp_outcome outcome)
{
    return name_of(outcome_names, ARRAY_SIZE(outcome_names), outcome);
}

int
mp_step_parse(const char *s, enum mp_step *out)
{
    int v;
    int r = parse_name(step_names, ARRAY_SIZE(step_names), s, &v);
    if (r == 0)
        *out = (enum mp_step)v;
    return r;
}

int
mp_role_parse(const char *s, enum mp_role *out)
{
    int v;
    int r = parse_name(role_names, ARRAY_SIZE(role_names), s, &v);
    if (r == 0)
        *out = (enum mp_role)v;
    return r;
}

int
mp_outcome_parse(const char *s, enum mp_outcome *out)
{
    int v;
    int r = parse_name(outcome_names, ARRAY_SIZE(outcome_names), s, &v);
    if (r == 0)
        *out = (enum mp_outcome)v;
    return r;
}

const char *
mp_tls_mode_name(enum mp_tls_mode mode)
{
    return name_of(tls_mode_names, ARRAY_SIZE(tls_mode_names), mode);
}

int
mp_tls_mode_parse(const char *s, enum mp_tls_mode *out)
{
    int v;
    int r = parse_name(tls_mode_names, ARRAY_SIZE(tls_mode_names), s, &v);
    if (r == 0)
        *out = (enum mp_tls_mode)v;
    return r;
}

const char *
mp_copy_storage_name(enum mp_copy_storage mode)
{
    return name_of(copy_storage_names, ARRAY_SIZE(copy_storage_names), mode);
}

int
mp_copy_storage_parse(const char *s, enum mp_copy_storage *out)
{
    int v;
    int r = parse_name(copy_storage_names, ARRAY_SIZE(copy_storage_names), s, &v);
    if (r == 0)
        *out = (enum mp_copy_storage)v;
    return r;
}

const char *
mp_compress_name(enum mp_compress compress)
{
    return name_of(compress_names, ARRAY_SIZE(compress_names), compress);
}

int
mp_compress_parse(const char *s, enum mp_compress *out)
{
    int v;
    int r = parse_name(compress_names, ARRAY_SIZE(compress_names), s, &v);
    if (r == 0)
        *out = (enum mp_compress)v;
    return r;
}

const char *
mp_converge_name(enum mp_converge converge)
{
    return name_of(converge_names, ARRAY_SIZE(converge_names), converge);
}

int
mp_converge_parse(const char *s, enum mp_converge *out)
{
    int v;
    int r = parse_name(converge_names, ARRAY_SIZE(converge_names), s, &v);
    if (r == 0)
        *out = (enum mp_converge)v;
    return r;
}

enum mp_role
mp_step_role(enum mp_step step)
{
    return step == MP_STEP_PREPARE || step == MP_STEP_FINISH ? MP_ROLE_DESTINATION : MP_ROLE_SOURCE;
}
