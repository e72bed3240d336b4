#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A site hook gets the peer's host name from the cookie in MIGPHASE_PEER_HOST,
# and hooks are shell scripts more often than not. So a host name that is
# not one (a newline, "; rm -rf", blanks, a pipe, a leading dash) is refused
# before any hook runs, even in a validly signed Begin cookie: signed here
# by a certificate of the test's CA that bears that very name (made with
# openssl when there is one; else by this host's lab identity). Prepare then
# exits 2 with one line, writes no cookie, starts no VM, leaves the journal
# as it was, and the hook that would write a marker file never runs. The
# real Begin cookie then runs it.
# shellcheck source=tests/security/lib.sh disable=SC2154
. "$top_srcdir/tests/security/lib.sh"
mp_require_qemu
mp_require_root
mp_init

mem=16
H="$MP_HELPERS"
S=(--state-dir "$MP_STATE")
marker="$MP_TMP/hook-ran"
install -d -m 0755 "$MP_TMP/hooks" "$MP_TMP/hooks/prepare.d"
cat >"$MP_TMP/hooks/prepare.d/10-marker" <<EOF
#!/bin/sh
cat >/dev/null
printf '%s\n' "\$MIGPHASE_PEER_HOST" >>"$marker"
EOF
chmod 0755 "$MP_TMP/hooks/prepare.d/10-marker"

mp_start_guest hk $mem 4
src="$MP_TMP/hk-src.qmp"
dst="$MP_TMP/hk-dst.qmp"
"$H/migphase-begin" "${S[@]}" --qmp "$src" --out "$MP_TMP/begin.xml"
grep -qF "<source hostname=\"$MP_HOST\"" "$MP_TMP/begin.xml" || mp_fail "no source host name to replace"

# signer_pki NAME DIR: make DIR a pki-dir whose certificate, from the
# test's CA, is for NAME (an openssl config value: \n is a newline); set
# pki to it. Without openssl, pki is this host's lab identity.
signer_pki() {
    local name=$1 dir=$2
    pki=$MIGPHASE_PKI_DIR
    command -v openssl >/dev/null || return 0
    mkdir -m 0700 "$dir"
    cp "$MP_TMP/pki/ca-cert.pem" "$MIGPHASE_PKI_DIR/server-key.pem" "$dir/"
    printf '%s\n' "subjectAltName = DNS:$name" "keyUsage = critical, digitalSignature" \
        "basicConstraints = critical, CA:FALSE" >"$dir/ext.cnf"
    if ! openssl req -new -key "$dir/server-key.pem" -subj "/CN=signer" -out "$dir/req.pem" \
        2>"$dir/openssl.log" ||
        ! openssl x509 -req -in "$dir/req.pem" -CA "$MP_TMP/pki/ca-cert.pem" \
            -CAkey "$MP_TMP/pki/ca-key.pem" -set_serial "$RANDOM$RANDOM" -days 2 \
            -extfile "$dir/ext.cnf" -out "$dir/server-cert.pem" 2>>"$dir/openssl.log"; then
        mp_fail "openssl: $(tail -n 1 "$dir/openssl.log")"
    fi
    pki=$dir
}

# refused WHAT XML-VALUE OPENSSL-VALUE: the Begin cookie with the source host
# name XML-VALUE, signed as OPENSSL-VALUE, is refused by Prepare.
refused() {
    local what=$1 value=$2 replacement pki
    n_cases=$((n_cases + 1))
    replacement=$(printf '%s\n' "$value" | sed 's/[&|\\]/\\&/g')
    sed -e "s|<source hostname=\"$MP_HOST\"|<source hostname=\"$replacement\"|" -e '$d' \
        "$MP_TMP/begin.xml" >"$MP_TMP/hostile.xml"
    grep -qF "<source hostname=\"$value\"" "$MP_TMP/hostile.xml" ||
        mp_fail "$what: could not edit the cookie"
    signer_pki "$3" "$MP_TMP/signer-$n_cases"
    mp_sign "$MP_TMP/hostile.xml" "" "$pki"
    sec_refused "Prepare, source host $what" "source host name '" \
        "$H/migphase-prepare" "${S[@]}" --hooks-dir "$MP_TMP/hooks" --qmp "$dst" --listen 127.0.0.1 \
        --rewrite "$MP_TMP/hk-src-=$MP_TMP/hk-dst-" --in "$MP_TMP/hostile.xml" --out "$MP_TMP/$SEC_OUT_NAME"
    grep -qF "' is not a host name" "$MP_TMP/err" || mp_fail "$what: not the host name's refusal"
    [ ! -e "$marker" ] || mp_fail "$what: the hook ran, with MIGPHASE_PEER_HOST=$(cat "$marker")"
    sec_expect_state "$src" running "$what: the source"
    [ ! -e "$dst" ] || mp_fail "$what: the destination VM's socket was made"
    [ "$(mp_count_vms)" -eq 1 ] || mp_fail "$what: a destination VM was started"
}
n_cases=0

refused "with a newline" "$MP_HOST&#10;evil" "$MP_HOST\nevil"
refused "with '; rm -rf'" "$MP_HOST;rm -rf $MP_TMP/hooks" "$MP_HOST;rm -rf $MP_TMP/hooks"
refused "with blanks" "$MP_HOST evil" "$MP_HOST evil"
refused "with a pipe" "$MP_HOST|id&gt;$MP_TMP/id" "$MP_HOST|id>$MP_TMP/id"
refused "with a leading dash" "-$MP_HOST" "-$MP_HOST"

echo "== the real Begin cookie: the hook runs"
"$H/migphase-prepare" "${S[@]}" --hooks-dir "$MP_TMP/hooks" --qmp "$dst" --listen 127.0.0.1 \
    --rewrite "$MP_TMP/hk-src-=$MP_TMP/hk-dst-" --in "$MP_TMP/begin.xml" --out "$MP_TMP/prepare.xml"
[ "$(cat "$marker" 2>/dev/null)" = "$MP_HOST" ] || mp_fail "the hook did not run for the real cookie"
echo "PASS: a host name that is not one never reaches a hook"
