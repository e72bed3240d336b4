#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The libvirt adapter under real libvirt: two libvirtd from Debian's packages
# on this machine, A (the source) and B (the destination, in a UTS namespace
# of its own, called libvirt-b, with its own host_uuid: libvirt refuses to
# migrate to its own host). Each daemon runs in a mount namespace of its own
# with copy-on-write layers over /etc, /var and /run (its sockets, hooks,
# state and QEMU status files), under $MP_TMP/A and $MP_TMP/B (set up by
# tests/hooks/libvirt-lab.sh, which bench/guest-pause.py shares). The adapter
# is installed in B's /etc/libvirt/hooks/qemu.d as docs/hooks.md says, and
# the test guest migrates with virsh migrate --live:
#   - a plain migration succeeds; the record stays pending at libvirt's
#     "started" (libvirt 9.0 runs it before the stream) and closes as a
#     success once the VM runs on B (the adapter's watcher), when the Finish
#     hooks run: the lease-handoff example moves the VM's lease from A to B;
#   - a Prepare hook's veto makes virsh migrate fail, the VM stays on A;
#   - B's QEMU killed before the stream (A's daemon held meanwhile) and
#     during it: each time the hooks' undo runs, the record closes as
#     failed, the VM stays on A and so does its lease;
#   - domains called "web server" and "db+1" migrate;
#   - the VNC password of the domain XML is nowhere on disk but in libvirt's
#     own status files (/run/libvirt/qemu, a tmpfs on a real host).
# Hook bodies are single-quoted on purpose: the hooks expand them.
# shellcheck source=tests/hooks/lib.sh disable=SC2154,SC2016
. "$top_srcdir/tests/hooks/lib.sh"
# shellcheck source=tests/hooks/libvirt-lab.sh
. "$top_srcdir/tests/hooks/libvirt-lab.sh"
if ! command -v libvirtd >/dev/null || ! command -v virsh >/dev/null; then
    mp_skip "libvirt is not installed (libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients)"
fi
hk_private_mounts "$@"
adapter="$top_builddir/hooks/libvirt/migphase-libvirt-hook"
[ -x "$adapter" ] || mp_fail "the libvirt adapter is not built"
mp_require_qemu
[ "${MP_SYSCONFDIR:-/etc}" = /etc ] ||
    mp_skip "configured with sysconfdir=$MP_SYSCONFDIR: the test writes only a private /etc"
mp_init
started_at=$SECONDS

hooks="$MP_TMP/hooks-B"
mkdir -p "$hooks"
# Every Prepare call leaves its environment, by domain and outcome.
hk_hook "$hooks" prepare 10-record \
    'd=${0%/*}/..; env >"$d/env-$MIGPHASE_DOMAIN-${MIGPHASE_OUTCOME:-run}"; cat >"$d/stdin-$MIGPHASE_DOMAIN"'
hk_hook "$hooks" prepare 20-veto \
    '[ ! -e "${0%/*}/../veto" ] || { echo "no SAN path to $MIGPHASE_DOMAIN" >&2; exit 1; }'
# While hold-a names A's daemon, the Prepare hooks stop it (SIGSTOP): B's
# Prepare goes on, A can start no stream until the test lets it go on.
hk_hook "$hooks" prepare 30-hold-a \
    'h=${0%/*}/../hold-a; [ -n "${MIGPHASE_OUTCOME:-}" ] || [ ! -s "$h" ] || kill -STOP "$(cat "$h")"'
# Every Finish call leaves its environment too (the watcher's success).
hk_hook "$hooks" finish 10-record 'env >"${0%/*}/../finish-env-$MIGPHASE_DOMAIN"'
# The lease-handoff example as docs/hooks.md installs it under libvirt.
leases="$MP_TMP/leases"
mkdir -p "$leases"
printf 'lease-dir = %s\nhost = libvirt-b\n' "$leases" >"$hooks/lease-handoff.conf"
for step in prepare finish; do
    hk_link "$hooks" "$step" 50-lease-handoff "$(hk_example lease-handoff)"
done

