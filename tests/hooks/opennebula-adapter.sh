#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The OpenNebula adapter (docs/opennebula.md), installed as a VMM driver of
# its own and over the TM actions, and called exactly as OpenNebula's drivers
# call their scripts (one_vmm_exec.rb "migrate", OpenNebulaDriver.rb
# do_action, one_tm.rb): the VMM action as
#   migrate DEPLOY_ID DEST_HOST SRC_HOST VM_ID SRC_HOST
# on the source host with the driver action XML on stdin, or as migrate_local
# (-l migrate=migrate_local) on the front-end with it base64-encoded; the TM
# actions as
#   premigrate|postmigrate|failmigrate SRC_HOST DST_HOST VM_DIR VM_ID DS_ID
# on the front-end, the VM's XML base64-encoded on stdin. OpenNebula's own
# scripts (kvm's migrate and migrate_local, the datastore's TM actions) are
# recorders here: the test checks when they run, and with what.
# Two network namespaces are the hosts ("src", "dst"), this test's namespace
# the front-end; ssh is tests/hooks/fake-ssh. /etc is a private copy-on-write
# layer, so the adapter reads its settings where it would in production.
# Hook bodies are single-quoted on purpose: the hooks expand them.
# shellcheck source=tests/hooks/lib.sh disable=SC2154,SC2016
. "$top_srcdir/tests/hooks/lib.sh"
hk_private_mounts "$@"
mp_require_qemu
command -v ip >/dev/null || mp_skip "iproute2 is not installed"
adapter="$top_builddir/hooks/opennebula/migphase-one"
[ -x "$adapter" ] || mp_skip "the OpenNebula adapter is not built"
# The adapters read $(sysconfdir)/migphase: only /etc is a private layer here.
[ "${MP_SYSCONFDIR:-/etc}" = /etc ] ||
    mp_skip "configured with sysconfdir=$MP_SYSCONFDIR: the test writes only a private /etc"
mp_init
hk_private_etc

mp_two_hosts mpo 10.215.0
src_ns=$MP_SRC_NS
dst_ns=$MP_DST_NS
# dstlo is dst under a name that resolves to loopback, as a Debian host's
# own name does (127.0.1.1).
printf '10.215.0.1 src\n10.215.0.2 dst\n127.0.1.1 dstlo\n' >>/etc/hosts
printf 'src %s\ndst %s\ndstlo %s\n' "$src_ns" "$dst_ns" "$dst_ns" >"$MP_TMP/hosts"

