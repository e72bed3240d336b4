#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Each step failing for a real reason: the documented exit status, and the
# guest still running on exactly one side, verified.
# shellcheck source=tests/integration/lib.sh disable=SC2154
. "$top_srcdir/tests/integration/lib.sh"
mp_require_qemu
mp_init

mem=64
S=(--state-dir "$MP_STATE")
H="$MP_HELPERS"
mp_start_guest fail $mem 32
src="$MP_TMP/fail-src.qmp"
rewrite=(--rewrite "$MP_TMP/fail-src-=$MP_TMP/fail-dst-")

run() { # run NAME CMD... with the exit status in $rc
    rc=0
    "${@:2}" 2>"$MP_TMP/$1.err" || rc=$?
    echo "$1: exit $rc: $(head -c 300 "$MP_TMP/$1.err")"
}

echo "== Begin: the source's QMP socket does not exist"
run begin-nosocket "$H/migphase-begin" "${S[@]}" --qmp "$MP_TMP/nonexistent.qmp" --out "$MP_TMP/x.xml"
mp_expect_status 1 "$rc" "migphase-begin on a missing socket"
[ ! -e "$MP_STATE/source/fail/record" ] || mp_fail "a failed Begin left a journal record"

echo "== Begin: a migration of the VM is already under way"
# Into a pipe at 1 MiB/s: the stream stays active for a minute.
mp_qmp "$src" migrate-set-parameters max-bandwidth=1048576 >/dev/null
mp_qmp "$src" migrate uri="exec:cat >/dev/null" >/dev/null
run begin-busy "$H/migphase-begin" "${S[@]}" --qmp "$src" --out "$MP_TMP/x.xml"
mp_expect_status 1 "$rc" "migphase-begin during another migration"
grep -q 'a migration of this VM is already under way' "$MP_TMP/begin-busy.err" || mp_fail "Begin did not say why"
mp_qmp "$src" migrate_cancel >/dev/null
for _ in $(seq 100); do
    [ "$(mp_qmp --get status "$src" query-migrate)" = cancelled ] && break
    sleep 0.1
done
[ "$(mp_run_state "$src")" = running ] || mp_fail "the source is $(mp_run_state "$src") after the cancel"
[ ! -e "$MP_STATE/source/fail/record" ] || mp_fail "a refused Begin left a journal record"

echo "== Begin: QEMU reports a migration blocker (a writable vvfat drive)"
mkdir "$MP_TMP/vvfat"
mp_start_guest blk 16 8 -drive "file=fat:rw:$MP_TMP/vvfat,format=vvfat,if=none,id=v0"
run begin-blocked "$H/migphase-begin" "${S[@]}" --qmp "$MP_TMP/blk-src.qmp" --out "$MP_TMP/x.xml"
mp_expect_status 1 "$rc" "migphase-begin on a VM with a migration blocker"
grep -q 'QEMU blocks migration of this VM: .*vvfat (rw) format' "$MP_TMP/begin-blocked.err" ||
    mp_fail "Begin did not give QEMU's reason"
[ ! -e "$MP_STATE/source/blk/record" ] || mp_fail "a refused Begin left a journal record"
blk=$(cat "$MP_TMP/blk-src.pid")
kill "$blk"
while kill -0 "$blk" 2>/dev/null; do sleep 0.05; done

echo "== Begin: a VM that has not started (prelaunch) cannot move"
qemu-system-x86_64 -accel "$MP_ACCEL" -m 16 -nodefaults -no-user-config -display none -S \
    -qmp "unix:$MP_TMP/idle.qmp,server=on,wait=off" -daemonize -pidfile "$MP_TMP/idle.pid"
run begin-prelaunch "$H/migphase-begin" "${S[@]}" --qmp "$MP_TMP/idle.qmp" --out "$MP_TMP/x.xml"
mp_expect_status 1 "$rc" "migphase-begin on a VM in prelaunch"
grep -q 'the VM is prelaunch; only a running or paused VM can move' "$MP_TMP/begin-prelaunch.err" ||
    mp_fail "Begin did not say why"
