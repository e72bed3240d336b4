#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# A driver module carries the interface stamp of the build it belongs to
# (MP_DRIVER_ABI, engine/driver-abi.gen.h). This build's Xen module loads; a
# module of another build (tests/modules/other-build.c) is refused when it
# loads, with exit status 2 and one line that names both interfaces.
set -eu
: "${top_srcdir:?run from make check}" "${top_builddir:?run from make check}"

# Without the Xen driver, "xen" is an unknown driver: nothing to check.
if ! grep -q '^#define WITH_XEN 1$' "$top_builddir/config.h"; then
    echo "SKIP: configured without the Xen driver"
    exit 77
fi

status=0
fail() {
    echo "FAIL: $*"
    status=1
}

version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$top_builddir/config.h")
sum=$(sed -n 's|^#define MP_DRIVER_ABI PACKAGE_VERSION "\(/.*\)"$|\1|p' \
    "$top_builddir/engine/driver-abi.gen.h")
ours=$version$sum
theirs=0.0.0/other-build
if [ -z "$version" ] || [ -z "$sum" ]; then
    fail "cannot read this build's driver interface"
fi
echo "this build's driver interface: $ours"

echo "== this build's module loads"
drivers=$(MIGPHASE_DRIVER_DIR="$top_builddir/xen" "$top_builddir/helpers/migphase-status" --drivers)
echo "$drivers" | grep -Eq '^ +xen +loads$' ||
    fail "migphase-status --drivers does not say 'xen loads':
$drivers"

echo "== a module of another build is refused"
other="$top_builddir/tests/modules/other-build"
[ -f "$other/migphase-driver-xen.so" ] || fail "$other/migphase-driver-xen.so was not built"
rc=0
err=$(MIGPHASE_DRIVER_DIR=$other "$top_builddir/helpers/migphase-begin" \
    --driver xen --qmp /nonexistent/qmp.sock 2>&1 >/dev/null) || rc=$?
echo "migphase-begin: exit $rc"
printf '%s\n' "$err"
[ "$rc" -eq 2 ] || fail "exit status $rc, expected 2"
[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "not one line of error"
case $err in
migphase-begin:*"$other/migphase-driver-xen.so"*) ;;
*) fail "the message does not name the module" ;;
esac
case $err in
*"$theirs"*"$ours"*) ;;
*) fail "the message does not name both interfaces ($theirs, then $ours)" ;;
esac

drivers=$(MIGPHASE_DRIVER_DIR=$other "$top_builddir/helpers/migphase-status" --drivers)
echo "$drivers" | grep -Eq "^ +xen +missing: .*$theirs" ||
    fail "migphase-status --drivers does not report the other build's module:
$drivers"
exit $status