# Settings, as docs/opennebula.md describes them; both hosts read the same /etc.
hooks="$MP_TMP/hooks"
mkdir -p /etc/migphase "$hooks"
{
    printf 'hooks-dir = %s\nstate-dir = %s\n' "$hooks" "$MP_STATE"
    # The test policy (paths, users); the adapter gives Prepare --listen itself.
    grep -v '^listen' "$MIGPHASE_CONFIG"
} >/etc/migphase/migphase.conf
# The host's keys where QEMU and libvirt keep them: no pki-dir needed.
mkdir -p /etc/pki/qemu
cp "$MIGPHASE_PKI_DIR"/*.pem /etc/pki/qemu/
unset MIGPHASE_PKI_DIR
# The helpers and the cookie store in one directory, as in pkglibexecdir.
libexec="$MP_TMP/libexec"
mkdir -p "$libexec"
ln -s "$MP_HELPERS"/migphase-* "$top_builddir/hooks/opennebula/migphase-one-cookie" "$libexec/"
# libvirt knows the domains listed in libvirt-domains (a stand-in for virsh).
printf '#!/bin/sh\n[ "$1" = domstate ] && grep -qxF "$2" "%s"\n' "$MP_TMP/libvirt-domains" >"$MP_TMP/virsh"
chmod 755 "$MP_TMP/virsh"
: >"$MP_TMP/libvirt-domains"
cookies="$MP_TMP/cookies"
cat >/etc/migphase/opennebula.conf <<EOF
# Each VM's QMP socket: per host, as /run would be on real hosts.
qmp-socket = $MP_TMP/%d-%h.qmp
helper-dir = $libexec
ssh = $(hk_script "$top_srcdir/tests/hooks/fake-ssh") $MP_TMP/hosts -o BatchMode=yes
virsh = $MP_TMP/virsh
cookie-dir = $cookies
tm-actions = yes
EOF

# OpenNebula's own scripts: each records its path under remotes, arguments
# and a digest of its stdin in stock.log, and exits with the status in
# stock.rc (0 when there is none).
remotes="$MP_TMP/remotes"
{
    echo '#!/bin/bash'
    echo "p=\$(realpath -s \"\$0\")"
    echo "echo \"\${p#$remotes/} \$* \$(sha256sum | cut -c 1-16)\" >>$MP_TMP/stock.log"
    echo "exit \$(cat $MP_TMP/stock.rc 2>/dev/null || echo 0)"
} >"$MP_TMP/stock"
chmod 755 "$MP_TMP/stock"
mkdir -p "$remotes/vmm/kvm" "$remotes/tm/shared"
for a in vmm/kvm/deploy vmm/kvm/migrate vmm/kvm/migrate_local \
    tm/shared/premigrate tm/shared/postmigrate tm/shared/failmigrate; do
    cp "$MP_TMP/stock" "$remotes/$a"
done
# Installed as docs/opennebula.md says: a VMM driver of its own whose other
# actions are kvm's, and over the TM actions, the datastore's kept as
# ACTION.stock.
install_adapter() {
    local r=$remotes f a
    mkdir -p "$r/vmm/kvm-migphase"
    for f in "$r"/vmm/kvm/*; do
        ln -sfn "../kvm/${f##*/}" "$r/vmm/kvm-migphase/${f##*/}"
    done
    ln -sf "$adapter" "$r/vmm/kvm-migphase/migrate"
    ln -sf "$adapter" "$r/vmm/kvm-migphase/migrate_local"
    for a in premigrate postmigrate failmigrate; do
        if [ ! -L "$r/tm/shared/$a" ]; then
            mv "$r/tm/shared/$a" "$r/tm/shared/$a.stock"
        fi
        ln -sf "$adapter" "$r/tm/shared/$a"
    done
}
install_adapter
# A hook at every step says where it ran.
for step in begin prepare perform finish confirm; do
    hk_hook "$hooks" "$step" 10-where \
        'echo "$MIGPHASE_STEP $(ip netns identify) $MIGPHASE_OUTCOME" >>"${0%/*}/../where.log"
[ ! -e "${0%/*}/../veto-$MIGPHASE_STEP" ] || { echo "vetoed by the test" >&2; exit 1; }
if [ -e "${0%/*}/../die-$MIGPHASE_STEP" ]; then
    # Kill whoever runs the helper (the adapter), then stop the step.
    kill -KILL "$(awk "{ print \$4 }" "/proc/$PPID/stat")"
    exit 1
fi'
done

# A deploy id as libvirt gives one (a UUID), not one-<vmid>.
vm_id=42 deploy_id=3f1c9a7e-5b2d-4e8f-9a61-0c7d2e4b8f15
vm_dir="$MP_TMP/datastores/0/$vm_id"
mkdir -p "$vm_dir"
mem=64
MP_PREFIX="ip netns exec $src_ns" mp_start_guest $deploy_id $mem 32
# The two hosts share one file system: every QEMU that runs the VM, as
# migphase's qemu-user on a destination, writes this same serial log.
chgrp "$MP_QEMU_USER" "$MP_TMP/$deploy_id-src-serial.log"
chmod 0660 "$MP_TMP/$deploy_id-src-serial.log"