idle=$(cat "$MP_TMP/idle.pid")
kill "$idle"
while kill -0 "$idle" 2>/dev/null; do sleep 0.05; done

echo "== Prepare: a malformed cookie"
printf '<migphase-cookie version="1" step="begin"><domain' >"$MP_TMP/bad.xml"
run prepare-bad "$H/migphase-prepare" "${S[@]}" --qmp "$MP_TMP/fail-dst.qmp" --in "$MP_TMP/bad.xml"
mp_expect_status 2 "$rc" "migphase-prepare on a malformed cookie"
[ "$(wc -l <"$MP_TMP/prepare-bad.err")" -eq 1 ] || mp_fail "the error is not one line"
[ ! -e "$MP_STATE/destination" ] || mp_fail "a refused cookie touched the journal"
[ "$(mp_count_vms)" -eq 1 ] || mp_fail "a refused Prepare started a VM"

echo "== Prepare: the only port of the range is taken"
# The listener picks its own free port and says which: no window in which
# another process could take it.
python3 -c "
import socket, sys, time
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()
print(s.getsockname()[1], flush=True); time.sleep(120)  # $MP_TMP
" >"$MP_TMP/port" &
disown $!
for _ in $(seq 50); do [ -s "$MP_TMP/port" ] && break; sleep 0.1; done
port=$(cat "$MP_TMP/port")
"$H/migphase-begin" "${S[@]}" --qmp "$src" --out "$MP_TMP/begin.xml"
run prepare-port "$H/migphase-prepare" "${S[@]}" --qmp "$MP_TMP/fail-dst.qmp" --listen 127.0.0.1 \
    --port-range "$port-$port" "${rewrite[@]}" --in "$MP_TMP/begin.xml" --out "$MP_TMP/prepare.xml"
mp_expect_status 1 "$rc" "migphase-prepare with its port taken"
grep -q "no free port" "$MP_TMP/prepare-port.err" || mp_fail "the error does not say the port is taken"
[ "$(mp_count_vms)" -eq 1 ] || mp_fail "the destination VM of a failed Prepare is still there"
"$H/migphase-confirm" "${S[@]}" --cancelled --in "$MP_TMP/begin.xml"
[ "$(mp_where_running fail)" = source ] || mp_fail "guest runs: $(mp_where_running fail)"
mp_assert_nothing_pending

echo "== Prepare: the first port of the range is taken, the next one is free"
# Two consecutive free ports; the first stays taken by the listener.
python3 -c "
import socket, time
while True:
    s = socket.socket(); s.bind(('127.0.0.1', 0)); p = s.getsockname()[1]
    t = socket.socket()
    try:
        t.bind(('127.0.0.1', p + 1))
    except OSError:
        s.close(); continue
    t.close(); s.listen(); break
print(p, flush=True); time.sleep(120)  # $MP_TMP
" >"$MP_TMP/port2" &
disown $!
for _ in $(seq 50); do [ -s "$MP_TMP/port2" ] && break; sleep 0.1; done
port=$(cat "$MP_TMP/port2")
"$H/migphase-begin" "${S[@]}" --qmp "$src" --out "$MP_TMP/begin.xml"
run prepare-next-port "$H/migphase-prepare" "${S[@]}" --qmp "$MP_TMP/fail-dst.qmp" \
    --listen 127.0.0.1 --port-range "$port-$((port + 1))" "${rewrite[@]}" \
    --in "$MP_TMP/begin.xml" --out "$MP_TMP/prepare.xml"
mp_expect_status 0 "$rc" "migphase-prepare with the first port of its range taken"
grep -q "uri=\"tcp:127.0.0.1:$((port + 1))\"" "$MP_TMP/prepare.xml" ||
    mp_fail "Prepare does not listen on the next port: $(grep incoming "$MP_TMP/prepare.xml")"
