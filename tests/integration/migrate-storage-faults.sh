#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Faults during a live storage migration (--copy-storage all) between two
# hosts (network namespaces, the link throttled so that the disks' copy
# takes seconds). The guest writes its disk ring all along; a second disk
# holds random data. Each fault strikes during the disks' mirror or at the
# pre-switchover point, and the case is resolved only with the commands
# migphase-status prints. Then: the guest runs on the source, its disks
# intact (the ring checked, the data disk equal to its pristine copy), no
# mirror job nor NBD client node of ours left in the source QEMU, the images
# Prepare created removed, nothing pending, and the guest goes on.
#   kill-dst   SIGKILL of the destination QEMU during the mirror
#   netcut     the link goes down during the mirror (up again before recovery)
#   kill-perf  SIGKILL of migphase-perform during the mirror
#   boot       the same, resolved by migphase-status --recover on each host
#              (what runs at boot) instead of the printed commands
#   preswitch  migphase-perform killed where it completes the mirrors (gdb),
#              the source paused at pre-switchover: the migration is cancelled
# shellcheck source=tests/integration/lib.sh disable=SC2154
. "$top_srcdir/tests/integration/lib.sh"
mp_require_qemu
mp_require_root
mp_init
command -v qemu-img >/dev/null || mp_skip "qemu-img is not installed"
command -v tc >/dev/null || mp_skip "tc (iproute2) is not installed"

mp_two_hosts mpf 10.218.0
src_ns=$MP_SRC_NS
dst_ns=$MP_DST_NS
veth="mpfS$$"
SRC=(ip netns exec "$src_ns")
DST=(ip netns exec "$dst_ns")
mem=16
# 40 MiB of data at 48 Mbit/s: about 7 s of mirror.
ip netns exec "$src_ns" tc qdisc add dev "$veth" root tbf rate 48mbit burst 64kb latency 400ms

# start NAME: the guest with its ring disk (qcow2) and a data disk (raw,
# 40 MiB random, a pristine copy kept).
start() {
    local name=$1
    qemu-img create -q -f qcow2 "$MP_TMP/$name-src-ring.qcow2" 4M
    qemu-img create -q -f raw "$MP_TMP/$name-src-data.raw" 64M
    head -c 40M /dev/urandom | dd of="$MP_TMP/$name-src-data.raw" conv=notrunc status=none
    cp "$MP_TMP/$name-src-data.raw" "$MP_TMP/$name-pristine.raw"
    # A ready mirror copies each guest write as a whole 64 KiB cluster:
    # 20 sectors/s leave room for the memory stream on the throttled link.
    MP_PREFIX="${SRC[*]}" mp_start_guest "$name" $mem 1 \
        -append "mem=$mem rate=1 disk=2048 diskrate=20" \
        -blockdev "driver=file,filename=$MP_TMP/$name-src-ring.qcow2,node-name=f0" \
        -blockdev "driver=qcow2,file=f0,node-name=ring" \
        -device ide-hd,drive=ring,bus=ide.0,unit=0 \
        -blockdev "driver=file,filename=$MP_TMP/$name-src-data.raw,node-name=f1" \
        -blockdev "driver=raw,file=f1,node-name=data" \
        -device ide-hd,drive=data,bus=ide.1,unit=0 \
        -qmp "unix:$MP_TMP/$name-io.qmp,server=on,wait=off"
    mp_wait_ticks "$MP_TMP/$name-src-serial.log" 2 60
}

