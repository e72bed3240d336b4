#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Postcopy between two hosts (network namespaces joined by a veth pair),
# each step run by hand on its host:
#   - Prepare refuses --postcopy with one line when the destination's QEMU
#     (an unprivileged qemu-user) may not use userfaultfd;
#   - --postcopy-after-precopy: the switch after the first pass, Confirm
#     --cancelled refused (exit 3) once it happened, memory verified on the
#     destination; the same through migphase-migrate;
#   - --converge auto --postcopy: the downtime limit, the throttle, then
#     postcopy;
#   - the link cut during postcopy: both QEMUs postcopy-paused,
#     migphase-status shows it on both hosts, and the commands it prints
#     recover the stream over a new connection; memory verified;
#   - Finish killed during postcopy, then Perform killed at the switch: the
#     commands migphase-status prints resolve both; memory verified;
#   - a postcopy that outlasts Finish's --incoming-timeout-ms: Finish pauses
#     it (migrate-pause) and exits 3, the destination VM alive, both QEMUs
#     postcopy-paused; migphase-status's commands recover it; memory
#     verified;
#   - a postcopy that sends nothing (destination QEMU stopped) after
#     Finish's success: Confirm gives up after --stall-timeout-ms, exit 3,
#     the source paused and alive, also when its monitor stays silent;
#     migphase-status prints Confirm again, which ends the migration once
#     the stream moves; memory verified.
# QEMU 7.2 opens userfaultfd with the syscall: the test sets
# vm.unprivileged_userfaultfd=1 for the destination QEMU (migphase-qemu) and
# puts the previous value back on the way out.
# shellcheck source=tests/integration/lib.sh disable=SC2154
. "$top_srcdir/tests/integration/lib.sh"
mp_require_qemu
mp_require_root
[ -r /proc/sys/vm/unprivileged_userfaultfd ] || mp_skip "no vm.unprivileged_userfaultfd here"
command -v ss >/dev/null || mp_skip "ss (iproute2) is not installed"
command -v tc >/dev/null || mp_skip "tc (iproute2) is not installed"
mp_init
uffd_before=$(cat /proc/sys/vm/unprivileged_userfaultfd)
# mp_cleanup takes the test's exit status from $?: handed on past the sysctl,
# without errexit (a failing "(exit N)" would end the trap before it).
trap 'pc_status=$?; set +e; echo "$uffd_before" >/proc/sys/vm/unprivileged_userfaultfd
(exit "$pc_status"); mp_cleanup' EXIT

mp_two_hosts mpp 10.215.0
SRC=(ip netns exec "$MP_SRC_NS")
DST=(ip netns exec "$MP_DST_NS")
S=(--state-dir "$MP_STATE")
H="$MP_HELPERS"
mem=16
rate=16
bandwidth=4

# begin NAME [OPTIONS...]: Begin on the source, its cookie in $MP_TMP/NAME-begin.xml.
begin() {
    local name=$1
    shift
    "${SRC[@]}" "$H/migphase-begin" "${S[@]}" --qmp "$MP_TMP/$name-src.qmp" \
        --bandwidth $bandwidth "$@" --out "$MP_TMP/$name-begin.xml"
}

# prepare NAME: Prepare on the destination host.
prepare() {
    "${DST[@]}" "$H/migphase-prepare" "${S[@]}" --qmp "$MP_TMP/$1-dst.qmp" --listen 10.215.0.2 \
        --rewrite "$MP_TMP/$1-src-=$MP_TMP/$1-dst-" --in "$MP_TMP/$1-begin.xml" \
        --out "$MP_TMP/$1-prepare.xml"
}

# perform NAME [OPTIONS...]: Perform on the source host, progress as JSON.
perform() {
    local name=$1
    shift
    "${SRC[@]}" "$H/migphase-perform" "${S[@]}" --progress json "$@" \
        --in "$MP_TMP/$name-prepare.xml" --out "$MP_TMP/$name-perform.xml"
}

# prepared_for_postcopy NAME: a guest in the source namespace, Begin with
# --postcopy-after-precopy and Prepare done.
prepared_for_postcopy() {
    MP_PREFIX="${SRC[*]}" mp_start_guest "$1" $mem $rate
    mp_wait_ticks "$MP_TMP/$1-src-serial.log" 2 60
    begin "$1" --postcopy-after-precopy
    prepare "$1" || mp_fail "Prepare failed"
}

