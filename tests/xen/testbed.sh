#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# A real Xen to test the Xen driver on: the Debian hypervisor booted under
# QEMU (TCG, with nested SVM and NPT so that PVH guests run), a Debian dom0
# in an initramfs holding the built helpers, and small guests whose init
# proves their memory survives a migration.
#
#   tests/xen/testbed.sh build    fetch and build the cached pieces only
#   tests/xen/testbed.sh run      build what is missing, boot, run the tests
#                                 in dom0 (tests/xen/dom0-tests.sh), print
#                                 the verdict; exit 0 passed, 1 failed,
#                                 77 skipped (no Debian archive, no QEMU)
#   tests/xen/testbed.sh shell    boot to a dom0 shell on this terminal
#
# Everything comes from Debian's archive, through apt and debootstrap, and is
# cached under $MIGPHASE_XEN_CACHE (default /var/cache/migphase-xen): a
# second run only boots. dom0 signs and verifies every cookie, with a lab
# PKI that each run makes anew (tools/migphase-pki: certtool, gnutls-bin)
# and puts in dom0's /etc/pki/qemu. Environment:
#   MIGPHASE_XEN_CACHE   cache directory
#   MIGPHASE_XEN_MIRROR  Debian mirror for debootstrap (default: apt's own)
#   MIGPHASE_XEN_TIMEOUT seconds the whole boot may take (default 900)
#   top_builddir         build tree holding the helpers (default: ./)
#   top_srcdir           source tree (default: this script's ../..)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/xen/serial-log.sh
. "$here/serial-log.sh"
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
cache=${MIGPHASE_XEN_CACHE:-/var/cache/migphase-xen}
timeout=${MIGPHASE_XEN_TIMEOUT:-900}
suite=bookworm
xen_pkg=xen-hypervisor-4.17-amd64
# Xen's packages, the libraries the helpers link, and kmod for the modules.
# dom0's root is rebuilt when this list changes.
dom0_pkgs=xen-utils-4.17,xenstore-utils,kmod,libxml2,libjson-c5,libcap-ng0,libgnutls30
# The whole cache is rebuilt when this changes.
cache_format=1
# dom0's host name, which dom0-init.sh sets from the overlay's /etc/hostname:
# the name in the certificate its helpers sign cookies with.
dom0_host=dom0

log() { printf 'testbed: %s\n' "$*" >&2; }
die() {
    log "$*"
    exit 1
}
skip() {
    log "SKIP: $*"
    exit 77
}
now() { date +%s; }

# ---- fetching -------------------------------------------------------------

# The mirror apt uses for Debian itself (deb822 or one-line sources).
debian_mirror() {
    if [ -n "${MIGPHASE_XEN_MIRROR:-}" ]; then
        echo "$MIGPHASE_XEN_MIRROR"
        return
    fi
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' "$f"
    done | head -n 1 | grep . && return
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk '$1 == "deb" && $0 ~ / bookworm / && $0 !~ /security/ {
            for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:/) { print $i; exit } }' "$f"
    done | head -n 1 | grep . && return
    echo http://deb.debian.org/debian
}

# The versioned kernel package behind linux-image-amd64.
kernel_package() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n 1
}

fetch_debs() {
    mkdir -p "$cache/debs"
    [ -f "$cache/debs/.done" ] && return 0
    kernel=$(kernel_package)
    if [ -z "$kernel" ]; then
        apt-get update -q >&2 || skip "apt-get update failed: the Debian archive is unreachable"
        kernel=$(kernel_package)
    fi
    [ -n "$kernel" ] || skip "apt knows no linux-image-amd64"
    log "downloading $xen_pkg $kernel busybox-static"
    # apt's sandbox user cannot write to a root-only cache: download as root.
    (cd "$cache/debs" && apt-get download -q -o APT::Sandbox::User=root \
        "$xen_pkg" "$kernel" busybox-static >&2) ||
        skip "apt-get download failed: the Debian archive is unreachable"
    touch "$cache/debs/.done"
}

# ---- the pieces -----------------------------------------------------------

# The hypervisor, gunzipped: QEMU's multiboot loader takes no gzip.
build_hypervisor() {
    [ -f "$cache/xen" ] && return 0
    tmp=$(mktemp -d "$cache/xen.XXXXXX")
    dpkg-deb -x "$cache"/debs/"$xen_pkg"_*.deb "$tmp"
    gzip -dc "$tmp"/boot/xen-*-amd64.gz >"$cache/xen.new"
    rm -rf "$tmp"
    mv "$cache/xen.new" "$cache/xen"
}

