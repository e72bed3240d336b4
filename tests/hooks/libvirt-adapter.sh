#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The libvirt adapter, called exactly as libvirtd calls a qemu.d hook
# (libvirt docs/hooks.rst, src/util/virhook.c): installed in
# /etc/libvirt/hooks/qemu.d/, run as HOOK GUEST_NAME OPERATION SUB_OPERATION
# EXTRA with the domain XML on stdin and libvirt's filtered environment. On
# "migrate begin" it runs the Prepare site hooks and records the migration as
# pending; a veto (a non-zero exit) cancels it. "started" and "stopped" settle
# it from libvirt's status file: a stop during the incoming job runs the
# hooks' undo. Names libvirt accepts work; no secret of the XML is kept.
# /etc and /run are private copy-on-write layers (a mount namespace of the
# test's own). tests/hooks/libvirt-real.sh does the same with real libvirtd.
# Hook bodies are single-quoted on purpose: the hooks expand them.
# shellcheck source=tests/hooks/lib.sh disable=SC2154,SC2016
. "$top_srcdir/tests/hooks/lib.sh"
hk_private_mounts "$@"
adapter="$top_builddir/hooks/libvirt/migphase-libvirt-hook"
[ -x "$adapter" ] || mp_skip "the libvirt adapter is not built"
# The adapters read $(sysconfdir)/migphase: only /etc is a private layer here.
[ "${MP_SYSCONFDIR:-/etc}" = /etc ] ||
    mp_skip "configured with sysconfdir=$MP_SYSCONFDIR: the test writes only a private /etc"
mp_init
hk_private_etc
hk_private_run

hooks="$MP_TMP/hooks"
mkdir -p "$hooks" /etc/migphase /etc/libvirt/hooks/qemu.d
printf 'hooks-dir = %s\nstate-dir = %s\n' "$hooks" "$MP_STATE" >/etc/migphase/migphase.conf
# As docs/hooks.md says to install it.
ln -s "$adapter" /etc/libvirt/hooks/qemu.d/50-migphase
hk_hook "$hooks" prepare 10-record \
    'd=${0%/*}/..; cat >"$d/stdin$MIGPHASE_OUTCOME"; env >"$d/env$MIGPHASE_OUTCOME"
echo "<extension name=\"seen\"><domain name=\"$MIGPHASE_DOMAIN\"/></extension>"'

cat >"$MP_TMP/vm1.xml" <<'EOF'
<domain type='kvm'>
  <name>vm1</name>
  <uuid>5f2b4a8e-3c1d-4e6f-9a7b-8c9d0e1f2a3b</uuid>
  <memory unit='KiB'>65536</memory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <graphics type='vnc' port='-1' autoport='yes' passwd='Gr4phPW-marker'/>
    <disk type='network' device='disk'>
      <source protocol='rbd' name='pool/vm1'>
        <auth username='admin'><secret type='ceph' usage='Secr3tUsage-marker'/></auth>
      </source>
      <target dev='vda'/>
    </disk>
    <interface type='bridge'>
      <source bridge='br0'/>
      <target dev='vnet0'/>
      <model type='virtio'/>
    </interface>
  </devices>
</domain>
EOF

# libvirt HOOK_ARGS...: run the installed hook as libvirtd does: libvirt's
# filtered environment (virCommandAddEnvPassCommon), the domain XML on
# stdin; stdout in $MP_TMP/out, stderr in $MP_TMP/err, status in $rc.
libvirt() {
    rc=0
    env -i LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root USER=root LOGNAME=root /etc/libvirt/hooks/qemu.d/50-migphase "$@" \
        <"$MP_TMP/${xml:-vm1}.xml" >"$MP_TMP/out" 2>"$MP_TMP/err" || rc=$?
    echo "qemu.d/50-migphase $*: exit $rc $(cat "$MP_TMP/err")"
}
record="$MP_STATE/destination/vm1/record"

echo "== migrate begin: the Prepare hooks run, the migration is recorded, pending"
libvirt vm1 migrate begin -
mp_expect_status 0 "$rc" "migrate begin"
[ ! -s "$MP_TMP/out" ] || mp_fail "the hook changed the domain XML: $(cat "$MP_TMP/out")"
for kv in MIGPHASE_STEP=prepare MIGPHASE_ROLE=destination MIGPHASE_DOMAIN=vm1 \
    MIGPHASE_UUID=5f2b4a8e-3c1d-4e6f-9a7b-8c9d0e1f2a3b MIGPHASE_PEER_HOST= MIGPHASE_OUTCOME=; do
    grep -qx "$kv" "$hooks/env" || mp_fail "the Prepare hook did not get $kv: $(cat "$hooks/env")"
done
grep -q 'LC_ALL\|HOME=' "$hooks/env" && mp_fail "libvirt's environment reached the hook"
grep -q '<description format="libvirt-xml">' "$hooks/stdin" ||
    mp_fail "the hook's cookie does not carry the domain XML"
