#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# docs/recovery.md shows the recovery rules the code applies: the table
# between its markers is what `migphase-status --rules` prints.
set -eu
: "${top_srcdir:?run from make check}" "${top_builddir:?run from make check}"
doc="$top_srcdir/docs/recovery.md"
expected=$(mktemp)
actual=$(mktemp)
trap 'rm -f "$expected" "$actual"' EXIT
sed -n '/<!-- recovery-rules: begin -->/,/<!-- recovery-rules: end -->/p' "$doc" |
    sed '1d;$d' >"$expected"
"$top_builddir/helpers/migphase-status" --config /dev/null --rules >"$actual"
[ -s "$actual" ] || { echo "migphase-status --rules printed nothing"; exit 1; }
if ! diff -u "$expected" "$actual"; then
    echo "docs/recovery.md and the code's recovery table differ: update the page"
    exit 1
fi
echo "docs/recovery.md matches the code's $(($(wc -l <"$actual") - 2)) rules"