# The kernel (dom0 and guests) and its Xen modules, without the thousands
# of other modules.
build_kernel() {
    [ -f "$cache/vmlinuz" ] && [ -f "$cache/vmlinux" ] && [ -d "$cache/modules" ] && return 0
    rm -rf "$cache/kernel.tmp"
    mkdir -p "$cache/kernel.tmp"
    dpkg-deb --fsys-tarfile "$cache"/debs/linux-image-*.deb |
        tar -x -C "$cache/kernel.tmp" --wildcards './boot/vmlinuz-*' \
            './lib/modules/*/kernel/drivers/xen/*' './lib/modules/*/modules.builtin*' \
            './lib/modules/*/modules.order'
    cp "$cache"/kernel.tmp/boot/vmlinuz-* "$cache/vmlinuz.new"
    rm -rf "$cache/modules"
    mv "$cache/kernel.tmp/lib/modules" "$cache/modules"
    rm -rf "$cache/kernel.tmp"
    unpack_kernel "$cache/vmlinuz.new" "$cache/vmlinux"
    mv "$cache/vmlinuz.new" "$cache/vmlinuz"
}

# The guests boot the ELF kernel inside the bzImage: libxc would otherwise
# unpack it (xz) in dom0 for every domain it builds, which takes most of a
# minute under TCG. The payload's place is in the bzImage header: the
# setup sectors at 0x1f1, the payload offset at 0x248.
unpack_kernel() { # BZIMAGE ELF
    setup=$(od -An -tu1 -j 497 -N 1 "$1" | tr -d ' ')
    offset=$(od -An -tu4 -j 584 -N 4 "$1" | tr -d ' ')
    payload=$(((setup + 1) * 512 + offset))
    tail -c +$((payload + 1)) "$1" | xz -dc --single-stream >"$2.new" ||
        die "cannot unpack the kernel's payload (not xz?)"
    [ "$(head -c 4 "$2.new" | od -An -c | tr -d ' ')" = '177ELF' ] ||
        die "the kernel's payload is not an ELF image"
    mv "$2.new" "$2"
}

build_busybox() {
    [ -x "$cache/busybox" ] && return 0
    tmp=$(mktemp -d "$cache/busybox.XXXXXX")
    dpkg-deb -x "$cache"/debs/busybox-static_*.deb "$tmp"
    cp "$tmp/bin/busybox" "$cache/busybox"
    rm -rf "$tmp"
}

# dom0's root: a minimal Debian with Xen's tools, packed once as a cpio
# archive. Per run, a second archive with the helpers is appended to it (the
# kernel unpacks concatenated archives in turn). It holds no keys: those
# come with each run's overlay.
build_dom0_base() {
    want="$suite $dom0_pkgs"
    [ -f "$cache/dom0-base.cpio" ] && [ "$(cat "$cache/dom0-base.key" 2>/dev/null)" = "$want" ] &&
        return 0
    root=$cache/dom0-root
    if [ "$(cat "$root/.debootstrapped" 2>/dev/null)" != "$want" ]; then
        command -v debootstrap >/dev/null || skip "debootstrap is not installed"
        rm -rf "$root"
        mirror=$(debian_mirror)
        log "debootstrap $suite from $mirror (minbase + $dom0_pkgs)"
        if ! debootstrap --variant=minbase --include="$dom0_pkgs" "$suite" "$root" "$mirror" \
            >"$cache/debootstrap.log" 2>&1; then
            tail -n 5 "$cache/debootstrap.log" >&2
            if grep -q -i -e 'Failed getting release' -e 'Couldn.t download' \
                -e 'Temporary failure' "$cache/debootstrap.log"; then
                skip "debootstrap could not reach $mirror"
            fi
            die "debootstrap failed (see $cache/debootstrap.log)"
        fi
        echo "$want" >"$root/.debootstrapped"
    fi
    # What a RAM root never needs: apt's caches and lists, documentation.
    rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/usr/share/doc \
        "$root"/usr/share/man "$root"/usr/share/info "$root"/usr/share/locale \
        "$root"/usr/share/i18n "$root"/usr/share/zoneinfo
    version=$(ls "$cache/modules")
    mkdir -p "$root/lib/modules"
    cp -a "$cache/modules/$version" "$root/lib/modules/"
    chroot "$root" /sbin/depmod "$version"
    (cd "$root" && find . -xdev ! -name .debootstrapped | cpio -o -H newc --quiet) \
        >"$cache/dom0-base.cpio.new"
    mv "$cache/dom0-base.cpio.new" "$cache/dom0-base.cpio"
    echo "$want" >"$cache/dom0-base.key"
    rm -rf "$root"
}