# migration_status SOCKET: what QEMU's query-migrate says.
migration_status() {
    mp_qmp --timeout 5 --get status "$1" query-migrate 2>/dev/null || echo absent
}

# wait_migration_status SOCKET STATUS TIMEOUT_S
# proxy_monitor SOCK LOG ARGS...: QEMU's monitor at SOCK moves to SOCK.real,
# and qmp-proxy.py (ARGS) serves SOCK in its place, its stderr in LOG;
# $proxy_pid is the proxy's.
proxy_monitor() {
    local sock=$1 log=$2 _
    shift 2
    mv "$sock" "$sock.real"
    "$MP_PY" "$top_srcdir/tests/integration/qmp-proxy.py" "$sock" "$sock.real" "$@" 2>"$log" &
    proxy_pid=$!
    for _ in $(seq 100); do
        [ -S "$sock" ] && break
        sleep 0.05
    done
}
# unproxy_monitor SOCK: the proxy goes, QEMU's monitor is at SOCK again.
unproxy_monitor() {
    kill "$proxy_pid"
    wait "$proxy_pid" || true
    mv "$1.real" "$1"
}
wait_migration_status() {
    local _
    for _ in $(seq $(($3 * 10))); do
        [ "$(migration_status "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    mp_fail "$1: migration is $(migration_status "$1"), not $2, after $3 s"
}

# verify_destination NAME: the guest runs on the destination only, its
# memory and serial counter go on from the source's, nothing is pending.
verify_destination() {
    local name=$1 before src=absent dst
    # A source QEMU that quit took its socket along: asking it would wait
    # the monitor's whole timeout for a QEMU that is not coming.
    if [ -e "$MP_TMP/$name-src.qmp" ]; then
        src=$(mp_run_state "$MP_TMP/$name-src.qmp")
    fi
    dst=$(mp_run_state "$MP_TMP/$name-dst.qmp")
    if [ "$dst" != running ] || [ "$src" = running ]; then
        mp_fail "$name: guest runs: source=$src destination=$dst"
    fi
    mp_verify_memory "$MP_TMP/$name-dst.qmp" $mem || mp_fail "$name: memory check failed"
    before=$(mp_last_tick "$MP_TMP/$name-dst-serial.log")
    mp_wait_ticks "$MP_TMP/$name-dst-serial.log" $((before + 2)) 60
    sh "$MP_SERIAL_CHECK" "$MP_TMP/$name-src-serial.log" "$MP_TMP/$name-dst-serial.log" ||
        mp_fail "$name: the serial counter did not go on from the source's"
    mp_assert_nothing_pending
}

echo "== Prepare refuses --postcopy while QEMU as $MP_QEMU_USER may not use userfaultfd"
echo 0 >/proc/sys/vm/unprivileged_userfaultfd
MP_PREFIX="${SRC[*]}" mp_start_guest ref $mem $rate
begin ref --postcopy
rc=0
prepare ref 2>"$MP_TMP/ref.err" || rc=$?
cat "$MP_TMP/ref.err"
mp_expect_status 2 "$rc" "migphase-prepare --postcopy without userfaultfd"
grep -q 'runs as migphase-qemu.*vm.unprivileged_userfaultfd=1' "$MP_TMP/ref.err" ||
    mp_fail "the refusal does not say what to set"
[ "$(wc -l <"$MP_TMP/ref.err")" -eq 1 ] || mp_fail "the refusal is not one line"
[ "$(mp_count_vms)" -eq 1 ] || mp_fail "the refused destination VM was left behind"
[ "$(mp_run_state "$MP_TMP/ref-src.qmp")" = running ] || mp_fail "the source does not run"
echo 1 >/proc/sys/vm/unprivileged_userfaultfd
"$H/migphase-confirm" "${S[@]}" --cancelled --in "$MP_TMP/ref-begin.xml" ||
    mp_fail "closing the refused migration failed"
mp_kill_all

echo "== --postcopy-after-precopy: switched after the first pass; Confirm --cancelled refused"
MP_PREFIX="${SRC[*]}" mp_start_guest pc $mem $rate
mp_wait_ticks "$MP_TMP/pc-src-serial.log" 2 60
src_pid=$(mp_pid "$MP_TMP/pc-src.pid")
begin pc --postcopy-after-precopy --bandwidth 8
grep -q 'postcopy="yes" postcopy-after-precopy="yes"' "$MP_TMP/pc-begin.xml" ||
    mp_fail "Begin's cookie does not carry postcopy"
prepare pc || mp_fail "Prepare failed"
perform pc 2>"$MP_TMP/pc-perform.err" ||
    mp_fail "Perform failed: $(grep -v '^{' "$MP_TMP/pc-perform.err")"
grep '"event":"postcopy"' "$MP_TMP/pc-perform.err" || mp_fail "no postcopy event"
# Once postcopy is asked for, nothing else is steered: a raised downtime
# limit let pre-copy end the stream instead of the switch.
grep -q '"event":"converge"' "$MP_TMP/pc-perform.err" &&
    mp_fail "Perform raised the downtime limit with postcopy asked for"
grep -q '<convergence .*postcopy="yes"' "$MP_TMP/pc-perform.xml" ||
    mp_fail "Perform's cookie does not say postcopy started"
for force in "" --force; do
    rc=0
    "$H/migphase-confirm" "${S[@]}" --cancelled $force --in "$MP_TMP/pc-perform.xml" \
        2>"$MP_TMP/pc-cancel.err" || rc=$?
    cat "$MP_TMP/pc-cancel.err"
    mp_expect_status 3 "$rc" "migphase-confirm --cancelled $force after the switch"
    grep -q 'switched to postcopy' "$MP_TMP/pc-cancel.err" || mp_fail "no reason given"
done
[ "$(mp_run_state "$MP_TMP/pc-src.qmp")" != running ] || mp_fail "the source was resumed"
"${DST[@]}" "$H/migphase-finish" "${S[@]}" --in "$MP_TMP/pc-perform.xml" \
    --out "$MP_TMP/pc-finish.xml" || mp_fail "Finish failed"
"$H/migphase-confirm" "${S[@]}" --in "$MP_TMP/pc-finish.xml" || mp_fail "Confirm failed"
mp_alive "$src_pid" && mp_fail "the source VM still runs"
verify_destination pc

# status_json: migphase-status --json of both hosts (one state directory).
status_json() {
    "$H/migphase-status" "${S[@]}" --json >"$MP_TMP/status.json" || true
}

# status_field ROLE FIELD: a field of ROLE's pending entry ("" when none);
# a list as one line, its items separated by a unit separator.
status_field() {
    "$MP_PY" - "$MP_TMP/status.json" "$1" "$2" <<'EOP'
import json, sys
entries = json.load(open(sys.argv[1]))
entries = entries.get("pending", entries) if isinstance(entries, dict) else entries
for e in entries:
    if e.get("role") == sys.argv[2]:
        v = e.get(sys.argv[3], "")
        print("\x1f".join(v) if isinstance(v, list) else v)
EOP
}

# run_printed ROLE FIELD: run the command migphase-status printed for ROLE
# ("command" or "then") on the host it names ("where" or "then_where").
run_printed() {
    local role=$1 field=$2 where cmd
    where=$(status_field "$role" "$([ "$field" = command ] && echo where || echo then_where)")
    IFS=$'\x1f' read -r -a cmd <<<"$(status_field "$role" "$field")"
    [ "${#cmd[@]}" -gt 0 ] || mp_fail "migphase-status printed no $field for the $role"
    local host=$role
    case "$where" in
    "on the destination") host=destination ;;
    "on the source") host=source ;;
    esac
    echo "+ ($host) ${cmd[*]}"
    cmd[0]="$H/${cmd[0]}"
    if [ "$host" = destination ]; then
        "${DST[@]}" "${cmd[@]}"
    else
        "${SRC[@]}" "${cmd[@]}"
    fi
}

