#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Bad input to a step: a malformed cookie, an unknown mandatory feature, a
# foreign format version and a 2 MiB cookie each give one line on stderr and
# exit 2, and leave no journal record behind. No QEMU is needed: nothing may
# get as far as the hypervisor.
# shellcheck source=tests/integration/lib.sh disable=SC2154
. "$top_srcdir/tests/integration/lib.sh"
mp_init

valid='<migphase-cookie version="1" step="begin">
  <migration id="5a0e4ef4-8a44-4c2b-9d8e-0f1b2c3d4e5f" driver="qemu"/>
  <domain name="guest" uuid="00000000-0000-0000-0000-000000000000"/>
  <parameters live="yes" bandwidth-mib="0" downtime-ms="0" paused="no" timeout-s="0"/>
  <description format="qemu-argv"><arg>qemu-system-x86_64</arg></description>
  <outcome result="success"/>
</migphase-cookie>'

printf '%s\n' "$valid" | sed 's/<domain /<domain/' >"$MP_TMP/malformed.xml"
printf '%s\n' "$valid" | sed 's|<outcome|<feature name="teleport" mandatory="yes"/><outcome|' >"$MP_TMP/feature.xml"
printf '%s\n' "$valid" | sed 's/version="1"/version="7"/' >"$MP_TMP/version.xml"
printf '<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n<migphase-cookie version="1" step="begin">&e;</migphase-cookie>\n' >"$MP_TMP/entity.xml"
# Signed by this host: the parser's refusals are what is tested here.
for case in malformed feature version entity; do
    mp_sign "$MP_TMP/$case.xml"
done
printf '%s\n' "$valid" >"$MP_TMP/unsigned.xml"
python3 -c "import sys; sys.stdout.write('<migphase-cookie>' + 'x' * (2 << 20) + '</migphase-cookie>')" >"$MP_TMP/huge.xml"

check() { # check CASE PROGRAM EXPECTED-TEXT
    local case=$1 program=$2 want=$3 rc=0
    "$MP_HELPERS/$program" --state-dir "$MP_STATE" --qmp "$MP_TMP/x.qmp" \
        --in "$MP_TMP/$case.xml" --out "$MP_TMP/out.xml" >/dev/null 2>"$MP_TMP/err" || rc=$?
    echo "$program < $case: exit $rc: $(cat "$MP_TMP/err")"
    [ "$rc" -eq 2 ] || mp_fail "$case: exit $rc, expected 2"
    [ "$(wc -l <"$MP_TMP/err")" -eq 1 ] || mp_fail "$case: the error is not one line"
    grep -q -- "$want" "$MP_TMP/err" || mp_fail "$case: the error does not mention '$want'"
    [ ! -e "$MP_STATE/destination/guest/record" ] || mp_fail "$case: a journal record was written"
    [ ! -s "$MP_TMP/out.xml" ] || mp_fail "$case: a cookie was written"
}

check unsigned migphase-prepare "not signed"
check malformed migphase-prepare "malformed"
check feature migphase-prepare "teleport"
check version migphase-prepare "version 7"
check huge migphase-prepare "larger than"
check entity migphase-prepare "DOCTYPE"
# The checks happen before any step looks at its VM, whatever the step.
sed -e 's/step="begin"/step="prepare"/' -e '$d' "$MP_TMP/feature.xml" >"$MP_TMP/feature-perform.xml"
mv "$MP_TMP/feature-perform.xml" "$MP_TMP/feature.xml"
mp_sign "$MP_TMP/feature.xml"
"$MP_HELPERS/migphase-perform" --state-dir "$MP_STATE" --in "$MP_TMP/feature.xml" 2>/dev/null &&
    mp_fail "Perform accepted an unknown mandatory feature"
[ ! -e "$MP_STATE/source" ] || mp_fail "Perform touched the journal"

echo "== wrong options: one line, exit 2"
for args in "--bogus" "--in" "--port-range 5-1"; do
    rc=0
    # shellcheck disable=SC2086
    "$MP_HELPERS/migphase-prepare" $args >/dev/null 2>"$MP_TMP/err" || rc=$?
    echo "migphase-prepare $args: exit $rc: $(cat "$MP_TMP/err")"
    if [ "$rc" -ne 2 ] || [ "$(wc -l <"$MP_TMP/err")" -ne 1 ]; then
        mp_fail "options '$args'"
    fi
done
echo "== a driver that is not installed: one line, exit 2"
for args in "--driver nosuch" "--driver xen"; do
    # This build may not have the Xen driver at all: then it is unknown.
    rc=0
    # shellcheck disable=SC2086
    MIGPHASE_DRIVER_DIR=$MP_TMP/no-drivers "$MP_HELPERS/migphase-begin" --state-dir "$MP_STATE" \
        --domain guest --qmp "$MP_TMP/x.qmp" $args >/dev/null 2>"$MP_TMP/err" || rc=$?
    echo "migphase-begin $args: exit $rc: $(cat "$MP_TMP/err")"
    if [ "$rc" -ne 2 ] || [ "$(wc -l <"$MP_TMP/err")" -ne 1 ] ||
        ! grep -qE "cannot be loaded|unknown driver" "$MP_TMP/err"; then
        mp_fail "begin $args"
    fi
    [ ! -e "$MP_STATE/source" ] || mp_fail "begin $args touched the journal"
done
# --drivers tells a module that loads from one that is missing.
MIGPHASE_DRIVER_DIR=$MP_TMP/no-drivers "$MP_HELPERS/migphase-status" --drivers >"$MP_TMP/drivers"
grep -q '^  qemu   loads$' "$MP_TMP/drivers" || mp_fail "--drivers: qemu does not load"
if grep -q '^Operation .* xen' "$MP_TMP/drivers"; then
    grep -q '^  xen    missing: the xen driver cannot be loaded: ' "$MP_TMP/drivers" ||
        mp_fail "--drivers without the Xen module says it loads"
    "$MP_HELPERS/migphase-status" --drivers | grep -q '^  xen    loads$' ||
        mp_fail "--drivers with the built Xen module says it is missing"
fi
if "$MP_HELPERS/migphase-status" --drivers | grep -q '^  xen    loads$'; then
    # The build's module loads, every symbol resolved: what fails next is
    # the missing hypervisor, not the driver.
    rc=0
    "$MP_HELPERS/migphase-begin" --state-dir "$MP_STATE" --driver xen --domain guest \
        >/dev/null 2>"$MP_TMP/err" || rc=$?
    echo "migphase-begin --driver xen with the built module: exit $rc: $(cat "$MP_TMP/err")"
    ! grep -q "cannot be loaded" "$MP_TMP/err" || mp_fail "the built Xen module did not load"
fi
echo "PASS: bad input refused with exit 2 and nothing touched"
