#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Feed docs/hvsupport.pl broken driver tables and bad command lines, and check
# that each run fails with exactly the expected messages and writes nothing
# (so make never takes a half-checked matrix as up to date).
#
# A case in broken/ is NAME.err, the exact standard error expected, with an
# optional NAME.args (the arguments; default broken/NAME.c) and NAME.status
# (the exit status; default 1). Paths are relative to tests/hvsupport/, which
# the generator is given as --srcdir; the header and the package version come
# from fake-driver.h and fixture-configure.ac there, unless a case overrides
# them.
set -eu
: "${top_srcdir:?}"
PERL=${PERL:-perl}
# Messages quote strerror() texts.
LC_ALL=C
export LC_ALL

here=$top_srcdir/tests/hvsupport
work=$(mktemp -d "${TMPDIR:-/tmp}/hvsupport-broken.XXXXXX")
trap 'rm -rf "$work"' EXIT

cases=0
failed=0
for expected in "$here"/broken/*.err; do
    name=$(basename "$expected" .err)
    args=broken/$name.c
    if [ -f "$here/broken/$name.args" ]; then
        args=$(cat "$here/broken/$name.args")
    fi
    want=1
    if [ -f "$here/broken/$name.status" ]; then
        want=$(cat "$here/broken/$name.status")
    fi
    rm -f "$work"/out.*
    status=0
    # $args is split on purpose: it holds several words, none with blanks.
    # shellcheck disable=SC2086
    "$PERL" "$top_srcdir/docs/hvsupport.pl" --srcdir="$here" --header=fake-driver.h \
        --configure=fixture-configure.ac --html="$work/out.html" --text="$work/out.txt" \
        --c-source="$work/out.c" $args >"$work/stdout" 2>"$work/stderr" || status=$?

    problems=
    [ "$status" -eq "$want" ] || problems="$problems exit status $status, want $want;"
    [ ! -s "$work/stdout" ] || problems="$problems wrote to standard output;"
    for out in "$work"/out.*; do
        [ ! -e "$out" ] || problems="$problems wrote $(basename "$out");"
    done
    if ! cmp -s "$expected" "$work/stderr"; then
        problems="$problems messages differ;"
    fi
    cases=$((cases + 1))
    if [ -z "$problems" ]; then
        echo "ok $name"
    else
        failed=$((failed + 1))
        echo "FAIL $name:$problems"
        diff -u "$expected" "$work/stderr" || true
    fi
done

if [ "$cases" -eq 0 ]; then
    echo "no case found in $here/broken"
    exit 99
fi
echo "$cases cases, $failed failed"
[ "$failed" -eq 0 ]
