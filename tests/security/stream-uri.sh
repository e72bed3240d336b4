#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Perform hands QEMU the stream URI of Prepare's cookie: an exec: URI there
# would run a command on the source as the VM's user, a file: URI write
# where it names, an fd: URI send the VM to a descriptor. A compromised
# destination signs whatever it likes, so the signature does not help:
# Perform sends only to tcp: (unix: on one host). Each hostile URI, in a
# validly signed Prepare cookie of a real migration, is refused with exit 2
# and one line; nothing is created where it points, no cookie is written,
# the source runs on and the journal is as it was. The real cookie then
# migrates the guest, whose memory is checked.
# shellcheck source=tests/security/lib.sh disable=SC2154
. "$top_srcdir/tests/security/lib.sh"
mp_require_qemu
mp_require_root
mp_init

mem=16
H="$MP_HELPERS"
S=(--state-dir "$MP_STATE")
mp_start_guest uri $mem 4
src="$MP_TMP/uri-src.qmp"
dst="$MP_TMP/uri-dst.qmp"
"$H/migphase-begin" "${S[@]}" --qmp "$src" --out "$MP_TMP/begin.xml"
"$H/migphase-prepare" "${S[@]}" --qmp "$dst" --listen 127.0.0.1 \
    --rewrite "$MP_TMP/uri-src-=$MP_TMP/uri-dst-" --in "$MP_TMP/begin.xml" --out "$MP_TMP/prepare.xml"
grep -q '<incoming uri="tcp:127\.0\.0\.1:[0-9]*"' "$MP_TMP/prepare.xml" ||
    mp_fail "Prepare's cookie has no tcp: URI to replace"
dst_state=$(mp_run_state "$dst")

# hostile URI: Prepare's cookie with URI (XML-escaped) instead of its own,
# signed anew by the destination's identity.
hostile() {
    local replacement
    replacement=$(printf '%s\n' "$1" | sed 's/[&|\\]/\\&/g') # as sed's replacement
    sed -e "s|<incoming uri=\"[^\"]*\"|<incoming uri=\"$replacement\"|" -e '$d' "$MP_TMP/prepare.xml" \
        >"$MP_TMP/hostile.xml"
    mp_sign "$MP_TMP/hostile.xml"
    grep -qF "<incoming uri=\"$1\"" "$MP_TMP/hostile.xml" || mp_fail "could not put $1 in the cookie"
}

# refused WHAT URI TARGET: Perform refuses a cookie with URI, and TARGET, where
# it points, is not created.
refused() {
    local what=$1 uri=$2 target=$3
    hostile "$uri"
    sec_refused "Perform to $what" "refusing the stream URI" \
        "$H/migphase-perform" "${S[@]}" --progress none --in "$MP_TMP/hostile.xml" \
        --out "$MP_TMP/$SEC_OUT_NAME" 3>>"$MP_TMP/fd3"
    # QEMU would act after Perform returns, if it were asked to: give it time.
    sleep 1
    [ ! -e "$target" ] || mp_fail "$what: $target was created"
    [ ! -s "$MP_TMP/fd3" ] || mp_fail "$what: something was written to descriptor 3"
    sec_expect_state "$src" running "$what: the source"
    [ "$(mp_run_state "$dst")" = "$dst_state" ] || mp_fail "$what: the destination VM changed"
    local status
    status=$(mp_qmp --get status "$src" query-migrate || true)
    [ -z "$status" ] || [ "$status" = null ] || mp_fail "$what: the source has a migration ($status)"
}

: >"$MP_TMP/fd3"
refused "a command" "exec:cat &gt; $MP_TMP/exec-target" "$MP_TMP/exec-target"
refused "a file" "file:$MP_TMP/file-target" "$MP_TMP/file-target"
refused "descriptor 3" "fd:3" "$MP_TMP/no-such-file"

echo "== the destination's own cookie still migrates the guest"
"$H/migphase-perform" "${S[@]}" --progress none --in "$MP_TMP/prepare.xml" --out "$MP_TMP/perform.xml"
"$H/migphase-finish" "${S[@]}" --in "$MP_TMP/perform.xml" --out "$MP_TMP/finish.xml"
"$H/migphase-confirm" "${S[@]}" --in "$MP_TMP/finish.xml"
[ "$(mp_where_running uri)" = destination ] || mp_fail "guest runs: $(mp_where_running uri)"
mp_verify_memory "$dst" $mem
mp_assert_nothing_pending
echo "PASS: Perform sends the VM only to a tcp: address, whoever signed the cookie"
