#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Live-migrates the test guest between two QEMU processes under TCG, with no migphase helper
# involved, and checks what the helpers' tests will check: the region on the paused
# destination is the source's, byte for byte and valid; the destination runs on from there;
# its serial log continues the source's tick numbering.
set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$top_srcdir/tests/guest/lib.sh"

# QEMU before 9.0 loses TCG stores to pages that stay in the TLB (here the guest's stack and
# the region header) once a migration has synced them, when the RAM block's size is a
# multiple of 64 pages: the fast bitmap sync forgets to reset the TLB's dirty tracking
# (upstream fix "physmem: Fix migration dirty bitmap coherency with TCG memory access",
# March 2024). A size that is not, 256 MiB + 128 KiB, takes the slow path, which does. On
# Debian 12's QEMU 7.2, 5 of our 11 migrations of a 256 MiB region failed without this and
# none of 8 with it; MIGPHASE_GUEST_RAM=256M runs without it.
guest_ram=${MIGPHASE_GUEST_RAM:-262272k}

setup
start_guest src "mem=128 rate=64"
start_guest dst "mem=128 rate=64" -incoming "unix:$workdir/migrate.sock" -S
wait_lines src '^tick 2 '
boot_id=$(banner_field src boot_id)

qmp src migrate-set-parameters max-bandwidth=10737418240 >/dev/null
qmp src migrate uri="unix:$workdir/migrate.sock" >/dev/null
tries=0
while :; do
    status=$(qmp src --get status query-migrate)
    case $status in
    completed) break ;;
    failed | cancelled) fail "migration $status" ;;
    esac
    tries=$((tries + 1))
    [ "$tries" -le 300 ] || fail "migration not completed after 30 s (status $status)"
    sleep 0.1
done
echo "migrated: total $(qmp src --get total-time query-migrate) ms," \
    "downtime $(qmp src --get downtime query-migrate) ms"

# -S keeps the destination paused: both sides now hold the state at switchover.
dump src src.bin
dump dst dst.bin src
expect_ok "source after migration" --boot-id "$boot_id" "$workdir/src.bin"
pass=$(verdict_field "$out" pass)
expect_ok "destination before it runs" --boot-id "$boot_id" "$workdir/dst.bin"
cmp "$workdir/src.bin" "$workdir/dst.bin" >/dev/null ||
    fail "the destination's region differs from the source's"
rm "$workdir/src.bin" "$workdir/dst.bin"

qmp dst cont >/dev/null
wait_lines dst '^tick ' 2
qmp dst stop >/dev/null
dump dst dst2.bin src
expect_ok "destination after running" --boot-id "$boot_id" --min-pass "$pass" "$workdir/dst2.bin"
out=$(sh "$top_srcdir/tests/guest/check-serial.sh" "$workdir/src.log" "$workdir/dst.log") ||
    fail "$out"
echo "ok: $out"

qmp src quit >/dev/null
qmp dst quit >/dev/null
echo "PASS: migration of migphase-guest"
