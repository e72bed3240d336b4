/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* qemu-option-table: print the destination's QEMU option table, one option
 * a line: "NAME value|flag ACTION", NAME with one leading dash. The test
 * tests/security/option-table.sh compares it with an emulator's -help. */
#include "config.h"

#include "option-table.h"

#include <stdio.h>

int
main(void)
{
    static const char *const actions[] = {
        [QEMU_OPT_ALLOW] = "allow",
        [QEMU_OPT_CHECK] = "check",
        [QEMU_OPT_DROP] = "drop",
        [QEMU_OPT_REFUSE] = "refuse",
    };
    size_t n;
    const struct qemu_option *table = qemu_option_table(&n);
    for (size_t i = 0; i < n; i++)
        printf("%s %s %s\n", table[i].name, table[i].takes_value ? "value" : "flag",
               actions[table[i].action]);
    return fflush(stdout) == 0 ? 0 : 1;
}
