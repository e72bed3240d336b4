#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The lease-handoff example through the real helpers and a real QEMU guest:
# two "hosts" (hooks directories that call themselves hostA and hostB)
# sharing one lease directory. Begin records a token, Prepare acquires the
# lease, Finish takes it (Confirm would); no second migration starts while
# the lease is held elsewhere or being handed over; a vetoed Prepare gives it back; a
# destination without the hook refuses the mandatory feature.
# Hook bodies are single-quoted on purpose: the hooks expand them.
# shellcheck source=tests/hooks/lib.sh disable=SC2154,SC2016
. "$top_srcdir/tests/hooks/lib.sh"
mp_require_qemu
command -v flock >/dev/null || mp_skip "flock (util-linux) is not installed"
mp_init

mem=64
H="$MP_HELPERS"
S=(--state-dir "$MP_STATE")
leases="$MP_TMP/leases"
mkdir -p "$leases"
# host_hooks NAME: a hooks directory for a host called NAME, with the example
# installed as the docs say.
host_hooks() {
    local dir="$MP_TMP/hooks-$1" step
    mkdir -p "$dir"
    printf '# the shared directory\nlease-dir = %s\nhost = %s\n' "$leases" "$1" \
        >"$dir/lease-handoff.conf"
    for step in begin prepare finish confirm; do
        hk_link "$dir" "$step" 50-lease-handoff "$(hk_example lease-handoff)"
    done
    hk_feature "$dir" lease
}
host_hooks hostA
host_hooks hostB
host_hooks hostC
A="$MP_TMP/hooks-hostA" B="$MP_TMP/hooks-hostB" C="$MP_TMP/hooks-hostC"
mp_start_guest ls $mem 32
qmpA="$MP_TMP/ls-src.qmp" qmpB="$MP_TMP/ls-dst.qmp"

# begin HOOKS QMP OUT; prepare HOOKS IN OUT (destination VM on the other socket)
begin() {
    "$H/migphase-begin" "${S[@]}" --hooks-dir "$1" --qmp "$2" --out "$3"
}
prepare() {
    "$H/migphase-prepare" "${S[@]}" --hooks-dir "$1" --qmp "$qmpB" --listen 127.0.0.1 \
        --rewrite "$MP_TMP/ls-src-=$MP_TMP/ls-dst-" --in "$2" --out "$3"
}
lease() { # lease KEY: its value in the guest's lease file (QEMU without -uuid: named "ls")
    sed -n "s/^$1=//p" "$leases/ls.lease"
}
expect_lease() { # expect_lease HOLDER TARGET WHEN
    if [ "$(lease holder)" != "$1" ] || [ "$(lease target)" != "$2" ]; then
        mp_fail "$3: lease holder=$(lease holder) target=$(lease target), expected $1 and '$2'"
    fi
}

echo "== Begin on hostA takes the lease and sends a token, mandatory"
begin "$A" "$qmpA" "$MP_TMP/begin.xml"
expect_lease hostA "" "after Begin"
token=$(lease token)
[ -n "$token" ] || mp_fail "Begin recorded no token"
grep -q "<lease resource=\"[^\"]*\" holder=\"hostA\" token=\"$token\"/>" "$MP_TMP/begin.xml" ||
    mp_fail "Begin's cookie does not carry the token"
grep -q '<feature name="lease" mandatory="yes"/>' "$MP_TMP/begin.xml" ||
    mp_fail "Begin's cookie does not make 'lease' mandatory"

echo "== A destination without the hook refuses in Prepare"
mkdir -p "$MP_TMP/hooks-bare"
hk_step prepare-bare prepare "$MP_TMP/hooks-bare" "$MP_TMP/begin.xml" "$MP_TMP/prepare.xml"
mp_expect_status 2 "$rc" "Prepare without the lease hook"
grep -q "requires feature 'lease'" "$MP_TMP/prepare-bare.err" || mp_fail "wrong refusal"
[ "$(mp_count_vms)" -eq 1 ] || mp_fail "the refused Prepare started a VM"

echo "== A vetoed Prepare on hostB gives the lease back"
hk_hook "$B" prepare 90-veto 'echo "disk not mounted" >&2; exit 1'
hk_step prepare-veto prepare "$B" "$MP_TMP/begin.xml" "$MP_TMP/prepare.xml"
mp_expect_status 1 "$rc" "Prepare with a veto after the lease hook"
expect_lease hostA "" "after the vetoed Prepare"
rm "$B/prepare.d/90-veto"

echo "== Prepare on hostB acquires it; no other migration may start meanwhile"
prepare "$B" "$MP_TMP/begin.xml" "$MP_TMP/prepare.xml"
expect_lease hostA hostB "after Prepare"
grep -q 'acquired-by="hostB"' "$MP_TMP/prepare.xml" || mp_fail "Prepare's cookie does not say so"
hk_step begin-again begin "$A" "$qmpA" "$MP_TMP/begin-again.xml"
mp_expect_status 1 "$rc" "a second Begin during the handoff"
grep -q "being handed to hostB" "$MP_TMP/begin-again.err" || mp_fail "wrong refusal"
hk_step begin-other begin "$C" "$qmpA" "$MP_TMP/begin-other.xml"
mp_expect_status 1 "$rc" "a Begin on a host that does not hold the lease"
grep -q "held by hostA, not by hostC" "$MP_TMP/begin-other.err" || mp_fail "wrong refusal"
expect_lease hostA hostB "after the refused Begins"

echo "== Perform, Finish, Confirm: hostB holds the lease"
"$H/migphase-perform" "${S[@]}" --hooks-dir "$A" --progress none --in "$MP_TMP/prepare.xml" \
    --out "$MP_TMP/perform.xml"
"$H/migphase-finish" "${S[@]}" --hooks-dir "$B" --in "$MP_TMP/perform.xml" --out "$MP_TMP/finish.xml"
expect_lease hostB "" "after Finish"
"$H/migphase-confirm" "${S[@]}" --hooks-dir "$A" --in "$MP_TMP/finish.xml" 2>"$MP_TMP/confirm.err" ||
    mp_fail "Confirm failed: $(cat "$MP_TMP/confirm.err")"
[ ! -s "$MP_TMP/confirm.err" ] || mp_fail "Confirm's hook complained: $(cat "$MP_TMP/confirm.err")"
expect_lease hostB "" "after Confirm"
[ -z "$(lease token)" ] || mp_fail "the token outlived the migration"
[ "$(mp_where_running ls)" = destination ] || mp_fail "guest runs: $(mp_where_running ls)"
mp_verify_memory "$qmpB" $mem || mp_fail "memory check failed on the destination"
mp_assert_nothing_pending

echo "== hostA no longer holds the lease: it cannot start a migration of the VM"
hk_step begin-stale begin "$A" "$qmpB" "$MP_TMP/begin-stale.xml"
mp_expect_status 1 "$rc" "Begin on the former holder"
grep -q "held by hostB, not by hostA" "$MP_TMP/begin-stale.err" || mp_fail "wrong refusal"

echo "== hostB can; cancelling drops the handoff"
begin "$B" "$qmpB" "$MP_TMP/begin-back.xml"
[ -n "$(lease token)" ] || mp_fail "Begin on hostB recorded no token"
"$H/migphase-confirm" "${S[@]}" --hooks-dir "$B" --cancelled --in "$MP_TMP/begin-back.xml"
expect_lease hostB "" "after the cancelled migration"
[ -z "$(lease migration)" ] || mp_fail "the cancelled migration kept the lease's handoff"
mp_assert_nothing_pending
echo "PASS: lease handed from hostA to hostB; concurrent and stale migrations refused"
