#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The destination QEMU that Prepare starts is confined: it runs as the
# policy's qemu-user (all four uids and gids, no capability, no_new_privs),
# under QEMU's seccomp sandbox (Seccomp: 2), with an environment of its own
# (nothing of the caller's), a private umask, and a QMP socket that is
# root's alone (0600). With "qemu-user = root" in the policy it runs as
# root, still under seccomp.
# shellcheck source=tests/integration/lib.sh disable=SC2154
. "$top_srcdir/tests/integration/lib.sh"
mp_require_qemu
mp_require_root
mp_init

mem=16
# The stream's TLS is migrate-tls.sh's: here clear text, on loopback.
# A variable of the caller's: no VM may see it.
export MP_TEST_CALLER_MARKER=caller-secret-$$

# status_field PID FIELD: the value of FIELD in /proc/PID/status, tabs as blanks.
status_field() {
    sed -n "s/^$2:[[:space:]]*//p" "/proc/$1/status" | tr '\t' ' '
}

# expect_confined NAME UID GID: NAME's destination VM runs as UID:GID under
# seccomp, with no capability, no_new_privs and no variable of the caller's.
expect_confined() {
    local name=$1 uid=$2 gid=$3 pid env
    pid=$(mp_dest_pid "$name")
    mp_alive "$pid" || mp_fail "$name: no destination VM (pid file: '$pid')"
    [ "$(status_field "$pid" Uid)" = "$uid $uid $uid $uid" ] ||
        mp_fail "$name: the VM runs as uids $(status_field "$pid" Uid), not $uid"
    [ "$(status_field "$pid" Gid)" = "$gid $gid $gid $gid" ] ||
        mp_fail "$name: the VM runs as gids $(status_field "$pid" Gid), not $gid"
    [ "$(status_field "$pid" Seccomp)" = 2 ] ||
        mp_fail "$name: Seccomp is $(status_field "$pid" Seccomp), not 2 (filter)"
    [ "$(status_field "$pid" NoNewPrivs)" = 1 ] || mp_fail "$name: no_new_privs is not set"
    tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qx -- -sandbox || mp_fail "$name: no -sandbox option"
    env=$(tr '\0' '\n' <"/proc/$pid/environ")
    if grep -q MP_TEST_CALLER_MARKER <<<"$env"; then
        mp_fail "$name: the caller's environment reached the VM"
    fi
    if grep -vE '^(PATH|LC_ALL|HOME|USER|LOGNAME)=' <<<"$env" | grep -q .; then
        mp_fail "$name: the VM's environment holds more than it needs: $(tr '\n' ' ' <<<"$env")"
    fi
    grep -qx 'PATH=/usr/sbin:/usr/bin:/sbin:/bin' <<<"$env" || mp_fail "$name: PATH is not the fixed one"
    # Only root talks to the VM's monitor; root wrote its pid file.
    [ "$(stat -c '%u %a' "$MP_TMP/$name-dst.qmp")" = "0 600" ] ||
        mp_fail "$name: the QMP socket is $(stat -c '%U %a' "$MP_TMP/$name-dst.qmp"), not root's 0600"
    [ "$(stat -c '%u' "$MP_STATE/destination/$name/qemu.pid")" = 0 ] ||
        mp_fail "$name: the pid file is not root's"
    # What QEMU creates is its user's alone (umask 0077).
    [ "$(stat -c '%u %a' "$MP_TMP/$name-dst-serial.log")" = "$uid 600" ] ||
        mp_fail "$name: the VM's serial log is $(stat -c '%U %a' "$MP_TMP/$name-dst-serial.log")"
    echo "$name: pid $pid uid $uid gid $gid, Seccomp 2, clean environment, QMP socket 0600"
}

echo "== qemu-user = $MP_QEMU_USER (the test policy): the VM runs as that user"
qemu_uid=$(id -u "$MP_QEMU_USER")
qemu_gid=$(id -g "$MP_QEMU_USER")
mp_start_guest conf $mem 8
mp_migrate conf --local --progress none 2>"$MP_TMP/migrate.err" ||
    mp_fail "migphase-migrate failed: $(cat "$MP_TMP/migrate.err")"
[ "$(mp_where_running conf)" = destination ] || mp_fail "guest runs: $(mp_where_running conf)"
expect_confined conf "$qemu_uid" "$qemu_gid"
[ "$(status_field "$(mp_dest_pid conf)" CapEff)" = 0000000000000000 ] ||
    mp_fail "the VM has capabilities: $(status_field "$(mp_dest_pid conf)" CapEff)"
mp_verify_memory "$MP_TMP/conf-dst.qmp" $mem || mp_fail "memory check failed on the destination"
before=$(mp_last_tick "$MP_TMP/conf-dst-serial.log")
mp_wait_ticks "$MP_TMP/conf-dst-serial.log" $((before + 2)) 60
mp_assert_nothing_pending

echo "== qemu-user = root, named in the policy: the VM runs as root, still under seccomp"
sed 's/^qemu-user = .*/qemu-user = root/' "$MIGPHASE_CONFIG" >"$MP_TMP/root.conf"
chmod 0600 "$MP_TMP/root.conf"
mp_start_guest rootvm $mem 8
MIGPHASE_CONFIG="$MP_TMP/root.conf" mp_migrate rootvm --local --progress none \
    2>"$MP_TMP/migrate-root.err" || mp_fail "migphase-migrate failed: $(cat "$MP_TMP/migrate-root.err")"
[ "$(mp_where_running rootvm)" = destination ] || mp_fail "guest runs: $(mp_where_running rootvm)"
expect_confined rootvm 0 0
mp_verify_memory "$MP_TMP/rootvm-dst.qmp" $mem || mp_fail "memory check failed on the destination"
mp_assert_nothing_pending

echo "== a qemu-user that does not exist: Prepare refuses, nothing starts"
sed 's/^qemu-user = .*/qemu-user = mp-no-such-user/' "$MIGPHASE_CONFIG" >"$MP_TMP/nouser.conf"
chmod 0600 "$MP_TMP/nouser.conf"
mp_start_guest nouser $mem 8
rc=0
MIGPHASE_CONFIG="$MP_TMP/nouser.conf" mp_migrate nouser --local --progress none \
    2>"$MP_TMP/migrate-nouser.err" || rc=$?
[ "$rc" -ne 0 ] || mp_fail "a migration with an unknown qemu-user succeeded"
grep -q "mp-no-such-user" "$MP_TMP/migrate-nouser.err" ||
    mp_fail "the refusal does not name the user: $(cat "$MP_TMP/migrate-nouser.err")"
[ "$(mp_where_running nouser)" = source ] || mp_fail "guest runs: $(mp_where_running nouser)"
[ -z "$(mp_dest_pid nouser)" ] || ! mp_alive "$(mp_dest_pid nouser)" ||
    mp_fail "a destination VM was started for an unknown user"
echo "PASS: the destination QEMU runs confined"
