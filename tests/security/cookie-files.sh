#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Cookies written with --out may land in a directory others can write (where
# a management tool keeps them), and a cookie tells hosts what to do. So each
# is mode 0600 whatever the umask, or 0640 with the group of cookie-group,
# and it is written to a fresh temporary file renamed into place: a symlink
# or a hard link planted at its name, or a symlink planted at the temporary
# name, never makes a step write through it to another file. Along a real
# migration, with umask 0:
#   Begin   --out a symlink to the victim
#   Prepare --out FILE, .FILE.tmp.PID a symlink to the victim
#   Perform --out a hard link to the victim, the temporary name a dangling
#           symlink
#   Finish  --out a symlink to the victim
# each cookie is a new 0600 file, the victim keeps its bytes and mode, and
# the guest arrives intact. Then cookie-group, on a Begin of the migrated
# guest: one that does not exist is a configuration error (exit 2, one line,
# nothing touched); an existing group (adm, or nogroup) gives a 0640 cookie
# of that group, written past a symlink to the victim.
# shellcheck source=tests/security/lib.sh disable=SC2154
. "$top_srcdir/tests/security/lib.sh"
mp_require_qemu
mp_require_root
group=
for g in adm nogroup; do
    if getent group "$g" >/dev/null && [ "$(getent group "$g" | cut -d: -f3)" != 0 ]; then
        group=$g
        break
    fi
done
[ -n "$group" ] || mp_skip "no group to give cookies to (adm, nogroup)"
mp_init

mem=16
H="$MP_HELPERS"
S=(--state-dir "$MP_STATE")
# The links are planted by root in a root directory: what is tested is the
# helpers, not the kernel's protected_symlinks (which guards only sticky,
# world-writable directories).
dir="$MP_TMP/cookies"
install -d -m 0755 "$dir"
victim="$MP_TMP/victim"
printf 'precious\n' >"$victim"
chmod 0644 "$victim"
victim_was=$(stat -c '%a %U:%G %s %Y' "$victim") # and its bytes: "precious"
grouped="$MP_TMP/grouped.conf"
printf 'cookie-group = %s\n' "$group" >"$grouped"
chmod 0644 "$grouped"

victim_untouched() {
    local now
    now="$(stat -c '%a %U:%G %s %Y' "$victim"): $(head -c 80 "$victim")"
    [ "$now" = "$victim_was: precious" ] || mp_fail "$1: the victim changed: $now"
}

# written WHAT FILE MODE GROUP: FILE is a cookie of its own, nobody else's.
written() {
    local what=$1 file=$2 want="$3 root:$4 1"
    [ ! -L "$file" ] || mp_fail "$what: $file is still a symlink"
    [ -f "$file" ] || mp_fail "$what: $file is not a regular file"
    [ "$(stat -c '%a %U:%G %h' "$file")" = "$want" ] ||
        mp_fail "$what: $file is $(stat -c '%a %U:%G, %h links' "$file"), not $want"
    head -n 1 "$file" | grep -q '^<?xml' || mp_fail "$what: $file holds no cookie"
    victim_untouched "$what"
    [ ! -e "$MP_TMP/created" ] || mp_fail "$what: a file was created through a link"
    [ -z "$(find "$dir" -name '.*.tmp.*')" ] || mp_fail "$what: temporary files are left: $(ls -A "$dir")"
}

# with_tmp_link TARGET FILE COMMAND...: run COMMAND with the temporary name it
# will use for FILE (.FILE.tmp.PID) already a symlink to TARGET.
with_tmp_link() {
    local target=$1 file=$2
    shift 2
    # shellcheck disable=SC2016 # $$ is the inner shell's pid, which exec keeps
    bash -c 'ln -s "$1" "$2.$$" && shift 2 && exec "$@"' _ \
        "$target" "$(dirname "$file")/.$(basename "$file").tmp" "$@"
}

umask 0
mp_start_guest cf $mem 4
src="$MP_TMP/cf-src.qmp"
dst="$MP_TMP/cf-dst.qmp"

echo "== Begin: --out a symlink to the victim"
ln -s "$victim" "$dir/begin.xml"
"$H/migphase-begin" "${S[@]}" --qmp "$src" --out "$dir/begin.xml"
written Begin "$dir/begin.xml" 600 root

echo "== Prepare: the temporary name a symlink to the victim"
with_tmp_link "$victim" "$dir/prepare.xml" \
    "$H/migphase-prepare" "${S[@]}" --qmp "$dst" --listen 127.0.0.1 \
    --rewrite "$MP_TMP/cf-src-=$MP_TMP/cf-dst-" --in "$dir/begin.xml" --out "$dir/prepare.xml"
written Prepare "$dir/prepare.xml" 600 root

echo "== Perform: --out a hard link to the victim, the temporary name a dangling symlink"
ln "$victim" "$dir/perform.xml"
with_tmp_link "$MP_TMP/created" "$dir/perform.xml" \
    "$H/migphase-perform" "${S[@]}" --progress none --in "$dir/prepare.xml" --out "$dir/perform.xml"
written Perform "$dir/perform.xml" 600 root
[ "$(stat -c %h "$victim")" = 1 ] || mp_fail "Perform: the victim still has another link"

echo "== Finish: --out a symlink to the victim"
ln -s "$victim" "$dir/finish.xml"
"$H/migphase-finish" "${S[@]}" --in "$dir/perform.xml" --out "$dir/finish.xml"
written Finish "$dir/finish.xml" 600 root

"$H/migphase-confirm" "${S[@]}" --in "$dir/finish.xml"
[ "$(mp_where_running cf)" = destination ] || mp_fail "guest runs: $(mp_where_running cf)"
mp_verify_memory "$dst" $mem
mp_assert_nothing_pending

umask 022
echo "== a cookie-group that does not exist: refused before anything is done"
printf 'cookie-group = no-such-group-%s\n' "$$" >"$MP_TMP/nogroup.conf"
sec_refused "Begin, cookie-group no-such-group-$$" "no-such-group-$$" \
    "$H/migphase-begin" --config "$MP_TMP/nogroup.conf" "${S[@]}" --qmp "$dst" --out "$MP_TMP/$SEC_OUT_NAME"
sec_expect_state "$dst" running "after the refused Begin"

echo "== cookie-group $group: 0640, group $group, past a symlink to the victim"
umask 0
ln -s "$victim" "$dir/begin-grouped.xml"
"$H/migphase-begin" --config "$grouped" "${S[@]}" --qmp "$dst" --out "$dir/begin-grouped.xml"
written "Begin, cookie-group $group" "$dir/begin-grouped.xml" 640 "$group"
echo "PASS: cookies are the helpers' own files, 0600 or 0640 with cookie-group"