grep -q '&lt;source bridge=.br0./&gt;' "$hooks/stdin" || mp_fail "the domain XML is not all there"
grep -q '<item key="manager">libvirt</item>' "$hooks/stdin" || mp_fail "no manager=libvirt"
grep -q 'marker' "$hooks/stdin" && mp_fail "the hooks got the domain's secrets: $(grep marker "$hooks/stdin")"
grep -q 'graphics type=.vnc.' "$hooks/stdin" || mp_fail "the graphics went with the passwd"
grep -qx 'closed = no' "$record" || mp_fail "the record is closed at once: $(cat "$record")"
for line in 'step = prepare' 'phase = done' 'fact.manager = libvirt'; do
    grep -qx "$line" "$record" || mp_fail "the record lacks '$line': $(cat "$record")"
done
grep -q '<extension name="seen" hook="prepare:10-record"><domain name="vm1"/></extension>' \
    "$MP_STATE/destination/vm1/prepare-out.xml" || mp_fail "the hook's extension was not kept"

echo "== started, as libvirt calls it: the destination QEMU runs, the stream is to come"
hk_libvirt_status vm1 "migration in"
libvirt vm1 started begin -
mp_expect_status 0 "$rc" "started begin"
grep -qx 'closed = no' "$record" || mp_fail "closed before the stream: $(cat "$record")"

echo "== stopped during the incoming job: the hooks undo, the record closes as failed"
rm -f "$hooks/envfailed"
libvirt vm1 stopped end -
mp_expect_status 0 "$rc" "stopped end"
grep -qx MIGPHASE_OUTCOME=failed "$hooks/envfailed" || mp_fail "the Prepare hook was not undone"
for line in 'closed = yes' 'step = finish' 'outcome = failed'; do
    grep -qx "$line" "$record" || mp_fail "the record lacks '$line': $(cat "$record")"
done
hk_libvirt_status vm1 ""
libvirt vm1 release end -
mp_expect_status 0 "$rc" "release end"
mp_assert_nothing_pending

echo "== QEMU dead before the stream: no job left, but the VM never resumed here"
# libvirt 9.0 ends the "migration in" job before it stops the VM then.
rm -f "$hooks/envfailed"
libvirt vm1 migrate begin -
mp_expect_status 0 "$rc" "migrate begin"
hk_libvirt_status vm1 "migration in"
libvirt vm1 started begin -
hk_libvirt_status vm1 none
libvirt vm1 stopped end -
grep -qx MIGPHASE_OUTCOME=failed "$hooks/envfailed" || mp_fail "the Prepare hook was not undone"
grep -qx 'outcome = failed' "$record" || mp_fail "the record lacks 'outcome = failed': $(cat "$record")"
hk_libvirt_status vm1 ""
libvirt vm1 release end -
mp_assert_nothing_pending

echo "== a migration that succeeds: closed as a success, no undo"
rm -f "$hooks/envfailed"
libvirt vm1 migrate begin -
mp_expect_status 0 "$rc" "migrate begin"
hk_libvirt_status vm1 "migration in"
libvirt vm1 started begin -
# Later, the VM running here (no job), libvirt stops it.
hk_libvirt_status vm1 none running migrated
libvirt vm1 stopped end -
[ ! -e "$hooks/envfailed" ] || mp_fail "a migration that succeeded was undone"
for line in 'closed = yes' 'outcome = success'; do
    grep -qx "$line" "$record" || mp_fail "the record lacks '$line': $(cat "$record")"
done
# A libvirt that runs "started" after the stream: settled there.
libvirt vm1 migrate begin -
hk_libvirt_status vm1 none running migrated
libvirt vm1 started begin -
grep -qx 'closed = yes' "$record" || mp_fail "started with no job left it open: $(cat "$record")"
mp_assert_nothing_pending

echo "== The rest of libvirt's calls: accepted, nothing done"
cp "$record" "$MP_TMP/record.before"
rm "$hooks/env"
for call in "prepare begin -" "start begin -" "started begin -" "stopped end -" \
    "release end migrated" "restore begin -" "reconnect begin -"; do
    # shellcheck disable=SC2086 # the operation, its sub-operation and extra
    libvirt vm1 $call
    mp_expect_status 0 "$rc" "$call"
    [ ! -s "$MP_TMP/out" ] || mp_fail "$call printed something"
done
[ ! -e "$hooks/env" ] || mp_fail "a hook ran for another operation than migrate begin"
cmp -s "$record" "$MP_TMP/record.before" || mp_fail "another operation touched the journal"
hk_libvirt_status vm1 ""
xml=vm1 libvirt other started begin -
[ ! -e "$MP_STATE/destination/other" ] || mp_fail "a domain with no migration got a journal"

echo "== A hook vetoes: libvirt is told to cancel, nothing is left behind"
hk_hook "$hooks" prepare 20-veto 'echo "no SAN path to $MIGPHASE_DOMAIN" >&2; exit 1'
libvirt vm1 migrate begin -
[ "$rc" -ne 0 ] || mp_fail "the veto did not fail the hook"
grep -q "prepare hooks: hook 20-veto vetoed the step: exited with status 1: no SAN path to vm1" \
    "$MP_TMP/err" || mp_fail "the veto's reason is not on stderr"
