#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# make install DESTDIR=... must lay the package out where distributions
# expect it, install nothing setuid or setgid (the helpers drop privileges,
# they never gain any) and nothing world-writable, and make uninstall must
# take every file away again.
set -eu
: "${top_builddir:?}" "${MP_MAKE:?}" "${inst_bindir:?}" "${inst_pkglibexecdir:?}"
: "${inst_pkgdatadir:?}" "${inst_sysconfdir:?}" "${inst_docdir:?}" "${inst_mandir:?}"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/root
fail=0
failed() {
    echo "FAIL: $*"
    fail=1
}

# A make of our own: not the jobserver of the make check that runs us.
# MP_MAKE is $(MAKE), which may carry options: split it.
run_make() {
    # shellcheck disable=SC2086
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL $MP_MAKE -C "$top_builddir" "$@" \
        DESTDIR="$dest" > "$tmp/make.log" 2>&1 || {
        cat "$tmp/make.log"
        echo "FAIL: make $*"
        exit 1
    }
}
run_make install
installed=$(find "$dest" ! -type d | wc -l)
: > "$tmp/empty.conf"

expect() {
    for f in "$@"; do
        [ -e "$dest$f" ] || failed "not installed: $f"
    done
}
expect_dir() {
    for d in "$@"; do
        [ -d "$dest$d" ] || failed "directory not installed: $d"
    done
}

steps="begin prepare perform finish confirm"
for s in $steps; do
    expect "$inst_pkglibexecdir/migphase-$s" "$inst_mandir/man8/migphase-$s.8"
    expect_dir "$inst_sysconfdir/migphase/hooks/$s.d"
    [ ! -e "$dest$inst_bindir/migphase-$s" ] || failed "migphase-$s is in \$(bindir)"
done
for p in status migrate; do
    expect "$inst_bindir/migphase-$p" "$inst_mandir/man8/migphase-$p.8"
done
expect "$inst_pkgdatadir/cookie.rng" "$inst_sysconfdir/migphase/migphase.conf" \
    "$inst_docdir/hvsupport.html" "$inst_docdir/hvsupport.txt" \
    "$inst_mandir/man5/migphase-cookie.5" "$inst_mandir/man5/migphase.conf.5"
[ "${inst_systemdsystemunitdir:-no}" = no ] ||
    expect "$inst_systemdsystemunitdir/migphase-recover.service"
[ "${inst_tmpfilesdir:-no}" = no ] || expect "$inst_tmpfilesdir/migphase.conf"
[ "${inst_sysusersdir:-no}" = no ] || expect "$inst_sysusersdir/migphase.conf"

privileged=$(find "$dest" -perm /6000)
[ -z "$privileged" ] || failed "setuid or setgid files installed:
$privileged"
writable=$(find "$dest" ! -type l -perm -0002)
[ -z "$writable" ] || failed "world-writable files installed:
$writable"

# The installed programs run, and say which version they are.
for f in "$inst_pkglibexecdir/migphase-begin" "$inst_bindir/migphase-status"; do
    v=$("$dest$f" --config "$tmp/empty.conf" --version 2>&1 || :)
    case "$v" in
    *" ${PACKAGE_VERSION:?}") ;;
    *) failed "$f --version says: $v" ;;
    esac
done

run_make uninstall
left=$(find "$dest" ! -type d)
[ -z "$left" ] || failed "make uninstall leaves files behind:
$left"

[ "$fail" = 0 ] && echo "PASS: $installed files installed and uninstalled, none setuid or setgid"
exit "$fail"
