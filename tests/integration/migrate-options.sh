#!/usr/bin/env bash
# Migration options travel in the cookie and both sides honour them: an
# offline migration to a destination left paused (--offline --paused), and a
# Perform stopped by SIGTERM, which cancels the stream and resumes the source.
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

echo "== SIGTERM during Perform: the stream is cancelled, the source runs on"
"$H/migphase-begin" "${S[@]}" --qmp "$src" --bandwidth 8 --out "$MP_TMP/begin.xml"
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
"$H/migphase-finish" "${S[@]}" --in "$MP_TMP/perform.xml" --out "$MP_TMP/finish.xml"
"$H/migphase-confirm" "${S[@]}" --in "$MP_TMP/finish.xml"
[ "$(mp_count_vms)" -eq 1 ] || mp_fail "$(mp_count_vms) VMs after the cancel, expected 1"
mp_verify_memory "$src" $mem
mp_assert_nothing_pending

echo "== --offline --paused: the source pauses first, the destination stays paused"
ticks=$(mp_last_tick "$MP_TMP/opt-src-serial.log")
mp_migrate opt --local --listen 127.0.0.1 --offline --paused --progress none
[ "$(mp_run_state "$dst")" = paused ] || mp_fail "the destination is $(mp_run_state "$dst"), not paused"
[ "$(mp_count_vms)" -eq 1 ] || mp_fail "the source QEMU is still there"
grep -q 'live="no"' "$MP_STATE/source/opt/perform-out.xml" || mp_fail "the cookie does not say offline"
mp_verify_memory "$dst" $mem
sleep 1
[ "$(mp_last_tick "$MP_TMP/opt-dst-serial.log" || true)" = "" ] ||
    mp_fail "the paused destination ran: $(tail -n 1 "$MP_TMP/opt-dst-serial.log")"
mp_qmp "$dst" cont >/dev/null
mp_wait_ticks "$MP_TMP/opt-dst-serial.log" 1 30
"$MP_SERIAL_CHECK" "$MP_TMP/opt-src-serial.log" "$MP_TMP/opt-dst-serial.log"
[ "$(mp_last_tick "$MP_TMP/opt-src-serial.log")" -ge "$ticks" ] || mp_fail "source ticks went back"
mp_assert_nothing_pending
echo "PASS: offline and paused migrations, and a cancelled Perform"
