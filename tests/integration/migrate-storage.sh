#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Live storage migration between two hosts (network namespaces): a VM whose
# writable disk is local is refused unless --unsafe; --copy-storage all
# copies qcow2 and raw images over NBD (TLS), while the disk is written to
# during the whole migration, and the destination's image ends identical to
# the source's, memory verified too; --copy-storage incremental copies the
# top layer onto a backing file both hosts have.
# shellcheck source=tests/integration/lib.sh disable=SC2154
. "$top_srcdir/tests/integration/lib.sh"
mp_require_qemu
mp_require_root
mp_init
command -v qemu-img >/dev/null || mp_skip "qemu-img is not installed"

mp_two_hosts mps 10.217.0
src_ns=$MP_SRC_NS
dst_ns=$MP_DST_NS
mem=16
disk_mib=64

# start NAME FORMAT [BACKING]: the guest NAME with a disk of FORMAT (a
# qcow2 top layer on BACKING when given), its node named disk0.
start() {
    local name=$1 format=$2 backing=${3:-} img="$MP_TMP/$1-src-disk.$2"
    if [ -n "$backing" ]; then
        qemu-img create -q -f qcow2 -b "$backing" -F qcow2 "$img"
    else
        qemu-img create -q -f "$format" "$img" ${disk_mib}M
    fi
    # Content written before the VM starts: the copy must carry it.
    qemu-io -f "$format" -c "write -P 0x5a 1M 24M" -c "write -P 0xa5 40M 1M" "$img" >/dev/null
    MP_PREFIX="ip netns exec $src_ns" mp_start_guest "$name" $mem 4 \
        -blockdev "driver=file,filename=$img,node-name=f0" \
        -blockdev "driver=$format,file=f0,node-name=disk0" \
        -device ide-hd,drive=disk0,bus=ide.0,unit=0,id=vd0 \
        -qmp "unix:$MP_TMP/$name-io.qmp,server=on,wait=off"
}

# writer NAME: write a new 64 KiB pattern every 20 ms through the source's
# block layer (HMP qemu-io on a monitor of its own) while the guest runs,
# as a guest would: it stops at the first moment the VM is not running
# (the switch-over pause). The number of writes is in NAME.writes.
writer() {
    python3 - "$MP_TMP/$1-io.qmp" >"$MP_TMP/$1.writes" 2>"$MP_TMP/$1.writer.err" <<'EOW'
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
f.readline()
def call(cmd, **args):
    f.write(json.dumps({"execute": cmd, "arguments": args}) + "\n")
    f.flush()
    while True:
        reply = json.loads(f.readline())
        if "event" not in reply:
            return reply
call("qmp_capabilities")
n = 0
while n < 5000:
    if call("query-status").get("return", {}).get("status") != "running":
        break
    off = (n % 400) * 65536 + (8 << 20)
    r = call("human-monitor-command",
             **{"command-line": 'qemu-io -d vd0 "write -P %d %d 64k"' % (n % 250 + 1, off)})
    if "error" in r or "rror" in r.get("return", ""):
        sys.exit("write %d failed: %s" % (n, r))
    n += 1
    time.sleep(0.02)
print(n)
EOW
}

# migrate_copy NAME FORMAT MODE [ARGS...]: migrate with the disk copied,
# writing to it throughout; then the images must be equal.
migrate_copy() {
    local name=$1 format=$2 mode=$3
    shift 3
    writer "$name" &
    local writer_pid=$!
    sleep 1
    # A slow memory stream (8 MiB/s): the disk is written to for seconds
    # after the mirrors are in sync, until the switch-over.
    mp_migrate "$name" --transport "ip netns exec $dst_ns" --listen 10.217.0.2 \
        --progress json --bandwidth 8 --copy-storage "$mode" "$@" 2>"$MP_TMP/$name.migrate.err" ||
        mp_fail "$name: migphase-migrate failed: $(cat "$MP_TMP/$name.migrate.err")"
    wait "$writer_pid" || mp_fail "$name: the writer failed: $(cat "$MP_TMP/$name.writer.err")"
    [ "$(mp_where_running "$name")" = destination ] ||
        mp_fail "$name: guest runs: $(mp_where_running "$name")"
    mp_verify_memory "$MP_TMP/$name-dst.qmp" $mem || mp_fail "$name: memory check failed"
    local writes
    writes=$(cat "$MP_TMP/$name.writes" 2>/dev/null || echo 0)
    [ "$writes" -gt 20 ] || mp_fail "$name: only $writes writes happened during the migration"
    grep -q '"status":"disks"' "$MP_TMP/$name.migrate.err" ||
        mp_fail "$name: no progress of the disks"
    grep -q '"status":"active".*"disk_remaining_bytes":' "$MP_TMP/$name.migrate.err" ||
        mp_fail "$name: the memory stream's progress does not show the disks"
    # Every write the source took is on the destination, which took none.
    qemu-img compare -U -f "$format" -F "$format" "$MP_TMP/$name-src-disk.$format" \
        "$MP_TMP/$name-dst-disk.$format" >"$MP_TMP/$name.compare" 2>&1 ||
        mp_fail "$name: the images differ after $writes writes: $(cat "$MP_TMP/$name.compare")"
    # The destination's guest goes on, on the copied disk.
    mp_qmp "$MP_TMP/$name-dst.qmp" human-monitor-command \
        command-line='qemu-io -d vd0 "write -P 7 2M 64k"' | grep -qvi error ||
        mp_fail "$name: the destination cannot write its disk"
    echo "$name: $format copied ($mode) with $writes writes during the migration"
}