# start_daemon NAME UNSHARE_ARGS...: start daemon NAME, wait for its socket.
start_daemon() {
    local name=$1
    shift
    lv_start_daemon "$MP_TMP/$name" "${host[$name]}" "${uuid[$name]}" "${hook[$name]}" \
        "$MP_STATE" "$hooks" "$@"
}
declare -A host uuid hook uri
host[A]="" host[B]=libvirt-b
uuid[A]=1b1c6a2e-9d5f-4c3e-8a7b-0f2e4d6c8a01 uuid[B]=2c2d7b3f-0e6a-4d4f-9b8c-1a3f5e7d9b02
hook[A]="" hook[B]=$adapter
uri[A]=$(lv_uri "$MP_TMP/A")
uri[B]=$(lv_uri "$MP_TMP/B")

# Every exit: both daemons' VMs and the daemons go, then mp_cleanup.
stop_all() {
    local status=$? name
    set +e
    for name in A B; do
        lv_stop_daemon "$MP_TMP/$name"
    done
    (exit "$status")
    mp_cleanup
}
trap stop_all EXIT

start_daemon A
start_daemon B --uts
[ "$(timeout 10 virsh -c "${uri[B]}" hostname)" = libvirt-b ] || mp_fail "daemon B is not libvirt-b"

# A fresh 8-character VNC password (libvirt's limit), the secret to look for.
secret=Pw$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
# define NAME: start the test guest as domain NAME on A, with the password.
define() {
    (
        umask 077
        cat >"$MP_TMP/dom.xml" <<EOF
<domain type='qemu'>
  <name>$1</name>
  <memory unit='KiB'>49280</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$MP_GUEST</kernel>
    <cmdline>mem=16 rate=4</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>$MP_QEMU</emulator>
    <graphics type='vnc' autoport='yes' listen='127.0.0.1' passwd='$secret'/>
    <video><model type='none'/></video>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
    )
    timeout 30 virsh -q -c "${uri[A]}" create "$MP_TMP/dom.xml" >/dev/null ||
        mp_fail "cannot start domain '$1' on A"
    rm -f "$MP_TMP/dom.xml"
}
# state DAEMON NAME: the domain's state there ("absent" if not there).
state() {
    timeout 10 virsh -c "${uri[$1]}" domstate "$2" 2>/dev/null | head -n 1 | grep . || echo absent
}
# expect_state DAEMON NAME WANT: the domain reaches state WANT there within
# 20s (libvirt settles its state a moment after virsh returns).
expect_state() {
    local got _
    for _ in $(seq 40); do
        got=$(state "$1" "$2")
        [ "$got" = "$3" ] && return 0
        sleep 0.5
    done
    mp_fail "domain '$2' is $got on $1, expected $3"
}
# lease_held_by_a NAME: the domain's lease file, held by A ("libvirt-a").
lease_held_by_a() {
    local id
    id=$(timeout 10 virsh -c "${uri[A]}" domuuid "$1") || mp_fail "no UUID of '$1' on A"
    lease_file="$leases/$id.lease"
    printf 'holder=libvirt-a\nmigration=\ntoken=\ntarget=\n' >"$lease_file"
}
# expect_lease HOLDER TARGET WHEN: the last lease_held_by_a's file says so.
expect_lease() {
    local holder target
    holder=$(sed -n 's/^holder=//p' "$lease_file")
    target=$(sed -n 's/^target=//p' "$lease_file")
    if [ "$holder" != "$1" ] || [ "$target" != "$2" ]; then
        mp_fail "$3: lease holder '$holder' target '$target', expected '$1' and '$2'"
    fi
}
port=49200
# migrate NAME [ARGS...]: virsh migrate --live from A to B, status in $rc.
migrate() {
    local name=$1
    shift
    port=$((port + 1))
    rc=0
    timeout 120 virsh -c "${uri[A]}" migrate --live "$name" "${uri[B]}" \
        --migrateuri "tcp:127.0.0.1:$port" "$@" >"$MP_TMP/migrate.out" 2>&1 || rc=$?
    echo "virsh migrate '$name': exit $rc $(head -c 300 "$MP_TMP/migrate.out")"
}
# record NAME: the destination record of the journal directory NAME.
record() {
    cat "$MP_STATE/destination/$1/record" 2>/dev/null || true
}
# expect_record DIR LINE...: the record has every LINE within 30s (libvirt
# may run its release hook after virsh returned).
expect_record() {
    local dir=$1 line missing _
    shift
    for _ in $(seq 60); do
        missing=
        for line; do
            record "$dir" | grep -qx "$line" || { missing=$line; break; }
        done
        [ -z "$missing" ] && return 0
        sleep 0.5
    done
    mp_fail "record $dir lacks '$missing': $(record "$dir")"
}

