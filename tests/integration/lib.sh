# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# Shared by the integration tests: boot the project's test guest under QEMU,
# run the helpers against it, verify its memory and serial output, and clean
# up every process and file a test made, on every path out.
#
# Tests are run by automake with top_srcdir and top_builddir exported; exit 77
# means skipped (never reported as passed).

set -euo pipefail

: "${top_srcdir:?run from make check, or export top_srcdir}" "${top_builddir:?export top_builddir}"
# shellcheck disable=SC2034 # used by the tests that source this file
MP_SERIAL_CHECK="$top_srcdir/tests/guest/check-serial.sh"
MP_HELPERS="$top_builddir/helpers"
MP_GUEST="$top_builddir/tests/guest/migphase-guest.elf"
MP_GUEST_CHECK="$top_builddir/tests/guest/migphase-guest-check"
MP_ACCEL=${MIGPHASE_ACCEL:-tcg}
# The guest's test region starts at 16 MiB (tests/guest/layout.h).
MP_REGION_BASE=$((16 << 20))
export MIGPHASE_HELPER_DIR="$MP_HELPERS"

mp_skip() {
    echo "SKIP: $*"
    exit 77
}

mp_fail() {
    echo "FAIL: $*" >&2
    exit 1
}

mp_require_qemu() {
    if [ "${MIGPHASE_SKIP_INTEGRATION:-0}" = 1 ]; then
        mp_skip "integration tests are off here (MIGPHASE_SKIP_INTEGRATION=1)"
    fi
    # By its absolute path, as a real host's VMs run: the destination's
    # policy (emulators = ...) accepts no other.
    MP_QEMU=$(command -v qemu-system-x86_64) || mp_skip "qemu-system-x86_64 is not installed"
    command -v python3 >/dev/null || mp_skip "python3 is not installed"
    # The interpreter itself: a shim in front of python3 (pyenv's) costs
    # most of a second a call, and a test makes hundreds of QMP calls.
    MP_PY=$(python3 -c 'import sys; print(sys.executable)')
    if [ ! -x "$MP_GUEST_CHECK" ] || [ ! -f "$MP_GUEST" ]; then
        mp_skip "the test guest is not built"
    fi
}

mp_require_root() {
    [ "$(id -u)" -eq 0 ] || mp_skip "needs root"
}

# Every process whose command line names the test's directory is the test's.
mp_kill_all() {
    [ -n "${MP_TMP:-}" ] || return 0
    pkill -KILL -f -- "$MP_TMP" 2>/dev/null || true
    local _
    for _ in $(seq 50); do
        pgrep -f -- "$MP_TMP" >/dev/null || return 0
        sleep 0.1
    done
}

mp_cleanup() {
    local status=$?
    mp_kill_all
    for ns in ${MP_NETNS:-}; do
        ip netns del "$ns" 2>/dev/null || true
    done
    if [ "$status" -ne 0 ] && [ -n "${MP_TMP:-}" ]; then
        echo "--- test directory $MP_TMP (kept for inspection) ---" >&2
        find "$MP_TMP" -name '*.log' -size -64k -exec sh -c 'echo "== $1"; tail -n 5 "$1"' _ {} \; >&2 || true
    elif [ -n "${MP_TMP:-}" ]; then
        rm -rf "$MP_TMP"
    fi
    exit "$status"
}

# mp_two_hosts TAG SUBNET: two hosts, network namespaces joined by a veth
# pair, SUBNET.1 on the source's side and SUBNET.2 on the destination's, with
# their loopbacks up. Sets MP_SRC_NS and MP_DST_NS; mp_cleanup deletes them.
# SUBNET is a /30 of the test's own (10.2xx.0), reachable only inside them.
mp_two_hosts() {
    local tag=$1 subnet=$2
    command -v ip >/dev/null || mp_skip "iproute2 is not installed"
    MP_SRC_NS="${tag}s$$"
    MP_DST_NS="${tag}d$$"
    ip netns add "$MP_SRC_NS" || mp_skip "cannot create network namespaces here"
    MP_NETNS="$MP_SRC_NS"
    ip netns add "$MP_DST_NS"
    MP_NETNS="$MP_SRC_NS $MP_DST_NS"
    ip link add "${tag}S$$" netns "$MP_SRC_NS" type veth peer name "${tag}D$$" netns "$MP_DST_NS"
    ip -n "$MP_SRC_NS" addr add "$subnet.1/30" dev "${tag}S$$"
    ip -n "$MP_DST_NS" addr add "$subnet.2/30" dev "${tag}D$$"
    local ns
    for ns in "$MP_SRC_NS" "$MP_DST_NS"; do
        ip -n "$ns" link set lo up
    done
    ip -n "$MP_SRC_NS" link set "${tag}S$$" up
    ip -n "$MP_DST_NS" link set "${tag}D$$" up
}

