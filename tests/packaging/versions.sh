#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The packaging says the version configure.ac says: the RPM spec's Version,
# and the upstream part of the newest debian/changelog entry (checked where
# debian/ is present: it is not in the release tarball).
set -eu
: "${top_srcdir:?}" "${PACKAGE_VERSION:?}"
fail=0

spec=$(sed -n -e 's/^Version:[[:space:]]*//p' "$top_srcdir/migphase.spec")
if [ "$spec" != "$PACKAGE_VERSION" ]; then
    echo "FAIL: migphase.spec has Version $spec, configure.ac $PACKAGE_VERSION"
    fail=1
fi

if [ -f "$top_srcdir/debian/changelog" ]; then
    deb=$(sed -n -e '1s/^migphase (\([^)]*\)).*/\1/p' "$top_srcdir/debian/changelog")
    upstream=${deb#*:}
    upstream=${upstream%-*}
    if [ "$upstream" != "$PACKAGE_VERSION" ]; then
        echo "FAIL: debian/changelog has version $deb, configure.ac $PACKAGE_VERSION"
        fail=1
    fi
else
    echo "note: no debian/ here (a release tarball), only the spec is checked"
fi

[ "$fail" = 0 ] && echo "PASS: packaging versions are $PACKAGE_VERSION"
exit "$fail"
