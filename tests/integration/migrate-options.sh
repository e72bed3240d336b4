#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Migration options travel in the cookie and both sides honour them: an
# offline migration to a destination left paused (--offline --paused), and a
# Perform stopped by SIGTERM, which cancels the stream and resumes the source.
# Settings an earlier migration left in a QEMU process are put back.
# --downtime-ms travels in the cookie to the source, which alone reads it;
# --launcher starts the destination VM.
# shellcheck source=tests/integration/lib.sh disable=SC2154
. "$top_srcdir/tests/integration/lib.sh"
mp_require_qemu
mp_init

mem=64
S=(--state-dir "$MP_STATE")
H="$MP_HELPERS"
mp_start_guest opt $mem 8
src="$MP_TMP/opt-src.qmp"
dst="$MP_TMP/opt-dst.qmp"
prep=(--qmp "$dst" --listen 127.0.0.1 --rewrite "$MP_TMP/opt-src-=$MP_TMP/opt-dst-")

# What an earlier migration with other options leaves in the source QEMU.
mp_qmp "$src" migrate-set-capabilities \
    'capabilities=[{"capability": "xbzrle", "state": true}, {"capability": "events", "state": false}]' >/dev/null
mp_qmp "$src" migrate-set-parameters max-bandwidth=1024 downtime-limit=5 tls-hostname=stale >/dev/null

echo "== SIGTERM during Perform: the stream is cancelled, the source runs on"
"$H/migphase-begin" "${S[@]}" --qmp "$src" --bandwidth 8 --downtime-ms 150 --out "$MP_TMP/begin.xml"
"$H/migphase-prepare" "${S[@]}" "${prep[@]}" --in "$MP_TMP/begin.xml" --out "$MP_TMP/prepare.xml"
"$H/migphase-perform" "${S[@]}" --progress json --in "$MP_TMP/prepare.xml" \
    --out "$MP_TMP/perform.xml" 2>"$MP_TMP/perform.err" &
perform=$!
sleep 1.5
kill -TERM "$perform"
rc=0
wait "$perform" || rc=$?
tail -n 2 "$MP_TMP/perform.err"
mp_expect_status 1 "$rc" "Perform stopped by SIGTERM"
grep -q 'interrupted by signal 15' "$MP_TMP/perform.err" || mp_fail "Perform did not say it was interrupted"
grep -q 'result="failed"' "$MP_TMP/perform.xml" || mp_fail "Perform's cookie does not say failed"
[ "$(mp_run_state "$src")" = running ] || mp_fail "the source was not resumed"
# Perform set what the migration relies on, whatever was there before.
for want in xbzrle=False events=True; do
    got=$(mp_qmp "$src" query-migrate-capabilities | python3 -c '
import json, sys
print(next((c["state"] for c in json.load(sys.stdin) if c["capability"] == sys.argv[1]), None))
' "${want%=*}")
    [ "$got" = "${want#*=}" ] || mp_fail "capability ${want%=*} is $got on the source, expected ${want#*=}"
done
# TLS (the default with the lab PKI): the stream's credentials and the
# destination's name replace the stale ones; no authorisation on a source.
for want in max-bandwidth=8388608 downtime-limit=150 tls-hostname="$MP_HOST" tls-creds=migphase-tls \
    tls-authz=; do
    got=$(mp_qmp --get "${want%=*}" "$src" query-migrate-parameters)
    [ "$got" = "${want#*=}" ] || mp_fail "parameter ${want%=*} is '$got' on the source, expected '${want#*=}'"
done
"$H/migphase-finish" "${S[@]}" --in "$MP_TMP/perform.xml" --out "$MP_TMP/finish.xml"
"$H/migphase-confirm" "${S[@]}" --in "$MP_TMP/finish.xml"
[ "$(mp_count_vms)" -eq 1 ] || mp_fail "$(mp_count_vms) VMs after the cancel, expected 1"
mp_verify_memory "$src" $mem
mp_assert_nothing_pending

echo "== --offline --paused --downtime-ms --launcher: the source pauses first, the destination"
echo "   stays paused and was not sent the sender's limit, the launcher started the destination"
ticks=$(mp_last_tick "$MP_TMP/opt-src-serial.log")
mp_migrate opt --local --listen 127.0.0.1 --offline --paused --progress none --downtime-ms 150 \
    --launcher "env MIGPHASE_TEST_LAUNCHER=yes"
grep -q 'downtime-ms="150"' "$MP_STATE/source/opt/begin-out.xml" ||
    mp_fail "the cookie does not carry the downtime limit"
# The limit is the sender's: the destination keeps QEMU's default.
[ "$(mp_qmp --get downtime-limit "$dst" query-migrate-parameters)" = 300 ] ||
    mp_fail "the destination was sent the sender's downtime limit"
tr '\0' '\n' <"/proc/$(mp_dest_pid opt)/environ" | grep -qx MIGPHASE_TEST_LAUNCHER=yes ||
    mp_fail "the destination VM was not started through the launcher"
[ "$(mp_run_state "$dst")" = paused ] || mp_fail "the destination is $(mp_run_state "$dst"), not paused"
[ "$(mp_count_vms)" -eq 1 ] || mp_fail "the source QEMU is still there"
grep -q 'live="no"' "$MP_STATE/source/opt/perform-out.xml" || mp_fail "the cookie does not say offline"
mp_verify_memory "$dst" $mem
sleep 1
[ "$(mp_last_tick "$MP_TMP/opt-dst-serial.log" || true)" = "" ] ||
    mp_fail "the paused destination ran: $(tail -n 1 "$MP_TMP/opt-dst-serial.log")"
mp_qmp "$dst" cont >/dev/null
mp_wait_ticks "$MP_TMP/opt-dst-serial.log" 1 30
sh "$MP_SERIAL_CHECK" "$MP_TMP/opt-src-serial.log" "$MP_TMP/opt-dst-serial.log"
[ "$(mp_last_tick "$MP_TMP/opt-src-serial.log")" -ge "$ticks" ] || mp_fail "source ticks went back"
mp_assert_nothing_pending
echo "PASS: offline and paused migrations, and a cancelled Perform"
