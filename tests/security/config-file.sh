#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The configuration file decides whom a host trusts and what it runs, so a
# program refuses one that anyone but root (or its own user) owns or may
# write: group-writable, world-writable, or owned by nobody. Each program,
# with such a file, exits 2 with one line "refusing FILE: ..." before it
# does anything: --help prints no help, and each step of a real migration,
# given its real input, writes no cookie, leaves the journal as it was and
# the guest where it was. The same settings in a root-owned 0644 file are
# read (its bandwidth reaches the Begin cookie) and the migration completes.
# shellcheck source=tests/security/lib.sh disable=SC2154
. "$top_srcdir/tests/security/lib.sh"
mp_require_qemu
mp_require_root
id nobody >/dev/null 2>&1 || mp_skip "there is no user nobody"
mp_init

mem=16
H="$MP_HELPERS"
S=(--state-dir "$MP_STATE")
install -d -m 0755 "$MP_TMP/conf"
# The test policy (allowed-paths, qemu-user...) and one setting to see.
settings="$(cat "$MIGPHASE_CONFIG")
# written by tests/security/config-file.sh
bandwidth = 32
"
good="$MP_TMP/conf/good.conf"
printf '%s' "$settings" >"$good"
chmod 0644 "$good"
bad=()
for mode in 0664 0646 0666; do
    printf '%s' "$settings" >"$MP_TMP/conf/mode-$mode.conf"
    chmod "$mode" "$MP_TMP/conf/mode-$mode.conf"
    bad+=("$MP_TMP/conf/mode-$mode.conf")
done
printf '%s' "$settings" >"$MP_TMP/conf/nobody.conf"
chmod 0644 "$MP_TMP/conf/nobody.conf"
chown nobody "$MP_TMP/conf/nobody.conf"
bad+=("$MP_TMP/conf/nobody.conf")

# why FILE: what the refusal of FILE must say.
why() {
    case $1 in
    */nobody.conf) echo "refusing $1: it is owned by uid $(id -u nobody), not by root or this user" ;;
    */mode-*.conf) echo "refusing $1: others than its owner may write it (mode $(stat -c %04a "$1"))" ;;
    esac
}

# refused_by_all PROGRAM ARGS...: PROGRAM refuses every bad file.
refused_by_all() {
    local program=$1 conf
    shift
    for conf in "${bad[@]}"; do
        sec_refused "$program --config ${conf##*/} $*" "$(why "$conf")" \
            "$H/$program" --config "$conf" "$@"
    done
}

echo "== --help: no help with a file others may write"
for program in migphase-begin migphase-prepare migphase-perform migphase-finish \
    migphase-confirm migphase-status migphase-migrate; do
    refused_by_all "$program" --help
    "$H/$program" --config "$good" --help >"$MP_TMP/help" ||
        mp_fail "$program --config good.conf --help failed"
    grep -q -- '--config' "$MP_TMP/help" || mp_fail "$program: no help with a good file"
done
refused_by_all migphase-status "${S[@]}"

echo "== each step of a migration refuses them, given its real input"
mp_start_guest cf $mem 4
src="$MP_TMP/cf-src.qmp"
dst="$MP_TMP/cf-dst.qmp"
out=(--out "$MP_TMP/$SEC_OUT_NAME")
refused_by_all migphase-begin "${S[@]}" --qmp "$src" "${out[@]}"
sec_expect_state "$src" running "after the refused Begins"
"$H/migphase-begin" --config "$good" "${S[@]}" --qmp "$src" --out "$MP_TMP/begin.xml"
grep -q 'bandwidth-mib="32"' "$MP_TMP/begin.xml" || mp_fail "Begin did not read good.conf"

prep=(--qmp "$dst" --listen 127.0.0.1 --rewrite "$MP_TMP/cf-src-=$MP_TMP/cf-dst-" --in "$MP_TMP/begin.xml")
refused_by_all migphase-prepare "${S[@]}" "${prep[@]}" "${out[@]}"
[ ! -e "$dst" ] || mp_fail "a refused Prepare started a VM"
"$H/migphase-prepare" --config "$good" "${S[@]}" "${prep[@]}" --out "$MP_TMP/prepare.xml"

refused_by_all migphase-perform "${S[@]}" --progress none --in "$MP_TMP/prepare.xml" "${out[@]}"
sec_expect_state "$src" running "after the refused Performs"
"$H/migphase-perform" --config "$good" "${S[@]}" --progress none --in "$MP_TMP/prepare.xml" \
    --out "$MP_TMP/perform.xml"

refused_by_all migphase-finish "${S[@]}" --in "$MP_TMP/perform.xml" "${out[@]}"
sec_expect_state "$dst" paused "the destination, after the refused Finishes"
"$H/migphase-finish" --config "$good" "${S[@]}" --in "$MP_TMP/perform.xml" --out "$MP_TMP/finish.xml"

refused_by_all migphase-confirm "${S[@]}" --in "$MP_TMP/finish.xml"
sec_expect_state "$src" postmigrate "the source, after the refused Confirms"
"$H/migphase-confirm" --config "$good" "${S[@]}" --in "$MP_TMP/finish.xml"
[ "$(mp_where_running cf)" = destination ] || mp_fail "guest runs: $(mp_where_running cf)"
mp_verify_memory "$dst" $mem
mp_assert_nothing_pending
echo "PASS: a configuration file others may write, or that another user owns, is refused"