echo "== A plain migration: pending at 'started', a success once the VM runs on B"
define "web server"
lease_held_by_a "web server"
migrate "web server"
mp_expect_status 0 "$rc" "virsh migrate"
expect_state B "web server" running
expect_state A "web server" absent
grep -qx "MIGPHASE_DOMAIN=web server" "$hooks/env-web server-run" ||
    mp_fail "the Prepare hooks did not run for 'web server'"
grep -q '<description format="libvirt-xml">' "$hooks/stdin-web server" ||
    mp_fail "the hooks' cookie has no domain XML"
expect_record web_20server 'fact.libvirt-domain = web server' 'fact.libvirt-seen = started' \
    'closed = yes' 'outcome = success'
grep -qx "MIGPHASE_OUTCOME=success" "$hooks/finish-env-web server" ||
    mp_fail "the Finish hooks did not report the success of 'web server'"
grep -qx "MIGPHASE_MANAGER=libvirt" "$hooks/finish-env-web server" ||
    mp_fail "the Finish hooks were not told that libvirt runs the migration"
expect_lease libvirt-b "" "after 'web server' arrived on B"
timeout 30 virsh -q -c "${uri[B]}" destroy "web server" >/dev/null
expect_record web_20server 'closed = yes' 'outcome = success'
[ ! -e "$hooks/env-web server-failed" ] || mp_fail "a migration that succeeded was undone"

echo "== db+1 migrates too"
define "db+1"
migrate "db+1"
mp_expect_status 0 "$rc" "virsh migrate of db+1"
expect_state B "db+1" running
expect_record db_2B1 'fact.libvirt-domain = db+1' 'closed = yes' 'outcome = success'
timeout 30 virsh -q -c "${uri[B]}" destroy "db+1" >/dev/null
expect_record db_2B1 'closed = yes' 'outcome = success'

echo "== A Prepare hook vetoes: virsh migrate fails, the VM stays on A"
define vm1
: >"$hooks/veto"
migrate vm1
[ "$rc" -ne 0 ] || mp_fail "virsh migrate succeeded through a veto"
grep -q "no SAN path to vm1" "$MP_TMP/migrate.out" || mp_fail "libvirt did not pass the reason on"
expect_state A vm1 running
expect_state B vm1 absent
[ ! -e "$MP_STATE/destination/vm1/record" ] || mp_fail "a vetoed migration left a record"
rm "$hooks/veto"

echo "== B's QEMU killed before the stream: the hooks' undo runs, the VM stays on A"
# A is held (SIGSTOP) by B's Prepare hooks, before B answers Prepare, until
# B's QEMU is dead, so its stream can never have connected. (Stopped by the
# test once B's "started" showed, A had sometimes started its stream.)
lease_held_by_a vm1
cp "$MP_TMP/A/libvirtd.pid" "$hooks/hold-a"
port=$((port + 1))
timeout 120 virsh -c "${uri[A]}" migrate --live vm1 "${uri[B]}" --migrateuri "tcp:127.0.0.1:$port" \
    >"$MP_TMP/migrate.out" 2>&1 &
migration=$!
for _ in $(seq 600); do
    record vm1 | grep -qx 'fact.libvirt-seen = started' && break
    sleep 0.05
done
rm "$hooks/hold-a"
a_state=$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$(cat "$MP_TMP/A/libvirtd.pid")/stat")
[ "$a_state" = T ] || mp_fail "B's Prepare hooks did not hold A (its state: $a_state)"
record vm1 | grep -qx 'fact.libvirt-seen = started' || mp_fail "B never started vm1"
pidfile="$MP_TMP/B/run-upper/libvirt/qemu/vm1.pid"
[ -s "$pidfile" ] || mp_fail "no QEMU pid file of vm1 on B"
kill -KILL "$(cat "$pidfile")"
for _ in $(seq 600); do
    record vm1 | grep -qx 'closed = yes' && break
    sleep 0.1
