#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Eight guests moved at once between two hosts (network namespaces), with
# one destination QEMU killed while its stream runs: the seven others
# arrive with their memory intact, the eighth runs on the source again,
# nothing is pending on either side, and the exit status and the summary
# say which one failed and how.
# shellcheck source=tests/integration/lib.sh disable=SC2154
. "$top_srcdir/tests/integration/lib.sh"
mp_require_qemu
mp_require_root
mp_init

mp_two_hosts mpm 10.216.0
src_ns=$MP_SRC_NS
dst_ns=$MP_DST_NS

# Small guests, and a total bandwidth (6 MiB/s a job) above their dirty rate
# that keeps each stream going for seconds: long enough to kill one.
n=8 mem=16 rate=2 bandwidth=48 victim=many5
# The sockets as the run names them: $MP_TMP/src/NAME.qmp (links to the
# guests' own) and $MP_TMP/dst/NAME.qmp, made by the destination's QEMU, which
# runs as $MP_QEMU_USER; $MP_TMP/NAME-dst.qmp links to it for lib.sh.
mkdir "$MP_TMP/src" "$MP_TMP/dst"
if getent passwd "$MP_QEMU_USER" >/dev/null; then
    chgrp "$MP_QEMU_USER" "$MP_TMP/dst"
    chmod 0770 "$MP_TMP/dst"
fi
names=""
for i in $(seq "$n"); do
    name=many$i
    names="$names $name"
    MP_PREFIX="ip netns exec $src_ns" mp_start_guest "$name" $mem $rate
    ln -s "$MP_TMP/$name-src.qmp" "$MP_TMP/src/$name.qmp"
    ln -s "$MP_TMP/dst/$name.qmp" "$MP_TMP/$name-dst.qmp"
done
# $MP_MANY_EXTRA: one more option for the run, e.g. --no-tls.
# A socket nobody answers on any more is no running VM: --all skips it.
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$MP_TMP/src/gone.qmp"

"$MP_HELPERS/migphase-migrate" --state-dir "$MP_STATE" --jobs "$n" --all \
    --qmp-dir "$MP_TMP/src" --dest-qmp-dir "$MP_TMP/dst" \
    --rewrite "$MP_TMP/%d-src-=$MP_TMP/%d-dst-" --bandwidth $bandwidth \
    --transport "ip netns exec $dst_ns" --listen 10.216.0.2 --progress json ${MP_MANY_EXTRA:+"$MP_MANY_EXTRA"} \
    2>"$MP_TMP/migrate.err" &
migrate_pid=$!

# Kill the victim's destination QEMU once its stream runs: its progress
# lines say that 4 MiB of some 25 are sent.
# The destination VM's pid: the first word of its pid file (the pid, then
# its start time).
dest_pid() {
    local words
    read -r -a words <<<"$(mp_dest_pid "$1")" || true
    echo "${words[0]:-}"
}
sent() {
    grep "^{\"domain\":\"$1\",\"event\":\"progress\"" "$MP_TMP/migrate.err" | tail -n 1 |
        sed -n 's/.*"transferred_bytes":\([0-9]*\).*/\1/p'
}
killed=""
for _ in $(seq 1200); do
    pid=$(dest_pid $victim)
    if [ -n "$pid" ] && [ "$(sent $victim)" -gt $((4 << 20)) ] 2>/dev/null; then
        kill -KILL "$pid"
        killed=$pid
        break
    fi
    kill -0 "$migrate_pid" 2>/dev/null || break
    sleep 0.05
done
status=0
wait "$migrate_pid" || status=$?
[ -n "$killed" ] || mp_fail "$victim's stream was never seen running: $(tail -n 20 "$MP_TMP/migrate.err")"
grep -v '^{' "$MP_TMP/migrate.err" || true
mp_expect_status 1 "$status" "migphase-migrate with $victim's destination killed"

# The run's output: JSON progress tagged with each domain, and a line for each.
for name in $names; do
    grep -q "^{\"domain\":\"$name\",\"event\":\"progress\"" "$MP_TMP/migrate.err" ||
        mp_fail "no progress line for $name"
    grep -q "^{\"event\":\"start\",\"domain\":\"$name\",\"bandwidth_mib\":6}" "$MP_TMP/migrate.err" ||
        mp_fail "$name did not get a sixth of the bandwidth"
done
grep -q "migphase-migrate: $victim: FAILED and undone (the VM runs on the source), exit status 1" \
    "$MP_TMP/migrate.err" || mp_fail "the summary does not say how $victim failed"
grep -q "migphase-migrate: 7 of 8 domains migrated; not migrated: $victim\$" "$MP_TMP/migrate.err" ||
    mp_fail "the summary does not name $victim alone"
grep -q '"domain":"gone"' "$MP_TMP/migrate.err" && mp_fail "--all took a socket nobody answers on"

ports=""
for name in $names; do
    where=$(mp_where_running "$name")
    if [ "$name" = $victim ]; then
        [ "$where" = source ] || mp_fail "$victim runs: $where (expected the source)"
        mp_verify_memory "$MP_TMP/$name-src.qmp" $mem >/dev/null ||
            mp_fail "memory check failed on $victim's source"
        continue
    fi
    [ "$where" = destination ] || mp_fail "$name runs: $where (expected the destination)"
    grep -q "migration of $name completed" "$MP_TMP/migrate.err" || mp_fail "no summary for $name"
    mp_verify_memory "$MP_TMP/$name-dst.qmp" $mem >/dev/null ||
        mp_fail "memory check failed on $name's destination"
    [ "$(ip netns identify "$(dest_pid "$name")")" = "$dst_ns" ] ||
        mp_fail "$name's destination VM is not in $dst_ns"
    ports="$ports $(sed -n 's/.*tcp:10\.216\.0\.2:\([0-9]*\).*/\1/p' "$MP_STATE/source/$name/perform-in.xml" | head -n 1)"
done
# Destinations listening on one host at once each found a port of their
# own. QEMU closes its listening socket once the stream connects, so a
# Prepare that comes later may take a port freed that way: the ports need
# not be seven, but more than one, and each VM's memory above shows that
# no stream reached another's destination.
if [ "$(echo "$ports" | wc -w)" -ne 7 ] || [ "$(echo "$ports" | tr ' ' '\n' | sed '/^$/d' | sort -u | wc -l)" -lt 2 ]; then
    mp_fail "the destinations did not listen on ports of their own:$ports"
fi
mp_assert_nothing_pending
echo "PASS: 8 guests at once, 7 moved and verified, $victim resumed on the source, nothing pending"