# The user Prepare starts destination VMs as (qemu-user in the test config).
MP_QEMU_USER=migphase-qemu

# mp_qemu_user: make sure $MP_QEMU_USER exists, as the package's sysusers.d
# file would have made it: from that file's line, by systemd-sysusers, else
# by useradd. Parallel tests take turns.
mp_qemu_user() {
    getent passwd "$MP_QEMU_USER" >/dev/null && return 0
    [ "$(id -u)" -eq 0 ] || return 0 # the tests that need it skip without root
    local line
    line=$(sed -n "s|@localstatedir@|/var|g; /^u $MP_QEMU_USER /p" "$top_srcdir/systemd/migphase.sysusers.in")
    (
        flock 9
        getent passwd "$MP_QEMU_USER" >/dev/null && exit 0
        if command -v systemd-sysusers >/dev/null && [ -n "$line" ]; then
            systemd-sysusers --inline "$line" >/dev/null 2>&1 || true
        fi
        getent passwd "$MP_QEMU_USER" >/dev/null ||
            useradd --system --user-group --no-create-home --home-dir / \
                --shell /usr/sbin/nologin "$MP_QEMU_USER"
    ) 9>>"/tmp/migphase-test-users.lock"
    getent passwd "$MP_QEMU_USER" >/dev/null || mp_fail "cannot create the user $MP_QEMU_USER"
}

# mp_config: the helpers' policy for the tests, in $MP_TMP/migphase.conf,
# given to every helper through $MIGPHASE_CONFIG: files under the test's and
# the build's directories, VMs run as $MP_QEMU_USER, the stream on loopback.
mp_config() {
    MIGPHASE_CONFIG="$MP_TMP/migphase.conf"
    (
        umask 077
        cat >"$MIGPHASE_CONFIG" <<EOC
allowed-paths = $MP_TMP $top_builddir $top_srcdir /dev/null /dev/urandom
listen = 127.0.0.1
qemu-user = $MP_QEMU_USER
vm-users = root $MP_QEMU_USER
EOC
    )
    export MIGPHASE_CONFIG
}

mp_init() {
    MP_TMP=$(mktemp -d /tmp/migphase-test.XXXXXX)
    MP_STATE="$MP_TMP/state"
    MP_NETNS=""
    trap mp_cleanup EXIT
    trap 'exit 130' INT TERM
    mp_qemu_user
    # The destination VMs run as $MP_QEMU_USER and make their files (serial
    # logs) here: the directory is its group's too, and no one else's.
    if getent passwd "$MP_QEMU_USER" >/dev/null; then
        chgrp "$MP_QEMU_USER" "$MP_TMP"
        chmod 0770 "$MP_TMP"
    fi
    mp_config
    mp_lab_pki
}

# Every test signs and verifies its cookies, as a real host does: a lab PKI
# for this host's name (both "hosts" of a test share it: network namespaces
# keep the host name), given to every helper through $MIGPHASE_PKI_DIR.
mp_lab_pki() {
    command -v certtool >/dev/null || mp_skip "certtool (gnutls-bin) is not installed"
    MP_HOST=$(hostname)
    sh "$top_srcdir/tools/migphase-pki" create "$MP_TMP/pki" "$MP_HOST" >"$MP_TMP/pki.log" 2>&1 ||
        mp_fail "migphase-pki: $(tail -n 1 "$MP_TMP/pki.log")"
    MIGPHASE_PKI_DIR="$MP_TMP/pki/$MP_HOST"
    export MIGPHASE_PKI_DIR
}

# mp_sign FILE [TIME] [PKI-DIR]: sign a hand-made cookie in place, as the
# host of PKI-DIR (this test's host by default) would have at TIME.
mp_sign() {
    "$top_builddir/tests/security/sign-cookie" "${3:-$MIGPHASE_PKI_DIR}" ${2:+"$2"} <"$1" >"$1.signed" ||
        mp_fail "could not sign $1"
    mv "$1.signed" "$1"
}

mp_qmp() {
    "${MP_PY:-python3}" "$top_srcdir/tests/guest/qmp.py" "$@"
}