done
kill -CONT "$(cat "$MP_TMP/A/libvirtd.pid")"
rc=0
wait "$migration" || rc=$?
echo "virsh migrate vm1: exit $rc $(head -c 300 "$MP_TMP/migrate.out")"
[ "$rc" -ne 0 ] || mp_fail "the migration succeeded with B's QEMU killed"
expect_record vm1 'closed = yes' 'outcome = failed'
grep -qx MIGPHASE_OUTCOME=failed "$hooks/env-vm1-failed" || mp_fail "the Prepare hooks were not undone"
expect_state A vm1 running
expect_state B vm1 absent
expect_lease libvirt-a "" "after vm1's migration failed before its stream"
[ ! -e "$hooks/finish-env-vm1" ] || mp_fail "the Finish hooks ran for a migration that failed"
rm -f "$hooks/env-vm1-failed"

echo "== B's QEMU killed during the stream: the hooks' undo runs, the VM stays on A"
lease_held_by_a vm1
port=$((port + 1))
timeout 120 virsh -c "${uri[A]}" migrate --live vm1 "${uri[B]}" --migrateuri "tcp:127.0.0.1:$port" \
    --bandwidth 1 >"$MP_TMP/migrate.out" 2>&1 &
migration=$!
# Generous waits: under ASan on a loaded CI machine libvirt's hooks (each a
# sanitized helper) take seconds, not the tenths they take here.
for _ in $(seq 600); do
    record vm1 | grep -qx 'fact.libvirt-seen = started' && break
    sleep 0.1
done
record vm1 | grep -qx 'fact.libvirt-seen = started' || mp_fail "B never started vm1"
# libvirt runs "started" before the stream: the kill waits for the stream's
# connection, or it would strike B's QEMU before the stream (under ASan's
# slower hooks it did), which is the case above.
for _ in $(seq 600); do
    ss -Htn state established "( sport = :$port )" | grep -q . && break
    sleep 0.1
done
ss -Htn state established "( sport = :$port )" | grep -q . || mp_fail "vm1's stream never connected"
pidfile="$MP_TMP/B/run-upper/libvirt/qemu/vm1.pid"
[ -s "$pidfile" ] || mp_fail "no QEMU pid file of vm1 on B"
kill -KILL "$(cat "$pidfile")"
rc=0
wait "$migration" || rc=$?
echo "virsh migrate vm1: exit $rc $(head -c 300 "$MP_TMP/migrate.out")"
[ "$rc" -ne 0 ] || mp_fail "the migration succeeded with B's QEMU killed"
for _ in $(seq 600); do
    record vm1 | grep -qx 'closed = yes' && break
    sleep 0.1
done
expect_record vm1 'closed = yes' 'outcome = failed'
grep -qx MIGPHASE_OUTCOME=failed "$hooks/env-vm1-failed" || mp_fail "the Prepare hooks were not undone"
expect_state A vm1 running
expect_state B vm1 absent
expect_lease libvirt-a "" "after vm1's failed migration"
grep -qx 'migration=' "$lease_file" || mp_fail "the failed migration's handoff stayed: $(cat "$lease_file")"
[ ! -e "$hooks/finish-env-vm1" ] || mp_fail "the Finish hooks ran for a migration that failed"

echo "== No secret of the domain XML on disk"
# libvirt's own status files keep it (/run/libvirt/qemu, a tmpfs on a host):
# those are libvirt's, not ours. Anything else is a leak.
leaks=$(grep -rl -- "$secret" /tmp "$MP_STATE" "$hooks" 2>/dev/null |
    grep -v "^$MP_TMP/[AB]/run-upper/libvirt/qemu/" || true)
[ -z "$leaks" ] || mp_fail "the VNC password is in: $leaks"
mp_assert_nothing_pending
echo "PASS: libvirt adapter under two real libvirtd, $((SECONDS - started_at))s"