# The VM's XML as oned writes it, and the VMM driver's action data.
vm_xml() { # vm_xml [VM_ID DEPLOY_ID]
    printf '<VM><ID>%s</ID><UID>0</UID><NAME>test</NAME><PERMISSIONS><OWNER_U>1</OWNER_U></PERMISSIONS>' \
        "${1:-$vm_id}"
    printf '<DEPLOY_ID>%s</DEPLOY_ID><TEMPLATE><CONTEXT><DISK_ID><![CDATA[1]]></DISK_ID></CONTEXT></TEMPLATE></VM>' \
        "${2:-$deploy_id}"
}
shared=YES
action_data() { # action_data SRC DST [VM_ID DEPLOY_ID]
    local id=${3:-$vm_id}
    printf '<VMM_DRIVER_ACTION_DATA><HOST>%s</HOST><MIGR_HOST>%s</MIGR_HOST>' "$1" "$2"
    printf '<DEPLOY_ID>%s</DEPLOY_ID><DISK_TARGET_PATH>%s</DISK_TARGET_PATH>' "${4:-$deploy_id}" "${vm_dir%/*}/$id"
    printf '<TM_COMMAND>MIGRATE shared %s %s %s %s 0</TM_COMMAND>' "$1" "$2" "${vm_dir%/*}/$id" "$id"
    printf '<DATASTORE><ID>0</ID><BASE_PATH>%s</BASE_PATH><TEMPLATE><SHARED><![CDATA[%s]]></SHARED>' \
        "${vm_dir%/*}" "$shared"
    printf '</TEMPLATE></DATASTORE>'
    vm_xml "${3:-}" "${4:-}"
    printf '</VMM_DRIVER_ACTION_DATA>'
}
one_env=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    HOME=/var/lib/one USER=root LOGNAME=root SHELL=/bin/bash LANG=C TMPDIR="$MP_TMP")
ns_of() { awk -v h="$1" '$1 == h { print $2 }' "$MP_TMP/hosts"; }
digest() { sha256sum <"$MP_TMP/stdin" | cut -c 1-16; }
# vmm_migrate SRC DST [VM_ID DEPLOY_ID]: the VMM driver's call on SRC, as its
# ssh stream makes it: the XML through a here-document (so with a newline).
vmm_migrate() {
    rc=0
    local id=${3:-$vm_id} did=${4:-$deploy_id}
    {
        action_data "$@"
        echo
    } >"$MP_TMP/stdin"
    ip netns exec "$(ns_of "$1")" "${one_env[@]}" "$remotes/vmm/kvm-migphase/migrate" \
        "$did" "$2" "$1" "$id" "$1" <"$MP_TMP/stdin" 2>"$MP_TMP/migrate.err" || rc=$?
    echo "migrate $did $2 $1 $id $1: exit $rc $(cat "$MP_TMP/migrate.err")"
}
# vmm_migrate_local SRC DST [VM_ID DEPLOY_ID]: with -l migrate=migrate_local,
# on the front-end, the action data base64-encoded (strict: one line).
vmm_migrate_local() {
    rc=0
    local id=${3:-$vm_id} did=${4:-$deploy_id}
    action_data "$@" | base64 -w 0 >"$MP_TMP/stdin"
    "${one_env[@]}" "$remotes/vmm/kvm-migphase/migrate_local" \
        "$did" "$2" "$1" "$id" "$1" <"$MP_TMP/stdin" 2>"$MP_TMP/migrate.err" || rc=$?
    echo "migrate_local $did $2 $1 $id $1: exit $rc $(cat "$MP_TMP/migrate.err")"
}
# tm ACTION SRC DST [VM_ID DEPLOY_ID]: the TM driver's call, on the front-end.
tm() {
    rc=0
    local id=${4:-$vm_id}
    vm_xml "${4:-}" "${5:-}" | base64 -w 0 >"$MP_TMP/stdin"
    "${one_env[@]}" "$remotes/tm/shared/$1" "$2" "$3" "${vm_dir%/*}/$id" "$id" 0 \
        <"$MP_TMP/stdin" 2>"$MP_TMP/$1.err" || rc=$?
    echo "$1 $2 $3 ${vm_dir%/*}/$id $id 0: exit $rc $(cat "$MP_TMP/$1.err")"
}
expect_where() { # expect_where "STEP NS ..." WHAT
    local got=
    [ ! -e "$hooks/where.log" ] || got=$(tr '\n' ' ' <"$hooks/where.log")
    [ "$got" = "${1:+$1 }" ] || mp_fail "$2: steps ran as '$got', expected '$1'"
    rm -f "$hooks/where.log"
}
# expect_stock "LINE..." WHAT: the stock scripts that ran since the last call
# (lines "PATH ARGS STDIN-DIGEST").
expect_stock() {
    local got=
    [ ! -e "$MP_TMP/stock.log" ] || got=$(cat "$MP_TMP/stock.log")
    [ "$got" = "$1" ] || mp_fail "$2: stock actions ran as '$got', expected '$1'"
    rm -f "$MP_TMP/stock.log"
}
expect_log() { # expect_log ERR-FILE TEXT WHAT
    grep -qF -- "$2" "$MP_TMP/$1" || mp_fail "$3: '$2' is not in the VM's log: $(cat "$MP_TMP/$1")"
}
# No cookie on the datastore, and none left in the root-only store.
expect_no_cookies() {
    [ -z "$(ls -A "$vm_dir")" ] || mp_fail "$1: files on the datastore: $(ls -A "$vm_dir")"
    [ ! -e "$cookies/$vm_id" ] || mp_fail "$1: cookies left behind: $(ls "$cookies/$vm_id")"
}
tm_args() { # tm_args SRC DST: what the TM scripts get, and the stdin digest
    echo "$1 $2 ${vm_dir%/*}/$vm_id $vm_id 0 $(digest)"
}
s=$src_ns d=$dst_ns

