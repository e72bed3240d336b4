/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A stand-in for engine/driver.h that the fixtures are checked against: the
 * same shape (metadata, function pointers, one of them through a typedef, a
 * features struct of bools), but frozen, so that a field added to the real
 * header does not change the expected outputs. Never compiled. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* A decoy the generator must not take for the real struct:
 * struct mp_driver { int (*decoy)(void); };
 */

struct mp_driver_features {
    bool live;
    bool offline;
    bool postcopy; /* a comment between fields */
    bool tls, compression;
    unsigned max_streams; /* not a bool: not a feature, takes no version */
};

typedef int (*mp_probe_op)(const char *domain, int *state);

struct mp_driver {
    const char *name;
    const struct mp_driver_features *features;
    uint64_t capabilities;

    int (*begin)(void *ctx, void **err);
    int (*prepare)(void *ctx, void **err);
    int (*perform)(void *ctx,
                   void **err);
    int (*finish)(void *ctx, void **err);
    int (*confirm)(void *ctx, void **err);
    mp_probe_op probe;
};
