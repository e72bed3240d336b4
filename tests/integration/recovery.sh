#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The recovery guarantees, one by one: safe re-runs, cookie-proven cancel,
# a running destination never killed, a concluded step answering from its
# journal, and migphase-status --recover applying only the unambiguous rules.
# shellcheck source=tests/integration/lib.sh disable=SC2154
. "$top_srcdir/tests/integration/lib.sh"
mp_require_qemu
mp_init

mem=64
S=(--state-dir "$MP_STATE")
H="$MP_HELPERS"
mp_start_guest rec $mem 4
src="$MP_TMP/rec-src.qmp"
dst="$MP_TMP/rec-dst.qmp"
prep=(--qmp "$dst" --listen 127.0.0.1 --rewrite "$MP_TMP/rec-src-=$MP_TMP/rec-dst-")

# The same cookie with a letter changed where no host can check it.
# Another cookie of the same migration, validly signed by the host that
# wrote the first (its signature line is dropped, then made anew): what the
# rules below must judge is its content.
resigned_copy() { # IN OUT SED-EXPRESSION
    sed -e "$3" -e '$d' "$1" >"$2"
    mp_sign "$2"
    ! cmp -s "$1" "$2" || mp_fail "$3 changed nothing in $1"
}

damaged_copy() { # IN OUT
    resigned_copy "$1" "$2" 's/source-state">running/source-state">runninf/'
}

status_json() {
    "$H/migphase-status" "${S[@]}" --json >"$MP_TMP/status.json" || true
}

echo "== Prepare killed, then run again: one destination VM, not two"
"$H/migphase-begin" "${S[@]}" --qmp "$src" --bandwidth 16 --out "$MP_TMP/begin.xml"
"$H/migphase-prepare" "${S[@]}" "${prep[@]}" --in "$MP_TMP/begin.xml" --out "$MP_TMP/prepare.xml" &
sleep 0.15
kill -KILL $! 2>/dev/null || true
wait 2>/dev/null || true
"$H/migphase-prepare" "${S[@]}" "${prep[@]}" --in "$MP_TMP/begin.xml" --out "$MP_TMP/prepare.xml"
[ "$(mp_count_vms)" -eq 2 ] || mp_fail "$(mp_count_vms) VMs after a re-run Prepare, expected 2"
"$H/migphase-prepare" "${S[@]}" "${prep[@]}" --in "$MP_TMP/begin.xml" --out "$MP_TMP/prepare2.xml"
cmp -s "$MP_TMP/prepare.xml" "$MP_TMP/prepare2.xml" || mp_fail "a concluded Prepare did not answer from the journal"
[ "$(mp_count_vms)" -eq 2 ] || mp_fail "a third run of Prepare started another VM"

echo "== A cookie whose VM description or parameters changed on the way is refused"
changed_case() { # WHAT SED-EXPRESSION
    resigned_copy "$MP_TMP/prepare.xml" "$MP_TMP/prepare-changed.xml" "$2"
    rc=0
    "$H/migphase-perform" "${S[@]}" --progress none --in "$MP_TMP/prepare-changed.xml" \
        --out "$MP_TMP/perform-changed.xml" 2>"$MP_TMP/err" || rc=$?
    cat "$MP_TMP/err"
    mp_expect_status 2 "$rc" "Perform given a cookie with $1"
    grep -q "description or parameters differ" "$MP_TMP/err" || mp_fail "$1: wrong message"
    [ ! -e "$MP_TMP/perform-changed.xml" ] || mp_fail "$1: a cookie was written"
    [ "$(mp_run_state "$src")" = running ] || mp_fail "$1: the source was touched"
}
changed_case "another bandwidth" 's/bandwidth-mib="16"/bandwidth-mib="17"/'
changed_case "another VM command line" 's/<arg>-nodefaults<\/arg>/<arg>-no-shutdown<\/arg>/'

echo "== Perform killed mid-stream, then run again: it follows the stream"
"$H/migphase-perform" "${S[@]}" --progress none --in "$MP_TMP/prepare.xml" --out "$MP_TMP/perform.xml" &
sleep 1
kill -KILL $!
wait 2>/dev/null || true
damaged_copy "$MP_TMP/prepare.xml" "$MP_TMP/prepare-damaged.xml"
rc=0
"$H/migphase-perform" "${S[@]}" --progress none --in "$MP_TMP/prepare-damaged.xml" \
    --out "$MP_TMP/perform-damaged.xml" 2>"$MP_TMP/err" || rc=$?