grep -qx MIGPHASE_OUTCOME=cancelled "$hooks/envcancelled" || mp_fail "10-record was not undone"
[ ! -e "$record" ] || mp_fail "a vetoed migration left a record"
rm "$hooks/prepare.d/20-veto"

echo "== An unfinished migphase migration of the domain: refused"
mkdir -p "$MP_STATE/destination/vm2"
python3 - "$MP_STATE/destination/vm2/record" <<'EOF'
import sys
body = (b"migphase-journal 1\nmigration-id = 6f1c2a9e-0d4b-4c8e-9a57-3b2d1e0f4a6c\n"
        b"domain = vm2\nuuid = 2b7e1516-28ae-4d2a-a6f7-15880912cf4f\ndriver = qemu\n"
        b"role = destination\nstep = prepare\nphase = done\noutcome = success\nclosed = no\n"
        b"updated-us = 1700000000000000\n")
h = 0xcbf29ce484222325
for b in body:
    h = ((h ^ b) * 0x100000001b3) % 2**64
open(sys.argv[1], "wb").write(body + b"checksum = %016x\n" % h)
EOF
sed 's/vm1/vm2/' "$MP_TMP/vm1.xml" >"$MP_TMP/vm2.xml"
xml=vm2 libvirt vm2 migrate begin -
[ "$rc" -ne 0 ] || mp_fail "a libvirt migration went ahead of an unfinished migphase one"
grep -q "domain vm2 has an unfinished migphase migration 6f1c2a9e" "$MP_TMP/err" ||
    mp_fail "unexpected refusal"
rm -r "$MP_STATE/destination/vm2"

echo "== Names libvirt accepts and the journal does not: encoded, the real name kept"
for name in "web server" "db+1" "_x.y" ".dot" "$(printf 'n%.0s' $(seq 140))+"; do
    sed "s|<name>vm1</name>|<name>$name</name>|" "$MP_TMP/vm1.xml" >"$MP_TMP/named.xml"
    xml=named libvirt "$name" migrate begin -
    mp_expect_status 0 "$rc" "migrate begin of '$name'"
    grep -qx "MIGPHASE_DOMAIN=$name" "$hooks/env" || mp_fail "the hook did not get '$name'"
    hk_libvirt_status "$name" "migration in"
    xml=named libvirt "$name" stopped end -
    grep -qx MIGPHASE_OUTCOME=failed "$hooks/envfailed" || mp_fail "'$name' was not undone"
    hk_libvirt_status "$name" ""
done
[ -f "$MP_STATE/destination/web_20server/record" ] || mp_fail "no journal web_20server"
grep -qx 'fact.libvirt-domain = web server' "$MP_STATE/destination/web_20server/record" ||
    mp_fail "the record does not keep the real name"
[ -f "$MP_STATE/destination/db_2B1/record" ] || mp_fail "no journal db_2B1"
for d in "$MP_STATE"/destination/*; do
    [ "${#d}" -le $((${#MP_STATE} + 13 + 128)) ] || mp_fail "journal name too long: $d"
done
mp_assert_nothing_pending
# Another domain whose name is the encoded one: refused, not mixed up.
sed 's|<name>vm1</name>|<name>web server</name>|' "$MP_TMP/vm1.xml" >"$MP_TMP/named.xml"
xml=named libvirt "web server" migrate begin -
sed 's|<name>vm1</name>|<name>web_20server</name>|' "$MP_TMP/vm1.xml" >"$MP_TMP/named.xml"
xml=named libvirt "web_20server" migrate begin -
[ "$rc" -ne 0 ] || mp_fail "two domains shared one journal"
grep -q "domain web_20server has the journal directory of domain web server" "$MP_TMP/err" ||
    mp_fail "unexpected refusal"
hk_libvirt_status "web server" "migration in"
xml=named libvirt "web server" stopped end -
hk_libvirt_status "web server" ""

echo "== No secret of the domain XML on disk"
if grep -rl 'marker' "$MP_STATE" "$hooks"; then
    mp_fail "a secret of the domain XML was written: $(grep -rl marker "$MP_STATE" "$hooks")"
fi

echo "== Domain XML that is empty or does not parse: left out, the hooks still run"
: >"$MP_TMP/empty.xml"
printf '<domain><name>vm1</name>' >"$MP_TMP/truncated.xml"
for xml in empty truncated; do
    libvirt vm1 migrate begin -
    mp_expect_status 0 "$rc" "migrate begin with $xml domain XML"
    grep -q '<description' "$hooks/stdin" && mp_fail "the cookie carries $xml domain XML"
    grep -qx MIGPHASE_DOMAIN=vm1 "$hooks/env" || mp_fail "the Prepare hook did not run"
    hk_libvirt_status vm1 "migration in"
    libvirt vm1 stopped end -
    hk_libvirt_status vm1 ""
done
unset xml
mp_assert_nothing_pending

echo "== Called by hand with the wrong arguments: a usage error"
libvirt vm1 migrate
mp_expect_status 2 "$rc" "three arguments"
mp_assert_nothing_pending
echo "PASS: libvirt qemu.d adapter: Prepare hooks, veto, journal, other operations untouched"
