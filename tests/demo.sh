#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The main job: boot the test guest (256 MiB of memory it keeps rewriting)
# under QEMU, live-migrate it to a second QEMU process on this host with
# migphase-migrate --local, showing progress, then check the guest's memory
# and serial counter on the destination.
#
#   tests/demo.sh BUILDDIR
set -euo pipefail

builddir=$(cd "${1:-build}" && pwd)
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
top_builddir=$builddir
export top_srcdir top_builddir
# shellcheck source=tests/integration/lib.sh
. "$top_srcdir/tests/integration/lib.sh"
mp_require_qemu
mp_init

mem=256
echo "Booting the test guest ($mem MiB, rewriting 64 MiB/s) under QEMU with -accel $MP_ACCEL..."
mp_start_guest demo $mem 64
mp_wait_ticks "$MP_TMP/demo-src-serial.log" 3 60
echo "Source running: $(tail -n 1 "$MP_TMP/demo-src-serial.log")"
src_pid=$(cat "$MP_TMP/demo-src.pid")
echo "Migrating with migphase-migrate --local..."
progress=bar
[ -t 2 ] || progress=json
mp_migrate demo --local --listen 127.0.0.1 --progress "$progress"

echo "Checking the guest on the destination..."
verdict=$(mp_verify_memory "$MP_TMP/demo-dst.qmp" $mem) || {
    echo "$verdict"
    mp_fail "the guest's memory is not intact"
}
echo "$verdict"
before=$(mp_last_tick "$MP_TMP/demo-dst-serial.log")
mp_wait_ticks "$MP_TMP/demo-dst-serial.log" $((before + 1)) 60
"$MP_SERIAL_CHECK" "$MP_TMP/demo-src-serial.log" "$MP_TMP/demo-dst-serial.log"
echo "Source QEMU (pid $src_pid): $(mp_alive "$src_pid" && echo still running || echo gone)"
"$MP_HELPERS/migphase-status" --state-dir "$MP_STATE"
echo "Demo done: the guest runs on the destination (it is stopped now, with the demo)."