# resolve NAME: run what migphase-status prints, host by host, until
# nothing is pending (at most 4 rounds).
resolve() {
    local _ role
    for _ in 1 2 3 4; do
        status_json
        [ -n "$(status_field source domain)$(status_field destination domain)" ] || return 0
        for role in source destination; do
            [ -n "$(status_field "$role" domain)" ] || continue
            echo "$role: $(status_field "$role" vm_state): $(status_field "$role" why)"
            [ -n "$(status_field "$role" command)" ] || continue
            run_printed "$role" command || mp_fail "the $role's printed command failed"
            if [ -n "$(status_field "$role" "then")" ]; then
                run_printed "$role" "then" || mp_fail "the $role's second command failed"
            fi
            break
        done
    done
    mp_fail "still pending after 4 rounds: $(cat "$MP_TMP/status.json")"
}

# cut_link: the link between the hosts goes down, and each host's TCP gives
# up on the stream's connection (ss -K), as it would after its retransmission
# timeout (minutes: net.ipv4.tcp_retries2).
cut_link() {
    ip -n "$MP_DST_NS" link set "mppD$$" down
    # (ss -K says "Invalid argument" of the sockets it may not destroy.)
    ip netns exec "$MP_DST_NS" ss -K dst 10.215.0.1 >/dev/null 2>&1 || true
    ip netns exec "$MP_SRC_NS" ss -K dst 10.215.0.2 >/dev/null 2>&1 || true
}

