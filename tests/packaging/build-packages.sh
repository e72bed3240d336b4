#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Build the Debian and RPM packages from a release tarball, check them, and
# install the .deb into a fresh debootstrap root. Run by CI as root; too
# heavy for make check.
#
#   tests/packaging/build-packages.sh [WORKDIR]
#
# 1. configure and make dist (the release tarball, as a distribution gets it);
# 2. dpkg-buildpackage -us -uc -b on the unpacked tarball plus debian/, then
#    lintian, which must report no error. Where Debian has Xen (amd64, arm64,
#    armhf) the Xen driver (a module) and its receiver are in migphase-xen,
#    and migphase must not depend on any Xen library;
# 3. rpmbuild -bb migphase.spec on the same tarball (--nodeps: Debian's rpm
#    has no database of the build dependencies; Fedora's systemd and docdir
#    macros come from tests/packaging/rpm-macros.fedora), then the RPM's
#    scriptlets, config files and modes, and an install into an empty root;
#    where the spec builds Xen (x86_64, aarch64), the same split into
#    migphase and migphase-xen;
# 4. debootstrap --variant=minbase of this machine's release, apt-get install
#    ./migphase_*.deb there (which must pull the dependencies), then the
#    installed programs, user, directories and unit; where there is a
#    migphase-xen, --driver xen must fail cleanly without it, and load once
#    apt-get install ./migphase-xen_*.deb has pulled the Xen libraries; then
#    apt-get purge.
#
# Nothing setuid or setgid may be in either package. Every step's time is
# printed; the last line counts the checks. Nothing is cached between runs.
# MIGPHASE_PKG_CHECK=yes also runs make check inside both package builds
# (CI runs the test suite in a stage of its own). KEEP=yes keeps WORKDIR.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-}
if [ -z "$work" ]; then
    work=$(mktemp -d /tmp/migphase-packages.XXXXXX)
fi
mkdir -p "$work"
work=$(cd "$work" && pwd)
run_check=${MIGPHASE_PKG_CHECK:-no}

if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: building and installing packages into a debootstrap root needs root"
    exit 77
fi

