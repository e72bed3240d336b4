#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The test bed boots again only when a guest's triple fault is the
# emulator's (tests/xen/serial-log.sh): Xen's own registers saved as the
# guest's. Fed a real dump from a test-bed run and its variants.
set -eu
: "${top_srcdir:?run from make check}"
. "$top_srcdir/tests/xen/serial-log.sh"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=0

# A run's serial log around the fault, as the test bed printed it: guest
# d3's saved RIP is the instruction after Xen's VMRUN, its RSP in Xen's
# stack, its code segment Xen's.
serial() {
    cat <<'LOG'
migphase-xen-test: [38]   migphase-prepare --listen 127.0.0.1 --in /tmp/mpt/offline.begin.xml --out /tmp/mpt/offline.prepare.xml -> 0
(XEN) d3v0 Triple fault - invoking HVM shutdown action 1
(XEN) *** Dumping Dom3 vcpu#0 state: ***
(XEN) ----[ Xen-4.17.7  x86_64  debug=n  Not tainted ]----
(XEN) CPU:    1
(XEN) RIP:    e008:[<ffff82d0402044a5>]
(XEN) RFLAGS: 0000000000000246   CONTEXT: hvm guest (d3v0)
(XEN) rax: 00000000af71b000   rbx: 0000000000000000   rcx: 00000000db0bef08
(XEN) rdx: ffff888004a1c640   rsi: ffff888004a1b080   rdi: ffffc900005fff58
(XEN) rbp: ffff888004a1b080   rsp: ffff8300bffd7f70   r8:  0000000000001000
(XEN) r9:  ffff888004b032f0   r10: 0000000000000000   r11: 0000000000000000
(XEN) r12: ffffc900005fff58   r13: 0000000000000000   r14: 0000000000000000
(XEN) r15: 0000000000000000   cr0: 0000000080050033   cr4: 00000000000006f0
(XEN) cr3: 00000000ad51f000   cr2: ffff82d0402044a5
(XEN) fsb: 000000000bcb63c0   gsb: ffff888005a00000   gss: 0000000000000000
(XEN) ds: 0000   es: 0000   fs: 0000   gs: 0000   ss: 0000   cs: e008
migphase-xen-test: [46]   migphase-perform --progress none --in /tmp/mpt/offline.prepare.xml --out /tmp/mpt/offline.perform.xml -> 0
LOG
}

expect() { # emulator|guest DESCRIPTION SED-SCRIPT
    serial | sed "$3" | sed 's/$/\r/' >"$log" # the console's CRLF
    if emulator_fault "$log"; then got=emulator; else got=guest; fi
    if [ "$got" = "$1" ]; then
        echo "ok - $2: $got"
    else
        echo "not ok - $2: $got, expected $1"
        failed=1
    fi
}

expect emulator "Xen's registers saved as the guest's" ''
expect guest "a guest's own triple fault (its kernel's RIP and code segment)" \
    's/ffff82d0402044a5/ffffffff8103c1e2/g; s/cs: e008/cs: 0010/'
expect guest "a guest RIP in Xen's range but the guest's code segment" 's/cs: e008/cs: 0010/'
expect guest "Xen's code segment but a guest RIP" 's/\[<ffff82d0402044a5>\]/[<ffffffff8103c1e2>]/'
expect guest "no triple fault in the log" '/Triple fault/d'
expect guest "a dump cut before its segments" '/ds: /d'

dumps=$(serial | triple_fault_dumps /dev/stdin | wc -l)
if [ "$dumps" -eq 15 ]; then
    echo "ok - the dump printed whole, 15 lines"
else
    echo "not ok - the dump printed in $dumps lines, expected 15"
    failed=1
fi
exit "$failed"
