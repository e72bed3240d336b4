#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The network-taps example between two network namespaces, with a real guest
# NIC (an e1000 on a tap, in a bridge): Begin's hook reads the source's
# bridge, Prepare's hook makes the same tap in the same-named bridge on the
# destination (and removes it again when a later hook vetoes), the
# destination QEMU opens that tap without privileges, Confirm's hook removes
# the source's tap.
#
# Making taps needs CAP_NET_ADMIN: the helpers get --hook-capabilities
# net_admin, keep it for their hooks only (docs/hooks.md, "Privileges"), and
# the test checks that the hooks, and only they, have it.
# Hook bodies are single-quoted on purpose: the hooks expand them.
# shellcheck source=tests/hooks/lib.sh disable=SC2154,SC2016
. "$top_srcdir/tests/hooks/lib.sh"
mp_require_qemu
mp_require_root
command -v ip >/dev/null || mp_skip "iproute2 is not installed"
mp_init
# QEMU opens the tap as qemu-user through /dev/net/tun, which udev makes
# 0666; where it is root's alone (some containers), the VM runs as root.
if [ "$(stat -c %a /dev/net/tun 2>/dev/null)" != 666 ]; then
    echo "note: /dev/net/tun is $(stat -c %a /dev/net/tun 2>/dev/null || echo missing) here: qemu-user = root"
    echo "qemu-user = root" >>"$MIGPHASE_CONFIG"
fi

# The migration stream crosses a veth pair; the guest's NIC is on a bridge.
mp_two_hosts mph 10.214.0
src_ns=$MP_SRC_NS
dst_ns=$MP_DST_NS
in_src() { ip netns exec "$src_ns" "$@"; }
in_dst() { ip netns exec "$dst_ns" "$@"; }
for ns in "$src_ns" "$dst_ns"; do
    ip -n "$ns" link set lo up
    ip -n "$ns" link add mpbr0 type bridge
    ip -n "$ns" link set mpbr0 up
done
ip -n "$src_ns" tuntap add dev mptap0 mode tap user 0
ip -n "$src_ns" link set mptap0 mtu 1400 master mpbr0 up

mem=64
MP_PREFIX="ip netns exec $src_ns" mp_start_guest net $mem 32 \
    -netdev tap,id=n0,ifname=mptap0,script=no,downscript=no \
    -device e1000,netdev=n0,mac=52:54:00:12:34:56
src="$MP_TMP/net-src.qmp"
H="$MP_HELPERS"
S=(--state-dir "$MP_STATE" --hook-capabilities net_admin)
src_hooks="$MP_TMP/src-hooks"
dst_hooks="$MP_TMP/dst-hooks"
mkdir -p "$src_hooks" "$dst_hooks"

# Does a helper give its hooks CAP_NET_ADMIN (bit 12)?
hk_hook "$src_hooks" begin 00-capabilities \
    'sed -n "s/^CapEff:[[:space:]]*//p" /proc/self/status >"${0%/*}/../capabilities"'
hk_link "$src_hooks" begin 50-network-taps "$(hk_example network-taps)"
in_src "$H/migphase-begin" "${S[@]}" --hooks-dir "$src_hooks" --qmp "$src" --out "$MP_TMP/begin.xml"
[ $(((0x$(cat "$src_hooks/capabilities") >> 12) & 1)) -eq 1 ] ||
    mp_fail "the hooks did not get CAP_NET_ADMIN (CapEff $(cat "$src_hooks/capabilities"))"
step_hooks_dst=$dst_hooks step_hooks_src=$src_hooks
rm "$src_hooks/begin.d/00-capabilities"
hk_link "$step_hooks_dst" prepare 50-network-taps "$(hk_example network-taps)"
hk_link "$step_hooks_dst" finish 50-network-taps "$(hk_example network-taps)"
hk_link "$step_hooks_src" confirm 50-network-taps "$(hk_example network-taps)"

[ "$(hk_extension "$MP_TMP/begin.xml" network)" = '<tap name="mptap0" bridge="mpbr0" mtu="1400"/>' ] ||
    mp_fail "Begin's cookie does not describe the tap: $(hk_extension "$MP_TMP/begin.xml" network)"