# begin_prepare NAME: the first two steps, each on its host.
begin_prepare() {
    local name=$1
    "${SRC[@]}" "$MP_HELPERS/migphase-begin" --state-dir "$MP_STATE" --qmp "$MP_TMP/$name-src.qmp" \
        --copy-storage all --bandwidth 8 --out "$MP_TMP/$name-begin.xml" 2>"$MP_TMP/$name-begin.err" ||
        mp_fail "$name: begin: $(cat "$MP_TMP/$name-begin.err")"
    grep -q '<disk node="ring"' "$MP_TMP/$name-begin.xml" || mp_fail "$name: begin lists no ring disk"
    grep -q '<disk node="data"' "$MP_TMP/$name-begin.xml" || mp_fail "$name: begin lists no data disk"
    "${DST[@]}" "$MP_HELPERS/migphase-prepare" --state-dir "$MP_STATE" --qmp "$MP_TMP/$name-dst.qmp" \
        --listen 10.218.0.2 --rewrite "$MP_TMP/$name-src-=$MP_TMP/$name-dst-" \
        --in "$MP_TMP/$name-begin.xml" --out "$MP_TMP/$name-prepare.xml" 2>"$MP_TMP/$name-prepare.err" ||
        mp_fail "$name: prepare: $(cat "$MP_TMP/$name-prepare.err")"
    local f
    for f in "$MP_TMP/$name-dst-ring.qcow2" "$MP_TMP/$name-dst-data.raw"; do
        [ -f "$f" ] || mp_fail "$name: prepare did not create $f"
    done
}

perform_cmd() {
    PERFORM=("$MP_HELPERS/migphase-perform" --state-dir "$MP_STATE" --progress json
        --stall-timeout-ms 3000 --in "$MP_TMP/$1-prepare.xml" --out "$MP_TMP/$1-perform.xml")
}

# wait_mirroring NAME: until Perform's progress shows the disks' copy under way.
wait_mirroring() {
    local _
    for _ in $(seq 200); do
        grep -q '"status":"disks".*"transferred_bytes":[1-9]' "$MP_TMP/$1-perform.err" 2>/dev/null &&
            return 0
        sleep 0.05
    done
    mp_fail "$1: no disk copy under way: $(tail -n 3 "$MP_TMP/$1-perform.err")"
}

# resolve NAME: run what migphase-status prints on each host until nothing
# is pending (12 commands at most).
resolve() {
    local name=$1 i
    for i in $(seq 12); do
        local src_rc=0 dst_rc=0
        "${SRC[@]}" "$MP_HELPERS/migphase-status" --state-dir "$MP_STATE" --json \
            >"$MP_TMP/$name-st$i-src.json" || src_rc=$?
        "${DST[@]}" "$MP_HELPERS/migphase-status" --state-dir "$MP_STATE" --json \
            >"$MP_TMP/$name-st$i-dst.json" || dst_rc=$?
        [ "$src_rc" -eq 0 ] && [ "$dst_rc" -eq 0 ] && return 0
        local line host where argv
        line=$(python3 - "$MP_TMP/$name-st$i-src.json" "$MP_TMP/$name-st$i-dst.json" <<'EOF'
import json, sys
for host, path, role in (("src", sys.argv[1], "source"), ("dst", sys.argv[2], "destination")):
    for e in json.load(open(path)):
        if e.get("role") == role and e.get("command"):
            print("%s\t%s\t%s" % (host, e.get("where", "here"), "\x1f".join(e["command"])))
            sys.exit(0)
EOF
        )
        [ -n "$line" ] || mp_fail "$name: recovery stuck: $(cat "$MP_TMP/$name-st$i-src.json")"
        IFS=$'\t' read -r host where argv <<<"$line"
        local -a cmd
        IFS=$'\x1f' read -r -a cmd <<<"$argv"
        [ "$where" = "on the destination" ] && host=dst
        cmd[0]="$MP_HELPERS/${cmd[0]}"
        echo "$name: recovery on $host: ${cmd[*]##*/}"
        if [ "$host" = src ]; then
            "${SRC[@]}" "${cmd[@]}" >/dev/null 2>>"$MP_TMP/$name-resolve.err" || true
        else
            "${DST[@]}" "${cmd[@]}" >/dev/null 2>>"$MP_TMP/$name-resolve.err" || true
        fi
    done
    mp_fail "$name: not resolved after 12 commands"
}