# mp_start_guest NAME MEM_MIB RATE_MIBPS [QEMU ARGS...]: boot the test guest
# as NAME's source VM, with its QMP socket at $MP_TMP/NAME-src.qmp and its
# serial log at $MP_TMP/NAME-src-serial.log, and wait for its first tick.
# MP_PREFIX (e.g. "ip netns exec ns") runs QEMU through a command prefix.
mp_start_guest() {
    local name=$1 mem=$2 rate=$3
    shift 3
    # shellcheck disable=SC2086
    # RAM is not a multiple of 256 KiB: QEMU 7.2's TCG loses dirty pages of
    # such guests during migration (fixed in QEMU 9.0; tests/guest/README.md).
    ${MP_PREFIX:-} "$MP_QEMU" -accel "$MP_ACCEL" -m $(((mem + 32) * 1024 + 128))k -name "$name" \
        -kernel "$MP_GUEST" -append "mem=$mem rate=$rate" \
        -display none -nodefaults -no-user-config \
        -qmp "unix:$MP_TMP/$name-src.qmp,server=on,wait=off" \
        -serial "file:$MP_TMP/$name-src-serial.log" \
        -daemonize -pidfile "$MP_TMP/$name-src.pid" "$@"
    mp_wait_ticks "$MP_TMP/$name-src-serial.log" 1 60
}

# mp_wait_ticks LOG N TIMEOUT_S: wait until LOG holds N tick lines.
mp_wait_ticks() {
    local log=$1 want=$2 timeout=$3 _
    for _ in $(seq $((timeout * 10))); do
        if [ -f "$log" ] && [ "$(grep -c '^tick ' "$log" || true)" -ge "$want" ]; then
            return 0
        fi
        sleep 0.1
    done
    mp_fail "no $want ticks in $log after ${timeout}s"
}

# mp_last_tick LOG: the number of the last whole tick line.
mp_last_tick() {
    sed -n 's/^tick \([0-9][0-9]*\) pass .*/\1/p' "$1" | tail -n 1
}

mp_pid() {
    cat "$1"
}

mp_alive() {
    [ -n "$1" ] && kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}

# mp_run_state SOCKET: QEMU's run state, or "absent" if nobody answers.
mp_run_state() {
    mp_qmp --timeout 5 --get status "$1" query-status 2>/dev/null || echo absent
}

# mp_verify_memory SOCKET MEM_MIB: pause the VM, dump its test region, run
# the checker, resume it if it ran. Prints the checker's verdict.
mp_verify_memory() {
    local socket=$1 mem=$2 dump state
    dump="$MP_TMP/dump.$$.$RANDOM"
    state=$(mp_run_state "$socket")
    mp_qmp "$socket" stop >/dev/null
    mp_qmp --timeout 60 "$socket" pmemsave val=$MP_REGION_BASE size=$((mem << 20)) filename="$dump" >/dev/null
    local verdict rc=0
    verdict=$("$MP_GUEST_CHECK" "$dump" 2>&1) || rc=$?
    rm -f "$dump"
    [ "$state" = running ] && mp_qmp "$socket" cont >/dev/null
    echo "$verdict"
    return "$rc"
}

# mp_migrate NAME [ARGS...]: migrate NAME's guest with migphase-migrate to a
# destination VM whose files replace "NAME-src-" by "NAME-dst-".
mp_migrate() {
    local name=$1
    shift
    "$MP_HELPERS/migphase-migrate" --qmp "$MP_TMP/$name-src.qmp" \
        --dest-qmp "$MP_TMP/$name-dst.qmp" --state-dir "$MP_STATE" \
        --rewrite "$MP_TMP/$name-src-=$MP_TMP/$name-dst-" "$@"
}

# The destination VM's pid, from the pid file Prepare keeps in the journal.
mp_dest_pid() {
    # "PID START": the launch writes its start time after the pid.
    sed -n '1s/ .*//p' "$MP_STATE/destination/$1/qemu.pid" 2>/dev/null || true
}

# mp_count_vms: QEMU processes of this test still alive.
mp_count_vms() {
    local n=0 pid
    for pid in $(pgrep -f -- "qemu-system-x86_64.*$MP_TMP" || true); do
        mp_alive "$pid" && n=$((n + 1))
    done
    echo "$n"
}

# mp_assert_nothing_pending: migphase-status sees no unfinished migration.
mp_assert_nothing_pending() {
    "$MP_HELPERS/migphase-status" --state-dir "$MP_STATE" >"$MP_TMP/status.out" ||
        mp_fail "migphase-status reports something pending: $(cat "$MP_TMP/status.out")"
}

# mp_assert_runs_on_one_side NAME: the guest runs exactly once, and which.
mp_where_running() {
    local name=$1 src dst
    src=$(mp_run_state "$MP_TMP/$name-src.qmp")
    dst=$(mp_run_state "$MP_TMP/$name-dst.qmp")
    if [ "$src" = running ] && [ "$dst" != running ]; then
        echo source
    elif [ "$dst" = running ] && [ "$src" != running ]; then
        echo destination
    else
        echo "source=$src destination=$dst"
    fi
}

mp_expect_status() {
    local want=$1 got=$2 what=$3
    [ "$got" -eq "$want" ] || mp_fail "$what exited $got, expected $want"
}
