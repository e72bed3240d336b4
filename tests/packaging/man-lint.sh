#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Lint every man page that make built. mandoc -T lint must report nothing at
# warning level or above, and no style issue other than references to pages
# that are not installed here; groff, through man --warnings, must not warn
# either. Each page must have the sections every migphase page has, and no
# @variable@ left unreplaced.
set -eu
: "${top_builddir:?}" "${MIGPHASE_MANS:?}"

if ! command -v mandoc >/dev/null 2>&1; then
    echo "SKIP: mandoc is not installed (apt-get install mandoc)"
    exit 77
fi
have_man=no
if command -v man >/dev/null 2>&1 && command -v groff >/dev/null 2>&1; then
    have_man=yes
else
    echo "note: man or groff missing, checking with mandoc only"
fi

fail=0
failed() {
    echo "FAIL: $*"
    fail=1
}

for page in $MIGPHASE_MANS; do
    f=$top_builddir/$page
    if [ ! -f "$f" ]; then
        failed "$page was not built"
        continue
    fi
    # A cross-reference to a page of another package, or to one of ours
    # before installation, is not a defect of the page.
    lint=$(mandoc -T lint -W style "$f" 2>&1 |
        grep -v -e 'STYLE: referenced manual not found' -e 'mandoc\.db' || :)
    [ -z "$lint" ] || failed "mandoc -T lint $page:
$lint"

    case $page in
    *.8) sections="NAME SYNOPSIS DESCRIPTION OPTIONS FILES EXIT_STATUS EXAMPLES SEE_ALSO" ;;
    *) sections="NAME SYNOPSIS DESCRIPTION FILES EXIT_STATUS EXAMPLES SEE_ALSO" ;;
    esac
    for s in $sections; do
        title=$(echo "$s" | tr _ ' ')
        grep -qx "\.Sh $title" "$f" || failed "$page has no $title section"
    done

    if left=$(grep -n '@[A-Za-z_]*@' "$f"); then
        failed "$page has unreplaced variables:
$left"
    fi

    if [ "$have_man" = yes ]; then
        # A path under a long --prefix (make distcheck's scratch prefix) is
        # one word wider than 80 columns: that says nothing about the page.
        warnings=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 \
            man --warnings -E UTF-8 -l -Tutf8 -Z "$f" 2>&1 >/dev/null |
            grep -v "can't break line" || :)
        [ -z "$warnings" ] || failed "man --warnings $page:
$warnings"
    fi
done

[ "$fail" = 0 ] && echo "PASS: $(echo "$MIGPHASE_MANS" | wc -w) man pages lint clean"
exit "$fail"
