# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# Shared by the hook tests: the integration library (guest, helpers, cleanup)
# plus writing hook directories. Sourced, not run.
# shellcheck source=tests/integration/lib.sh disable=SC2154
. "$top_srcdir/tests/integration/lib.sh"

# hk_script FILE: print the path of a copy of the shipped script FILE, mode
# 0755 whatever the source tree gives it: a tarball (git archive) may leave it
# not executable, or group-writable, which the helpers refuse in a hook.
# Copied once, under $MP_TMP/scripts.
hk_script() {
    local copy="$MP_TMP/scripts/${1##*/}"
    if [ ! -e "$copy" ]; then
        mkdir -p "$MP_TMP/scripts"
        install -m 0755 "$1" "$copy"
    fi
    echo "$copy"
}

# hk_example NAME: hk_script of the example hook NAME (hooks/examples).
hk_example() {
    hk_script "$top_srcdir/hooks/examples/$1"
}

# hk_hook DIR STEP NAME BODY: an executable shell hook DIR/STEP.d/NAME.
hk_hook() {
    local dir=$1 step=$2 name=$3 body=$4
    mkdir -p "$dir/$step.d"
    printf '#!/bin/sh\n%s\n' "$body" >"$dir/$step.d/$name"
    chmod 755 "$dir/$step.d/$name"
}

# hk_link DIR STEP NAME TARGET: install TARGET as a hook the way the docs say,
# a symbolic link in DIR/STEP.d.
hk_link() {
    mkdir -p "$1/$2.d"
    ln -sf "$4" "$1/$2.d/$3"
}

# hk_feature DIR NAME: declare that DIR's hooks understand feature NAME.
hk_feature() {
    mkdir -p "$1/features.d"
    : >"$1/features.d/$2"
}

# hk_step LOG HELPER ARGS...: run a helper, its stderr in $MP_TMP/LOG.err and
# its exit status in $rc; say what happened.
hk_step() {
    local log=$1
    shift
    rc=0
    "$@" 2>"$MP_TMP/$log.err" || rc=$?
    echo "$log: exit $rc $(head -c 400 "$MP_TMP/$log.err")"
}

# hk_extension FILE NAME: the content of extension NAME in cookie FILE (the
# cookie writer puts each extension on one line).
hk_extension() {
    sed -n "s|^ *<extension name=\"$2\"[^>]*>\\(.*\\)</extension>\$|\\1|p" "$1"
}

# hk_private_etc: from here on this process (re-executed in a private mount
# namespace, see hk_private_mounts) sees an /etc of its own, a copy-on-write
# layer over the real one, so that a test can install adapters and
# configuration where the management tools look for them.
hk_private_etc() {
    mkdir -p "$MP_TMP/etc-upper" "$MP_TMP/etc-work"
    mount -t overlay overlay \
        -o "lowerdir=/etc,upperdir=$MP_TMP/etc-upper,workdir=$MP_TMP/etc-work" /etc ||
        mp_skip "cannot mount an overlay on /etc here"
    # Unmount before the test directory goes; keep the exit status for mp_cleanup.
    trap 'hk_status=$?; set +e; umount -l /etc 2>/dev/null; (exit "$hk_status"); mp_cleanup' EXIT
}

# hk_private_mounts "$@": re-run the calling test in a mount namespace of its
# own (needs root), once.
hk_private_mounts() {
    [ "${HK_PRIVATE_MOUNTS:-}" != yes ] || return 0
    mp_require_root
    unshare --mount --propagation private true 2>/dev/null ||
        mp_skip "cannot make a private mount namespace here"
    HK_PRIVATE_MOUNTS=yes exec unshare --mount --propagation private "$BASH" "$0" "$@"
}

# hk_private_run: like hk_private_etc, for /run: a copy-on-write layer where
# a test can write the files a daemon would keep there (libvirt's status
# files under /run/libvirt), seen by this process and its children only.
hk_private_run() {
    mkdir -p "$MP_TMP/run-upper" "$MP_TMP/run-work"
    mount -t overlay overlay \
        -o "lowerdir=/run,upperdir=$MP_TMP/run-upper,workdir=$MP_TMP/run-work" /run ||
        mp_skip "cannot mount an overlay on /run here"
}

# hk_libvirt_status NAME ASYNC [STATE REASON]: write libvirt's status file
# of domain NAME (/run/libvirt/qemu/NAME.xml, what the adapter reads at
# "started" and "stopped") with its current async job ASYNC ("migration in",
# "none") and its state (default: paused for the migration, as libvirt keeps
# an incoming VM), or remove it when ASYNC is empty. Needs hk_private_run.
hk_libvirt_status() {
    mkdir -p /run/libvirt/qemu
    if [ -z "$2" ]; then
        rm -f "/run/libvirt/qemu/$1.xml"
        return
    fi
    printf '%s\n' "<domstatus state='${3:-paused}' reason='${4:-migration}' pid='1'>" \
        "  <job type='none' async='$2' phase='prepare' flags='0x1'/>" \
        "  <domain type='qemu'><name>x</name><devices><graphics type='vnc' passwd='s3cr3t'/></devices></domain>" \
        "</domstatus>" >"/run/libvirt/qemu/$1.xml"
}