echo "== migrate on the source (plain XML): all five steps, src to dst"
vmm_migrate src dst
mp_expect_status 0 "$rc" "migrate"
expect_where "begin $s  prepare $d  perform $s  finish $d success confirm $s success" "migrate"
expect_stock "" "migrate"
expect_log migrate.err "with the migphase helpers" "migrate"
[ "$(mp_where_running $deploy_id)" = destination ] || mp_fail "guest runs: $(mp_where_running $deploy_id)"
mp_verify_memory "$MP_TMP/$deploy_id-dst.qmp" $mem || mp_fail "memory check failed on dst"
expect_no_cookies "migrate"
mp_assert_nothing_pending

echo "== premigrate, migrate_local (front-end, base64), postmigrate: dst back to src"
tm premigrate dst src
mp_expect_status 0 "$rc" "premigrate"
expect_stock "tm/shared/premigrate.stock $(tm_args dst src)" "premigrate chains to the datastore's"
# The Begin cookie waits in the root-only store on dst, not on the datastore.
[ "$(stat -c '%U %a' "$cookies" "$cookies/$vm_id" "$cookies/$vm_id/begin.xml" | tr '\n' ' ')" = \
    "root 700 root 700 root 600 " ] || mp_fail "the cookie store is not root-only: $(ls -la "$cookies/$vm_id")"
vmm_migrate_local dst src
mp_expect_status 0 "$rc" "migrate_local after premigrate"
[ "$(mp_where_running $deploy_id)" = source ] || mp_fail "guest runs: $(mp_where_running $deploy_id)"
tm postmigrate dst src
mp_expect_status 0 "$rc" "postmigrate"
expect_stock "tm/shared/postmigrate.stock $(tm_args dst src)" "postmigrate chains to the datastore's"
expect_where "begin $d  prepare $s  perform $d  finish $s success confirm $d success" "TM and VMM"
[ "$(mp_count_vms)" -eq 1 ] || mp_fail "postmigrate did not end the VM on dst"
mp_verify_memory "$MP_TMP/$deploy_id-src.qmp" $mem || mp_fail "memory check failed on src"
expect_no_cookies "TM and VMM"
mp_assert_nothing_pending

echo "== migrate_local, src to dst; the clean-up after Confirm fails: still success"
echo "migphase-one-cookie drop" >"$MP_TMP/hosts.fail"
vmm_migrate_local src dst
rm "$MP_TMP/hosts.fail"
mp_expect_status 0 "$rc" "migrate_local with a failing clean-up"
expect_log migrate.err "could not remove the cookies" "failing clean-up"
expect_where "begin $s  prepare $d  perform $s  finish $d success confirm $s success" "migrate_local"
[ "$(mp_where_running $deploy_id)" = destination ] || mp_fail "guest runs: $(mp_where_running $deploy_id)"
rm -rf "${cookies:?}/$vm_id"
mp_assert_nothing_pending