passed=0
failed=0
pass() {
    passed=$((passed + 1))
    echo "ok: $*"
}
fail() {
    failed=$((failed + 1))
    echo "FAIL: $*"
}
check() {
    # check DESCRIPTION COMMAND...: the command must succeed.
    what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

started=$(date +%s)
step_start=$started
step() {
    now=$(date +%s)
    [ -z "${step_name:-}" ] || echo "=== $step_name: $((now - step_start)) s"
    step_name=$1
    step_start=$now
    [ "$step_name" = end ] || echo "=== $step_name"
}

root=$work/debootstrap
cleanup() {
    if mountpoint -q "$root/proc" 2>/dev/null; then umount "$root/proc" || :; fi
    if [ "${KEEP:-no}" != yes ]; then rm -rf "$work"; else echo "kept $work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------
step "tools and build dependencies"
export DEBIAN_FRONTEND=noninteractive
tools="build-essential autoconf automake pkg-config dpkg-dev debhelper lintian rpm debootstrap"
missing=""
for p in $tools; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing
fi
profiles=""
[ "$run_check" = yes ] || profiles="-P nocheck"
# The package's own Build-Depends, read from debian/control.
# shellcheck disable=SC2086
apt-get build-dep -y -q $profiles "$top" > "$work/build-dep.log" 2>&1 || {
    cat "$work/build-dep.log"
    exit 1
}

# ---------------------------------------------------------------------------
step "release tarball (make dist)"
[ -x "$top/configure" ] || (cd "$top" && ./autogen.sh)
mkdir -p "$work/dist"
(cd "$work/dist" && "$top/configure" --with-xen=no > configure.log && make dist > dist.log) || {
    tail -n 30 "$work/dist/configure.log" "$work/dist/dist.log" 2>/dev/null
    exit 1
}
tarball=$(ls "$work"/dist/migphase-*.tar.gz)
version=$(basename "$tarball" .tar.gz)
version=${version#migphase-}
echo "$tarball"

# ---------------------------------------------------------------------------
step "Debian package (dpkg-buildpackage -b)"
deb=$work/deb
mkdir -p "$deb"
cp "$tarball" "$deb/migphase_$version.orig.tar.gz"
tar -xzf "$tarball" -C "$deb"
cp -a "$top/debian" "$deb/migphase-$version/"
deb_opts="parallel=$(nproc)"
[ "$run_check" = yes ] || deb_opts="$deb_opts nocheck"
if (cd "$deb/migphase-$version" &&
    DEB_BUILD_OPTIONS=$deb_opts nice -n 10 dpkg-buildpackage -us -uc -b > "$deb/build.log" 2>&1); then
    pass "dpkg-buildpackage -us -uc -b"
else
    tail -n 40 "$deb/build.log"
    fail "dpkg-buildpackage -us -uc -b"
    exit 1
fi
# The .debs by their exact names: migphase_VERSION_ARCH.deb, and where the
# Xen driver is built, migphase-xen_VERSION_ARCH.deb.
deb_version=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
deb_version=${deb_version#*:}
host_arch=$(dpkg-architecture -q DEB_HOST_ARCH)
multiarch=$(dpkg-architecture -q DEB_HOST_MULTIARCH)
case $host_arch in
amd64 | arm64 | armhf) deb_xen=yes ;;
*) deb_xen=no ;;
esac
ls -l "$deb"/*.deb
debfile=$deb/migphase_${deb_version}_$host_arch.deb
xendeb=$deb/migphase-xen_${deb_version}_$host_arch.deb
if [ -f "$debfile" ]; then pass "built $(basename "$debfile")"; else
    fail "no $(basename "$debfile")"
    exit 1
fi
if [ "$deb_xen" = yes ]; then
    if [ -f "$xendeb" ]; then pass "built $(basename "$xendeb") on $host_arch"; else
        fail "no $(basename "$xendeb") on $host_arch"
        exit 1
    fi
elif [ -e "$xendeb" ]; then
    fail "$(basename "$xendeb") built on $host_arch, where Debian has no Xen"
fi

step "lintian"
# Its temporary files (MLDBM caches it leaves behind) go to the work
# directory, which is removed at exit, not to /tmp. Only lintian's: the
# commands run in the debootstrap root must not inherit a TMPDIR that does
# not exist there.
mkdir -p "$work/lintian-tmp"
TMPDIR=$work/lintian-tmp lintian --fail-on error --display-info "$deb"/migphase_*.changes > "$deb/lintian.log" 2>&1 &&
    lintian_ok=yes || lintian_ok=no
cat "$deb/lintian.log"
if [ "$lintian_ok" = yes ]; then pass "lintian: no error"; else fail "lintian reports errors"; fi

# Modes in the data archive: nothing setuid or setgid.
privileged=$(dpkg-deb --fsys-tarfile "$debfile" | tar -tvf - | awk '$1 ~ /[sS]/')
if [ -z "$privileged" ]; then pass "no setuid or setgid file in the .deb"; else
    fail "setuid or setgid files in the .deb: $privileged"
fi
contents=$(dpkg-deb -c "$debfile")
for f in ./usr/libexec/migphase/migphase-begin ./usr/bin/migphase-status \
    ./usr/bin/migphase-migrate ./usr/bin/migphase-pki ./usr/share/man/man1/migphase-pki.1.gz \
    ./usr/share/migphase/cookie.rng ./etc/migphase/migphase.conf \
    ./etc/migphase/hooks/confirm.d/ ./lib/systemd/system/migphase-recover.service \
    ./usr/lib/tmpfiles.d/migphase.conf ./usr/lib/sysusers.d/migphase.conf \
    ./usr/share/man/man8/migphase-begin.8.gz ./usr/share/man/man5/migphase.conf.5.gz \
    ./usr/share/doc/migphase/hvsupport.html; do
    if echo "$contents" | grep -q " $f\$"; then pass ".deb has $f"; else fail ".deb lacks $f"; fi
done
depends=$(dpkg-deb -f "$debfile" Depends)
echo "Depends: $depends"
case "$depends" in
*libxml2*) pass ".deb depends on libxml2" ;;
*) fail ".deb does not depend on libxml2" ;;
esac
# The Xen driver is a module in migphase-xen: migphase itself loads no Xen
# library and has neither the module nor the receiver.
case "$depends" in
*libxen*) fail "migphase depends on a Xen library: $depends" ;;
*) pass "migphase depends on no Xen library" ;;
esac
xen_files="./usr/lib/$multiarch/migphase/drivers/migphase-driver-xen.so
./usr/libexec/migphase/migphase-xen-receiver"
for f in $xen_files; do
    if echo "$contents" | grep -q " $f\$"; then fail "migphase's .deb has $f"; else
        pass "migphase's .deb does not have $f"
    fi
done
if [ "$deb_xen" = yes ]; then
    xen_contents=$(dpkg-deb -c "$xendeb")
    for f in $xen_files; do
        if echo "$xen_contents" | grep -q " $f\$"; then pass "migphase-xen has $f"; else
            fail "migphase-xen lacks $f"
        fi
    done
    privileged=$(dpkg-deb --fsys-tarfile "$xendeb" | tar -tvf - | awk '$1 ~ /[sS]/')
    if [ -z "$privileged" ]; then pass "no setuid or setgid file in migphase-xen"; else
        fail "setuid or setgid files in migphase-xen: $privileged"
    fi
    xen_depends=$(dpkg-deb -f "$xendeb" Depends)
    echo "migphase-xen Depends: $xen_depends"
    case ", $xen_depends," in
    *", migphase (= $deb_version),"*) pass "migphase-xen depends on migphase (= $deb_version)" ;;
    *) fail "migphase-xen does not depend on migphase (= $deb_version)" ;;
    esac
    case "$xen_depends" in
    *libxen*) pass "migphase-xen depends on the Xen libraries" ;;
    *) fail "migphase-xen does not depend on any Xen library" ;;
    esac
fi
# The maintainer scripts enable the unit and never start it.
dpkg-deb -e "$debfile" "$deb/control"
if grep -q 'deb-systemd-invoke.*start' "$deb/control/postinst"; then
    fail "postinst starts the recovery unit"
else
    pass "postinst does not start the recovery unit"
fi

# ---------------------------------------------------------------------------
step "RPM package (rpmbuild -bb)"
rpmtop=$work/rpm
mkdir -p "$rpmtop/SOURCES"
cp "$tarball" "$rpmtop/SOURCES/"
rpm_check="--without check"
[ "$run_check" = yes ] && rpm_check="--with check"
# shellcheck disable=SC2086
if nice -n 10 rpmbuild --define "_topdir $rpmtop" --load "$top/tests/packaging/rpm-macros.fedora" \
    --nodeps $rpm_check -bb "$top/migphase.spec" > "$rpmtop/build.log" 2>&1; then
    pass "rpmbuild -bb migphase.spec"
else
    tail -n 40 "$rpmtop/build.log"
    fail "rpmbuild -bb migphase.spec"
    exit 1
fi
# The RPMs by their package names. The spec builds the Xen driver, in
# migphase-xen, on x86_64 and aarch64.
rpmfile=
rpmxen=
for f in "$rpmtop"/RPMS/*/*.rpm; do
    case $(rpm -qp --qf '%{NAME}' "$f") in
    migphase) rpmfile=$f ;;
    migphase-xen) rpmxen=$f ;;
    esac
