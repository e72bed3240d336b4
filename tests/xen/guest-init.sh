#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# /init of the test guest (busybox): keep a block of random bytes in RAM and
# its checksum, and print a heartbeat every second with a counter and
# whether the block still matches. The same boot id with a counter that goes
# on after a migration means the guest kept running from the same memory;
# "ok" means that memory arrived intact.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t devtmpfs devtmpfs /dev
exec >/dev/hvc0 2>&1

# The root is an initramfs: this 2 MiB file lives in the guest's RAM.
dd if=/dev/urandom of=/block bs=1M count=2 2>/dev/null
# shellcheck disable=SC2046 # md5sum's first word is the sum
set -- $(md5sum /block)
sum=$1
read -r boot </proc/sys/kernel/random/boot_id
boot=${boot%%-*}
echo "guest up: boot $boot block $sum"
n=0
# Few processes per beat: every one is slow under nested TCG.
while :; do
    n=$((n + 1))
    # shellcheck disable=SC2046
    set -- $(md5sum /block)
    if [ "$1" = "$sum" ]; then state=ok; else state=BAD; fi
    echo "heartbeat $boot $n $state"
    sleep 1
done