# verify NAME: the guest runs on the source with its own disks intact, and
# nothing of the migration is left.
verify() {
    local name=$1 io="$MP_TMP/$1-io.qmp"
    [ "$(mp_run_state "$MP_TMP/$name-src.qmp")" = running ] ||
        mp_fail "$name: the source is $(mp_run_state "$MP_TMP/$name-src.qmp")"
    [ "$(mp_count_vms)" -eq 1 ] || mp_fail "$name: $(mp_count_vms) QEMU processes left"
    local jobs nodes
    jobs=$(mp_qmp "$io" query-block-jobs)
    [ "$jobs" = "[]" ] || mp_fail "$name: block jobs left on the source: $jobs"
    nodes=$(mp_qmp "$io" query-named-block-nodes | grep -o '"node-name": *"migphase-[^"]*"' || true)
    [ -z "$nodes" ] || mp_fail "$name: NBD nodes left on the source: $nodes"
    local f
    for f in "$MP_TMP/$name-dst-ring.qcow2" "$MP_TMP/$name-dst-data.raw"; do
        [ ! -e "$f" ] || mp_fail "$name: the destination's image $f is still there"
    done
    local seq
    seq=$(sed -n 's/^disk seq //p' "$MP_TMP/$name-src-serial.log" | tail -n 1)
    mp_qmp "$io" stop >/dev/null
    qemu-img convert -U -f qcow2 -O raw "$MP_TMP/$name-src-ring.qcow2" "$MP_TMP/$name-ring.raw"
    qemu-img compare -U -q -f raw -F raw "$MP_TMP/$name-src-data.raw" "$MP_TMP/$name-pristine.raw" ||
        mp_fail "$name: the source's data disk changed"
    mp_qmp "$io" cont >/dev/null
    "$MP_GUEST_CHECK" --disk "$MP_TMP/$name-ring.raw" --min-seq "${seq:-0}" >"$MP_TMP/$name.check" ||
        mp_fail "$name: the source's disk: $(cat "$MP_TMP/$name.check")"
    mp_verify_memory "$MP_TMP/$name-src.qmp" $mem >/dev/null || mp_fail "$name: memory check failed"
    local before
    before=$(mp_last_tick "$MP_TMP/$name-src-serial.log")
    mp_wait_ticks "$MP_TMP/$name-src-serial.log" $((before + 2)) 60
    grep -q 'migphase-guest: error' "$MP_TMP/$name-src-serial.log" &&
        mp_fail "$name: the guest's disk failed"
    mp_assert_nothing_pending
    echo "$name: OK: the guest runs on the source, disks intact ($(cat "$MP_TMP/$name.check"))"
    mp_qmp "$MP_TMP/$name-src.qmp" quit >/dev/null 2>&1 || true
    rm -f "$MP_TMP/$name"-*.raw "$MP_TMP/$name"-*.qcow2
}

echo "== kill-dst: the destination QEMU dies during the mirror"
start kd
begin_prepare kd
perform_cmd kd
"${SRC[@]}" "${PERFORM[@]}" 2>"$MP_TMP/kd-perform.err" &
perf=$!
wait_mirroring kd
kill -KILL "$(mp_dest_pid kd)"
rc=0
wait "$perf" || rc=$?
[ "$rc" -eq 1 ] || [ "$rc" -eq 3 ] || mp_fail "kd: perform exited $rc"
grep -q 'mirror of disk' "$MP_TMP/kd-perform.err" || mp_fail "kd: $(tail -n 1 "$MP_TMP/kd-perform.err")"
resolve kd
verify kd

echo "== netcut: the link goes down during the mirror"
start nc
begin_prepare nc
perform_cmd nc
"${SRC[@]}" "${PERFORM[@]}" 2>"$MP_TMP/nc-perform.err" &
perf=$!
wait_mirroring nc
ip -n "$src_ns" link set "$veth" down
rc=0
wait "$perf" || rc=$?
ip -n "$src_ns" link set "$veth" up
[ "$rc" -eq 1 ] || [ "$rc" -eq 3 ] || mp_fail "nc: perform exited $rc"
grep -q 'moved nothing' "$MP_TMP/nc-perform.err" || mp_fail "nc: $(tail -n 1 "$MP_TMP/nc-perform.err")"
resolve nc
verify nc

