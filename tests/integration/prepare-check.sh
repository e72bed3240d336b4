#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# migphase-prepare --check shows what the destination would run for a Begin
# cookie (its own emulator, the sandbox, the TLS objects, the source's
# options it keeps) or the first rule of its policy the cookie breaks, and
# starts, creates and records nothing either way.
# shellcheck source=tests/security/lib.sh disable=SC2154
. "$top_srcdir/tests/security/lib.sh"
mp_require_qemu
mp_require_root
mp_init

mem=16
H="$MP_HELPERS"
S=(--state-dir "$MP_STATE")
mp_start_guest chk $mem 4
"$H/migphase-begin" "${S[@]}" --qmp "$MP_TMP/chk-src.qmp" --out "$MP_TMP/begin.xml"
prep=(--qmp "$MP_TMP/chk-dst.qmp" --listen 127.0.0.1 --rewrite "$MP_TMP/chk-src-=$MP_TMP/chk-dst-"
    --in "$MP_TMP/begin.xml")
vms=$(mp_count_vms)

echo "== a cookie this host accepts: the command line it would run"
before=$(sec_journal)
"$H/migphase-prepare" "${S[@]}" "${prep[@]}" --check >"$MP_TMP/check.out" 2>"$MP_TMP/check.err" ||
    mp_fail "prepare --check failed: $(cat "$MP_TMP/check.err")"
cat "$MP_TMP/check.out"
grep -qx "# as user $MP_QEMU_USER, under seccomp, with this helper's QMP socket and pid file" \
    "$MP_TMP/check.out" || mp_fail "the report does not say which user"
grep -qx "$MP_QEMU \\\\" "$MP_TMP/check.out" || mp_fail "the report does not start with $MP_QEMU"
for want in "-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny" \
    "-incoming defer" "-serial file:$MP_TMP/chk-dst-serial.log"; do
    grep -qxF -- "$want \\" "$MP_TMP/check.out" || mp_fail "the report lacks '$want'"
done
grep -q "tls-creds-x509,id=migphase-tls" "$MP_TMP/check.out" || mp_fail "the report shows no TLS"
grep -q "chk-src.qmp" "$MP_TMP/check.out" && mp_fail "the source's monitor is in the report"
[ "$(mp_count_vms)" -eq "$vms" ] || mp_fail "--check started a VM"
[ ! -e "$MP_TMP/chk-dst.qmp" ] || mp_fail "--check made the destination's socket"
[ "$(sec_journal)" = "$before" ] || mp_fail "--check changed the journal"
[ ! -d "$MP_STATE/destination/chk" ] || mp_fail "--check made a journal for the domain"

echo "== a cookie that breaks this host's policy: the first rule, exit 2"
# A host whose allowed-paths leave out the test guest's kernel.
grep -v '^allowed-paths' "$MIGPHASE_CONFIG" >"$MP_TMP/narrow.conf"
echo "allowed-paths = /var/lib/libvirt/images" >>"$MP_TMP/narrow.conf"
chmod 0600 "$MP_TMP/narrow.conf"
sec_refused "--check under a narrower policy" "is not under an allowed directory" \
    env MIGPHASE_CONFIG="$MP_TMP/narrow.conf" "$H/migphase-prepare" "${S[@]}" "${prep[@]}" --check
[ "$(mp_count_vms)" -eq "$vms" ] || mp_fail "a refused --check started a VM"

"$H/migphase-confirm" "${S[@]}" --cancelled --in "$MP_TMP/begin.xml"
mp_assert_nothing_pending
echo "PASS: prepare --check shows the command line or the rule, and touches nothing"
