# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# Shared by the security tests that run the real helpers: what every refusal
# must look like. A refused step exits 2 with one line on stderr naming the
# problem, writes no cookie, and leaves the journal as it found it.
# shellcheck source=tests/integration/lib.sh disable=SC2154
. "$top_srcdir/tests/integration/lib.sh"

# Where the refused steps are told to write their cookie (--out "$SEC_OUT").
SEC_OUT_NAME=refused-cookie.xml

# sec_journal: the journal's files, with their modes and contents. The lock
# files and their directories are left out: taking the lock is not a change.
sec_journal() {
    [ -d "$MP_STATE" ] || return 0
    find "$MP_STATE" -type f ! -name lock -printf '%P %m %U:%G ' -exec md5sum {} \; | sort
}

# sec_refused WHAT TEXT COMMAND...: COMMAND exits 2 with exactly one line on
# stderr, which contains TEXT; it writes no cookie (to $MP_TMP/$SEC_OUT_NAME
# or to stdout) and leaves the journal as it was. The line is in $MP_TMP/err.
sec_refused() {
    local what=$1 text=$2 rc=0 before out="$MP_TMP/$SEC_OUT_NAME"
    shift 2
    rm -f "$out"
    before=$(sec_journal)
    "$@" >"$MP_TMP/out" 2>"$MP_TMP/err" || rc=$?
    echo "$what: exit $rc: $(cat "$MP_TMP/err")"
    [ "$rc" -eq 2 ] || mp_fail "$what: exit $rc, expected 2"
    # One newline, at the end (a substitution drops a trailing newline).
    if [ "$(wc -l <"$MP_TMP/err")" -ne 1 ] || [ -n "$(tail -c 1 "$MP_TMP/err")" ]; then
        mp_fail "$what: stderr is not one line: $(od -c "$MP_TMP/err" | head -n 5)"
    fi
    grep -qF -- "$text" "$MP_TMP/err" || mp_fail "$what: the message does not say '$text'"
    [ ! -e "$out" ] || mp_fail "$what: a cookie was written to $out"
    [ ! -L "$out" ] || mp_fail "$what: a link was made at $out"
    [ ! -s "$MP_TMP/out" ] || mp_fail "$what: something was written to stdout"
    [ "$(sec_journal)" = "$before" ] || mp_fail "$what: the journal changed: $(diff <(echo "$before") \
        <(sec_journal) | sed -n 's/^[<>] \([^ ]*\) .*/\1/p' | sort -u | tr '\n' ' ')"
}

# sec_expect_state SOCKET STATE WHAT: the VM behind SOCKET is in STATE.
sec_expect_state() {
    local got
    got=$(mp_run_state "$1")
    [ "$got" = "$2" ] || mp_fail "$3: the VM is $got, not $2"
}