done
ls -l "$rpmtop"/RPMS/*/
case $(rpm --eval '%{_target_cpu}') in
x86_64 | aarch64) rpm_xen=yes ;;
*) rpm_xen=no ;;
esac
if [ -n "$rpmfile" ]; then pass "built the migphase RPM: $(basename "$rpmfile")"; else
    fail "no migphase RPM"
    exit 1
fi
if [ "$rpm_xen" = yes ]; then
    if [ -n "$rpmxen" ]; then pass "built the migphase-xen RPM: $(basename "$rpmxen")"; else
        fail "no migphase-xen RPM"
        exit 1
    fi
elif [ -n "$rpmxen" ]; then
    fail "a migphase-xen RPM without Xen: $(basename "$rpmxen")"
fi
scripts=$(rpm -qp --scripts "$rpmfile")
echo "$scripts"
if echo "$scripts" | grep -q '%'; then fail "RPM scriptlets have unexpanded macros"; else
    pass "RPM scriptlets fully expanded"
fi
if echo "$scripts" | grep -q 'preset'; then pass "RPM %post applies the unit preset"; else
    fail "RPM %post does not apply the unit preset"
fi
if echo "$scripts" | grep -q 'restart'; then fail "RPM scriptlets restart the recovery unit"; else
    pass "RPM scriptlets never restart the recovery unit"
fi
flags=$(rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$rpmfile")
if echo "$flags" | grep -qx 'cn /etc/migphase/migphase.conf'; then
    pass "RPM: migphase.conf is %config(noreplace)"
else
    fail "RPM: migphase.conf is not %config(noreplace): $(echo "$flags" | grep migphase.conf)"
fi
modes=$(rpm -qp --qf '[%{FILEMODES:perms} %{FILENAMES}\n]' "$rpmfile")
privileged=$(echo "$modes" | awk '$1 ~ /[sS]/')
if [ -z "$privileged" ]; then pass "no setuid or setgid file in the RPM"; else
    fail "setuid or setgid files in the RPM: $privileged"
fi
echo "RPM requires:"
rpm -qp --requires "$rpmfile" | sed 's/^/  /'
if rpm -qp --requires "$rpmfile" | grep -q '^libxen'; then
    fail "the migphase RPM requires a Xen library"
else
    pass "the migphase RPM requires no Xen library"
fi
if rpm -qlp "$rpmfile" | grep -q -e '/migphase-driver-xen\.so$' -e '/migphase-xen-receiver$'; then
    fail "the migphase RPM has the Xen driver: $(rpm -qlp "$rpmfile" | grep xen)"
else
    pass "the migphase RPM does not have the Xen driver"
fi
if [ -n "$rpmxen" ]; then
    xen_list=$(rpm -qlp "$rpmxen")
    echo "migphase-xen RPM files:"
    echo "$xen_list" | sed 's/^/  /'
    xen_module=$(echo "$xen_list" | grep '/migphase/drivers/migphase-driver-xen\.so$' || :)
    if [ -n "$xen_module" ]; then pass "the migphase-xen RPM has $xen_module"; else
        fail "the migphase-xen RPM has no migphase/drivers/migphase-driver-xen.so"
    fi
    if echo "$xen_list" | grep -qx /usr/libexec/migphase/migphase-xen-receiver; then
        pass "the migphase-xen RPM has /usr/libexec/migphase/migphase-xen-receiver"
    else
        fail "the migphase-xen RPM has no /usr/libexec/migphase/migphase-xen-receiver"
    fi
    modes=$(rpm -qp --qf '[%{FILEMODES:perms} %{FILENAMES}\n]' "$rpmxen")
    privileged=$(echo "$modes" | awk '$1 ~ /[sS]/')
    if [ -z "$privileged" ]; then pass "no setuid or setgid file in the migphase-xen RPM"; else
        fail "setuid or setgid files in the migphase-xen RPM: $privileged"
    fi
    xen_requires=$(rpm -qp --requires "$rpmxen")
    echo "migphase-xen RPM requires:"
    echo "$xen_requires" | sed 's/^/  /'
    rpm_evr=$(rpm -qp --qf '%{VERSION}-%{RELEASE}' "$rpmfile")
    if echo "$xen_requires" | grep -q "^migphase(.*) = $rpm_evr\$"; then
        pass "the migphase-xen RPM requires migphase of its arch = $rpm_evr"
    else
        fail "the migphase-xen RPM does not require migphase%{?_isa} = $rpm_evr"
    fi
fi
# An install into an empty root: the payload unpacks, and rpm -V agrees with
# it. (Its dependencies are Fedora's, so --nodeps and no scriptlets here.)
rpmroot=$work/rpmroot
mkdir -p "$rpmroot"
check "rpm -i into an empty root" rpm --root "$rpmroot" --nodeps --noscripts -i "$rpmfile"
check "rpm -V of the installed RPM" rpm --root "$rpmroot" -V --nodeps migphase
check "installed RPM has its helpers" test -x "$rpmroot/usr/libexec/migphase/migphase-begin"
if [ -n "$rpmxen" ]; then
    check "rpm -i migphase-xen into the same root" \
        rpm --root "$rpmroot" --nodeps --noscripts -i "$rpmxen"
    check "rpm -V of the installed migphase-xen" rpm --root "$rpmroot" -V --nodeps migphase-xen
    check "installed migphase-xen has the module" test -f "$rpmroot$xen_module"
    check "installed migphase-xen has the receiver" \
        test -x "$rpmroot/usr/libexec/migphase/migphase-xen-receiver"
fi

# ---------------------------------------------------------------------------
step "debootstrap (minbase)"
codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
# This machine's Debian archive entries, for its release: the same mirror
# and the same updates (security included) the package was built against.
# shellcheck disable=SC2016 # apt's own $(FIELD) syntax
apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' \
    'Identifier: Packages' 'Target-Of: deb' 'Origin: Debian' | sort -u |
    awk -v c="$codename" '$2 == c || index($2, c "-") == 1' > "$work/targets"
mirror=$(awk -v c="$codename" '$2 == c { print $1; exit }' "$work/targets")
if [ -z "$mirror" ]; then
    echo "FAIL: no apt source for $codename on this machine (run apt-get update)"
    exit 1
fi
if ! nice -n 10 debootstrap --variant=minbase "$codename" "$root" "$mirror" > "$work/debootstrap.log" 2>&1; then
    tail -n 30 "$work/debootstrap.log"
    fail "debootstrap --variant=minbase $codename"
    exit 1
fi
pass "debootstrap --variant=minbase $codename"
awk '{ s[$1 " " $2] = s[$1 " " $2] " " $3 } END { for (k in s) print "deb " k s[k] }' \
    "$work/targets" > "$root/etc/apt/sources.list"
# No service starts inside the root.
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
mount -t proc proc "$root/proc"

step "apt-get install ./migphase_*.deb in the root"
cp "$debfile" "$root/tmp/"
[ "$deb_xen" = no ] || cp "$xendeb" "$root/tmp/"
in_root() {
    chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"
}
if in_root apt-get update -q > "$work/root-apt.log" 2>&1 &&
    in_root sh -c 'cd /tmp && apt-get install -y -q ./migphase_*.deb' >> "$work/root-apt.log" 2>&1; then
    pass "apt-get install ./$(basename "$debfile")"
else
    tail -n 40 "$work/root-apt.log"
    fail "apt-get install ./$(basename "$debfile")"
    exit 1
fi
sed -n '/The following NEW packages/,/^[0-9]* upgraded/p' "$work/root-apt.log"

v=$(in_root /usr/libexec/migphase/migphase-begin --version 2>&1 || :)
if [ "$v" = "migphase-begin $version" ]; then pass "installed migphase-begin --version: $v"; else
    fail "installed migphase-begin --version says: $v"
fi
v=$(in_root migphase-status --version 2>&1 || :)
if [ "$v" = "migphase-status $version" ]; then pass "installed migphase-status --version: $v"; else
    fail "installed migphase-status --version says: $v"
fi
if out=$(in_root migphase-status 2>&1); then
    pass "installed migphase-status on an empty journal: $out"
else
    fail "installed migphase-status on an empty journal: $out"
fi
check "the migphase user exists" in_root getent passwd migphase
for d in /var/lib/migphase /run/migphase; do
    mode=$(in_root stat -c %a "$d" 2>/dev/null || echo missing)
    if [ "$mode" = 700 ]; then pass "$d exists, mode 0700"; else fail "$d: $mode"; fi
done
check "migphase.conf is a conffile" sh -c \
    "chroot '$root' dpkg-query -W -f='\${Conffiles}' migphase | grep -q ' /etc/migphase/migphase.conf '"
check "the recovery unit is enabled" \
    test -L "$root/etc/systemd/system/multi-user.target.wants/migphase-recover.service"
check "the man pages are installed" test -f "$root/usr/share/man/man8/migphase-status.8.gz"
# shellcheck disable=SC2016 # expanded by the shell in the root
privileged=$(in_root sh -c 'dpkg -L migphase | while read -r f; do [ -f "$f" ] && [ -u "$f" -o -g "$f" ] && echo "$f"; done' || :)
if [ -z "$privileged" ]; then pass "no installed file is setuid or setgid"; else
    fail "setuid or setgid files installed: $privileged"
fi

# The Xen driver: without migphase-xen, --driver xen fails with a clear
# message; migphase-xen pulls the Xen libraries, and then the module loads
# (the step still fails: there is no Xen in the root).
purge=migphase
if [ "$deb_xen" = yes ]; then
    xen_begin() {
        in_root timeout 60 /usr/libexec/migphase/migphase-begin --driver xen --domain x \
            --out /dev/null 2>&1
    }
    rc=0
    out=$(xen_begin) || rc=$?
    if [ "$rc" -eq 2 ] && echo "$out" | grep -q "cannot be loaded"; then
        pass "without migphase-xen, --driver xen exits 2: $out"
    else
        fail "without migphase-xen, --driver xen exits $rc: $out"
    fi
    xen_listed() { in_root migphase-status --drivers 2>&1 | grep "^  xen "; }
    out=$(xen_listed || :)
    case "$out" in
    "  xen    missing: "*) pass "without migphase-xen, --drivers says: $out" ;;
    *) fail "without migphase-xen, --drivers says: $out" ;;
    esac

    step "apt-get install ./migphase-xen_*.deb in the root"
    if in_root sh -c 'cd /tmp && apt-get install -y -q ./migphase-xen_*.deb' \
        > "$work/root-apt-xen.log" 2>&1; then
        pass "apt-get install ./$(basename "$xendeb")"
    else
        tail -n 40 "$work/root-apt-xen.log"
        fail "apt-get install ./$(basename "$xendeb")"
        exit 1
    fi
    sed -n '/The following NEW packages/,/^[0-9]* upgraded/p' "$work/root-apt-xen.log"
    if sed -n '/The following NEW packages/,/^[0-9]* upgraded/p' "$work/root-apt-xen.log" |
        grep -q 'libxen'; then
        pass "migphase-xen pulled the Xen libraries"
    else
        fail "migphase-xen pulled no Xen library"
    fi
    check "the module is installed" \
        test -f "$root/usr/lib/$multiarch/migphase/drivers/migphase-driver-xen.so"
    rc=0
    out=$(xen_begin) || rc=$?
    if echo "$out" | grep -q "cannot be loaded"; then
        fail "with migphase-xen, the xen driver is still not loaded (exit $rc): $out"
    else
        pass "with migphase-xen, the xen driver loads (exit $rc, no Xen here): $out"
    fi
    out=$(xen_listed || :)
    if [ "$out" = "  xen    loads" ]; then pass "with migphase-xen, --drivers says: $out"; else
        fail "with migphase-xen, --drivers says: $out"
    fi
    # shellcheck disable=SC2016 # expanded by the shell in the root
    privileged=$(in_root sh -c 'dpkg -L migphase-xen | while read -r f; do [ -f "$f" ] && [ -u "$f" -o -g "$f" ] && echo "$f"; done' || :)
    if [ -z "$privileged" ]; then pass "no file of migphase-xen is setuid or setgid"; else
        fail "setuid or setgid files installed by migphase-xen: $privileged"
    fi
    purge="migphase-xen migphase"
fi

step "apt-get purge $purge"
# shellcheck disable=SC2086 # the package names
if in_root apt-get purge -y -q $purge > "$work/root-purge.log" 2>&1; then
    pass "apt-get purge $purge"
else
    tail -n 20 "$work/root-purge.log"
    fail "apt-get purge $purge"
fi
check "purge removes /etc/migphase" test ! -e "$root/etc/migphase"
check "purge removes the helpers" test ! -e "$root/usr/libexec/migphase"
check "purge removes the driver directory" test ! -e "$root/usr/lib/$multiarch/migphase"

step end
echo "packaging: $(($(date +%s) - started)) s in all"
echo "packaging: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
