#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The generator's outputs for correct tables (tests/hvsupport/good/, checked
# against fake-driver.h), and the C printer against the generator's text:
#  - every annotation layout the tables use is read, with the right versions,
#    removed entries, entries left out, several drivers per source, a driver
#    with no feature table: the text and HTML match the expected files;
#  - --drivers picks and orders columns;
#  - mp_support_print() and mp_support_print_drivers(), built on the data
#    generated from the same fixtures, print byte for byte what --text does,
#    and "?" for a driver the matrix does not know.
set -eu
: "${top_srcdir:?}" "${top_builddir:?}"
PERL=${PERL:-perl}

here=$top_srcdir/tests/hvsupport
print_matrix=$top_builddir/tests/hvsupport/print-matrix-fixture
work=$(mktemp -d "${TMPDIR:-/tmp}/hvsupport-fixture.XXXXXX")
trap 'rm -rf "$work"' EXIT

failed=0
check() { # NAME EXPECTED-FILE ACTUAL-FILE
    if cmp -s "$2" "$3"; then
        echo "ok $1"
    else
        echo "FAIL $1"
        diff -u "$2" "$3" || true
        failed=$((failed + 1))
    fi
}

generate() { # OPTION... (sources appended)
    "$PERL" "$top_srcdir/docs/hvsupport.pl" --srcdir="$here" --header=fake-driver.h \
        --configure=fixture-configure.ac "$@" good/alpha.c good/beta.c
}

: >"$work/empty"
generate --text="$work/all.txt" --html="$work/all.html" 2>"$work/stderr"
check "no message for good tables" "$work/empty" "$work/stderr"
check "text matrix" "$here/good/expected.txt" "$work/all.txt"
check "HTML matrix" "$here/good/expected.html" "$work/all.html"

generate --text="$work/subset.txt" --drivers=gamma-long-name,alpha
check "--drivers subset and order" "$here/good/expected-subset.txt" "$work/subset.txt"

printf 'No hypervisor driver is compiled in.\n' >"$work/none-expected.txt"
generate --text="$work/none.txt" --drivers=
check "--drivers with no driver" "$work/none-expected.txt" "$work/none.txt"

# The C data holds every driver, in source order.
printf 'alpha\nbeta\ngamma-long-name\n' >"$work/list-expected"
"$print_matrix" --list >"$work/list"
check "C data lists every driver" "$work/list-expected" "$work/list"

# print-matrix-fixture's mp_driver_names[] holds one driver, "alpha".
generate --text="$work/alpha.txt" --drivers=alpha
"$print_matrix" >"$work/c-alpha.txt"
check "mp_support_print() for mp_drivers[]" "$work/alpha.txt" "$work/c-alpha.txt"

for drivers in alpha,beta,gamma-long-name gamma-long-name,alpha beta; do
    generate --text="$work/perl.txt" --drivers="$drivers"
    # shellcheck disable=SC2046 # one argument per driver name
    "$print_matrix" $(echo "$drivers" | tr ',' ' ') >"$work/c.txt"
    check "C and Perl print the same matrix for $drivers" "$work/perl.txt" "$work/c.txt"
done

"$print_matrix" alpha nosuch >"$work/unknown.txt"
check "a driver missing from the matrix shows ?" "$here/good/expected-unknown.txt" \
    "$work/unknown.txt"

echo "$failed failed"
[ "$failed" -eq 0 ]
