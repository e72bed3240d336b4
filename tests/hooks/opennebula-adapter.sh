#!/usr/bin/env bash
# The OpenNebula adapter, called exactly as OpenNebula's drivers call their
# remote scripts (docs "Virtualization Driver" and "Storage Driver";
# one_vmm_exec.rb, OpenNebulaDriver.rb): the VMM action as
#   migrate DEPLOY_ID DEST_HOST SRC_HOST VM_ID SRC_HOST
# on the source host, the driver action XML on stdin; the TM actions as
#   premigrate|postmigrate|failmigrate SRC_HOST DST_HOST VM_DIR VM_ID DS_ID
# on the front-end, the VM's XML base64-encoded on stdin. Two network
# namespaces are the hosts ("src", "dst"), this test's namespace the
# front-end; ssh is tests/hooks/fake-ssh. /etc is a private copy-on-write
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
printf '10.215.0.1 src\n10.215.0.2 dst\n' >>/etc/hosts
printf 'src %s\ndst %s\n' "$src_ns" "$dst_ns" >"$MP_TMP/hosts"

# Settings, as docs/hooks.md describes them; both hosts read the same /etc.
hooks="$MP_TMP/hooks"
mkdir -p /etc/migphase "$hooks"
printf 'hooks-dir = %s\nstate-dir = %s\n' "$hooks" "$MP_STATE" >/etc/migphase/migphase.conf
# The host's keys where QEMU and libvirt keep them: no pki-dir needed.
mkdir -p /etc/pki/qemu
cp "$MIGPHASE_PKI_DIR"/*.pem /etc/pki/qemu/
unset MIGPHASE_PKI_DIR
cat >/etc/migphase/opennebula.conf <<EOF
# Each VM's QMP socket: per host, as /run would be on real hosts.
qmp-socket = $MP_TMP/%d-%h.qmp
helper-dir = $MP_HELPERS
ssh = $(hk_script "$top_srcdir/tests/hooks/fake-ssh") $MP_TMP/hosts -o BatchMode=yes
EOF
# Installed as docs/hooks.md says, in a remotes tree of our own.
remotes="$MP_TMP/remotes"
mkdir -p "$remotes/vmm/kvm" "$remotes/tm/shared"
ln -s "$adapter" "$remotes/vmm/kvm/migrate"
for action in premigrate postmigrate failmigrate; do
    ln -s "$adapter" "$remotes/tm/shared/$action"
done
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

vm_id=42 deploy_id=one-42
vm_dir="$MP_TMP/datastores/0/$vm_id"
mkdir -p "$vm_dir"
mem=64
MP_PREFIX="ip netns exec $src_ns" mp_start_guest $deploy_id $mem 32

# The VM's XML as the TM driver sends it (base64), and the VMM driver's
# action data (plain XML: the action runs on the host through ssh).
vm_xml="<VM><ID>$vm_id</ID><NAME>test</NAME><DEPLOY_ID>$deploy_id</DEPLOY_ID></VM>"
action_data() { # action_data SRC DST
    printf '<VMM_DRIVER_ACTION_DATA><HOST>%s</HOST><MIGR_HOST>%s</MIGR_HOST>' "$1" "$2"
    printf '<DEPLOY_ID>%s</DEPLOY_ID><DISK_TARGET_PATH>%s</DISK_TARGET_PATH>' "$deploy_id" "$vm_dir"
    printf '<DATASTORE><TEMPLATE><SHARED>YES</SHARED></TEMPLATE></DATASTORE>%s' "$vm_xml"
    printf '</VMM_DRIVER_ACTION_DATA>\n'
}
one_env=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    HOME=/var/lib/one USER=root LOGNAME=root SHELL=/bin/bash LANG=C TMPDIR="$MP_TMP")
# vmm_migrate SRC DST: the VMM driver's call, on SRC.
vmm_migrate() {
    rc=0
    action_data "$1" "$2" | ip netns exec "$(awk -v h="$1" '$1 == h { print $2 }' "$MP_TMP/hosts")" \
        "${one_env[@]}" "$remotes/vmm/kvm/migrate" "$deploy_id" "$2" "$1" "$vm_id" "$1" \
        2>"$MP_TMP/migrate.err" || rc=$?
    echo "migrate $deploy_id $2 $1 $vm_id $1: exit $rc $(cat "$MP_TMP/migrate.err")"
}
# tm ACTION SRC DST: the TM driver's call, on the front-end.
tm() {
    rc=0
    printf '%s' "$vm_xml" | base64 -w 0 | "${one_env[@]}" "$remotes/tm/shared/$1" "$2" "$3" \
        "$vm_dir" "$vm_id" 0 2>"$MP_TMP/$1.err" || rc=$?
    echo "$1 $2 $3 $vm_dir $vm_id 0: exit $rc $(cat "$MP_TMP/$1.err")"
}
expect_where() { # expect_where "STEP NS ..." WHAT
    local got
    got=$(tr '\n' ' ' <"$hooks/where.log")
    [ "$got" = "$1 " ] || mp_fail "$2: steps ran as '$got', expected '$1'"
    rm "$hooks/where.log"
}
s=$src_ns d=$dst_ns

echo "== The VMM migrate action alone: all five steps, src to dst"
vmm_migrate src dst
mp_expect_status 0 "$rc" "migrate"
expect_where "begin $s  prepare $d  perform $s  finish $d success confirm $s success" "migrate"
[ "$(mp_where_running $deploy_id)" = destination ] || mp_fail "guest runs: $(mp_where_running $deploy_id)"
mp_verify_memory "$MP_TMP/$deploy_id-dst.qmp" $mem || mp_fail "memory check failed on dst"
[ ! -e "$vm_dir/.migphase" ] || mp_fail "the cookie directory was left behind"
mp_assert_nothing_pending

echo "== premigrate, migrate, postmigrate: dst back to src"
tm premigrate dst src
mp_expect_status 0 "$rc" "premigrate"
vmm_migrate dst src
mp_expect_status 0 "$rc" "migrate after premigrate"
[ "$(mp_where_running $deploy_id)" = source ] || mp_fail "guest runs: $(mp_where_running $deploy_id)"
tm postmigrate dst src
mp_expect_status 0 "$rc" "postmigrate"
expect_where "begin $d  prepare $s  perform $d  finish $s success confirm $d success" "TM and VMM"
[ "$(mp_count_vms)" -eq 1 ] || mp_fail "postmigrate did not end the VM on dst"
mp_verify_memory "$MP_TMP/$deploy_id-src.qmp" $mem || mp_fail "memory check failed on src"
[ ! -e "$vm_dir/.migphase" ] || mp_fail "the cookie directory was left behind"
mp_assert_nothing_pending

echo "== Prepare vetoed on dst: migrate fails, failmigrate finds nothing left to undo"
tm premigrate src dst
touch "$hooks/veto-prepare"
vmm_migrate src dst
[ "$rc" -ne 0 ] || mp_fail "migrate succeeded despite the veto"
grep -q "vetoed by the test" "$MP_TMP/migrate.err" || mp_fail "the veto is not in the VM's log"
tm failmigrate src dst
mp_expect_status 0 "$rc" "failmigrate"
rm "$hooks/veto-prepare"
expect_where "begin $s  prepare $d  confirm $s cancelled" "vetoed migrate"
[ "$(mp_where_running $deploy_id)" = source ] || mp_fail "guest runs: $(mp_where_running $deploy_id)"
mp_assert_nothing_pending

echo "== Begin vetoed: premigrate fails, the migration never starts"
touch "$hooks/veto-begin"
tm premigrate src dst
[ "$rc" -ne 0 ] || mp_fail "premigrate succeeded despite the veto"
grep -q "vetoed by the test" "$MP_TMP/premigrate.err" || mp_fail "the veto is not in the log"
rm "$hooks/veto-begin" "$hooks/where.log"

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
mp_assert_nothing_pending

echo "== migrate died after premigrate: failmigrate closes the source's side"
tm premigrate src dst
tm failmigrate src dst
mp_expect_status 0 "$rc" "failmigrate"
expect_where "begin $s  confirm $s cancelled" "failmigrate"
[ ! -e "$vm_dir/.migphase" ] || mp_fail "failmigrate left the cookie directory"
[ "$(mp_where_running $deploy_id)" = source ] || mp_fail "guest runs: $(mp_where_running $deploy_id)"
mp_assert_nothing_pending
echo "PASS: OpenNebula migrate, premigrate, postmigrate and failmigrate drive the helpers"
