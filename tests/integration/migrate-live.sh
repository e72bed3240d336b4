#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A live migration of a 256 MiB guest that rewrites its memory all the time,
# through migphase-migrate --local: the destination's memory passes the
# guest's check, its serial counter goes on from the source's, the source is
# gone and the journal has nothing pending.
# shellcheck source=tests/integration/lib.sh disable=SC2154
. "$top_srcdir/tests/integration/lib.sh"
mp_require_qemu
mp_init

mem=256
mp_start_guest live $mem 64
mp_wait_ticks "$MP_TMP/live-src-serial.log" 3 60
src_pid=$(mp_pid "$MP_TMP/live-src.pid")

# A host without keys, as on a first try: --local signs with a lab PKI of
# its own, made for this migration and removed after it.
labs_before=$(find /tmp -maxdepth 1 -name 'migphase-pki.*' | wc -l)
MIGPHASE_PKI_DIR=$MP_TMP/no-keys mp_migrate live --local --listen 127.0.0.1 --progress json \
    --log-level info 2>"$MP_TMP/migrate.err" ||
    mp_fail "migphase-migrate failed: $(cat "$MP_TMP/migrate.err")"
grep -q "has no keys: this local migration signs with a lab PKI" "$MP_TMP/migrate.err" ||
    mp_fail "migphase-migrate --local did not make a lab PKI"
[ "$(find /tmp -maxdepth 1 -name 'migphase-pki.*' | wc -l)" -eq "$labs_before" ] ||
    mp_fail "the lab PKI of the migration was left in /tmp"
grep '"event":"done"' "$MP_TMP/migrate.err" >/dev/null || mp_fail "no final progress line"
grep 'completed' "$MP_TMP/migrate.err"
# The guest's pause end to end (the source's STOP to the destination's
# RESUME), which can be no shorter than QEMU's own downtime.
python3 - "$MP_TMP/migrate.err" <<'EOF' || mp_fail "no sound guest pause in the summary"
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.startswith('{"event":"pause"')]
assert len(events) == 1, events
e = events[0]
print("guest pause %.1f ms (within %.1f), QEMU downtime %d ms, helpers added %.1f ms"
      % (e["pause_ms"], e["uncertainty_ms"], e["downtime_ms"], e["added_ms"]))
assert 0 < e["pause_ms"] < 60000, e
assert e["pause_ms"] + e["uncertainty_ms"] >= e["downtime_ms"], e
EOF
grep -q 'pause-us="[1-9]' "$MP_STATE/destination/live/finish-out.xml" ||
    mp_fail "Finish's cookie does not say how long the guest stood still"

[ "$(mp_where_running live)" = destination ] || mp_fail "guest runs: $(mp_where_running live)"
mp_alive "$src_pid" && mp_fail "the source QEMU (pid $src_pid) still runs"
mp_verify_memory "$MP_TMP/live-dst.qmp" $mem || mp_fail "memory check failed on the destination"

before=$(mp_last_tick "$MP_TMP/live-dst-serial.log")
mp_wait_ticks "$MP_TMP/live-dst-serial.log" $((before + 2)) 60
sh "$MP_SERIAL_CHECK" "$MP_TMP/live-src-serial.log" "$MP_TMP/live-dst-serial.log" ||
    mp_fail "the serial counter did not go on from the source's"
mp_assert_nothing_pending
[ "$(mp_count_vms)" -eq 1 ] || mp_fail "$(mp_count_vms) QEMU processes left, expected 1"
echo "PASS: live migration, memory and serial verified"
