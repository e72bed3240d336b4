#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# With TLS, the destination's QEMU takes the stream only from the source
# host the Begin cookie names: a sender with a certificate from another CA,
# one with a valid certificate of another host, and one in clear text are
# each refused while the real source waits. Then the real source migrates
# the guest, whose memory is checked: QEMU keeps listening after a refused
# sender (the outcome is printed; if QEMU did not, Perform must fail cleanly
# with the source resumed).
# shellcheck source=tests/security/lib.sh disable=SC2154
. "$top_srcdir/tests/security/lib.sh"
mp_require_qemu
mp_require_root
mp_init

mem=16
H="$MP_HELPERS"
S=(--state-dir "$MP_STATE")
pki_tool=(sh "$top_srcdir/tools/migphase-pki")

# The senders' credentials, in QEMU's layout, each trusting the real CA so
# that only the destination's judgement is tested (QEMU checks its own
# certificate against its CA file too: the other CA's sender trusts both).
"${pki_tool[@]}" add "$MP_TMP/pki" intruder >/dev/null
"${pki_tool[@]}" create "$MP_TMP/other-ca" "$MP_HOST" >/dev/null
mkdir -m 0700 "$MP_TMP/other-ca-sender"
cp "$MP_TMP/other-ca/$MP_HOST/client-cert.pem" "$MP_TMP/other-ca/$MP_HOST/client-key.pem" \
    "$MP_TMP/other-ca-sender/"
cat "$MIGPHASE_PKI_DIR/ca-cert.pem" "$MP_TMP/other-ca/ca-cert.pem" >"$MP_TMP/other-ca-sender/ca-cert.pem"

mp_start_guest real $mem 4
"$H/migphase-begin" "${S[@]}" --qmp "$MP_TMP/real-src.qmp" --out "$MP_TMP/begin.xml"
"$H/migphase-prepare" "${S[@]}" --qmp "$MP_TMP/real-dst.qmp" --listen 127.0.0.1 \
    --rewrite "$MP_TMP/real-src-=$MP_TMP/real-dst-" --in "$MP_TMP/begin.xml" --out "$MP_TMP/prepare.xml"
uri=$(sed -n 's/.*<incoming uri="\([^"]*\)" tls="yes".*/\1/p' "$MP_TMP/prepare.xml")
[ -n "$uri" ] || mp_fail "Prepare's cookie does not ask for TLS: $(grep incoming "$MP_TMP/prepare.xml")"
dst_pid=$(mp_dest_pid real)
echo "the destination listens on $uri with TLS (QEMU pid $dst_pid)"

# A guest to send in place of the real one.
mp_start_guest impostor $mem 4
imp="$MP_TMP/impostor-src.qmp"

# send WHAT [CREDS-DIR]: the impostor sends itself to the destination, with
# TLS from CREDS-DIR or in clear; its stream must fail.
send() {
    local what=$1 creds=${2:-} status _
    mp_qmp "$imp" object-del id=impostor-tls >/dev/null 2>&1 || true
    if [ -n "$creds" ]; then
        mp_qmp "$imp" object-add qom-type=tls-creds-x509 id=impostor-tls endpoint=client \
            dir="$creds" >/dev/null
        mp_qmp "$imp" migrate-set-parameters tls-creds=impostor-tls tls-hostname="$MP_HOST" >/dev/null
    else
        mp_qmp "$imp" migrate-set-parameters tls-creds= >/dev/null
    fi
    mp_qmp "$imp" migrate uri="$uri" >/dev/null
    for _ in $(seq 300); do
        status=$(mp_qmp --get status "$imp" query-migrate)
        case $status in failed | completed) break ;; esac
        sleep 0.1
    done
    [ "$status" = failed ] || mp_fail "$what: the impostor's stream ended '$status', not failed"
    [ "$(mp_run_state "$MP_TMP/impostor-src.qmp")" != absent ] || mp_fail "$what: impostor gone"
    mp_qmp "$imp" cont >/dev/null 2>&1 || true
    echo "$what: refused ($(mp_qmp --get error-desc "$imp" query-migrate 2>/dev/null || true))"
    echo "$what: the destination says: $(tail -n 1 "$MP_STATE/destination/real/qemu.log")"
    if mp_alive "$dst_pid"; then
        echo "$what: the destination QEMU still waits ($(mp_run_state "$MP_TMP/real-dst.qmp"))"
    else
        echo "$what: the destination QEMU exited"
    fi
}

send "a certificate from another CA" "$MP_TMP/other-ca-sender"
send "another host's valid certificate" "$MP_TMP/pki/intruder"
send "clear text"

echo "== the real source"
rc=0
"$H/migphase-perform" "${S[@]}" --progress none --in "$MP_TMP/prepare.xml" \
    --out "$MP_TMP/perform.xml" 2>"$MP_TMP/perform.err" || rc=$?
if mp_alive "$dst_pid" && [ "$rc" -eq 0 ]; then
    "$H/migphase-finish" "${S[@]}" --in "$MP_TMP/perform.xml" --out "$MP_TMP/finish.xml"
    "$H/migphase-confirm" "${S[@]}" --in "$MP_TMP/finish.xml"
    [ "$(mp_where_running real)" = destination ] || mp_fail "guest runs: $(mp_where_running real)"
    mp_verify_memory "$MP_TMP/real-dst.qmp" $mem
    echo "outcome: QEMU kept listening after 3 refused senders; the real source migrated"
else
    [ "$rc" -eq 1 ] || mp_fail "Perform exited $rc after the destination went: $(cat "$MP_TMP/perform.err")"
    sec_expect_state "$MP_TMP/real-src.qmp" running "the source after a failed Perform"
    echo "outcome: the destination gave up after a refused sender; Perform failed cleanly"
fi
mp_assert_nothing_pending
echo "PASS: only the expected source host's certificate may send the stream"