echo "== An upgrade replaced the TM premigrate: migrate says so, and runs all five steps"
rm "$remotes/tm/shared/premigrate"
cp "$MP_TMP/stock" "$remotes/tm/shared/premigrate"
vmm_migrate dst src
mp_expect_status 0 "$rc" "migrate after an upgrade"
expect_log migrate.err "is not migphase's" "migrate after an upgrade"
expect_where "begin $d  prepare $s  perform $d  finish $s success confirm $d success" "after an upgrade"
[ "$(mp_where_running $deploy_id)" = source ] || mp_fail "guest runs: $(mp_where_running $deploy_id)"
install_adapter # the reinstall docs/opennebula.md describes
mp_assert_nothing_pending

echo "== Prepare vetoed on dst: migrate fails, failmigrate finds nothing left to undo"
tm premigrate src dst
touch "$hooks/veto-prepare"
vmm_migrate src dst
[ "$rc" -ne 0 ] || mp_fail "migrate succeeded despite the veto"
expect_log migrate.err "vetoed by the test" "vetoed Prepare"
tm failmigrate src dst
mp_expect_status 0 "$rc" "failmigrate"
rm "$hooks/veto-prepare"
expect_stock "tm/shared/premigrate.stock $(tm_args src dst)
tm/shared/failmigrate.stock $(tm_args src dst)" "failmigrate chains to the datastore's"
expect_where "begin $s  prepare $d  confirm $s cancelled" "vetoed migrate"
[ "$(mp_where_running $deploy_id)" = source ] || mp_fail "guest runs: $(mp_where_running $deploy_id)"
expect_no_cookies "vetoed Prepare"
mp_assert_nothing_pending

echo "== Begin vetoed: premigrate fails before the datastore's premigrate runs"
touch "$hooks/veto-begin"
tm premigrate src dst
[ "$rc" -ne 0 ] || mp_fail "premigrate succeeded despite the veto"
expect_log premigrate.err "vetoed by the test" "vetoed Begin"
rm "$hooks/veto-begin" "$hooks/where.log"
expect_stock "" "vetoed Begin"
tm failmigrate src dst # as one_vmm_exec does when premigrate fails
mp_expect_status 0 "$rc" "failmigrate after a vetoed Begin"
expect_stock "tm/shared/failmigrate.stock $(tm_args src dst)" "failmigrate after a vetoed Begin"
expect_where "" "failmigrate after a vetoed Begin"

echo "== The datastore's premigrate fails: Begin is closed again"
echo 3 >"$MP_TMP/stock.rc"
tm premigrate src dst
rm "$MP_TMP/stock.rc"
[ "$rc" -ne 0 ] || mp_fail "premigrate succeeded although the datastore's failed"
expect_stock "tm/shared/premigrate.stock $(tm_args src dst)" "failing datastore premigrate"
expect_where "begin $s  confirm $s cancelled" "failing datastore premigrate"
expect_no_cookies "failing datastore premigrate"
mp_assert_nothing_pending

echo "== migrate killed after Prepare: failmigrate cancels on dst and closes src"
tm premigrate src dst
touch "$hooks/die-perform"
vmm_migrate src dst
[ "$rc" -ne 0 ] || mp_fail "migrate survived"
rm "$hooks/die-perform"
[ "$(mp_count_vms)" -eq 2 ] || mp_fail "no destination VM waiting after Prepare"
tm failmigrate src dst
mp_expect_status 0 "$rc" "failmigrate"
expect_where "begin $s  prepare $d  perform $s  finish $d cancelled confirm $s cancelled" \
    "failmigrate after Prepare"
[ "$(mp_count_vms)" -eq 1 ] || mp_fail "failmigrate left the destination VM"
[ "$(mp_where_running $deploy_id)" = source ] || mp_fail "guest runs: $(mp_where_running $deploy_id)"
expect_no_cookies "failmigrate after Prepare"
rm -f "$MP_TMP/stock.log"
mp_assert_nothing_pending

