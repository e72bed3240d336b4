#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Reading the test bed's serial log (Xen's console and dom0's), for
# tests/xen/testbed.sh; tests/xen/emulator-fault.sh tests it on Xen's dumps.

# Xen's dump of each guest that triple-faulted: what it ran, as Xen saw it.
triple_fault_dumps() { # SERIAL
    tr -d '\r' <"$1" | awk '/\(XEN\) d[0-9]+v[0-9]+ Triple fault/ { n = 16 }
        n > 0 && /^\(XEN\)/ { print "  | " $0; n-- }'
}

# A guest's triple fault that QEMU's emulation of SVM made, not the guest
# nor migphase: Xen's dump shows, as the guest's own registers, Xen's: an
# instruction pointer in Xen's code (0xffff82d040000000 on), where no guest
# runs, and Xen's code segment (0xe008). In every dump seen so far, RIP is
# the instruction after Xen's VMRUN, RSP in Xen's stack and CR2 = RIP: TCG
# stored the hypervisor's state as the guest's, then faulted on it.
emulator_fault() { # SERIAL
    tr -d '\r' <"$1" | awk '/\(XEN\) d[0-9]+v[0-9]+ Triple fault/ { dump = 1; xen_rip = 0; next }
        dump && /\(XEN\) RIP:/ { xen_rip = ($0 ~ /\[<ffff82d0[4-7][0-9a-f]*>\]/) }
        dump && /\(XEN\) ds: .* cs: / {
            dump = 0
            if (xen_rip && $NF == "e008") found = 1
        }
        END { exit !found }'
}
