#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Boots the test guest under TCG and checks dumps of its memory: a paused guest passes,
# before and after a stop/cont; the checker rejects a flipped byte, a page from an earlier
# pass, a page at the wrong place, a torn page, a truncated dump and a restarted guest.
set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$top_srcdir/tests/guest/lib.sh"

page=4096

setup
start_guest g "mem=64 rate=128"
wait_lines g '^tick 2 '
boot_id=$(banner_field g boot_id)

qmp g stop >/dev/null
dump g a.bin
expect_ok "paused guest" --boot-id "$boot_id" "$workdir/a.bin"
pass_a=$(verdict_field "$out" pass)

# Two passes later every page has been rewritten at least once since a.bin.
qmp g cont >/dev/null
wait_pass g $((pass_a + 2))
qmp g stop >/dev/null
dump g b.bin
expect_ok "paused again after cont" --boot-id "$boot_id" --min-pass "$pass_a" "$workdir/b.bin"
pass_b=$(verdict_field "$out" pass)

bad=$workdir/bad.bin
cp "$workdir/b.bin" "$bad"
flip_byte "$bad" $((100 * page + 2000))
expect_bad "flipped body byte" "page 100: corrupt body" "$bad"

cp "$workdir/b.bin" "$bad"
flip_byte "$bad" $((100 * page + 8))
expect_bad "flipped record byte" "page 100: corrupt head record" "$bad"

cp "$workdir/b.bin" "$bad"
flip_byte "$bad" 36
expect_bad "flipped header pass" "page 1: " "$bad"

cp "$workdir/b.bin" "$bad"
copy_bytes "$workdir/a.bin" "$bad" $((7 * page)) $((7 * page)) $page
expect_bad "page from two passes ago" "page 7: stale" "$bad"

cp "$workdir/b.bin" "$bad"
copy_bytes "$workdir/b.bin" "$bad" $((8 * page)) $((9 * page)) $page
expect_bad "page copied to the next" "page 9: misplaced" "$bad"

cp "$workdir/b.bin" "$bad"
copy_bytes "$workdir/a.bin" "$bad" $((11 * page - 16)) $((11 * page - 16)) 16
expect_bad "tail record from two passes ago" "page 10: torn" "$bad"

head -c $((16 * page)) "$workdir/b.bin" >"$bad"
expect_bad "truncated dump" "dump holds" "$bad"

expect_bad "--min-pass beyond the guest" "below --min-pass" --min-pass $((pass_b + 1)) \
    "$workdir/b.bin"

# A reset guest fills its region afresh: consistent on its own, caught by its boot id.
qmp g cont >/dev/null
qmp g system_reset >/dev/null
wait_lines g '^tick 1 pass ' 2
qmp g stop >/dev/null
dump g c.bin
new_boot_id=$(banner_field g boot_id)
[ "$new_boot_id" != "$boot_id" ] || fail "the boot id did not change across a reset"
expect_ok "reset guest on its own" --boot-id "$new_boot_id" "$workdir/c.bin"
expect_bad "reset guest against the old boot id" "the guest was restarted" \
    --boot-id "$boot_id" "$workdir/c.bin"

qmp g quit >/dev/null
echo "PASS: migphase-guest and migphase-guest-check"
