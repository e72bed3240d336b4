#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The stream's tuning travels in Begin's cookie and each QEMU gets what it
# reads: --parallel 4 (multifd), --parallel 2 --compress zstd and --xbzrle
# each migrate a guest that rewrites its memory, verified on the
# destination; the delta cache's size goes to the source alone, step by step.
# Refused: --compress without --parallel (Begin, exit 2), cookies asking
# for more channels than allowed or compression of one stream (Prepare,
# exit 2, nothing started), and a
# QEMU that lacks the multifd capability (faked by a QMP proxy that hides it
# from the source's Perform: exit 2, the source runs on).
# shellcheck source=tests/integration/lib.sh disable=SC2154
. "$top_srcdir/tests/integration/lib.sh"
mp_require_qemu
mp_init

mem=64
S=(--state-dir "$MP_STATE")
H="$MP_HELPERS"

capability() { # SOCKET NAME: QEMU's state of a migration capability
    mp_qmp "$1" query-migrate-capabilities | python3 -c '
import json, sys
print(next((c["state"] for c in json.load(sys.stdin) if c["capability"] == sys.argv[1]), None))
' "$2"
}

# tuned NAME WANT-CAP PARAM=VALUE... -- MIGRATE-ARGS...: migrate NAME's guest
# with the args; the destination has WANT-CAP on and each parameter so.
tuned() {
    local name=$1 cap=$2
    shift 2
    local checks=()
    while [ "$1" != -- ]; do
        checks+=("$1")
        shift
    done
    shift
    mp_start_guest "$name" $mem 8
    mp_wait_ticks "$MP_TMP/$name-src-serial.log" 2 60
    local started
    started=$(date +%s%N)
    mp_migrate "$name" --local --listen 127.0.0.1 --progress none --timeout 300 "$@" \
        2>"$MP_TMP/$name.err" || mp_fail "migphase-migrate $*: $(cat "$MP_TMP/$name.err")"
    echo "$*: migrated in $((($(date +%s%N) - started) / 1000000)) ms"
    grep -q '<tuning ' "$MP_STATE/source/$name/begin-out.xml" || mp_fail "no <tuning> in the cookie"
    grep -q 'feature name="tuning" mandatory="yes"' "$MP_STATE/source/$name/begin-out.xml" ||
        mp_fail "the cookie does not make tuning mandatory"
    local dst="$MP_TMP/$name-dst.qmp" check got
    [ "$(capability "$dst" "$cap")" = True ] || mp_fail "$cap is not on on the destination"
    for check in "${checks[@]}"; do
        got=$(mp_qmp --get "${check%=*}" "$dst" query-migrate-parameters)
        [ "$got" = "${check#*=}" ] || mp_fail "${check%=*} is '$got' on the destination, not '${check#*=}'"
    done
    [ "$(mp_where_running "$name")" = destination ] || mp_fail "guest runs: $(mp_where_running "$name")"
    mp_verify_memory "$dst" $mem || mp_fail "memory check failed on the destination ($*)"
    sh "$MP_SERIAL_CHECK" "$MP_TMP/$name-src-serial.log" "$MP_TMP/$name-dst-serial.log" ||
        mp_fail "the serial counter did not go on from the source's ($*)"
    mp_assert_nothing_pending
}

echo "== --parallel 4"
tuned par multifd multifd-channels=4 multifd-compression=none -- --parallel 4
echo "== --parallel 2 --compress zstd"
tuned zst multifd multifd-channels=2 multifd-compression=zstd -- --parallel 2 --compress zstd
echo "== --xbzrle 16M"
tuned xbz xbzrle -- --xbzrle 16M

echo "== --xbzrle 16M step by step: the cache's size is the source's, not the destination's"
mp_start_guest xbs $mem 8
mp_wait_ticks "$MP_TMP/xbs-src-serial.log" 2 60
"$H/migphase-begin" "${S[@]}" --qmp "$MP_TMP/xbs-src.qmp" --xbzrle 16M --out "$MP_TMP/begin.xml"
"$H/migphase-prepare" "${S[@]}" --qmp "$MP_TMP/xbs-dst.qmp" --listen 127.0.0.1 \
    --rewrite "$MP_TMP/xbs-src-=$MP_TMP/xbs-dst-" --in "$MP_TMP/begin.xml" --out "$MP_TMP/prepare.xml"
"$H/migphase-perform" "${S[@]}" --progress none --in "$MP_TMP/prepare.xml" --out "$MP_TMP/perform.xml"
# The source stays, paused, until Confirm.
got=$(mp_qmp --get xbzrle-cache-size "$MP_TMP/xbs-src.qmp" query-migrate-parameters)
[ "$got" = 16777216 ] || mp_fail "xbzrle-cache-size is '$got' on the source, not 16777216"
[ "$(capability "$MP_TMP/xbs-dst.qmp" xbzrle)" = True ] || mp_fail "xbzrle is not on on the destination"
got=$(mp_qmp --get xbzrle-cache-size "$MP_TMP/xbs-dst.qmp" query-migrate-parameters)
[ "$got" = 67108864 ] || mp_fail "the destination was sent the sender's cache size: '$got'"
"$H/migphase-finish" "${S[@]}" --in "$MP_TMP/perform.xml" --out "$MP_TMP/finish.xml"
"$H/migphase-confirm" "${S[@]}" --in "$MP_TMP/finish.xml"
mp_verify_memory "$MP_TMP/xbs-dst.qmp" $mem || mp_fail "memory check failed on the destination (xbzrle)"
mp_assert_nothing_pending

