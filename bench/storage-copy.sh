#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The disks' copy of a live storage migration against a plain copy of the
# same image over the same link, and the guest's pause with and without it.
#
#     bench/storage-copy.sh BUILDDIR [SIZE_MIB] [RUNS]
#
# Two hosts are two network namespaces joined by a veth pair (root needed),
# as in the integration tests, with their config and lab PKI. For each run:
#   plain    qemu-img convert of a raw image of SIZE_MIB MiB of random data
#            to a qemu-nbd export on the other side (no TLS)
#   mirror   migphase-migrate --copy-storage all --no-tls of the test guest
#            with that image as its disk: the time until every mirror is in
#            sync (Perform's last "disks" progress sample)
#   pause    the guest's pause end to end (Finish's <statistics pause-us>),
#            the same guest moved with and without its disk copied (a
#            second guest whose disk is declared shared)
# Prints the medians. A benchmark, not a test: it asserts nothing.
set -eu
[ $# -ge 1 ] || {
    echo "usage: $0 BUILDDIR [SIZE_MIB] [RUNS]" >&2
    exit 2
}
top_builddir=$(cd "$1" && pwd)
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
size=${2:-256}
runs=${3:-3}
export top_builddir top_srcdir
# shellcheck source=tests/integration/lib.sh disable=SC2154
. "$top_srcdir/tests/integration/lib.sh"
mp_require_qemu
mp_require_root
mp_init
mp_two_hosts mpb 10.219.0
SRC=(ip netns exec "$MP_SRC_NS")
DST=(ip netns exec "$MP_DST_NS")
mem=64

now_ms() { date +%s%3N; }

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

img="$MP_TMP/bench-src-disk.raw"
head -c "${size}M" /dev/urandom >"$img"

plain_run() {
    local target="$MP_TMP/plain-target.raw" pid t0 t1
    qemu-img create -q -f raw "$target" "${size}M"
    "${DST[@]}" qemu-nbd -f raw -x exp -b 10.219.0.2 -p 10809 -t "$target" &
    pid=$!
    sleep 1
    t0=$(now_ms)
    "${SRC[@]}" qemu-img convert -n -f raw -O raw "$img" "nbd://10.219.0.2:10809/exp"
    t1=$(now_ms)
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    rm -f "$target"
    echo $((t1 - t0))
}

# migrate_run NAME COPY: one migration of a fresh guest; prints
# "MIRROR_MS PAUSE_US" (MIRROR_MS 0 without copy).
migrate_run() {
    local name=$1 copy=$2
    cp --sparse=always "$img" "$MP_TMP/$name-src-disk.raw"
    MP_PREFIX="${SRC[*]}" mp_start_guest "$name" $mem 16 \
        -blockdev "driver=file,filename=$MP_TMP/$name-src-disk.raw,node-name=f0" \
        -blockdev "driver=raw,file=f0,node-name=disk0" -device ide-hd,drive=disk0,bus=ide.0,unit=0
    local args=(--unsafe)
    [ "$copy" = yes ] && args=(--copy-storage all)
    if [ "$copy" != yes ]; then
        # The "other host" has its own copy of the disk, the VM user's.
        cp --sparse=always "$img" "$MP_TMP/$name-dst-disk.raw"
        chown "$MP_QEMU_USER" "$MP_TMP/$name-dst-disk.raw"
    fi
    mp_migrate "$name" --transport "${DST[*]}" --listen 10.219.0.2 --no-tls --progress json \
        "${args[@]}" 2>"$MP_TMP/$name.err" >/dev/null
    local mirror
    mirror=$({ grep '"status":"disks"' "$MP_TMP/$name.err" || true; } |
        sed -n 's/.*"elapsed_ms":\([0-9]*\).*/\1/p' | tail -n 1)
    local pause
    pause=$(sed -n 's/.*<statistics[^>]* pause-us="\([0-9]*\)".*/\1/p' \
        "$MP_STATE/destination/$name/finish-out.xml")
    mp_qmp "$MP_TMP/$name-dst.qmp" quit >/dev/null 2>&1 || true
    rm -f "$MP_TMP/$name-src-disk.raw" "$MP_TMP/$name-dst-disk.raw"
    echo "${mirror:-0} ${pause:-0}"
}

: >"$MP_TMP/plain" && : >"$MP_TMP/mirror" && : >"$MP_TMP/pause-copy" && : >"$MP_TMP/pause-nocopy"
for i in $(seq "$runs"); do
    plain_run >>"$MP_TMP/plain"
    read -r m p < <(migrate_run "c$i" yes)
    echo "$m" >>"$MP_TMP/mirror"
    echo "$p" >>"$MP_TMP/pause-copy"
    read -r _ p < <(migrate_run "n$i" no)
    echo "$p" >>"$MP_TMP/pause-nocopy"
    echo "run $i: plain $(tail -n 1 "$MP_TMP/plain") ms, mirror $m ms," \
        "pause $(tail -n 1 "$MP_TMP/pause-copy") us with copy, $p us without"
done
plain=$(median <"$MP_TMP/plain")
mirror=$(median <"$MP_TMP/mirror")
echo
echo "image: $size MiB of random data, $runs runs, medians"
awk -v s="$size" -v p="$plain" -v m="$mirror" 'BEGIN {
    printf "plain qemu-img convert to NBD: %8.0f ms  %7.1f MiB/s\n", p, s * 1000 / p
    printf "migphase mirror until in sync: %8.0f ms  %7.1f MiB/s (%.0f%% of plain)\n", m, s * 1000 / m, 100 * p / m
}'
echo "guest pause with the disk copied:    $(median <"$MP_TMP/pause-copy") us"
echo "guest pause without (disk --unsafe): $(median <"$MP_TMP/pause-nocopy") us"