cat "$MP_TMP/err"
mp_expect_status 2 "$rc" "an unfinished Perform run again with another cookie"
[ ! -e "$MP_TMP/perform-damaged.xml" ] || mp_fail "the refused Perform wrote a cookie"
rc=0
"$H/migphase-perform" "${S[@]}" --progress none --in "$MP_TMP/prepare.xml" --out "$MP_TMP/perform.xml" || rc=$?
mp_expect_status 0 "$rc" "Perform run again"
grep -q 'result="success"' "$MP_TMP/perform.xml" || mp_fail "the re-run Perform did not succeed"
[ "$(mp_run_state "$src")" = postmigrate ] || mp_fail "the source is not paused after its stream"

echo "== Confirm --cancelled without a Finish cookie refuses: the stream completed"
rc=0
"$H/migphase-confirm" "${S[@]}" --cancelled --in "$MP_TMP/perform.xml" 2>"$MP_TMP/err" || rc=$?
mp_expect_status 3 "$rc" "Confirm --cancelled after a completed stream"
cat "$MP_TMP/err"
[ "$(mp_run_state "$src")" = postmigrate ] || mp_fail "the refused Confirm touched the source"

echo "== Finish completes; Finish --cancelled then refuses to kill the running destination"
"$H/migphase-finish" "${S[@]}" --in "$MP_TMP/perform.xml" --out "$MP_TMP/finish.xml"
rc=0
"$H/migphase-finish" "${S[@]}" --cancelled --in "$MP_TMP/perform.xml" 2>"$MP_TMP/err" || rc=$?
cat "$MP_TMP/err"
[ "$rc" -ne 0 ] || mp_fail "Finish --cancelled succeeded on a running destination"
[ "$(mp_run_state "$dst")" = running ] || mp_fail "the destination was touched"
echo "== A concluded Finish given another cookie of its migration answers from the journal"
damaged_copy "$MP_TMP/perform.xml" "$MP_TMP/perform-damaged.xml"
rc=0
"$H/migphase-finish" "${S[@]}" --in "$MP_TMP/perform-damaged.xml" --out "$MP_TMP/finish2.xml" \
    2>"$MP_TMP/err" || rc=$?
cat "$MP_TMP/err"
mp_expect_status 0 "$rc" "a concluded Finish run again with another cookie"
grep -q "differs from the one step finish" "$MP_TMP/err" || mp_fail "no warning about the other cookie"
cmp -s "$MP_TMP/finish.xml" "$MP_TMP/finish2.xml" || mp_fail "Finish did not answer with its first cookie"
"$H/migphase-confirm" "${S[@]}" --in "$MP_TMP/finish.xml"
"$H/migphase-confirm" "${S[@]}" --in "$MP_TMP/finish.xml" || mp_fail "a second Confirm failed"
[ "$(mp_where_running rec)" = destination ] || mp_fail "guest runs: $(mp_where_running rec)"
mp_verify_memory "$dst" $mem
mp_assert_nothing_pending

echo "== At boot, --recover kills a destination that never resumed and resumes a source mid-stream"
# Move the guest back so that it is a source again, this time by the other names.
mv "$dst" "$MP_TMP/rec-src2.qmp"
src="$MP_TMP/rec-src2.qmp"
"$H/migphase-begin" "${S[@]}" --qmp "$src" --bandwidth 8 --out "$MP_TMP/begin.xml"
"$H/migphase-prepare" "${S[@]}" --qmp "$MP_TMP/rec-back.qmp" --listen 127.0.0.1 \
    --rewrite "$MP_TMP/rec-dst-=$MP_TMP/rec-back-" --in "$MP_TMP/begin.xml" --out "$MP_TMP/prepare.xml"
"$H/migphase-perform" "${S[@]}" --progress none --in "$MP_TMP/prepare.xml" --out "$MP_TMP/perform.xml" &
sleep 1
kill -KILL $!
wait 2>/dev/null || true
status_json
cat "$MP_TMP/status.json"
rc=0
"$H/migphase-status" "${S[@]}" --recover || rc=$?
mp_expect_status 0 "$rc" "migphase-status --recover"
[ "$(mp_run_state "$src")" = running ] || mp_fail "the source was not resumed"
[ "$(mp_run_state "$MP_TMP/rec-back.qmp")" = absent ] || mp_fail "the incoming VM is still there"
[ "$(mp_count_vms)" -eq 1 ] || mp_fail "$(mp_count_vms) VMs left, expected 1"
mp_verify_memory "$src" $mem
mp_assert_nothing_pending
echo "PASS: re-runs, cookie-proven cancel and boot-time recovery hold"
