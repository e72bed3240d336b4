#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A live migration whose destination steps go through real ssh, as an
# operator runs it: migphase-migrate on the source host (a network
# namespace) with --transport 'ssh ... root@DEST', and Debian's sshd in the
# destination's namespace. migphase-migrate opens one master connection for
# the whole migration: sshd sees one login, however many steps ran through
# it, and the master is gone afterwards.
# shellcheck source=tests/integration/lib.sh disable=SC2154
. "$top_srcdir/tests/integration/lib.sh"
mp_require_qemu
mp_require_root
[ -x /usr/sbin/sshd ] || mp_skip "sshd (openssh-server) is not installed"
command -v ssh >/dev/null || mp_skip "ssh (openssh-client) is not installed"
mp_init

mp_two_hosts mps 10.217.0
src_ns=$MP_SRC_NS
dst_ns=$MP_DST_NS

# sshd in the destination's namespace: root by key only, its log to a file.
# A session gets the test's environment from sshd's SetEnv, as a host gets
# it from its own configuration files.
ssh_dir="$MP_TMP/ssh"
mkdir -p "$ssh_dir" /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$ssh_dir/host"
ssh-keygen -q -t ed25519 -N '' -f "$ssh_dir/id"
cp "$ssh_dir/id.pub" "$ssh_dir/authorized_keys"
cat >"$ssh_dir/sshd_config" <<EOF
ListenAddress 10.217.0.2
HostKey $ssh_dir/host
PidFile $ssh_dir/sshd.pid
AuthorizedKeysFile $ssh_dir/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
LogLevel VERBOSE
SetEnv MIGPHASE_HELPER_DIR=$MIGPHASE_HELPER_DIR MIGPHASE_CONFIG=$MIGPHASE_CONFIG MIGPHASE_PKI_DIR=$MIGPHASE_PKI_DIR
EOF
ip netns exec "$dst_ns" /usr/sbin/sshd -f "$ssh_dir/sshd_config" -E "$ssh_dir/sshd.log" ||
    mp_fail "sshd did not start: $(cat "$ssh_dir/sshd.log")"
transport="ssh -F /dev/null -i $ssh_dir/id -o BatchMode=yes -o StrictHostKeyChecking=no"
transport="$transport -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR root@10.217.0.2"
# shellcheck disable=SC2086 # a command prefix, split on blanks as migphase-migrate does
ip netns exec "$src_ns" $transport true || mp_fail "ssh to the destination does not work"
logins_before=$(grep -c 'Accepted publickey for root' "$ssh_dir/sshd.log")
sessions_before=$(grep -c 'Starting session: command' "$ssh_dir/sshd.log")

mem=64
MP_PREFIX="ip netns exec $src_ns" mp_start_guest ssh $mem 16
mp_wait_ticks "$MP_TMP/ssh-src-serial.log" 3 60

ip netns exec "$src_ns" "$MP_HELPERS/migphase-migrate" --qmp "$MP_TMP/ssh-src.qmp" \
    --dest-qmp "$MP_TMP/ssh-dst.qmp" --state-dir "$MP_STATE" \
    --rewrite "$MP_TMP/ssh-src-=$MP_TMP/ssh-dst-" --transport "$transport" \
    --listen 10.217.0.2 --progress none --log-level info 2>"$MP_TMP/migrate.err" ||
    mp_fail "migphase-migrate failed: $(cat "$MP_TMP/migrate.err")"
cat "$MP_TMP/migrate.err"

dst_pid=$(mp_dest_pid ssh)
[ "$(ip netns identify "$dst_pid")" = "$dst_ns" ] || mp_fail "the destination VM is not in $dst_ns"
[ "$(mp_where_running ssh)" = destination ] || mp_fail "guest runs: $(mp_where_running ssh)"
mp_verify_memory "$MP_TMP/ssh-dst.qmp" $mem || mp_fail "memory check failed on the destination"

# Prepare and Finish ran through ssh, over one connection.
grep -q 'one ssh connection to the destination for every step' "$MP_TMP/migrate.err" ||
    mp_fail "migphase-migrate did not open a master connection"
logins=$(($(grep -c 'Accepted publickey for root' "$ssh_dir/sshd.log") - logins_before))
[ "$logins" -eq 1 ] || mp_fail "sshd saw $logins logins for one migration, expected 1"
sessions=$(($(grep -c 'Starting session: command' "$ssh_dir/sshd.log") - sessions_before))
[ "$sessions" -ge 2 ] || mp_fail "sshd ran $sessions commands, expected Prepare and Finish at least"
pgrep -f -- '-o ControlPersist=no' >/dev/null && mp_fail "the ssh master connection outlived the run"
ls -d /tmp/migphase-ssh.* 2>/dev/null && mp_fail "the master connection's directory is left behind"
mp_assert_nothing_pending
echo "PASS: migration with its destination steps through one ssh connection"
