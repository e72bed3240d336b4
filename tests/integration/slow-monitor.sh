#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A slow monitor is not a failed migration. A proxy in front of the source's
# QMP socket (qmp-proxy.py) holds back every reply to query-migrate that says
# the stream is active for longer than Perform's QMP timeout: Perform follows
# the stream to its end all the same, and the guest's memory is verified.
# Then the failures it must still tell apart: a stream that really stalls (the
# destination QEMU stopped) is cancelled with the source running (exit 1); a
# monitor that goes silent leaves the stream's fate unknown (exit 3, with the
# command that resolves it) and nothing is undone behind its back.
# shellcheck source=tests/integration/lib.sh disable=SC2154
. "$top_srcdir/tests/integration/lib.sh"
mp_require_qemu
mp_init

mem=64
S=(--state-dir "$MP_STATE")
H="$MP_HELPERS"
PROXY="$top_srcdir/tests/integration/qmp-proxy.py"

# begin_prepare NAME [BEGIN ARGS...]: Begin on the real socket (it checks
# which process answers), Prepare a destination; the cookie in $MP_TMP/NAME-prepare.xml.
begin_prepare() {
    local name=$1
    shift
    "$H/migphase-begin" "${S[@]}" --qmp "$MP_TMP/$name-src.qmp" "$@" --out "$MP_TMP/$name-begin.xml"
    "$H/migphase-prepare" "${S[@]}" --qmp "$MP_TMP/$name-dst.qmp" --listen 127.0.0.1 \
        --rewrite "$MP_TMP/$name-src-=$MP_TMP/$name-dst-" \
        --in "$MP_TMP/$name-begin.xml" --out "$MP_TMP/$name-prepare.xml"
}

# behind_proxy NAME [PROXY ARGS...]: from now on the source's socket path
# (which the journal names) leads to the proxy, and the proxy to QEMU.
behind_proxy() {
    local name=$1 sock="$MP_TMP/$1-src.qmp"
    shift
    mv "$sock" "$sock.real"
    python3 "$PROXY" "$sock" "$sock.real" "$@" 2>"$MP_TMP/$name-proxy.log" &
    PROXY_PID=$!
    for _ in $(seq 100); do
        [ -S "$sock" ] && return 0
        sleep 0.05
    done
    mp_fail "the QMP proxy did not start"
}

perform() { # NAME [PERFORM ARGS...], exit status in $rc
    local name=$1
    shift
    rc=0
    "$H/migphase-perform" "${S[@]}" --progress json --log-level info "$@" \
        --in "$MP_TMP/$name-prepare.xml" --out "$MP_TMP/$name-perform.xml" \
        2>"$MP_TMP/$name-perform.err" || rc=$?
    echo "perform $name: exit $rc: $(grep -v '^{' "$MP_TMP/$name-perform.err" | tail -n 2)"
}

echo "== Replies to query-migrate 2.5 s late, QMP timeout 1 s: the migration completes"
mp_start_guest slow $mem 2
begin_prepare slow --bandwidth 12 --timeout 120
behind_proxy slow --delay-active 2.5
started=$(date +%s%N)
perform slow --qmp-timeout-ms 1000 --stall-timeout-ms 20000
mp_expect_status 0 "$rc" "migphase-perform with a slow monitor"
grep -q '"event":"monitor-slow"' "$MP_TMP/slow-perform.err" ||
    mp_fail "the monitor was never slow: the proxy did not delay anything"
echo "monitor-slow events: $(grep -c '"event":"monitor-slow"' "$MP_TMP/slow-perform.err"), " \
    "Perform took $((($(date +%s%N) - started) / 1000000)) ms"
"$H/migphase-finish" "${S[@]}" --in "$MP_TMP/slow-perform.xml" --out "$MP_TMP/slow-finish.xml"
"$H/migphase-confirm" "${S[@]}" --in "$MP_TMP/slow-finish.xml"
kill "$PROXY_PID"
[ "$(mp_where_running slow)" = destination ] || mp_fail "guest runs: $(mp_where_running slow)"
mp_verify_memory "$MP_TMP/slow-dst.qmp" $mem || mp_fail "memory check failed on the destination"
sh "$MP_SERIAL_CHECK" "$MP_TMP/slow-src-serial.log" "$MP_TMP/slow-dst-serial.log" ||
    mp_fail "the serial counter did not go on from the source's"