"$H/migphase-finish" "${S[@]}" --cancelled --in "$MP_TMP/begin.xml" >/dev/null
"$H/migphase-confirm" "${S[@]}" --cancelled --in "$MP_TMP/begin.xml"
[ "$(mp_count_vms)" -eq 1 ] || mp_fail "$(mp_count_vms) VMs after cancelling, expected 1"
[ "$(mp_where_running fail)" = source ] || mp_fail "guest runs: $(mp_where_running fail)"
mp_assert_nothing_pending

echo "== Perform: the destination QEMU is killed during the stream"
# 8 MiB/s: the stream takes several seconds, long enough to kill the destination.
"$H/migphase-begin" "${S[@]}" --qmp "$src" --bandwidth 8 --out "$MP_TMP/begin.xml"
"$H/migphase-prepare" "${S[@]}" --qmp "$MP_TMP/fail-dst.qmp" --listen 127.0.0.1 "${rewrite[@]}" \
    --in "$MP_TMP/begin.xml" --out "$MP_TMP/prepare.xml"
dst_pid=$(mp_dest_pid fail)
( sleep 1.5; kill -KILL "$dst_pid" ) &
run perform-kill "$H/migphase-perform" "${S[@]}" --progress none --in "$MP_TMP/prepare.xml" \
    --out "$MP_TMP/perform.xml"
mp_expect_status 1 "$rc" "migphase-perform with its destination killed"
grep -q 'result="failed"' "$MP_TMP/perform.xml" || mp_fail "Perform's cookie does not say failed"
[ "$(mp_run_state "$src")" = running ] || mp_fail "the source was not resumed"
run finish-after-kill "$H/migphase-finish" "${S[@]}" --in "$MP_TMP/perform.xml" --out "$MP_TMP/finish.xml"
mp_expect_status 0 "$rc" "migphase-finish after a failed Perform"
grep -q 'result="cancelled"' "$MP_TMP/finish.xml" || mp_fail "Finish's cookie does not say cancelled"
run confirm-after-kill "$H/migphase-confirm" "${S[@]}" --in "$MP_TMP/finish.xml"
mp_expect_status 0 "$rc" "migphase-confirm after a failed Perform"
[ "$(mp_where_running fail)" = source ] || mp_fail "guest runs: $(mp_where_running fail)"
mp_verify_memory "$src" $mem || mp_fail "memory check failed on the source"
mp_assert_nothing_pending

echo "== Perform: the source's QMP socket is gone"
"$H/migphase-begin" "${S[@]}" --qmp "$src" --out "$MP_TMP/begin.xml"
"$H/migphase-prepare" "${S[@]}" --qmp "$MP_TMP/fail-dst.qmp" --listen 127.0.0.1 "${rewrite[@]}" \
    --in "$MP_TMP/begin.xml" --out "$MP_TMP/prepare.xml"
mv "$src" "$src.away"
ticks=$(mp_last_tick "$MP_TMP/fail-src-serial.log")
run perform-nosocket "$H/migphase-perform" "${S[@]}" --progress none --in "$MP_TMP/prepare.xml" \
    --out "$MP_TMP/perform.xml"
mp_expect_status 1 "$rc" "migphase-perform without the source's socket"
mp_wait_ticks "$MP_TMP/fail-src-serial.log" $((ticks + 2)) 30
mv "$src.away" "$src"
"$H/migphase-finish" "${S[@]}" --in "$MP_TMP/perform.xml" --out "$MP_TMP/finish.xml"
"$H/migphase-confirm" "${S[@]}" --in "$MP_TMP/finish.xml"
[ "$(mp_where_running fail)" = source ] || mp_fail "guest runs: $(mp_where_running fail)"
[ "$(mp_count_vms)" -eq 1 ] || mp_fail "$(mp_count_vms) QEMU processes, expected 1"
mp_verify_memory "$src" $mem || mp_fail "memory check failed on the source"
mp_assert_nothing_pending
echo "PASS: each step failed as documented, the guest runs on the source"
