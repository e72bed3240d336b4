#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The project is LGPL-2.1-or-later, as libvirt: COPYING holds the license,
# every source file says so in an SPDX line near its top, and the packaging
# says the same (migphase.spec's License, debian/copyright where debian/ is).
# Test inputs whose lines are compared byte for byte (cookies, fuzz
# corpora, the support matrix's fixtures) carry no line of their own.
set -eu
: "${top_srcdir:?}"
tag='SPDX-License-Identifier: LGPL-2.1-or-later'
fail=0
failed() {
    echo "FAIL: $*"
    fail=1
}

if ! grep -q 'GNU LESSER GENERAL PUBLIC LICENSE' "$top_srcdir/COPYING" 2>/dev/null ||
    ! grep -q 'Version 2.1, February 1999' "$top_srcdir/COPYING"; then
    failed "COPYING is not the LGPL 2.1"
fi
grep -qx 'License:[[:space:]]*LGPL-2.1-or-later' "$top_srcdir/migphase.spec" ||
    failed "migphase.spec's License is not LGPL-2.1-or-later"
if [ -f "$top_srcdir/debian/copyright" ]; then
    if ! grep -q '^License: LGPL-2.1+$' "$top_srcdir/debian/copyright" ||
        grep -q 'TBD' "$top_srcdir/debian/copyright"; then
        failed "debian/copyright does not give LGPL-2.1+"
    fi
fi

# Build trees (a config.status), generated files and test inputs are left out.
list=$(mktemp)
trap 'rm -f "$list"' EXIT
prune=$(find "$top_srcdir" -name config.status -printf '-path %h -prune -o ' 2>/dev/null)
# shellcheck disable=SC2086 # $prune is a list of find arguments
find "$top_srcdir" $prune \
    \( -name .git -o -name autom4te.cache -o -path '*/tests/data' -o -path '*/tests/fuzz/corpus' \
    -o -path '*/tests/hvsupport/broken' -o -path '*/tests/hvsupport/good' -o -name build-aux \) -prune -o \
    -type f \( -name '*.[chS]' -o -name '*.sh' -o -name '*.py' -o -name '*.pl' -o -name '*.mk' \
    -o -name '*.am' -o -name configure.ac -o -name '*.rng' -o -name '*.in' -o -name '*.spec' \) \
    ! -name Makefile.in ! -name config.h.in ! -name fixture-configure.ac ! -name '*.gen.c' \
    -print >"$list"
n=0
while read -r f; do
    n=$((n + 1))
    head -n 3 "$f" | grep -qF "$tag" || failed "${f#"$top_srcdir"/} has no '$tag' line at its top"
done <"$list"
[ "$n" -gt 100 ] || failed "only $n source files found: the search is broken"
[ "$fail" = 0 ] && echo "PASS: COPYING, the packaging and $n source files say LGPL-2.1-or-later"
exit "$fail"
