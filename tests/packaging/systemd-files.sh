#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The systemd files that make built:
#   - systemd-analyze verify accepts the unit; its ExecStart is migphase-status
#     in $(bindir) (pointed at the build tree for the check) and its
#     Documentation= page exists (MANPATH is pointed at the built pages);
#   - systemd-tmpfiles creates the state and runtime directories with mode
#     0700, and keeps the owner a site gave them;
#   - systemd-sysusers creates the migphase user, with no login shell.
set -eu
: "${top_builddir:?}" "${inst_bindir:?}"

unit=$top_builddir/systemd/migphase-recover.service
tmpfiles=$top_builddir/systemd/tmpfiles.d/migphase.conf
sysusers=$top_builddir/systemd/sysusers.d/migphase.conf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
failed() {
    echo "FAIL: $*"
    fail=1
}
ran=0

grep -qx "ExecStart=$inst_bindir/migphase-status --recover" "$unit" ||
    failed "the unit does not run $inst_bindir/migphase-status --recover"
grep -q '^WantedBy=multi-user.target$' "$unit" || failed "the unit is not wanted at boot"

if command -v systemd-analyze >/dev/null 2>&1; then
    ran=$((ran + 1))
    mkdir -p "$tmp/unit" "$tmp/man/man8"
    sed -e "s|^ExecStart=$inst_bindir/|ExecStart=$(cd "$top_builddir" && pwd)/helpers/|" \
        "$unit" > "$tmp/unit/migphase-recover.service"
    cp "$top_builddir/docs/man/migphase-status.8" "$tmp/man/man8/"
    check_man=yes
    if ! command -v man >/dev/null 2>&1; then
        echo "note: man is not installed, the unit's Documentation= is not checked"
        check_man=no
    fi
    if ! out=$(MANPATH=$tmp/man systemd-analyze verify --man=$check_man \
        "$tmp/unit/migphase-recover.service" 2>&1) || [ -n "$out" ]; then
        failed "systemd-analyze verify migphase-recover.service:
$out"
    fi
else
    echo "note: systemd-analyze is not installed, the unit is not verified"
fi

if command -v systemd-tmpfiles >/dev/null 2>&1; then
    ran=$((ran + 1))
    root=$tmp/tmpfiles-root
    mkdir -p "$root"
    systemd-tmpfiles --root="$root" --create "$tmpfiles" ||
        failed "systemd-tmpfiles --create refuses $tmpfiles"
    dirs=$(sed -n -e 's/^d \([^ ]*\) .*/\1/p' "$tmpfiles")
    for d in $dirs; do
        mode=$(stat -c %a "$root$d" 2>/dev/null || echo missing)
        [ "$mode" = 700 ] || failed "$d: mode $mode, not 700"
    done
    case "$dirs" in
    *"/lib/migphase"*) ;;
    *) failed "tmpfiles.d does not create the state directory" ;;
    esac
    case "$dirs" in
    *"/run/migphase"*) ;;
    *) failed "tmpfiles.d does not create the runtime directory" ;;
    esac
    # A site that runs the steps as another user hands the directory over;
    # the next boot must not take it back.
    if [ "$(id -u)" = 0 ]; then
        state=$(echo "$dirs" | grep '/lib/migphase$')
        chown 12345:12345 "$root$state"
        chmod 0755 "$root$state"
        systemd-tmpfiles --root="$root" --create "$tmpfiles"
        [ "$(stat -c '%u:%g %a' "$root$state")" = "12345:12345 700" ] ||
            failed "tmpfiles.d resets the owner of $state, or not its mode: $(stat -c '%u:%g %a' "$root$state")"
    fi
else
    echo "note: systemd-tmpfiles is not installed, tmpfiles.d is not checked"
fi

if command -v systemd-sysusers >/dev/null 2>&1; then
    ran=$((ran + 1))
    root=$tmp/sysusers-root
    mkdir -p "$root/etc"
    systemd-sysusers --root="$root" "$sysusers" >/dev/null 2>&1 ||
        failed "systemd-sysusers refuses $sysusers"
    entry=$(grep '^migphase:' "$root/etc/passwd" || :)
    case "$entry" in
    "") failed "sysusers.d creates no migphase user" ;;
    *:/usr/sbin/nologin | *:/sbin/nologin) ;;
    *) failed "the migphase user can log in: $entry" ;;
    esac
else
    echo "note: systemd-sysusers is not installed, sysusers.d is not checked"
fi

if [ "$ran" = 0 ]; then
    echo "SKIP: no systemd tool installed"
    exit 77
fi
[ "$fail" = 0 ] && echo "PASS: unit, tmpfiles.d and sysusers.d ($ran of 3 tools)"
exit "$fail"