echo "== migphase-migrate --postcopy-after-precopy: the orchestrator passes it on"
MP_PREFIX="${SRC[*]}" mp_start_guest mig $mem $rate
mp_wait_ticks "$MP_TMP/mig-src-serial.log" 2 60
mp_migrate mig --transport "ip netns exec $MP_DST_NS" --listen 10.215.0.2 --progress json \
    --bandwidth 8 --postcopy-after-precopy 2>"$MP_TMP/mig.err" ||
    mp_fail "migphase-migrate failed: $(grep -v '^{' "$MP_TMP/mig.err")"
grep -q '"event":"postcopy"' "$MP_TMP/mig.err" || mp_fail "migphase-migrate did not switch"
verify_destination mig

echo "== --converge auto --postcopy: the downtime limit, the throttle, then postcopy"
MP_PREFIX="${SRC[*]}" mp_start_guest auto $mem $rate
mp_wait_ticks "$MP_TMP/auto-src-serial.log" 2 60
begin auto --postcopy --timeout 40 --throttle-step 30
prepare auto || mp_fail "Prepare failed"
perform auto --downtime-ceiling-ms 400 2>"$MP_TMP/auto-perform.err" ||
    mp_fail "Perform failed: $(grep -v '^{' "$MP_TMP/auto-perform.err")"
grep '"event":"\(converge\|postcopy\)"' "$MP_TMP/auto-perform.err" || true
grep -q '"event":"converge".*downtime limit 300 -> 400 ms' "$MP_TMP/auto-perform.err" ||
    mp_fail "the downtime limit was not raised first"
grep -q '"event":"converge".*throttling the guest' "$MP_TMP/auto-perform.err" ||
    mp_fail "the guest was not throttled before postcopy"
grep -q '"event":"postcopy"' "$MP_TMP/auto-perform.err" || mp_fail "no postcopy event"
grep -q '<convergence escalations="3" downtime-limit-ms="400" throttled="yes" timed-out="no" postcopy="yes"/>' \
    "$MP_TMP/auto-perform.xml" || mp_fail "Perform's cookie does not record the three steps"
"${DST[@]}" "$H/migphase-finish" "${S[@]}" --in "$MP_TMP/auto-perform.xml" \
    --out "$MP_TMP/auto-finish.xml" || mp_fail "Finish failed"
"$H/migphase-confirm" "${S[@]}" --in "$MP_TMP/auto-finish.xml" || mp_fail "Confirm failed"
verify_destination auto

echo "== the link cut during postcopy: both sides paused, recovered as migphase-status says"
prepared_for_postcopy cut
perform cut 2>"$MP_TMP/cut-perform.err" ||
    mp_fail "Perform failed: $(grep -v '^{' "$MP_TMP/cut-perform.err")"
"${DST[@]}" "$H/migphase-finish" "${S[@]}" --in "$MP_TMP/cut-perform.xml" \
    --out "$MP_TMP/cut-finish.xml" 2>"$MP_TMP/cut-finish.err" &
