#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The helpers export to a driver module what it takes from them, and nothing
# else of ours: helpers/module-exports.list, given to the linker as a dynamic
# list. Every symbol of our libraries (base, engine, built-in drivers) that
# the Xen module leaves undefined is exported by each helper, and no helper
# exports another of ours. A failure names the symbol and the remedy.
set -eu
: "${top_srcdir:?run from make check}" "${top_builddir:?run from make check}"

if ! grep -q '^#define WITH_XEN 1$' "$top_builddir/config.h"; then
    echo "SKIP: configured without the Xen driver: no module to export to"
    exit 77
fi
command -v nm >/dev/null || {
    echo "SKIP: nm (binutils) is not installed"
    exit 77
}

module=xen/migphase-driver-xen.so
list=helpers/module-exports.list
helpers="helpers/migphase-begin helpers/migphase-prepare helpers/migphase-perform
    helpers/migphase-finish helpers/migphase-confirm helpers/migphase-status
    helpers/migphase-migrate"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
fail() {
    echo "FAIL: $*"
    status=1
}

# names: the symbol names of nm's lines (the last field), without versions.
names() {
    awk 'NF >= 2 { sub(/@.*/, "", $NF); print $NF }' | sort -u
}

cd "$top_builddir"
nm -g --defined-only shared/libmigphase-base.a engine/libmigphase-engine.a qemu/libqemu.a |
    names >"$tmp/ours"
nm -D --undefined-only "$module" | names >"$tmp/undefined"
comm -12 "$tmp/undefined" "$tmp/ours" >"$tmp/needed"
echo "$module takes $(wc -l <"$tmp/needed") symbols from the helper that loads it"
[ -s "$tmp/needed" ] || fail "$module takes nothing from the helpers: is nm reading it?"
for sym in $(grep '^mp_' "$tmp/undefined" | comm -23 - "$tmp/ours"); do
    fail "$module needs $sym, which none of our libraries defines"
done

for helper in $helpers; do
    nm -D --defined-only "$helper" | names | comm -12 - "$tmp/ours" >"$tmp/exported"
    for sym in $(comm -23 "$tmp/needed" "$tmp/exported"); do
        fail "$helper does not export $sym, which $module needs: add it to $list"
    done
    for sym in $(comm -13 "$tmp/needed" "$tmp/exported"); do
        if grep -Eq "^[[:space:]]*$sym;" "$top_srcdir/$list"; then
            fail "$helper exports $sym, which $module does not need: remove it from $list"
        else
            fail "$helper exports $sym, which is not in $list: the link exports more than it"
        fi
    done
    echo "$helper: $(wc -l <"$tmp/exported") of ours exported"
done
exit $status