# prepare_step: the destination's hooks and helper, in order.
prepare_step() {
    in_dst "$H/migphase-prepare" "${S[@]}" --hooks-dir "$dst_hooks" --qmp "$MP_TMP/net-dst.qmp" \
        --listen 10.214.0.2 --rewrite "$MP_TMP/net-src-=$MP_TMP/net-dst-" \
        --in "$MP_TMP/begin.xml" --out "$MP_TMP/prepare.xml"
}

echo "== A hook after network-taps vetoes Prepare: the tap it made goes again"
hk_hook "$step_hooks_dst" prepare 90-veto 'echo "not today" >&2; exit 1'
rc=0
prepare_step 2>"$MP_TMP/veto.err" || rc=$?
[ "$rc" -ne 0 ] || mp_fail "Prepare went on despite the veto"
grep -q "hook 90-veto vetoed the step: exited with status 1: not today" "$MP_TMP/veto.err" ||
    mp_fail "unexpected error: $(cat "$MP_TMP/veto.err")"
! ip -n "$dst_ns" link show mptap0 >/dev/null 2>&1 || mp_fail "the vetoed Prepare left mptap0 behind"
[ "$(mp_count_vms)" -eq 1 ] || mp_fail "the vetoed Prepare left a VM"
rm "$step_hooks_dst/prepare.d/90-veto"

echo "== Prepare without the bridge on the destination: refused"
ip -n "$dst_ns" link set mpbr0 name mpbr1
rc=0
prepare_step 2>"$MP_TMP/nobridge.err" || rc=$?
[ "$rc" -ne 0 ] || mp_fail "Prepare went on without the bridge"
grep -q "attaches mptap0 to bridge mpbr0, which this host does not have" "$MP_TMP/nobridge.err" ||
    mp_fail "unexpected error: $(cat "$MP_TMP/nobridge.err")"
! ip -n "$dst_ns" link show mptap0 >/dev/null 2>&1 || mp_fail "the refused Prepare left mptap0 behind"
ip -n "$dst_ns" link set mpbr1 name mpbr0

echo "== The migration"
prepare_step || mp_fail "Prepare failed"
ip -n "$dst_ns" -d link show mptap0 | grep -q "master mpbr0" || mp_fail "mptap0 is not in mpbr0"
ip -n "$dst_ns" link show mptap0 | grep -q "mtu 1400" || mp_fail "mptap0 lost its MTU"
in_src "$H/migphase-perform" "${S[@]}" --hooks-dir "$src_hooks" --progress none \
    --in "$MP_TMP/prepare.xml" --out "$MP_TMP/perform.xml" || mp_fail "Perform failed"
in_dst "$H/migphase-finish" "${S[@]}" --hooks-dir "$dst_hooks" \
    --in "$MP_TMP/perform.xml" --out "$MP_TMP/finish.xml" || mp_fail "Finish failed"
in_src "$H/migphase-confirm" "${S[@]}" --hooks-dir "$src_hooks" --in "$MP_TMP/finish.xml" ||
    mp_fail "Confirm failed"
grep -q 'hook-failures' "$MP_TMP/finish.xml" && mp_fail "a Finish hook failed: $(cat "$MP_TMP/finish.xml")"

[ "$(mp_where_running net)" = destination ] || mp_fail "guest runs: $(mp_where_running net)"
mp_verify_memory "$MP_TMP/net-dst.qmp" $mem || mp_fail "memory check failed on the destination"
# The destination's NIC is the same e1000, on the tap the hook made, which
# the destination QEMU (started without privileges) holds open.
network=$(mp_qmp "$MP_TMP/net-dst.qmp" human-monitor-command command-line="info network")
case $network in
*e1000*macaddr=52:54:00:12:34:56* | *macaddr=52:54:00:12:34:56*e1000*) ;;
*) mp_fail "the destination VM has no e1000 with the source's MAC: $network" ;;
esac
case $network in
*ifname=mptap0*) ;;
*) mp_fail "the destination's NIC is not on mptap0: $network" ;;
esac
[ "$(ip netns exec "$dst_ns" cat /sys/class/net/mptap0/carrier)" = 1 ] ||
    mp_fail "no process holds the destination's mptap0 open"
! ip -n "$src_ns" link show mptap0 >/dev/null 2>&1 || mp_fail "Confirm left the source's mptap0"
mp_assert_nothing_pending
echo "PASS: network-taps between namespaces, the hooks given CAP_NET_ADMIN by the helpers"
