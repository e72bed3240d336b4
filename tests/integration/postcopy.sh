#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Postcopy between two hosts (network namespaces joined by a veth pair),
# each step run by hand on its host:
#   - Prepare refuses --postcopy with one line when the destination's QEMU
#     (an unprivileged qemu-user) may not use userfaultfd;
#   - --postcopy-after-precopy: the switch after the first pass, Confirm
#     --cancelled refused (exit 3) once it happened, memory verified on the
#     destination.
# QEMU 7.2 opens userfaultfd with the syscall: the test sets
# vm.unprivileged_userfaultfd=1 for the destination QEMU (migphase-qemu) and
# puts the previous value back on the way out.
# shellcheck source=tests/integration/lib.sh disable=SC2154
. "$top_srcdir/tests/integration/lib.sh"
mp_require_qemu
mp_require_root
[ -r /proc/sys/vm/unprivileged_userfaultfd ] || mp_skip "no vm.unprivileged_userfaultfd here"
mp_init
uffd_before=$(cat /proc/sys/vm/unprivileged_userfaultfd)
trap 'pc_status=$?; echo "$uffd_before" >/proc/sys/vm/unprivileged_userfaultfd; (exit $pc_status); mp_cleanup' EXIT

mp_two_hosts mpp 10.215.0
SRC=(ip netns exec "$MP_SRC_NS")
DST=(ip netns exec "$MP_DST_NS")
S=(--state-dir "$MP_STATE")
H="$MP_HELPERS"
mem=24
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

perform() {
    "${SRC[@]}" "$H/migphase-perform" "${S[@]}" --progress json --in "$MP_TMP/$1-prepare.xml" \
        --out "$MP_TMP/$1-perform.xml"
}

# migration_status SOCKET: what QEMU's query-migrate says.
migration_status() {
    mp_qmp --timeout 5 --get status "$1" query-migrate 2>/dev/null || echo absent
}

# wait_migration_status SOCKET STATUS TIMEOUT_S
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
    local name=$1 before
    [ "$(mp_where_running "$name")" = destination ] ||
        mp_fail "$name: guest runs: $(mp_where_running "$name")"
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
begin pc --postcopy-after-precopy
grep -q 'postcopy="yes" postcopy-after-precopy="yes"' "$MP_TMP/pc-begin.xml" ||
    mp_fail "Begin's cookie does not carry postcopy"
prepare pc || mp_fail "Prepare failed"
perform pc 2>"$MP_TMP/pc-perform.err" ||
    mp_fail "Perform failed: $(grep -v '^{' "$MP_TMP/pc-perform.err")"
grep '"event":"postcopy"' "$MP_TMP/pc-perform.err" || mp_fail "no postcopy event"
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

echo "PASS: postcopy refused without userfaultfd; switched after the first pass, cancel refused"
