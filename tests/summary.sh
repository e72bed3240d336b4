#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Add up the automake test-suite logs given as arguments and print the
# closing line CI reads: "N passed, N failed, N skipped". Exits 1 if any
# test failed or errored, or if no test ran at all.
set -eu
pass=0 fail=0 skip=0
for log in "$@"; do
    [ -f "$log" ] || { echo "summary: missing $log" >&2; fail=$((fail + 1)); continue; }
    p=$(sed -n 's/^# PASS: *\([0-9]*\)/\1/p' "$log" | head -n 1)
    f=$(sed -n 's/^# FAIL: *\([0-9]*\)/\1/p' "$log" | head -n 1)
    e=$(sed -n 's/^# ERROR: *\([0-9]*\)/\1/p' "$log" | head -n 1)
    x=$(sed -n 's/^# XPASS: *\([0-9]*\)/\1/p' "$log" | head -n 1)
    s=$(sed -n 's/^# SKIP: *\([0-9]*\)/\1/p' "$log" | head -n 1)
    pass=$((pass + ${p:-0}))
    fail=$((fail + ${f:-0} + ${e:-0} + ${x:-0}))
    skip=$((skip + ${s:-0}))
done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
