#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The same live migration between two hosts: network namespaces joined by a
# veth pair. The source QEMU runs in one namespace, the destination's steps
# run in the other through --transport 'ip netns exec NS', and the stream
# crosses the veth link.
# shellcheck source=tests/integration/lib.sh disable=SC2154
. "$top_srcdir/tests/integration/lib.sh"
mp_require_qemu
mp_require_root
mp_init

mp_two_hosts mpn 10.213.0
src_ns=$MP_SRC_NS
dst_ns=$MP_DST_NS

mem=256
MP_PREFIX="ip netns exec $src_ns" mp_start_guest net $mem 64
mp_wait_ticks "$MP_TMP/net-src-serial.log" 3 60

mp_migrate net --transport "ip netns exec $dst_ns" --listen 10.213.0.2 --progress none \
    2>"$MP_TMP/migrate.err" || mp_fail "migphase-migrate failed: $(cat "$MP_TMP/migrate.err")"
cat "$MP_TMP/migrate.err"
grep -q 'tcp:10.213.0.2:' "$MP_STATE/source/net/perform-in.xml" ||
    mp_fail "the stream was not sent to the other namespace"
dst_pid=$(mp_dest_pid net)
[ "$(ip netns identify "$dst_pid")" = "$dst_ns" ] || mp_fail "the destination VM is not in $dst_ns"

[ "$(mp_where_running net)" = destination ] || mp_fail "guest runs: $(mp_where_running net)"
mp_verify_memory "$MP_TMP/net-dst.qmp" $mem || mp_fail "memory check failed on the destination"
before=$(mp_last_tick "$MP_TMP/net-dst-serial.log")
mp_wait_ticks "$MP_TMP/net-dst-serial.log" $((before + 2)) 60
sh "$MP_SERIAL_CHECK" "$MP_TMP/net-src-serial.log" "$MP_TMP/net-dst-serial.log" ||
    mp_fail "the serial counter did not go on from the source's"
mp_assert_nothing_pending
echo "PASS: migration between namespaces, memory and serial verified"