finish_pid=$!
wait_ticks_after() { # LOG: one more tick than now
    local n
    n=$(grep -c '^tick ' "$1" 2>/dev/null || true)
    mp_wait_ticks "$1" $((n + 1)) 60
}
wait_ticks_after "$MP_TMP/cut-dst-serial.log"
cut_link
wait_migration_status "$MP_TMP/cut-src.qmp" postcopy-paused 30
wait_migration_status "$MP_TMP/cut-dst.qmp" postcopy-paused 30
rc=0
wait "$finish_pid" || rc=$?
cat "$MP_TMP/cut-finish.err"
mp_expect_status 3 "$rc" "migphase-finish when the postcopy stream broke"
"$H/migphase-status" "${S[@]}" >"$MP_TMP/cut-status.out" || true
cat "$MP_TMP/cut-status.out"
[ "$(grep -c 'VM postcopy-paused' "$MP_TMP/cut-status.out")" -eq 2 ] ||
    mp_fail "migphase-status does not show the paused postcopy on both hosts"
grep -q 'migphase-prepare --resume' "$MP_TMP/cut-status.out" ||
    mp_fail "migphase-status does not say how to recover"
rc=0
"$H/migphase-confirm" "${S[@]}" --cancelled --force --in "$MP_TMP/cut-perform.xml" || rc=$?
mp_expect_status 3 "$rc" "migphase-confirm --cancelled --force of a paused postcopy"
ip -n "$MP_DST_NS" link set "mppD$$" up
resolve cut
grep -q '<incoming uri="tcp:10.215.0.2:[0-9]*" tls="yes"/>' \
    "$MP_STATE/destination/cut/resume-cookie.xml" ||
    mp_fail "the recovered stream did not keep the first stream's TLS"
verify_destination cut

echo "== Finish killed during postcopy, then Perform killed at the switch"
prepared_for_postcopy kill
perform kill 2>"$MP_TMP/kill-perform.err" || mp_fail "Perform failed"
"${DST[@]}" "$H/migphase-finish" "${S[@]}" --in "$MP_TMP/kill-perform.xml" \
    --out "$MP_TMP/kill-finish.xml" &
finish_pid=$!
wait_ticks_after "$MP_TMP/kill-dst-serial.log"
kill -KILL "$finish_pid"
wait "$finish_pid" || true
resolve kill
verify_destination kill

prepared_for_postcopy pk
# Perform talks to its QEMU through a proxy that goes silent once it relayed
# the reply to migrate-start-postcopy: Perform is caught past the switch,
# waiting on its monitor, and killed there.
sock="$MP_TMP/pk-src.qmp"
proxy_monitor "$sock" "$MP_TMP/pk-proxy.log" --silent-after migrate-start-postcopy
# Not through the function: $! must be the helper (ip netns exec execs it).
"${SRC[@]}" "$H/migphase-perform" "${S[@]}" --progress json --in "$MP_TMP/pk-prepare.xml" \
    --out "$MP_TMP/pk-perform.xml" 2>"$MP_TMP/pk-perform.err" &
perform_pid=$!
for _ in $(seq 1200); do
    grep -q '"event":"postcopy"' "$MP_TMP/pk-perform.err" 2>/dev/null && break
    sleep 0.05
done
grep -q '"event":"postcopy"' "$MP_TMP/pk-perform.err" || mp_fail "Perform never switched"
sleep 0.5
kill -KILL "$perform_pid"
wait "$perform_pid" || true
unproxy_monitor "$sock"
status_json
[ "$(status_field source step) $(status_field source phase)" = "perform started" ] ||
    mp_fail "Perform was not caught past the switch: $(cat "$MP_TMP/status.json")"
resolve pk
verify_destination pk

# slow_link RATE|off: from now on the link from the source to the
# destination carries RATE (tc's units: 8mbit); off: the veth's own speed.
# QEMU's own bound does not hold the pages a running destination asks for.
slow_link() {
    if [ "$1" = off ]; then
        tc -n "$MP_SRC_NS" qdisc del dev "mppS$$" root
    else
        tc -n "$MP_SRC_NS" qdisc replace dev "mppS$$" root tbf rate "$1" burst 32kb latency 50ms
    fi
}

