#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Site hooks run by the real helpers around a real QEMU migration: a mandatory
# feature the destination does not declare, a Prepare veto that leaves
# nothing behind (and undoes the hooks before it), extensions that travel
# from host to host, and failures after the point of no return that are
# reported but never undo the migration. The source and the destination are
# one machine here, each with its own hooks directory.
# Hook bodies are single-quoted on purpose: the hooks expand them.
# shellcheck source=tests/hooks/lib.sh disable=SC2154,SC2016
. "$top_srcdir/tests/hooks/lib.sh"
mp_require_qemu
mp_init

mem=64
H="$MP_HELPERS"
S=(--state-dir "$MP_STATE")
src_hooks="$MP_TMP/src-hooks"
dst_hooks="$MP_TMP/dst-hooks"
mkdir -p "$src_hooks" "$dst_hooks"
mp_start_guest hk $mem 32
src="$MP_TMP/hk-src.qmp"

begin() {
    "$H/migphase-begin" "${S[@]}" --hooks-dir "$src_hooks" --qmp "$src" --out "$MP_TMP/begin.xml"
}
prepare() {
    "$H/migphase-prepare" "${S[@]}" --hooks-dir "$dst_hooks" --qmp "$MP_TMP/hk-dst.qmp" \
        --listen 127.0.0.1 --rewrite "$MP_TMP/hk-src-=$MP_TMP/hk-dst-" \
        --in "$MP_TMP/begin.xml" --out "$MP_TMP/prepare.xml"
}
cancel_source() {
    "$H/migphase-confirm" "${S[@]}" --hooks-dir "$src_hooks" --cancelled --in "$MP_TMP/begin.xml"
}
nothing_on_destination() {
    [ ! -e "$MP_STATE/destination/hk/record" ] || mp_fail "$1 left a destination journal record"
    [ "$(mp_count_vms)" -eq 1 ] || mp_fail "$1 left a destination VM"
}

echo "== Begin's hook marks 'lease' mandatory; the destination's hooks do not declare it"
hk_feature "$src_hooks" lease
hk_hook "$src_hooks" begin 10-lease \
    'echo "<extension name=\"lease\"><lease token=\"t1\"/></extension>"
echo "<feature name=\"lease\" mandatory=\"yes\"/>"'
begin
grep -q '<feature name="lease" mandatory="yes"/>' "$MP_TMP/begin.xml" ||
    mp_fail "Begin's cookie does not carry the mandatory feature"
hk_step prepare-nofeature prepare
mp_expect_status 2 "$rc" "migphase-prepare without the mandatory feature"
grep -q "requires feature 'lease'" "$MP_TMP/prepare-nofeature.err" ||
    mp_fail "the refusal does not name the feature"
nothing_on_destination "the refused Prepare"
cancel_source

echo "== A Prepare hook vetoes; the hook before it is called again to undo"
hk_feature "$dst_hooks" lease
hk_hook "$dst_hooks" prepare 10-record \
    'd=${0%/*}/..; cat >"$d/prepare-$MIGPHASE_OUTCOME.stdin"; env >"$d/prepare-$MIGPHASE_OUTCOME.env"'
hk_hook "$dst_hooks" prepare 20-veto 'echo "no room for $MIGPHASE_DOMAIN here" >&2; exit 1'
begin
hk_step prepare-veto prepare
mp_expect_status 1 "$rc" "migphase-prepare with a vetoing hook"
grep -q "hook 20-veto vetoed the step: exited with status 1: no room for hk here" \
    "$MP_TMP/prepare-veto.err" || mp_fail "the veto's stderr is not in the error"
grep -qx 'MIGPHASE_OUTCOME=cancelled' "$dst_hooks/prepare-cancelled.env" ||
    mp_fail "the hook before the veto was not called to undo"
nothing_on_destination "the vetoed Prepare"
cancel_source
[ "$(mp_where_running hk)" = source ] || mp_fail "guest runs: $(mp_where_running hk)"

echo "== A whole migration: extensions travel, late failures are reported, never undone"
rm "$dst_hooks/prepare.d/20-veto" "$dst_hooks"/prepare-*
hk_hook "$src_hooks" perform 10-record 'env >"${0%/*}/../perform.env"'
hk_hook "$dst_hooks" finish 10-fails 'echo "finish hook broke" >&2; exit 4'
hk_hook "$dst_hooks" finish 20-note \
    'echo "<extension name=\"finish-note\"><seen outcome=\"$MIGPHASE_OUTCOME\"/></extension>"'
hk_hook "$src_hooks" confirm 10-fails \
    'cat >"${0%/*}/../confirm.stdin"; echo "cannot tidy up after $MIGPHASE_OUTCOME" >&2; exit 1'
begin
hk_step prepare prepare
mp_expect_status 0 "$rc" "migphase-prepare"
grep -q '<extension name="lease" hook="begin:10-lease"><lease token="t1"/></extension>' \
    "$dst_hooks/prepare-.stdin" || mp_fail "Prepare's hook did not see Begin's extension"
for kv in MIGPHASE_STEP=prepare MIGPHASE_ROLE=destination MIGPHASE_DOMAIN=hk \
    "MIGPHASE_PEER_HOST=$(hostname)" "MIGPHASE_ID=$(sed -n 's/.*<migration id="\([^"]*\)".*/\1/p' "$MP_TMP/begin.xml")"; do
    grep -qx "$kv" "$dst_hooks/prepare-.env" || mp_fail "Prepare's hook did not get $kv"
done
"$H/migphase-perform" "${S[@]}" --hooks-dir "$src_hooks" --progress none \
    --in "$MP_TMP/prepare.xml" --out "$MP_TMP/perform.xml"
grep -qx MIGPHASE_ROLE=source "$src_hooks/perform.env" || mp_fail "Perform's hook did not run"
hk_step finish "$H/migphase-finish" "${S[@]}" --hooks-dir "$dst_hooks" \
    --in "$MP_TMP/perform.xml" --out "$MP_TMP/finish.xml"
mp_expect_status 0 "$rc" "migphase-finish with a failing hook"
grep -q 'result="success"' "$MP_TMP/finish.xml" || mp_fail "Finish did not succeed"
failures=$(hk_extension "$MP_TMP/finish.xml" hook-failures)
case $failures in
*'hook="finish:10-fails" what="exited with status 4">finish hook broke</failure>'*) ;;
*) mp_fail "Finish's cookie does not report the failed hook: $failures" ;;
esac
[ "$(hk_extension "$MP_TMP/finish.xml" finish-note)" = '<seen outcome="success"/>' ] ||
    mp_fail "Finish's hook did not see the outcome"
hk_step confirm "$H/migphase-confirm" "${S[@]}" --hooks-dir "$src_hooks" --in "$MP_TMP/finish.xml"
mp_expect_status 0 "$rc" "migphase-confirm with a failing hook"
grep -q "cannot tidy up after success" "$MP_TMP/confirm.err" ||
    mp_fail "Confirm's hook failure was not logged"
grep -q 'hook="finish:10-fails"' "$src_hooks/confirm.stdin" ||
    mp_fail "Confirm's hook did not see Finish's failure report"
[ "$(mp_where_running hk)" = destination ] || mp_fail "guest runs: $(mp_where_running hk)"
mp_verify_memory "$MP_TMP/hk-dst.qmp" $mem || mp_fail "memory check failed on the destination"
mp_assert_nothing_pending
echo "PASS: hooks at every step: veto, undo, mandatory feature, extensions, late failures"
