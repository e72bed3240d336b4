#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The real driver tables, in strict mode, as make check's guard that the
# support matrix is complete and current:
#  - docs/hvsupport.pl accepts every driver source without a message, checked
#    against engine/driver.h and the version in configure.ac;
#  - the installed page and text (built by make, or shipped in the tarball)
#    are exactly what the sources give now;
#  - the page has a row for every function pointer of struct mp_driver and
#    every bool of struct mp_driver_features (read here independently of the
#    generator), a column for every driver, a caption and a <thead> per table;
#  - the C data compiled into the helpers lists the same drivers, and its
#    printer prints the same text as the generator.
set -eu
: "${top_srcdir:?}" "${top_builddir:?}"
PERL=${PERL:-perl}
# Set by docs/local.mk from the list make uses; the default is for a run by hand.
sources=${HVSUPPORT_DRIVER_FILES:-qemu/driver.c xen/driver.c}

print_matrix=$top_builddir/tests/hvsupport/print-matrix
work=$(mktemp -d "${TMPDIR:-/tmp}/hvsupport-real.XXXXXX")
trap 'rm -rf "$work"' EXIT

failed=0
pass() { echo "ok $1"; }
fail() {
    echo "FAIL $1"
    failed=$((failed + 1))
}
check() { # NAME EXPECTED-FILE ACTUAL-FILE
    if cmp -s "$2" "$3"; then
        pass "$1"
    else
        fail "$1"
        diff -u "$2" "$3" || true
    fi
}

generate() { # OPTION...
    # shellcheck disable=SC2086 # $sources is a list of paths without blanks
    "$PERL" "$top_srcdir/docs/hvsupport.pl" --srcdir="$top_srcdir" --header=engine/driver.h \
        --configure=configure.ac "$@" $sources
}

html=$work/hvsupport.html
if generate --html="$html" --text="$work/hvsupport.txt" 2>"$work/stderr" \
    && [ ! -s "$work/stderr" ]; then
    pass "strict run on $sources"
else
    cat "$work/stderr"
    fail "strict run on $sources"
    echo "$failed failed"
    exit 1
fi

for file in hvsupport.html hvsupport.txt; do
    built=$top_builddir/docs/$file
    [ -f "$built" ] || built=$top_srcdir/docs/$file
    if [ -f "$built" ]; then
        check "docs/$file is up to date" "$work/$file" "$built"
    else
        fail "docs/$file was not built"
    fi
done

fields() { # STRUCT SED-EXPRESSION: the fields of a struct in engine/driver.h
    sed -n "/^struct $1 {/,/^};/p" "$top_srcdir/engine/driver.h" | sed -n "$2"
}
operations=$(fields mp_driver 's/.*(\*\([a-z_0-9]*\))(.*/\1/p')
features=$(fields mp_driver_features 's/^ *bool \([a-z_0-9]*\);.*/\1/p')
rows=0
for row in $operations $features; do
    rows=$((rows + 1))
    grep -qF "<tr><th scope=\"row\"><code>$row</code></th>" "$html" || fail "no row for $row"
done
if [ "$(grep -c '<th scope="row">' "$html")" -eq "$rows" ]; then
    pass "one row per operation and feature ($rows)"
else
    fail "one row per operation and feature ($rows)"
fi
if [ "$(grep -c '^<caption>' "$html")" -eq 2 ] && [ "$(grep -c '^<thead>$' "$html")" -eq 2 ]; then
    pass "a caption and a <thead> per table"
else
    fail "a caption and a <thead> per table"
fi

# shellcheck disable=SC2086
names=$(cd "$top_srcdir" && sed -n 's/^ *\.name = "\([^"]*\)",.*/\1/p' $sources)
for name in $names; do
    if [ "$(grep -c "<th scope=\"col\">$name</th>" "$html")" -eq 2 ]; then
        pass "a column for $name in each table"
    else
        fail "a column for $name in each table"
    fi
done

echo "$names" >"$work/names"
"$print_matrix" --list >"$work/list"
check "the C data lists the same drivers" "$work/names" "$work/list"

# print-matrix's mp_driver_names[] stands for a build with only the QEMU driver.
generate --text="$work/qemu.txt" --drivers=qemu
"$print_matrix" >"$work/c-qemu.txt"
check "mp_support_print() prints the generator's text" "$work/qemu.txt" "$work/c-qemu.txt"
# shellcheck disable=SC2086 # one argument per driver name
"$print_matrix" $names >"$work/c-all.txt"
check "mp_support_print_drivers() for every driver" "$work/hvsupport.txt" "$work/c-all.txt"

echo "$failed failed"
[ "$failed" -eq 0 ]