echo "== Finish pauses a postcopy that outlasts --incoming-timeout-ms; it never kills it"
# After the switch the link slows down to 1 MiB/s: the pages the guest
# dirtied in the first pass (most of its 16 MiB) take seconds, Finish waits
# 1 s for them.
prepared_for_postcopy late
src_pid=$(mp_pid "$MP_TMP/late-src.pid")
dst_pid=$(mp_dest_pid late)
perform late 2>"$MP_TMP/late-perform.err" ||
    mp_fail "Perform failed: $(grep -v '^{' "$MP_TMP/late-perform.err")"
slow_link 8mbit
rc=0
"${DST[@]}" "$H/migphase-finish" "${S[@]}" --incoming-timeout-ms 1000 \
    --in "$MP_TMP/late-perform.xml" --out "$MP_TMP/late-finish.xml" 2>"$MP_TMP/late-finish.err" ||
    rc=$?
cat "$MP_TMP/late-finish.err"
mp_expect_status 3 "$rc" "migphase-finish when the postcopy outlasted its incoming timeout"
grep -q 'did not complete within 1000 ms: pausing it' "$MP_TMP/late-finish.err" ||
    mp_fail "Finish does not say it paused the postcopy"
grep -q 'migphase-prepare --resume here, then migphase-perform --resume' "$MP_TMP/late-finish.err" ||
    mp_fail "Finish does not say how to recover"
[ ! -s "$MP_TMP/late-finish.xml" ] || mp_fail "Finish wrote a cookie for a postcopy it left paused"
mp_alive "$dst_pid" || mp_fail "Finish killed the destination VM"
wait_migration_status "$MP_TMP/late-dst.qmp" postcopy-paused 10
wait_migration_status "$MP_TMP/late-src.qmp" postcopy-paused 30
[ "$(mp_run_state "$MP_TMP/late-src.qmp")" != running ] || mp_fail "the source runs again"
"$H/migphase-status" "${S[@]}" >"$MP_TMP/late-status.out" && mp_fail "migphase-status: nothing pending"
cat "$MP_TMP/late-status.out"
[ "$(grep -c 'VM postcopy-paused' "$MP_TMP/late-status.out")" -eq 2 ] ||
    mp_fail "migphase-status does not show the paused postcopy on both hosts"
grep -q 'last error: the postcopy stream is paused (it did not complete in time)' \
    "$MP_TMP/late-status.out" || mp_fail "migphase-status does not say why the destination paused"
for step in prepare perform; do
    grep -q "migphase-$step --resume" "$MP_TMP/late-status.out" ||
        mp_fail "migphase-status does not print migphase-$step --resume"
done
slow_link off
resolve late
mp_alive "$src_pid" && mp_fail "the source VM still runs"
[ "$(mp_dest_pid late)" = "$dst_pid" ] || mp_fail "the destination VM was replaced"
verify_destination late

echo "== Confirm gives up on a postcopy that sends nothing for --stall-timeout-ms"
# The window where the destination saw its last page and its source has not
# heard so yet, held open: Finish reads the destination's monitor through a
# proxy that says "completed" once the guest runs there, then the
# destination QEMU is stopped (SIGSTOP) with pages still to come (the link
# slowed down after the switch, as above).
prepared_for_postcopy stall
src_pid=$(mp_pid "$MP_TMP/stall-src.pid")
dst_pid=$(mp_dest_pid stall)
sock="$MP_TMP/stall-dst.qmp"
# Finish's first query-migrate finds the switch, its second (after cont) is
# answered "completed".
proxy_monitor "$sock" "$MP_TMP/stall-proxy.log" --postcopy-completed-after 1
perform stall 2>"$MP_TMP/stall-perform.err" ||
    mp_fail "Perform failed: $(grep -v '^{' "$MP_TMP/stall-perform.err")"
slow_link 8mbit
"${DST[@]}" "$H/migphase-finish" "${S[@]}" --in "$MP_TMP/stall-perform.xml" \
    --out "$MP_TMP/stall-finish.xml" || mp_fail "Finish failed"
