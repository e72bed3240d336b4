#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Boots the test guest with its disk ring on a raw and on a qcow2 image and checks the
# images against the last "disk seq" the guest printed: a paused guest's image, a stopped
# guest's, and that of a guest migrated between two QEMU processes sharing the image, which
# goes on writing on the destination; the checker rejects a lost write (an older record, or
# zeros, where a newer one belongs), a flipped byte, a record of another boot, a truncated
# image and --min-seq beyond the image.
set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$top_srcdir/tests/guest/lib.sh"

# Not a multiple of 256 KiB, for the migration: see migrate-selftest.sh.
guest_ram=131200k
sector=512
ring=700 # wraps within the test, at diskrate=500

# quit NAME PID: stops guest NAME with QMP quit and waits for QEMU to exit, so that the
# image is closed (qcow2 metadata flushed) before it is checked.
quit()
{
    qmp "$1" quit >/dev/null
    wait "$2" || fail "$1: QEMU exited with status $?"
}

setup
command -v qemu-img >/dev/null 2>&1 || skip "qemu-img not found"
qemu-img create -q -f raw "$workdir/raw.img" 1M
qemu-img create -q -f qcow2 "$workdir/q.qcow2" 2M

# Raw: paused half-way, then run until every sector was rewritten since the pause.
start_disk_guest r "mem=16 rate=64 disk=$ring diskrate=500" "$workdir/raw.img" raw
r_pid=$last_guest_pid
wait_lines r '^disk seq [1-9]'
boot_id=$(banner_field r boot_id)
qmp r stop >/dev/null
# QEMU drains the drive's requests when it stops the VM: the file is now still.
cp "$workdir/raw.img" "$workdir/paused.img"
seq_paused=$(last_disk_seq r)
expect_ok "paused guest's image" --disk "$workdir/paused.img" --boot-id "$boot_id" \
    --min-seq "$seq_paused"
last_paused=$(verdict_field "$out" seq)
qmp r cont >/dev/null
want=$((last_paused + ring + 1))
tries=0
while [ "$(last_disk_seq r)" -lt "$want" ]; do
    tries=$((tries + 1))
    [ "$tries" -le 100 ] || fail "r: no disk seq $want after 10 s"
    sleep 0.1
done
quit r "$r_pid"
seq_raw=$(last_disk_seq r)
expect_ok "raw image after quit" --disk "$workdir/raw.img" --boot-id "$boot_id" \
    --min-seq "$seq_raw"
last_raw=$(verdict_field "$out" seq)

# qcow2: a ring bigger than what gets written, so part of it stays zeros.
start_disk_guest q "mem=16 rate=64 disk=4000 diskrate=500" "$workdir/q.qcow2" qcow2
q_pid=$last_guest_pid
wait_lines q '^disk seq [1-9]' 2
quit q "$q_pid"
qemu-img convert -O raw "$workdir/q.qcow2" "$workdir/q.img"
expect_ok "qcow2 image after quit" --disk "$workdir/q.img" --min-seq "$(last_disk_seq q)"

# Shared storage: both QEMU processes open the image, the destination only once it resumes.
qemu-img create -q -f raw "$workdir/m.img" 1M
start_disk_guest src "mem=16 rate=64 disk=$ring diskrate=500" "$workdir/m.img" raw
start_disk_guest dst "mem=16 rate=64 disk=$ring diskrate=500" "$workdir/m.img" raw \
    -incoming "unix:$workdir/migrate.sock" -S
dst_pid=$last_guest_pid
wait_lines src '^disk seq [1-9]'
qmp src migrate uri="unix:$workdir/migrate.sock" >/dev/null
tries=0
while :; do
    status=$(qmp src --get status query-migrate)
    case $status in
    completed) break ;;
    failed | cancelled) fail "migration $status" ;;
    esac
    tries=$((tries + 1))
    [ "$tries" -le 200 ] || fail "migration not completed after 20 s (status $status)"
    sleep 0.1
done
seq_src=$(last_disk_seq src)
qmp src quit >/dev/null
qmp dst cont >/dev/null
wait_lines dst '^disk seq ' 2
quit dst "$dst_pid"
seq_dst=$(last_disk_seq dst)
[ "$seq_dst" -gt "$seq_src" ] ||
    fail "dst: disk seq $seq_dst, not beyond the source's $seq_src: it stopped writing"
expect_ok "image after migration" --disk "$workdir/m.img" --min-seq "$seq_dst"
out=$(sh "$top_srcdir/tests/guest/check-serial.sh" "$workdir/src.log" "$workdir/dst.log") ||
    fail "$out"
echo "ok: $out"

bad=$workdir/bad.img
cp "$workdir/raw.img" "$bad"
copy_bytes "$workdir/paused.img" "$bad" $((5 * sector)) $((5 * sector)) $sector
expect_bad "older record of the same sector" "sector 5: lost write (seq" --disk "$bad"

cp "$workdir/raw.img" "$bad"
dd if=/dev/zero of="$bad" bs=$sector seek=9 count=1 conv=notrunc 2>/dev/null
expect_bad "zeroed sector" "sector 9: lost write (all zeros" --disk "$bad"

cp "$workdir/raw.img" "$bad"
flip_byte "$bad" $((3 * sector + 200))
expect_bad "flipped payload byte" "sector 3: corrupt payload" --disk "$bad"

cp "$workdir/raw.img" "$bad"
flip_byte "$bad" $((4 * sector + 12))
expect_bad "flipped seq byte" "sector 4: corrupt record" --disk "$bad"

cp "$workdir/raw.img" "$bad"
copy_bytes "$workdir/q.img" "$bad" $((7 * sector)) $((7 * sector)) $sector
expect_bad "record of another boot" "sector 7: boot id" --disk "$bad"

expect_bad "--min-seq beyond the image" "below --min-seq" --disk "$workdir/raw.img" \
    --min-seq $((last_raw + 1))

head -c $((ring * sector - sector)) "$workdir/raw.img" >"$bad"
expect_bad "truncated image" "the ring has $ring" --disk "$bad"

echo "PASS: migphase-guest disk ring and migphase-guest-check --disk"
