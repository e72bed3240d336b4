#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The generated pages are valid HTML5: tidy reports no error and no warning,
# for the real page (as built, or as shipped in the tarball) and for the
# expected page of the fixtures. Skipped when tidy is not installed.
set -eu
: "${top_srcdir:?}" "${top_builddir:?}"

if ! command -v tidy >/dev/null 2>&1; then
    echo "tidy not found: cannot validate HTML"
    exit 77
fi

page=$top_builddir/docs/hvsupport.html
[ -f "$page" ] || page=$top_srcdir/docs/hvsupport.html
failed=0
for file in "$page" "$top_srcdir/tests/hvsupport/good/expected.html"; do
    # Exit status 1 is warnings, 2 errors: both fail.
    if tidy -quiet -errors "$file"; then
        echo "ok $file"
    else
        echo "FAIL $file"
        failed=$((failed + 1))
    fi
done
[ "$failed" -eq 0 ]
