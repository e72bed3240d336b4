#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Checks that the test guest's serial output carried on across a migration:
#
#   check-serial.sh SOURCE.log DESTINATION.log
#
# The rule (README.md, "Serial continuity"): the source log followed byte for byte by the
# destination log numbers its tick lines 1, 2, 3, ... with no gap or repeat; at least one
# tick line ends in the destination log; the destination log holds no banner line (it did
# not boot on its own); neither log holds an error line (e.g. a failed self-check).
# Joining the bytes first is what makes a line cut by the switchover count once.
# Prints one verdict line; exits 0 if continuous, 1 if not, 2 if it could not check.
set -eu

if [ $# -ne 2 ]; then
    echo "usage: check-serial.sh SOURCE.log DESTINATION.log" >&2
    exit 2
fi
for f in "$1" "$2"; do
    if [ ! -r "$f" ]; then
        echo "check-serial.sh: cannot read $f" >&2
        exit 2
    fi
done

# A source log that does not end in a newline ends with the first half of a line that the
# destination finishes: only the source's complete lines are the source's.
if [ -n "$(tail -c 1 "$1")" ]; then
    src_last=$(sed '$d' "$1" | sed -n 's/^tick \([0-9][0-9]*\) pass [0-9][0-9]*$/\1/p' | tail -n 1)
else
    src_last=$(sed -n 's/^tick \([0-9][0-9]*\) pass [0-9][0-9]*$/\1/p' "$1" | tail -n 1)
fi

# The guest reports what its self-check finds on the serial port (README.md).
error=$(cat "$1" "$2" | grep -m 1 '^migphase-guest: error: ' || :)
if [ -n "$error" ]; then
    echo "serial check: FAILED: the guest says: ${error#migphase-guest: error: }"
    exit 1
fi
if grep -q '^migphase-guest: ' "$2"; then
    echo "serial check: FAILED: the destination printed a banner: it booted instead of resuming"
    exit 1
fi

cat "$1" "$2" | awk -v src_last="${src_last:-0}" '
    /^tick [0-9]+ pass [0-9]+$/ {
        n = $2 + 0
        if (count++ && n != last + 1) {
            printf "serial check: FAILED: tick %d follows tick %d\n", n, last
            bad = 1
            exit 1
        }
        if (count == 1)
            first = n
        last = n
    }
    END {
        if (bad)
            exit 1
        if (count == 0 || last <= src_last) {
            printf "serial check: FAILED: no tick line from the destination"
            printf " (source ended at tick %d)\n", src_last
            exit 1
        }
        printf "serial check: OK, source ticks %d..%d, destination ticks %d..%d\n",
            first, src_last, src_last + 1, last
    }'