mp_assert_nothing_pending

echo "== A stream that really stalls (the destination QEMU stopped): cancelled, source runs (exit 1)"
mp_start_guest stall $mem 2
begin_prepare stall --bandwidth 4
behind_proxy stall
dst_pid=$(mp_dest_pid stall)
(sleep 1 && kill -STOP "$dst_pid") &
perform stall --qmp-timeout-ms 1000 --stall-timeout-ms 3000
wait $! || true
mp_expect_status 1 "$rc" "migphase-perform on a stalled stream"
grep -q 'the stream sent nothing for 3000 ms' "$MP_TMP/stall-perform.err" || mp_fail "Perform did not say the stream stalled"
[ "$(mp_run_state "$MP_TMP/stall-src.qmp.real")" = running ] || mp_fail "the source does not run after the stall"
kill -CONT "$dst_pid"
"$H/migphase-finish" "${S[@]}" --cancelled --in "$MP_TMP/stall-prepare.xml" >/dev/null 2>&1 ||
    "$H/migphase-finish" "${S[@]}" --cancelled --in "$MP_TMP/stall-perform.xml"
"$H/migphase-confirm" "${S[@]}" --cancelled --in "$MP_TMP/stall-perform.xml"
kill "$PROXY_PID"
mp_verify_memory "$MP_TMP/stall-src.qmp.real" $mem || mp_fail "memory check failed on the source"
mp_assert_nothing_pending

echo "== A monitor that goes silent mid-stream: fate unknown, exit 3 and what to run"
mp_start_guest mute $mem 2
begin_prepare mute --bandwidth 4
behind_proxy mute
(sleep 1 && kill -USR1 "$PROXY_PID") &
perform mute --qmp-timeout-ms 1000 --stall-timeout-ms 3000
wait $! || true
mp_expect_status 3 "$rc" "migphase-perform with a silent monitor"
grep -q "the stream's fate is unknown: the source's monitor said nothing for" "$MP_TMP/mute-perform.err" ||
    mp_fail "Perform did not say the stream's fate is unknown"
grep -q "migphase-status --state-dir $MP_STATE' says what to run" "$MP_TMP/mute-perform.err" ||
    mp_fail "Perform did not say what to run"
# While the monitor stays silent, the VM cannot be asked: nothing is undone,
# and the operator is told why.
"$H/migphase-status" "${S[@]}" --qmp-timeout-ms 1000 >"$MP_TMP/mute-status-silent.out" || true
cat "$MP_TMP/mute-status-silent.out"
grep -q "^mute (source) .*step perform .*, VM unknown$" "$MP_TMP/mute-status-silent.out" ||
    mp_fail "migphase-status does not call the silent source's VM unknown"
grep -q "^  VM unknown because: .*mute-src.qmp" "$MP_TMP/mute-status-silent.out" ||
    mp_fail "migphase-status does not say why the source's VM is unknown"
! grep -q '^  run here: migphase-confirm' "$MP_TMP/mute-status-silent.out" ||
    mp_fail "migphase-status would cancel a source it could not ask"
kill -USR2 "$PROXY_PID"
"$H/migphase-status" "${S[@]}" >"$MP_TMP/mute-status.out" || true
cat "$MP_TMP/mute-status.out"
grep -q 'migphase-confirm --cancelled' "$MP_TMP/mute-status.out" ||
    mp_fail "migphase-status does not say to cancel on the source"
"$H/migphase-confirm" "${S[@]}" --cancelled --in "$MP_TMP/mute-prepare.xml"
"$H/migphase-finish" "${S[@]}" --cancelled --in "$MP_TMP/mute-prepare.xml"
kill "$PROXY_PID"
[ "$(mp_run_state "$MP_TMP/mute-src.qmp.real")" = running ] || mp_fail "the source does not run after the cancel"
mp_verify_memory "$MP_TMP/mute-src.qmp.real" $mem || mp_fail "memory check failed on the source"
mp_assert_nothing_pending
echo "PASS: slow monitor followed to the end; stalled stream and silent monitor told apart"