echo "== migrate died after premigrate: failmigrate closes the source's side"
tm premigrate src dst
tm failmigrate src dst
mp_expect_status 0 "$rc" "failmigrate"
expect_where "begin $s  confirm $s cancelled" "failmigrate"
expect_no_cookies "failmigrate"
[ "$(mp_where_running $deploy_id)" = source ] || mp_fail "guest runs: $(mp_where_running $deploy_id)"
rm -f "$MP_TMP/stock.log"
mp_assert_nothing_pending

echo "== A datastore that is not shared: Begin copies the disks (--copy-storage all)"
shared=NO
vmm_migrate src dst
shared=YES
mp_expect_status 0 "$rc" "migrate with SHARED=NO"
expect_where "begin $s  prepare $d  perform $s  finish $d success confirm $s success" "SHARED=NO"
expect_stock "" "SHARED=NO"
[ "$(mp_where_running $deploy_id)" = destination ] || mp_fail "guest runs: $(mp_where_running $deploy_id)"
mp_assert_nothing_pending
vmm_migrate dst src
mp_expect_status 0 "$rc" "migrate back"
expect_where "begin $d  prepare $s  perform $d  finish $s success confirm $d success" "migrate back"
[ "$(mp_where_running $deploy_id)" = source ] || mp_fail "guest runs: $(mp_where_running $deploy_id)"

echo "== A destination whose name resolves to loopback: refused, nothing starts"
vmm_migrate src dstlo
[ "$rc" -ne 0 ] || mp_fail "migrate to a loopback name succeeded"
expect_log migrate.err "loopback" "loopback"
expect_where "" "loopback (migrate)"
tm premigrate src dstlo
[ "$rc" -ne 0 ] || mp_fail "premigrate to a loopback name succeeded"
expect_where "" "loopback (premigrate)"
expect_stock "" "loopback"
expect_no_cookies "loopback"
mp_assert_nothing_pending

echo "== VMs that are not migphase's go to the stock actions unchanged"
# A move to the same host (a storage move).
vmm_migrate src src
mp_expect_status 0 "$rc" "same host"
expect_stock "vmm/kvm/migrate $deploy_id src src $vm_id src $(digest)" "same host"
expect_log migrate.err "storage move" "same host"
tm premigrate src src
expect_stock "tm/shared/premigrate.stock $(tm_args src src)" "same host premigrate"
# A VM libvirt manages (OpenNebula's own deploy): QMP socket or not.
echo "$deploy_id" >"$MP_TMP/libvirt-domains"
vmm_migrate src dst
mp_expect_status 0 "$rc" "libvirt's VM"
expect_stock "vmm/kvm/migrate $deploy_id dst src $vm_id src $(digest)" "libvirt's VM"
expect_log migrate.err "libvirt on src manages $deploy_id" "libvirt's VM"
vmm_migrate_local src dst
mp_expect_status 0 "$rc" "libvirt's VM, migrate_local"
expect_stock "vmm/kvm/migrate_local $deploy_id dst src $vm_id src $(digest)" "libvirt's VM, local"
for a in premigrate postmigrate failmigrate; do
    tm $a src dst
    mp_expect_status 0 "$rc" "$a of libvirt's VM"
    expect_stock "tm/shared/$a.stock $(tm_args src dst)" "$a of libvirt's VM"
done
: >"$MP_TMP/libvirt-domains"
# A VM without a QMP socket where migphase looks; the stock status is kept.
echo 7 >"$MP_TMP/stock.rc"
vmm_migrate src dst 43 one-43
rm "$MP_TMP/stock.rc"
mp_expect_status 7 "$rc" "VM without a QMP socket"
expect_stock "vmm/kvm/migrate one-43 dst src 43 src $(digest)" "VM without a QMP socket"
expect_log migrate.err "no QMP socket" "VM without a QMP socket"
expect_where "" "stock actions"
[ "$(mp_where_running $deploy_id)" = source ] || mp_fail "guest runs: $(mp_where_running $deploy_id)"
mp_assert_nothing_pending
echo "PASS: the OpenNebula adapter moves migphase's VMs in five steps and hands every other to OpenNebula"
