#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# make check-xen: the Xen driver's tests on a real Xen booted under QEMU
# (tests/xen/testbed.sh). Prints the closing "xen: N passed, N failed" line;
# where the test bed cannot be built or booted here (no Debian archive, no
# QEMU, not root, no Xen driver in this build) it reports the test skipped,
# never passed.
set -u
: "${top_srcdir:?}" "${top_builddir:?}"
export top_srcdir top_builddir

if [ ! -x "$top_builddir/xen/migphase-xen-receiver" ]; then
    echo "check-xen: SKIP: this build has no Xen driver (configure found no xenlight)"
    echo "xen: 0 passed, 0 failed, 1 skipped"
    exit 0
fi
sh "$top_srcdir/tests/xen/testbed.sh" run
rc=$?
if [ "$rc" -eq 77 ]; then
    echo "xen: 0 passed, 0 failed, 1 skipped"
    exit 0
fi
exit "$rc"
