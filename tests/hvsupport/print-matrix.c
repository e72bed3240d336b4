/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Print the support matrix as a helper's --version --verbose does, for
 * tests/hvsupport/runtime-matrix.sh to compare with docs/hvsupport.pl --text.
 *
 *   print-matrix           mp_support_print(), with mp_driver_name() below
 *   print-matrix NAME...   mp_support_print_drivers() for drivers so named
 *   print-matrix --list    the names of the drivers in the generated data
 *
 * It links the generated data but not the drivers themselves (Xen is optional
 * and their code is not needed): the matrix only needs a driver's name. */
#include "config.h"

#include "driver.h"
#include "support.h"

#include <stdio.h>
#include <string.h>

#define MAX_DRIVERS 16

const char *
mp_driver_name(size_t i)
{
    return i == 0 ? PRINT_MATRIX_DRIVER : NULL;
}

int
main(int argc, char **argv)
{
    const char *list[MAX_DRIVERS + 1] = { NULL };

    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (const struct mp_support_driver *d = mp_support_drivers; d->name; d++)
            puts(d->name);
    } else if (argc == 1) {
        mp_support_print(stdout);
    } else if (argc - 1 > MAX_DRIVERS) {
        fprintf(stderr, "print-matrix: at most %d drivers\n", MAX_DRIVERS);
        return 2;
    } else {
        for (int i = 1; i < argc; i++)
            list[i - 1] = argv[i];
        mp_support_print_drivers(stdout, list);
    }
    return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}
