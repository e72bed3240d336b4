# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# Two libvirtd from Debian's packages on one machine, each in a mount
# namespace of its own with copy-on-write layers over /etc, /var and /run
# (its sockets, hooks, state and QEMU status files) under a directory of its
# own; the destination also in a UTS namespace of its own, with another
# host name and host_uuid: libvirt refuses to migrate to its own host.
# QEMU runs as root without labels, cgroups, namespaces or virtlogd.
# Sourced, not run: by tests/hooks/libvirt-real.sh and bench/guest-pause.py.

# lv_fail MESSAGE: the caller's mp_fail if it has one, else fail here.
lv_fail() {
    if declare -F mp_fail >/dev/null; then
        mp_fail "$@"
    fi
    echo "FAIL: $*" >&2
    exit 1
}

# lv_ns_script FILE: write the daemon's start, run by unshare in its own
# namespaces as: FILE DIR HOSTNAME HOST_UUID ADAPTER STATE HOOKS. An empty
# HOSTNAME keeps the host's; an empty ADAPTER installs no migphase hook.
lv_ns_script() {
    cat >"$1" <<'EOS'
#!/bin/bash
set -eu
d=$1 host=$2 uuid=$3 adapter=$4 state=$5 hooks=$6
[ -z "$host" ] || hostname "$host"
for t in etc var run; do
    mkdir -p "$d/$t-upper" "$d/$t-work"
    mount -t overlay overlay -o "lowerdir=/$t,upperdir=$d/$t-upper,workdir=$d/$t-work" "/$t"
done
# What libvirt-daemon-system would create: the QEMU driver resolves them first.
getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
getent passwd libvirt-qemu >/dev/null || useradd --system --no-create-home -g libvirt-qemu libvirt-qemu
mkdir -p "$d/sock" /etc/libvirt/hooks/qemu.d /var/lib/libvirt /var/cache/libvirt /var/log/libvirt
cat >/etc/libvirt/libvirtd.conf <<EOC
unix_sock_dir = "$d/sock"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
host_uuid = "$uuid"
log_outputs = "3:file:$d/libvirtd.log"
EOC
# QEMU as root, no labels, cgroups, namespaces or virtlogd: a test machine.
cat >/etc/libvirt/qemu.conf <<EOC
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
EOC
if [ -n "$adapter" ]; then
    mkdir -p /etc/migphase
    printf 'hooks-dir = %s\nstate-dir = %s\n' "$hooks" "$state" >/etc/migphase/migphase.conf
    ln -s "$adapter" /etc/libvirt/hooks/qemu.d/50-migphase
fi
exec libvirtd -f /etc/libvirt/libvirtd.conf -p "$d/libvirtd.pid"
EOS
}

# lv_uri DIR: the URI of the daemon whose directory is DIR.
lv_uri() {
    echo "qemu+unix:///system?socket=$1/sock/libvirt-sock"
}

# lv_start_daemon DIR HOSTNAME HOST_UUID ADAPTER STATE HOOKS [UNSHARE ARGS...]:
# start a daemon in DIR (its log in DIR/daemon.log), in a mount namespace and
# whatever UNSHARE ARGS add (--uts with a HOSTNAME), and wait for its socket.
lv_start_daemon() {
    local d=$1 _
    mkdir -p "$d"
    [ -f "$d/libvirtd-ns.sh" ] || lv_ns_script "$d/libvirtd-ns.sh"
    unshare --mount --propagation private "${@:7}" bash "$d/libvirtd-ns.sh" "${@:1:6}" \
        </dev/null >"$d/daemon.log" 2>&1 &
    for _ in $(seq 200); do
        if [ -S "$d/sock/libvirt-sock" ] &&
            timeout 10 virsh -c "$(lv_uri "$d")" version >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    lv_fail "libvirtd in $d did not start: $(tail -n 5 "$d/daemon.log" "$d/libvirtd.log" 2>&1)"
}

# lv_stop_daemon DIR: kill the daemon of DIR and every VM it runs.
lv_stop_daemon() {
    local d=$1 pidfile
    for pidfile in "$d"/run-upper/libvirt/qemu/*.pid; do
        [ -s "$pidfile" ] && kill -KILL "$(cat "$pidfile")" 2>/dev/null
    done
    [ -f "$d/libvirtd.pid" ] && kill -KILL "$(cat "$d/libvirtd.pid")" 2>/dev/null
    return 0
}
