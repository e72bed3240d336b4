/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Every option of qemu-system-*, and what the destination does with it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

enum qemu_option_action {
    QEMU_OPT_ALLOW,  /* copied as it is */
    QEMU_OPT_CHECK,  /* copied once its value passes the check named in the entry */
    QEMU_OPT_DROP,   /* left out: the helper sets its own (or none) */
    QEMU_OPT_REFUSE, /* the whole command line is refused */
};

/* How a CHECK option's value is checked (qemu/argv.c holds the functions). */
enum qemu_value_check {
    QEMU_CHECK_NONE,
    QEMU_CHECK_PATH,        /* the value is a file or directory */
    QEMU_CHECK_DISK,        /* a disk image: a path, or a protocol filename (refused) */
    QEMU_CHECK_FIRST_PATH,  /* a path, then ",key=value" options (-option-rom) */
    QEMU_CHECK_INITRD,      /* one path, or multiboot modules "path args,path args" */
    QEMU_CHECK_KEYS,        /* key=value options; keys naming files are paths */
    QEMU_CHECK_DRIVE,       /* -drive: as KEYS, file= may carry a protocol */
    QEMU_CHECK_BLOCKDEV,    /* -blockdev: key=value or JSON; file= names a node */
    QEMU_CHECK_CHARDEV,     /* -chardev: backend and its paths */
    QEMU_CHECK_CHAR_LEGACY, /* -serial, -parallel, -debugcon: "file:PATH", "unix:..." */
    QEMU_CHECK_NETDEV,      /* -netdev, -nic, -net: scripts, helpers, guestfwd */
    QEMU_CHECK_OBJECT,      /* -object: KEYS, and object types refused outright */
    QEMU_CHECK_ACPITABLE,   /* -acpitable: file=/data= are ':'-separated path lists */
    QEMU_CHECK_VNC,         /* -vnc: "unix:PATH" displays */
    QEMU_CHECK_SPICE,       /* -spice: x509 files, a unix socket in addr= */
};

struct qemu_option {
    const char *name; /* with one leading dash */
    bool takes_value;
    enum qemu_option_action action;
    enum qemu_value_check check; /* CHECK only */
    const char *why;             /* DROP and REFUSE: the reason, for messages */
};

/* The entry of an option, spelled "-name" or "--name", or NULL when QEMU
 * has no such option (or when arg is not an option at all). */
const struct qemu_option *qemu_option_lookup(const char *arg);
/* The whole table, *n entries, in no particular order. */
const struct qemu_option *qemu_option_table(size_t *n);