echo "== Refused: --compress without --parallel (Begin, exit 2, one line)"
mp_start_guest ref $mem 8
src="$MP_TMP/ref-src.qmp"
rc=0
"$H/migphase-begin" "${S[@]}" --qmp "$src" --compress zstd --out "$MP_TMP/x.xml" 2>"$MP_TMP/err" || rc=$?
mp_expect_status 2 "$rc" "migphase-begin --compress without --parallel"
[ "$(wc -l <"$MP_TMP/err")" -eq 1 ] || mp_fail "not one line: $(cat "$MP_TMP/err")"
grep -q 'give --parallel N' "$MP_TMP/err" || mp_fail "Begin did not say why: $(cat "$MP_TMP/err")"

echo "== Refused: cookies that ask for 100 channels, or compression of one stream (Prepare, exit 2)"
"$H/migphase-begin" "${S[@]}" --qmp "$src" --parallel 4 --compress zstd --out "$MP_TMP/begin.xml"
vms=$(mp_count_vms)
# The schema refuses the first, the reader's own check the second.
for case in 's/parallel="4"/parallel="100"/:parallel' 's/ parallel="4"//:is for parallel channels only'; do
    sed -e "${case%%:*}" -e '$d' "$MP_TMP/begin.xml" >"$MP_TMP/begin-bad.xml"
    mp_sign "$MP_TMP/begin-bad.xml"
    rc=0
    "$H/migphase-prepare" "${S[@]}" --qmp "$MP_TMP/ref-dst.qmp" --listen 127.0.0.1 \
        --rewrite "$MP_TMP/ref-src-=$MP_TMP/ref-dst-" --in "$MP_TMP/begin-bad.xml" \
        --out "$MP_TMP/x.xml" 2>"$MP_TMP/err" || rc=$?
    cat "$MP_TMP/err"
    mp_expect_status 2 "$rc" "migphase-prepare given ${case%%:*}"
    [ "$(wc -l <"$MP_TMP/err")" -eq 1 ] || mp_fail "not one line"
    grep -q "<tuning>.*${case#*:}\|tuning.*${case#*:}\|${case#*:}.*tuning" "$MP_TMP/err" ||
        mp_fail "Prepare did not say why"
    [ "$(mp_count_vms)" -eq "$vms" ] || mp_fail "a refused Prepare started a VM"
done
"$H/migphase-confirm" "${S[@]}" --cancelled --in "$MP_TMP/begin.xml"

echo "== Refused: a QEMU without multifd (Perform, exit 2; the source runs on)"
"$H/migphase-begin" "${S[@]}" --qmp "$src" --parallel 4 --out "$MP_TMP/begin.xml"
"$H/migphase-prepare" "${S[@]}" --qmp "$MP_TMP/ref-dst.qmp" --listen 127.0.0.1 \
    --rewrite "$MP_TMP/ref-src-=$MP_TMP/ref-dst-" --in "$MP_TMP/begin.xml" --out "$MP_TMP/prepare.xml"
mv "$src" "$src.real"
python3 "$top_srcdir/tests/integration/qmp-proxy.py" "$src" "$src.real" --hide-capability multifd &
proxy=$!
for _ in $(seq 100); do [ -S "$src" ] && break; sleep 0.05; done
rc=0
"$H/migphase-perform" "${S[@]}" --progress none --in "$MP_TMP/prepare.xml" --out "$MP_TMP/perform.xml" \
    2>"$MP_TMP/err" || rc=$?
cat "$MP_TMP/err"
mp_expect_status 2 "$rc" "migphase-perform on a QEMU without multifd"
grep -q -- '--parallel needs the migration capability multifd, which this QEMU (7' "$MP_TMP/err" ||
    mp_fail "Perform did not say what the QEMU lacks"
[ "$(mp_run_state "$src.real")" = running ] || mp_fail "the source does not run"
"$H/migphase-finish" "${S[@]}" --cancelled --in "$MP_TMP/prepare.xml" >/dev/null 2>&1 ||
    "$H/migphase-finish" "${S[@]}" --cancelled --in "$MP_TMP/perform.xml" >/dev/null
"$H/migphase-confirm" "${S[@]}" --cancelled --in "$MP_TMP/prepare.xml"
kill "$proxy"
mp_verify_memory "$src.real" $mem || mp_fail "memory check failed on the source"
mp_assert_nothing_pending
echo "PASS: parallel, zstd and xbzrle migrations verified; unsupported tuning refused"
