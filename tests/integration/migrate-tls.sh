#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The stream between two hosts (network namespaces joined by a veth pair)
# is encrypted when both hosts have certificates: captured on the link, it
# does not hold a string the guest keeps in its memory (its command line,
# which QEMU put in guest RAM), while the same migration with --no-tls
# shows it in clear. Memory is verified after each migration.
# shellcheck source=tests/integration/lib.sh disable=SC2154
. "$top_srcdir/tests/integration/lib.sh"
mp_require_qemu
mp_require_root
mp_init
command -v tcpdump >/dev/null || mp_skip "tcpdump is not installed"

mp_two_hosts mpt 10.214.0
src_ns=$MP_SRC_NS
dst_ns=$MP_DST_NS
link="mptD$$"
mem=16
marker="MIGPHASE-PLAINTEXT-$RANDOM$RANDOM-MARKER"

# capture NAME: record the destination's side of the link until stopped.
capture() {
    ip netns exec "$dst_ns" tcpdump -i "$link" -U -s 0 -B 65536 -w "$MP_TMP/$1.pcap" \
        tcp portrange 49152-49215 2>"$MP_TMP/$1.tcpdump.log" &
    capture_pid=$!
    local _
    for _ in $(seq 100); do
        grep -q 'listening on' "$MP_TMP/$1.tcpdump.log" 2>/dev/null && return 0
        sleep 0.1
    done
    mp_fail "tcpdump did not start: $(cat "$MP_TMP/$1.tcpdump.log")"
}

stop_capture() {
    sleep 0.5 # the last packets reach the file (-U writes each one)
    kill -INT "$capture_pid"
    wait "$capture_pid" || true
}

# migrate_once NAME ARGS...: boot the guest NAME with the marker in its
# command line, migrate it between the namespaces while capturing, verify it.
migrate_once() {
    local name=$1
    shift
    MP_PREFIX="ip netns exec $src_ns" mp_start_guest "$name" $mem 4 \
        -append "mem=$mem rate=4 marker=$marker"
    capture "$name"
    mp_migrate "$name" --transport "ip netns exec $dst_ns" --listen 10.214.0.2 --progress none \
        "$@" 2>"$MP_TMP/$name.migrate.err" ||
        mp_fail "$name: migphase-migrate failed: $(cat "$MP_TMP/$name.migrate.err")"
    stop_capture
    [ "$(mp_where_running "$name")" = destination ] ||
        mp_fail "$name: guest runs: $(mp_where_running "$name")"
    mp_verify_memory "$MP_TMP/$name-dst.qmp" $mem || mp_fail "$name: memory check failed"
    local bytes
    bytes=$(stat -c %s "$MP_TMP/$name.pcap")
    # Zero pages cross as a few bytes, and a loaded machine drops packets: a
    # capture that works holds at least some of the test region. (The clear
    # run's marker and the TLS run's records are the real checks.)
    [ "$bytes" -gt $((1 << 20)) ] || mp_fail "$name: only $bytes bytes captured"
    echo "$name: captured $bytes bytes"
}

# The guest's RAM holds the marker: it must cross in clear without TLS,
# or the check below could not fail.
echo "== without TLS: the marker crosses the link in clear"
migrate_once clear --no-tls
grep -q '<incoming uri="tcp:10.214.0.2:[0-9]*" tls="no"' "$MP_STATE/source/clear/perform-in.xml" ||
    mp_fail "clear: Prepare's cookie does not say tls=no"
grep -aqF "$marker" "$MP_TMP/clear.pcap" || mp_fail "clear: the marker is not in the capture"

echo "== with TLS (the default when both hosts have certificates)"
# The copies of the TLS files a killed helper left behind go with the next
# staging; a directory someone else made under that name stays.
sh -c 'exit 0' &
dead=$!
wait "$dead"
orphan=/tmp/migphase-tls-$dead-test$$
decoy=/tmp/migphase-tls-$dead-decoy$$
mkdir -m 0711 "$orphan" "$decoy"
echo key >"$orphan/server-key.pem"
chown nobody "$decoy"
migrate_once tls
[ ! -e "$orphan" ] || mp_fail "the orphaned TLS copies of pid $dead are still in $orphan"
[ -d "$decoy" ] || mp_fail "a directory root did not make was removed"
rmdir "$decoy"
grep -q '<incoming uri="tcp:10.214.0.2:[0-9]*" tls="yes"' "$MP_STATE/source/tls/perform-in.xml" ||
    mp_fail "tls: Prepare's cookie does not say tls=yes"
if grep -aqF "$marker" "$MP_TMP/tls.pcap"; then
    mp_fail "tls: the marker crossed the link in clear"
fi
# The records are TLS: content type 23 (application data), version 3.3.
python3 - "$MP_TMP/tls.pcap" <<'EOF' || mp_fail "tls: the capture holds no TLS application data"
import sys
data = open(sys.argv[1], "rb").read()
sys.exit(0 if data.count(b"\x17\x03\x03") > 100 else 1)
EOF
mp_assert_nothing_pending
echo "PASS: TLS hides the guest's memory on the link; clear text shows it"
