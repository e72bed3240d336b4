#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The destination's QEMU option table (qemu/option-table.c) against the
# installed emulator's own list: every option `qemu-system-x86_64 -help`
# prints must be in the table, and take a value there exactly when it does
# in QEMU. A missing option or a wrong shape fails; without QEMU the test
# is skipped, never passed.
set -euo pipefail
: "${top_builddir:?run from make check, or export top_builddir}"

qemu=${MIGPHASE_TEST_QEMU:-qemu-system-x86_64}
if ! command -v "$qemu" >/dev/null; then
    echo "SKIP: $qemu is not installed"
    exit 77
fi
table=$("$top_builddir/tests/security/qemu-option-table")
[ -n "$table" ] || {
    echo "FAIL: the option table is empty" >&2
    exit 1
}

# QEMU's help: a line that starts with "-name" defines one option (or two,
# "-fda/-fdb", "-h or -help"). Descriptions start at column 16, or after
# several spaces when the name is longer. So the text after the name is an
# argument shape when it starts before column 16 ("-dtb    file    use..."),
# or after a single space past it ("-watchdog-action reset|..."); nothing,
# or a description ("-async-teardown enable..."), means no value.
help_options() {
    "$qemu" -help | awk '
        /^-/ {
            line = $0
            # Same width, so the help column stays where it was.
            sub(/^-h or -help/, "-h/-help   ", line)
            match(line, /^-[-A-Za-z0-9_]+(\/-[-A-Za-z0-9_]+)*/)
            names = substr(line, 1, RLENGTH)
            rest = substr(line, RLENGTH + 1)
            match(rest, /^ */)
            column = length(names) + RLENGTH
            if (rest ~ /^ *$/ || column == 16) {
                shape = "flag"
            } else if (column < 16 || rest ~ /^ [^ ]/) {
                shape = "value"
            } else {
                shape = "flag"
            }
            n = split(names, each, "/")
            for (i = 1; i <= n; i++) {
                name = each[i]
                sub(/^--/, "-", name)
                print name, shape
            }
        }' | sort -u
}

listed=$(help_options)
count=$(printf '%s\n' "$listed" | wc -l)
[ "$count" -ge 100 ] || {
    echo "FAIL: only $count options parsed from $qemu -help" >&2
    exit 1
}
failed=0
while read -r name shape; do
    row=$(printf '%s\n' "$table" | awk -v n="$name" '$1 == n' | head -n 1)
    if [ -z "$row" ]; then
        echo "FAIL: $qemu has $name ($shape), the table does not" >&2
        failed=1
        continue
    fi
    read -r _ tshape action <<<"$row"
    if [ "$tshape" != "$shape" ]; then
        echo "FAIL: $name takes a $shape in $qemu, a $tshape in the table" >&2
        failed=1
    fi
    echo "$name $shape $action"
done <<<"$listed"
[ "$failed" -eq 0 ] || exit 1
echo "PASS: $(printf '%s\n' "$listed" | awk '{print $1}' | sort -u | wc -l) options of $("$qemu" -version | head -n 1) in the table"
