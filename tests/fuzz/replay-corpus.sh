#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Replay every seed corpus through its target (built without libFuzzer).
# A crash or sanitizer report fails the test.
set -eu
: "${top_srcdir:?run from make check}" "${top_builddir:?run from make check}"
status=0
for target in cookie journal qmp signature; do
    corpus="$top_srcdir/tests/fuzz/corpus/$target"
    replay="$top_builddir/tests/fuzz/replay-$target"
    [ -d "$corpus" ] || { echo "missing corpus $corpus"; status=1; continue; }
    # shellcheck disable=SC2046
    "$replay" $(find "$corpus" -type f | sort) || status=1
done
exit $status