echo "== a local writable disk that is not copied is refused"
start refuse qcow2
rc=0
mp_migrate refuse --transport "ip netns exec $dst_ns" --listen 10.217.0.2 --progress none \
    2>"$MP_TMP/refuse.err" || rc=$?
mp_expect_status 2 "$rc" "a migration with a local disk"
grep -q 'disk disk0 (.*refuse-src-disk.qcow2) is on local storage and is not copied' \
    "$MP_TMP/refuse.err" || mp_fail "the refusal does not name the disk: $(cat "$MP_TMP/refuse.err")"
[ "$(mp_where_running refuse)" = source ] || mp_fail "refused: guest runs $(mp_where_running refuse)"
[ "$(mp_count_vms)" -eq 1 ] || mp_fail "a refused migration started a VM"

echo "== --unsafe moves it without its disk"
# The "other host" has its own file at the rewritten path.
cp "$MP_TMP/refuse-src-disk.qcow2" "$MP_TMP/refuse-dst-disk.qcow2"
chown "$MP_QEMU_USER" "$MP_TMP/refuse-dst-disk.qcow2"
mp_migrate refuse --transport "ip netns exec $dst_ns" --listen 10.217.0.2 --progress none \
    --unsafe 2>"$MP_TMP/unsafe.err" || mp_fail "--unsafe failed: $(cat "$MP_TMP/unsafe.err")"
grep -q 'is local and is not copied' "$MP_TMP/unsafe.err" || mp_fail "--unsafe did not warn"
[ "$(mp_where_running refuse)" = destination ] || mp_fail "unsafe: guest runs $(mp_where_running refuse)"
mp_qmp "$MP_TMP/refuse-dst.qmp" quit >/dev/null 2>&1 || true

echo "== the xen driver refuses --copy-storage"
rc=0
"$MP_HELPERS/migphase-begin" --driver xen --domain x --copy-storage all \
    --state-dir "$MP_STATE" >/dev/null 2>"$MP_TMP/xen.err" || rc=$?
if grep -q 'no driver\|cannot be loaded\|not installed' "$MP_TMP/xen.err"; then
    echo "(no xen driver in this build)"
else
    mp_expect_status 2 "$rc" "migphase-begin --driver xen --copy-storage all"
    grep -q 'does not copy storage' "$MP_TMP/xen.err" || mp_fail "xen: $(cat "$MP_TMP/xen.err")"
fi

echo "== --copy-storage all, qcow2, over TLS"
start q2 qcow2
migrate_copy q2 qcow2 all
grep -q 'copy-storage="all"' "$MP_STATE/source/q2/perform-in.xml" || mp_fail "q2: no copy in cookie"
grep -q '<disk node="disk0" format="qcow2"' "$MP_STATE/source/q2/perform-in.xml" ||
    mp_fail "q2: the cookie does not list the disk"
grep -q 'tls="yes" nbd="tcp:10.217.0.2:' "$MP_STATE/source/q2/perform-in.xml" ||
    mp_fail "q2: no NBD address, or not over TLS"

echo "== --copy-storage all, raw"
start raw raw
migrate_copy raw raw all

echo "== --copy-storage incremental on a shared backing file"
base="$MP_TMP/shared-base.qcow2"
qemu-img create -q -f qcow2 "$base" ${disk_mib}M
qemu-io -f qcow2 -c "write -P 0x33 0 8M" -c "write -P 0x44 50M 2M" "$base" >/dev/null
chmod 0644 "$base"
start inc qcow2 "$base"
migrate_copy inc qcow2 incremental
qemu-img info -U "$MP_TMP/inc-dst-disk.qcow2" | grep -q "backing file: $base" ||
    mp_fail "inc: the destination's image is not on the backing file"