echo "== kill-perf: migphase-perform is killed during the mirror"
start kp
begin_prepare kp
perform_cmd kp
"${SRC[@]}" "${PERFORM[@]}" 2>"$MP_TMP/kp-perform.err" &
perf=$!
wait_mirroring kp
# ip netns exec execs the helper: $perf is its pid.
kill -KILL "$perf"
wait "$perf" || true
# A source monitor that does not answer in time makes its VM unknown, the
# reason beside it, and nothing safe to run (seen once in CI; not in 19
# tries since, 16 of them under load): ask again, as the operator is told
# to, a few times.
for try in 1 2 3; do
    "${SRC[@]}" "$MP_HELPERS/migphase-status" --state-dir "$MP_STATE" >"$MP_TMP/kp-status.txt" || true
    grep -q '^  VM unknown because' "$MP_TMP/kp-status.txt" || break
    echo "kp: status, try $try: $(grep '^  VM unknown because' "$MP_TMP/kp-status.txt")"
    sleep 2
done
cat "$MP_TMP/kp-status.txt"
grep -q 'migphase-confirm --cancelled' "$MP_TMP/kp-status.txt" ||
    mp_fail "kp: migphase-status does not say to cancel on the source"
grep -q 'mirrors' "$MP_TMP/kp-status.txt" || mp_fail "kp: migphase-status does not name the mirrors"
resolve kp
verify kp

echo "== boot: migphase-perform killed during the mirror, resolved by --recover alone"
# As at boot (migphase-recover.service): each host applies the rules that
# need no human, the source first, and nothing else is run.
start bt
begin_prepare bt
perform_cmd bt
"${SRC[@]}" "${PERFORM[@]}" 2>"$MP_TMP/bt-perform.err" &
perf=$!
wait_mirroring bt
kill -KILL "$perf"
wait "$perf" || true
rc=0
"${SRC[@]}" "$MP_HELPERS/migphase-status" --state-dir "$MP_STATE" --recover \
    >"$MP_TMP/bt-recover-src.txt" 2>&1 || rc=$?
mp_expect_status 0 "$rc" "migphase-status --recover on the source"
rc=0
"${DST[@]}" "$MP_HELPERS/migphase-status" --state-dir "$MP_STATE" --recover \
    >"$MP_TMP/bt-recover-dst.txt" 2>&1 || rc=$?
mp_expect_status 0 "$rc" "migphase-status --recover on the destination"
cat "$MP_TMP/bt-recover-src.txt" "$MP_TMP/bt-recover-dst.txt"
verify bt

echo "== preswitch: killed where the mirrors would complete, the source paused"
if command -v gdb >/dev/null; then
    start ps
    begin_prepare ps
    perform_cmd ps
    timeout -k 5 300 "${SRC[@]}" gdb -q -batch -ex 'set breakpoint pending on' -ex 'break qemu_storage_complete' \
        -ex run -ex kill --args "${PERFORM[@]}" >"$MP_TMP/ps-gdb.log" 2>&1 || true
    grep -q "^Breakpoint 1, qemu_storage_complete" "$MP_TMP/ps-gdb.log" ||
        mp_fail "ps: perform never reached qemu_storage_complete: $(tail -n 5 "$MP_TMP/ps-gdb.log")"
    state=$(mp_qmp --get status "$MP_TMP/ps-io.qmp" query-migrate)
    [ "$state" = pre-switchover ] || mp_fail "ps: the source's migration is $state"
    resolve ps
    verify ps
else
    echo "SKIP: preswitch (no gdb)"
fi

echo "PASS: faults during the disks' copy leave the guest on the source with its disks intact"