build_cache() {
    command -v cpio >/dev/null || die "cpio is not installed"
    mkdir -p "$cache"
    if [ "$(cat "$cache/format" 2>/dev/null)" != "$cache_format" ]; then
        rm -rf "${cache:?}"/*
        echo "$cache_format" >"$cache/format"
    fi
    start=$(now)
    fetch_debs
    build_hypervisor
    build_kernel
    build_busybox
    build_dom0_base
    log "cache ready in $(($(now) - start)) s: $cache"
}

# ---- per run --------------------------------------------------------------

# A cpio archive of a directory, owned by root.
pack() { # DIR
    (cd "$1" && find . | cpio -o -H newc -R 0:0 --quiet)
}

# The guest's initramfs: busybox and an init that prints a heartbeat.
build_guest() { # DIR
    g=$1/guest
    mkdir -p "$g/bin" "$g/proc" "$g/dev" "$g/sys"
    cp "$cache/busybox" "$g/bin/busybox"
    ln -s busybox "$g/bin/sh"
    install -m 0755 "$top_srcdir/tests/xen/guest-init.sh" "$g/init"
    pack "$g" | gzip -1 >"$1/guest.cpio.gz"
}

# dom0's identity: a lab PKI (tools/migphase-pki) made afresh every run
# and never cached, so that no cached image can lack keys or carry stale
# ones. Only dom0's directory goes into dom0, not the CA's key.
build_pki() { # DIR
    command -v certtool >/dev/null ||
        skip "certtool (gnutls-bin) is not installed: dom0 needs a PKI to sign cookies"
    if ! sh "$top_srcdir/tools/migphase-pki" create "$1/pki" "$dom0_host" >"$1/pki.log" 2>&1; then
        cat "$1/pki.log" >&2
        die "migphase-pki could not make dom0's PKI"
    fi
    # A CA dom0 does not trust, with a certificate for dom0's very name: the
    # tests' sender that the receiver must turn away.
    if ! sh "$top_srcdir/tools/migphase-pki" create "$1/other-ca" "$dom0_host" >>"$1/pki.log" 2>&1; then
        cat "$1/pki.log" >&2
        die "migphase-pki could not make the other CA"
    fi
}

# What changes every run: the helpers, the tests, the guest, the PKI.
build_overlay() { # DIR MODE
    o=$1/overlay
    mkdir -p "$o/opt/migphase" "$o/opt/mpt"
    # The helpers' default pki-dir, and the host name its certificate has.
    mkdir -p "$o/etc/pki/qemu"
    chmod 0755 "$o/etc" "$o/etc/pki" "$o/etc/pki/qemu"
    cp -p "$1/pki/$dom0_host"/*.pem "$o/etc/pki/qemu/"
    # The foreign sender's pki-dir: dom0's own files (its cookies are
    # signed and verified as usual) but the other CA's client certificate.
    mkdir -p "$o/opt/mpt/foreign-pki"
    chmod 0700 "$o/opt/mpt/foreign-pki"
    cp -p "$1/pki/$dom0_host"/*.pem "$o/opt/mpt/foreign-pki/"
    cp -p "$1/other-ca/$dom0_host/client-cert.pem" "$1/other-ca/$dom0_host/client-key.pem" \
        "$o/opt/mpt/foreign-pki/"
    echo "$dom0_host" >"$o/etc/hostname"
    chmod 0644 "$o/etc/hostname"
    for h in begin prepare perform finish confirm status migrate; do
        [ -x "$top_builddir/helpers/migphase-$h" ] ||
            die "no $top_builddir/helpers/migphase-$h: build migphase first"
        cp "$top_builddir/helpers/migphase-$h" "$o/opt/migphase/"
    done
    [ -x "$top_builddir/xen/migphase-xen-receiver" ] ||
        die "no Xen driver in $top_builddir (configure found no xenlight?)"
    # The helpers load the driver module from beside themselves.
    cp "$top_builddir/xen/migphase-xen-receiver" "$top_builddir/xen/migphase-driver-xen.so" \
        "$o/opt/migphase/"
    cp "$top_builddir/tests/xen/xen-dirty-tracking" "$o/opt/mpt/"
    install -m 0755 "$top_srcdir/tests/xen/dom0-init.sh" "$o/init"
    install -m 0755 "$top_srcdir/tests/xen/dom0-tests.sh" "$o/opt/mpt/dom0-tests.sh"
    cp "$cache/vmlinux" "$o/opt/mpt/vmlinux"
    cp "$1/guest.cpio.gz" "$o/opt/mpt/guest.cpio.gz"
    cp "$cache/busybox" "$o/opt/mpt/busybox"
    echo "$2" >"$o/opt/mpt/mode"
    pack "$o" >"$1/overlay.cpio"
    cat "$cache/dom0-base.cpio" "$1/overlay.cpio" >"$1/dom0.cpio"
}

# QEMU's multiboot: Xen is the kernel, dom0's kernel and root its modules.
# Inside -initrd a comma separates modules, so one in an argument is ",,".
boot() { # DIR QEMU-ARGS...
    dir=$1
    shift
    xen_args="console=com1 com1=115200,8n1 dom0_mem=1536M,max:1536M dom0_max_vcpus=2"
    xen_args="$xen_args loglvl=warning guest_loglvl=warning"
    dom0_args="console=hvc0 earlyprintk=xen rdinit=/init quiet loglevel=4"
    log "booting Xen (TCG)"
    nice -n 10 qemu-system-x86_64 -accel tcg -cpu qemu64,+svm,+npt -m 3072 -smp 2 -no-reboot \
        -display none -vga none -nodefaults -kernel "$cache/xen" -append "$xen_args" \
        -initrd "$cache/vmlinuz $dom0_args,$dir/dom0.cpio" "$@"
}

# One boot: dom0 runs the tests and powers off; QEMU exits with it. Prints
# the tests' lines and sets $verdict ("N passed, N failed"; empty if dom0
# never gave one).
boot_and_test() { # DIR SERIAL
    start=$(now)
    boot "$1" -serial "file:$2" &
    qemu=$!
    # Bound the wait in case dom0 never powers off.
    waited=0
    while kill -0 "$qemu" 2>/dev/null; do
        if [ "$waited" -ge "$timeout" ]; then
            kill "$qemu" 2>/dev/null || true
            log "no verdict within $timeout s"
            break
        fi
        sleep 1
        waited=$((waited + 1))
    done
    wait "$qemu" || true
    tr -d '\r' <"$2" | sed -n '/^migphase-xen-test: /s/^migphase-xen-test: //p'
    log "boot and tests took $(($(now) - start)) s"
    if [ -n "${MIGPHASE_XEN_KEEP_LOG:-}" ]; then
        cp "$2" "$MIGPHASE_XEN_KEEP_LOG"
    fi
    verdict=$(tr -d '\r' <"$2" | sed -n 's/^MIGPHASE-XEN-VERDICT: //p' | tail -n 1)
}

# The emulator's fault (emulator_fault) spoils a run now and then, whatever
# the tests do: such a run is run again, once, from a fresh boot, and only
# the second verdict counts. Any other failure, or the same fault twice,
# fails.
run_tests() {
    command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed"
    command -v cpio >/dev/null || skip "cpio is not installed"
    build_cache
    work=$(mktemp -d "${TMPDIR:-/tmp}/migphase-xen.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    build_guest "$work"
    build_pki "$work"
    build_overlay "$work" test
    for run in 1 2; do
        serial=$work/serial.$run.log
        boot_and_test "$work" "$serial"
        if [ -z "$verdict" ]; then
            log "no verdict: the serial console follows"
            tr -d '\r' <"$serial" | tail -n 60 >&2
            exit 1
        fi
        case "$verdict" in
        *" 0 failed"*)
            echo "xen: $verdict"
            exit 0
            ;;
        esac
        triple_fault_dumps "$serial" >&2
        if [ "$run" -eq 1 ] && emulator_fault "$serial"; then
            log "run 1: $verdict; the dump above shows Xen's own registers as a guest's:"
            log "QEMU's emulation of SVM failed, not a test. Booting again, once."
            continue
        fi
        echo "xen: $verdict"
        exit 1
    done
}

run_shell() {
    build_cache
    work=$(mktemp -d "${TMPDIR:-/tmp}/migphase-xen.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    build_guest "$work"
    build_pki "$work"
    build_overlay "$work" shell
    log "dom0 shell on this terminal; '/opt/mpt/busybox poweroff -f' ends it"
    boot "$work" -serial mon:stdio
}

[ "$(id -u)" -eq 0 ] || skip "building the test bed needs root (debootstrap)"
case "${1:-run}" in
build) build_cache ;;
run) run_tests ;;
shell) run_shell ;;
*)
    echo "usage: $0 build|run|shell" >&2
    exit 2
    ;;
esac