# guest_copy NAME FORMAT: the test guest writes its disk ring all the time
# (diskrate sectors/s) while it migrates with its disk; the destination's
# image then holds every write the guest saw acknowledged on the source,
# and the guest goes on writing there.
guest_copy() {
    local name=$1 format=$2 img="$MP_TMP/$1-src-disk.$2"
    qemu-img create -q -f "$format" "$img" 4M
    MP_PREFIX="ip netns exec $src_ns" mp_start_guest "$name" $mem 4 \
        -append "mem=$mem rate=4 disk=2048 diskrate=400" \
        -blockdev "driver=file,filename=$img,node-name=f0" \
        -blockdev "driver=$format,file=f0,node-name=disk0" \
        -device ide-hd,drive=disk0,bus=ide.0,unit=0
    mp_wait_ticks "$MP_TMP/$name-src-serial.log" 3 60
    mp_migrate "$name" --transport "ip netns exec $dst_ns" --listen 10.217.0.2 \
        --progress none --bandwidth 8 --copy-storage all --paused 2>"$MP_TMP/$name.migrate.err" ||
        mp_fail "$name: migphase-migrate failed: $(cat "$MP_TMP/$name.migrate.err")"
    # --paused: the destination's image is checked as the switch-over left
    # it, before the guest can write over a lost sector.
    [ "$(mp_run_state "$MP_TMP/$name-dst.qmp")" = paused ] ||
        mp_fail "$name: the destination is $(mp_run_state "$MP_TMP/$name-dst.qmp"), not paused"
    local src_seq
    src_seq=$(sed -n 's/^disk seq //p' "$MP_TMP/$name-src-serial.log" | tail -n 1)
    [ "${src_seq:-0}" -gt 400 ] || mp_fail "$name: the guest wrote only ${src_seq:-0} sectors"
    grep -q 'migphase-guest: error' "$MP_TMP/$name-src-serial.log" &&
        mp_fail "$name: the guest's disk failed on the source"
    mp_verify_memory "$MP_TMP/$name-dst.qmp" $mem || mp_fail "$name: memory check failed"
    check_disk "$name" "$format" "$src_seq" "just after the migration"
    # The guest goes on writing on the destination.
    mp_qmp "$MP_TMP/$name-dst.qmp" cont >/dev/null
    [ "$(mp_where_running "$name")" = destination ] ||
        mp_fail "$name: guest runs: $(mp_where_running "$name")"
    local before
    before=$(mp_last_tick "$MP_TMP/$name-dst-serial.log")
    mp_wait_ticks "$MP_TMP/$name-dst-serial.log" $((before + 3)) 60
    local dst_seq
    dst_seq=$(sed -n 's/^disk seq //p' "$MP_TMP/$name-dst-serial.log" | tail -n 1)
    [ "${dst_seq:-0}" -gt "$src_seq" ] ||
        mp_fail "$name: the guest does not write on the destination ($dst_seq <= $src_seq)"
    check_disk "$name" "$format" "$dst_seq" "after more writes on the destination"
    echo "$name: $format disk, the guest wrote seq $src_seq on the source, $dst_seq by now"
}

# check_disk NAME FORMAT MIN_SEQ WHEN: check the destination's image, the
# VM paused (and left as it was).
check_disk() {
    local name=$1 format=$2 min=$3 when=$4 sock="$MP_TMP/$1-dst.qmp" state
    state=$(mp_run_state "$sock")
    mp_qmp "$sock" stop >/dev/null
    qemu-img convert -U -f "$format" -O raw "$MP_TMP/$name-dst-disk.$format" "$MP_TMP/$name.raw"
    [ "$state" = running ] && mp_qmp "$sock" cont >/dev/null
    "$MP_GUEST_CHECK" --disk "$MP_TMP/$name.raw" --min-seq "$min" >"$MP_TMP/$name.check" 2>&1 ||
        mp_fail "$name: disk check $when: $(cat "$MP_TMP/$name.check")"
    cat "$MP_TMP/$name.check"
    rm -f "$MP_TMP/$name.raw"
}

echo "== the test guest writes its disk during the whole migration (qcow2, raw)"
guest_copy gq qcow2
guest_copy gr raw

mp_assert_nothing_pending
echo "PASS: unsafe moves refused, disks copied live (qcow2, raw, incremental) with every write;"
echo "the guest's disk writes all on the destination"
