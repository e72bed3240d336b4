/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Replays fuzz inputs through a target's LLVMFuzzerTestOneInput without
 * libFuzzer, so the seed corpus runs in every `make check` with the normal
 * (or sanitizer) build. usage: replay-X FILE... */
#include "config.h"

#include "error.h"
#include "util.h"

#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        struct mp_error *err = NULL;
        if (mp_read_file(argv[i], 64 * 1024 * 1024, &buf, &len, &err) < 0) {
            fprintf(stderr, "%s: %s\n", argv[0], err->message);
            mp_error_free(err);
            return 1;
        }
        LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
    }
    printf("%s: replayed %d inputs\n", argv[0], argc - 1);
    return 0;
}
