/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "option-table.h"

#include <string.h>

/* Every option qemu-system-* accepts, from QEMU 7.2 to the newest release,
 * including those that exist on some targets only and those that came or
 * went in between (noted by version). An option missing here is refused:
 * the table is the destination's allow-list. tests/security/option-table.sh
 * compares it with the installed emulator's -help. */

#define ALLOW(n, v)                                                                                \
    {                                                                                              \
        n, v, QEMU_OPT_ALLOW, QEMU_CHECK_NONE, NULL                                                \
    }
#define CHECK(n, v, c)                                                                             \
    {                                                                                              \
        n, v, QEMU_OPT_CHECK, QEMU_CHECK_##c, NULL                                                 \
    }
#define DROP(n, v, why)                                                                            \
    {                                                                                              \
        n, v, QEMU_OPT_DROP, QEMU_CHECK_NONE, why                                                  \
    }
#define REFUSE(n, v, why)                                                                          \
    {                                                                                              \
        n, v, QEMU_OPT_REFUSE, QEMU_CHECK_NONE, why                                                \
    }
#define ARG  true
#define FLAG false

static const struct qemu_option options[] = {
    /* Standard options. */
    REFUSE("-h", FLAG, "it prints help and exits: no VM to receive"),
    REFUSE("-help", FLAG, "it prints help and exits: no VM to receive"),
    REFUSE("-version", FLAG, "it prints the version and exits: no VM to receive"),
    CHECK("-machine", ARG, KEYS), /* dtb=, kernel=, firmware=...; dumpdtb= refused */
    CHECK("-M", ARG, KEYS),
    ALLOW("-cpu", ARG),
    ALLOW("-accel", ARG),
    ALLOW("-smp", ARG),
    ALLOW("-numa", ARG),
    REFUSE("-add-fd", ARG, "it hands QEMU descriptors of the helper's, not files it can check"),
    REFUSE("-set", ARG, "it changes any option of any group after the checks"),
    CHECK("-global", ARG, KEYS), /* driver.romfile=... */
    CHECK("-boot", ARG, KEYS),   /* splash= */
    ALLOW("-m", ARG),
    CHECK("-mem-path", ARG, PATH),
    ALLOW("-mem-prealloc", FLAG),
    ALLOW("-k", ARG),
    REFUSE("-audio-help", FLAG, "it prints help and exits: no VM to receive"),
    CHECK("-audio", ARG, KEYS),    /* 7.1 */
    CHECK("-audiodev", ARG, KEYS), /* wav path= */
    ALLOW("-soundhw", ARG),
    CHECK("-device", ARG, KEYS), /* romfile=, loader file=, guest-loader kernel= */
    ALLOW("-name", ARG),
    ALLOW("-uuid", ARG),

    /* Block devices. */
    CHECK("-fda", ARG, DISK),
    CHECK("-fdb", ARG, DISK),
    CHECK("-hda", ARG, DISK),
    CHECK("-hdb", ARG, DISK),
    CHECK("-hdc", ARG, DISK),
    CHECK("-hdd", ARG, DISK),
    CHECK("-cdrom", ARG, DISK),
    CHECK("-blockdev", ARG, BLOCKDEV),
    CHECK("-drive", ARG, DRIVE),
    CHECK("-mtdblock", ARG, DISK),
    CHECK("-sd", ARG, DISK),
    CHECK("-pflash", ARG, DISK),
    ALLOW("-snapshot", FLAG),
    CHECK("-fsdev", ARG, KEYS),  /* path=, socket=; sock_fd= refused */
    CHECK("-virtfs", ARG, KEYS), /* the same */
    ALLOW("-iscsi", ARG),

    /* USB. */
    ALLOW("-usb", FLAG),
    ALLOW("-usbdevice", ARG), /* mouse, tablet, braille... since 2.12: no files */

    /* Display. */
    CHECK("-display", ARG, KEYS), /* rendernode= */
    ALLOW("-nographic", FLAG),
    ALLOW("-curses", FLAG),
    ALLOW("-alt-grab", FLAG),
    ALLOW("-ctrl-grab", FLAG),
    ALLOW("-sdl", FLAG),
    CHECK("-spice", ARG, SPICE),
    ALLOW("-portrait", FLAG),
    ALLOW("-rotate", ARG),
    ALLOW("-vga", ARG),
    ALLOW("-full-screen", FLAG),
    ALLOW("-g", ARG), /* ppc, sparc, m68k */
    CHECK("-vnc", ARG, VNC),
    ALLOW("-no-quit", FLAG),

    /* i386 (and a few others). */
    ALLOW("-win2k-hack", FLAG),
    ALLOW("-no-fd-bootchk", FLAG),
    ALLOW("-no-acpi", FLAG),
    ALLOW("-no-hpet", FLAG),
    CHECK("-acpitable", ARG, ACPITABLE),
    CHECK("-smbios", ARG, KEYS), /* file= */

    /* Network. */
    CHECK("-netdev", ARG, NETDEV),
    CHECK("-nic", ARG, NETDEV),
    CHECK("-net", ARG, NETDEV),

    /* Character devices and TPM. */
    CHECK("-chardev", ARG, CHARDEV),
    CHECK("-tpmdev", ARG, KEYS), /* passthrough path=, cancel-path= */

    /* Boot. */
    CHECK("-bios", ARG, PATH),
    CHECK("-kernel", ARG, PATH),
    CHECK("-shim", ARG, PATH), /* 9.0 */
    ALLOW("-append", ARG),
    CHECK("-initrd", ARG, INITRD),
    CHECK("-dtb", ARG, PATH),
    ALLOW("-compat", ARG),
    CHECK("-fw_cfg", ARG, KEYS), /* file= */

    /* Monitors, consoles, debugging. */
    CHECK("-serial", ARG, CHAR_LEGACY),
    CHECK("-parallel", ARG, CHAR_LEGACY),
    CHECK("-debugcon", ARG, CHAR_LEGACY),
    DROP("-monitor", ARG, "the helper gives the VM its own monitor"),
    DROP("-qmp", ARG, "the helper gives the VM its own monitor"),
    DROP("-qmp-pretty", ARG, "the helper gives the VM its own monitor"),
    DROP("-mon", ARG, "the helper gives the VM its own monitor"),
    DROP("-pidfile", ARG, "the launcher writes the pid file"),
    ALLOW("-singlestep", FLAG),
    DROP("-preconfig", FLAG, "the helper starts the VM paused for the incoming stream"),
    DROP("-S", FLAG, "the helper adds its own"),
    ALLOW("-overcommit", ARG),
    REFUSE("-gdb", ARG, "a gdbstub hands the guest's memory to whoever connects"),
    REFUSE("-s", FLAG, "a gdbstub on tcp::1234 hands the guest's memory to anyone"),
    ALLOW("-d", ARG),
    CHECK("-D", ARG, PATH),
    ALLOW("-dfilter", ARG),
    ALLOW("-seed", ARG),
    CHECK("-L", ARG, PATH),
    ALLOW("-enable-kvm", FLAG),
    ALLOW("-xen-domid", ARG),
    ALLOW("-xen-attach", FLAG),
    ALLOW("-xen-domid-restrict", FLAG),
    ALLOW("-no-reboot", FLAG),
    ALLOW("-no-shutdown", FLAG),
    ALLOW("-action", ARG),
    REFUSE("-loadvm", ARG, "the state comes from the migration stream, not a snapshot"),
    DROP("-daemonize", FLAG, "the launcher decides how the VM outlives the helper"),
    CHECK("-option-rom", ARG, FIRST_PATH),
    ALLOW("-rtc", ARG),
    CHECK("-icount", ARG, KEYS), /* rrfile= */
    ALLOW("-watchdog", ARG),
    ALLOW("-watchdog-action", ARG),
    ALLOW("-echr", ARG),
    DROP("-incoming", ARG, "the helper adds -incoming defer"),
    ALLOW("-only-migratable", FLAG),
    ALLOW("-nodefaults", FLAG),
    DROP("-sandbox", ARG, "the helper sets the destination's own seccomp policy"),
    REFUSE("-chroot", ARG, "the destination decides where its QEMU runs"),
    DROP("-runas", ARG, "the helper runs QEMU as the destination's own user"),
    DROP("-run-with", ARG, "the helper runs QEMU as the destination's own user"), /* 8.1 */
    DROP("-async-teardown", FLAG, "the helper decides how QEMU runs"),
    ALLOW("-prom-env", ARG), /* ppc, sparc */
    REFUSE("-semihosting", FLAG, "semihosting lets the guest open host files"),
    REFUSE("-semihosting-config", ARG, "semihosting lets the guest open host files"),
    ALLOW("-old-param", FLAG), /* arm */
    REFUSE("-readconfig", ARG, "its settings are in a file, not on the command line"),
    REFUSE("-writeconfig", ARG, "it writes a file of the source's choosing"),
    ALLOW("-no-user-config", FLAG),
    CHECK("-trace", ARG, KEYS), /* events=, file= */
    REFUSE("-plugin", ARG, "it loads code from a shared object"),
    ALLOW("-msg", ARG),
    REFUSE("-dump-vmstate", ARG, "it writes a file and exits"),
    ALLOW("-enable-sync-profile", FLAG),
    REFUSE("-perfmap", FLAG, "it writes /tmp/perf-PID.map outside the allowed directories"),
    REFUSE("-jitdump", FLAG, "it writes a jit dump outside the allowed directories"),
    CHECK("-object", ARG, OBJECT),
    ALLOW("-enable-fips", FLAG),
    REFUSE("-qtest", ARG, "the test protocol controls the guest's memory and devices"),
    REFUSE("-qtest-log", ARG, "the test protocol controls the guest's memory and devices"),
};

const struct qemu_option *
qemu_option_lookup(const char *arg)
{
    if (!arg || arg[0] != '-')
        return NULL;
    /* QEMU reads "--name" as "-name". */
    const char *name = arg[1] == '-' ? arg + 1 : arg;
    for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
        if (strcmp(options[i].name, name) == 0)
            return &options[i];
    return NULL;
}

const struct qemu_option *
qemu_option_table(size_t *n)
{
    *n = sizeof(options) / sizeof(options[0]);
    return options;
}