kill -STOP "$dst_pid"
unproxy_monitor "$sock"
status=$(migration_status "$MP_TMP/stall-src.qmp")
[ "$status" = postcopy-active ] || mp_fail "the source's stream is $status, not postcopy-active"
# confirm_stalled ERR: Confirm with a 2 s stall timeout, its stderr in ERR,
# its status in $rc, how long it took in $took_ms.
confirm_stalled() {
    local started
    started=$(date +%s%N)
    rc=0
    "${SRC[@]}" "$H/migphase-confirm" "${S[@]}" --stall-timeout-ms 2000 \
        --in "$MP_TMP/stall-finish.xml" 2>"$1" || rc=$?
    took_ms=$((($(date +%s%N) - started) / 1000000))
}
confirm_stalled "$MP_TMP/stall-confirm.err"
cat "$MP_TMP/stall-confirm.err"
echo "Confirm gave up after $took_ms ms"
mp_expect_status 3 "$rc" "migphase-confirm on a stalled postcopy"
# Its monitor may answer (the stream's counters stand still) or stay silent
# (QEMU sends the last pages holding its big lock): a stall either way.
grep -q 'the postcopy stream sent nothing for 2000 ms.*: the source stays paused' \
    "$MP_TMP/stall-confirm.err" || mp_fail "Confirm does not say the stream stalled"
# The default (30 s) would have been longer: --stall-timeout-ms counts.
[ "$took_ms" -lt 20000 ] || mp_fail "Confirm took $took_ms ms to give up, not about 2000"
mp_alive "$src_pid" || mp_fail "Confirm killed the source VM of an unfinished postcopy"
[ "$(migration_status "$MP_TMP/stall-src.qmp")" = postcopy-active ] ||
    mp_fail "the source's stream is $(migration_status "$MP_TMP/stall-src.qmp"), not postcopy-active"
src_state=$(mp_run_state "$MP_TMP/stall-src.qmp")
echo "the source VM is $src_state, its stream postcopy-active"
[ "$src_state" != running ] || mp_fail "the source runs again"
"$H/migphase-status" "${S[@]}" || true
status_json
[ -z "$(status_field destination domain)" ] ||
    mp_fail "the destination's Finish is pending: $(status_field destination why)"
[ "$(status_field source step) $(status_field source phase)" = "confirm failed" ] ||
    mp_fail "the source's journal is not a failed Confirm: $(cat "$MP_TMP/status.json")"
[ "$(status_field source vm_state)" = postcopy ] || mp_fail "migphase-status: the source is not in postcopy"
case "$(status_field source why)" in
*"postcopy's end (its stream stalled"*"never runs again"*) ;;
*) mp_fail "migphase-status does not say Confirm stopped before the postcopy's end" ;;
esac
case "$(status_field source last_error)" in
*"sent nothing for 2000 ms"*) ;;
*) mp_fail "migphase-status does not give Confirm's reason" ;;
esac
case "$(status_field source command | tr '\037' ' ')" in
"migphase-confirm --state-dir $MP_STATE --in "*) ;;
*) mp_fail "migphase-status does not print Confirm again: $(status_field source command)" ;;
esac
# The same stall behind a silent monitor (QEMU sends the last pages holding
# its big lock, so its main loop answers nothing): Confirm, run again as
# migphase-status says, gives up after --stall-timeout-ms all the same.
proxy_monitor "$MP_TMP/stall-src.qmp" "$MP_TMP/stall-src-proxy.log" --silent-after qmp_capabilities
confirm_stalled "$MP_TMP/stall-silent.err"
unproxy_monitor "$MP_TMP/stall-src.qmp"
cat "$MP_TMP/stall-silent.err"
echo "Confirm gave up on the silent monitor after $took_ms ms"
mp_expect_status 3 "$rc" "migphase-confirm on a stalled postcopy behind a silent monitor"
grep -q 'sent nothing for 2000 ms as far as .* (its monitor stayed silent): the source stays paused' \
    "$MP_TMP/stall-silent.err" || mp_fail "Confirm does not say the silent monitor is a stall"
[ "$took_ms" -lt 20000 ] || mp_fail "Confirm took $took_ms ms to give up on a silent monitor"
mp_alive "$src_pid" || mp_fail "Confirm killed the source VM behind a silent monitor"
kill -CONT "$dst_pid"
slow_link off
resolve stall
mp_alive "$src_pid" && mp_fail "the source VM still runs"
verify_destination stall

echo "PASS: postcopy refused without userfaultfd; switched after the first pass, cancel" \
    "refused; a cut link and killed helpers recovered as migphase-status says; a postcopy" \
    "that outlasted Finish paused and recovered; a stalled one left by Confirm, then ended"
