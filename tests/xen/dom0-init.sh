#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# /init of the test bed's dom0 (tests/xen/testbed.sh): bring up what the
# Xen tools need, as Debian's /etc/init.d/xen would, then run the tests (or
# a shell) and power off, which ends QEMU.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
xenbin=/usr/lib/xen-4.17/bin

say() { echo "migphase-xen-test: $*"; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /run/xen /run/xenstored /var/lib/xen /var/log/xen/console /var/lib/migphase
# The name in the certificate the helpers sign cookies with (testbed.sh
# writes both): signers are known by their host names.
read -r name </etc/hostname
hostname "$name"
# Migrations to localhost need the loopback interface (minbase has no ip).
/opt/mpt/busybox ip link set lo up

for m in xenfs xen-evtchn xen-gntdev xen-gntalloc xen-privcmd; do
    modprobe "$m" || say "modprobe $m failed"
done
mount -t xenfs xenfs /proc/xen
if ! grep -q control_d /proc/xen/capabilities 2>/dev/null; then
    say "not a Xen dom0"
    echo "MIGPHASE-XEN-VERDICT: 0 passed, 1 failed"
    /opt/mpt/busybox poweroff -f
fi
"$xenbin/xenstored" --pid-file /run/xenstore.pid
"$xenbin/xen-init-dom0"
# Guests' consoles go to files, where the tests read their heartbeats.
"$xenbin/xenconsoled" --pid-file /run/xenconsoled.pid --log=guest \
    --log-dir=/var/log/xen/console

if [ "$(cat /opt/mpt/mode)" = shell ]; then
    say "dom0 is up: tests in /opt/mpt/dom0-tests.sh, helpers in /opt/migphase"
    setsid sh -c 'exec sh </dev/hvc0 >/dev/hvc0 2>&1'
else
    sh /opt/mpt/dom0-tests.sh
fi
sync
/opt/mpt/busybox poweroff -f
