/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Command-line options and the configuration file (key = value), parsed by one
 * table so that every option means the same thing in both places. */
#pragma once

#include "cookie.h"
#include "error.h"
#include "log.h"

#include <stdint.h>

/* Under the configured sysconfdir: /etc in distribution packages. */
#define MP_DEFAULT_CONFIG    MP_SYSCONFDIR "/migphase/migphase.conf"
#define MP_DEFAULT_HOOKS_DIR MP_SYSCONFDIR "/migphase/hooks"
/* Where hosts that run libvirt's TLS migration already keep QEMU's x509
 * files, so that such hosts need no new setup. */
#define MP_DEFAULT_PKI_DIR "/etc/pki/qemu"
/* The distribution's emulators (Debian's and Fedora's, RHEL's qemu-kvm). */
#define MP_DEFAULT_EMULATORS "/usr/bin/qemu-system-* /usr/libexec/qemu-kvm"
/* The unprivileged user the destination's QEMU runs as (systemd/sysusers). */
#define MP_DEFAULT_QEMU_USER "migphase-qemu"
/* --stall-timeout-ms: how long a stream may send nothing. Perform --resume
 * also bounds its wait for the recovered stream by it, 0 included (waiting
 * for ever there would hang on a connection that never comes). */
#define MP_DEFAULT_STALL_TIMEOUT_MS 30000
/* Where a VM's files may be: the usual image stores, the distribution's
 * firmware, and the devices every VM reads. */
#define MP_DEFAULT_ALLOWED_PATHS                                                                   \
    MP_LOCALSTATEDIR "/lib/migphase/images /var/lib/libvirt/images /var/lib/one/datastores "       \
                     "/run/migphase /usr/share/qemu /usr/share/seabios /usr/share/ovmf "           \
                     "/usr/share/OVMF /usr/share/AAVMF /usr/lib/ipxe /dev/urandom /dev/random "    \
                     "/dev/null"

/* Programs, as a mask, for the options each accepts. */
enum mp_program {
    MP_PROG_BEGIN = 1 << 0,
    MP_PROG_PREPARE = 1 << 1,
    MP_PROG_PERFORM = 1 << 2,
    MP_PROG_FINISH = 1 << 3,
    MP_PROG_CONFIRM = 1 << 4,
    MP_PROG_STATUS = 1 << 5,
    MP_PROG_MIGRATE = 1 << 6,
};

enum mp_progress_mode {
    MP_PROGRESS_AUTO, /* a bar on a terminal, nothing otherwise */
    MP_PROGRESS_BAR,
    MP_PROGRESS_JSON,
    MP_PROGRESS_NONE,
};

struct mp_options {
    enum mp_program program;
    /* common */
    char *in_path;  /* "-": standard input */
    char *out_path; /* "-": standard output */
    char *state_dir;
    char *driver;
    char *config_path;
    char *user;
    char *hooks_dir;
    char *hook_capabilities; /* comma-separated names, NULL: none */
    enum mp_log_level log_level;
    bool verbose;
    /* --version was answered; the engine adds the support matrix with
     * --verbose (this library knows no driver). */
    bool version_shown;
    /* begin */
    char *qmp_socket; /* begin: the source's; prepare: the new destination's */
    char *domain;
    struct mp_params params;
    char *disks;         /* --disks: comma-separated node or device names; NULL: all */
    bool unsafe;         /* --unsafe: move although a local disk is not copied */
    char **shared_paths; /* directories and devices every host sees (shared-paths) */
    /* prepare */
    char *listen_addr; /* NULL: loopback, on a host that has no other address */
    bool check_only;   /* --check: print the destination's command line, start nothing */
    uint16_t port_lo, port_hi;
    char **rewrites; /* FROM=TO, NULL-terminated */
    char *launcher;  /* command prefix, split on spaces; NULL: daemonize */
    /* perform */
    enum mp_progress_mode progress;
    /* finish, confirm */
    bool cancelled;
    bool resume; /* prepare, perform: recover a paused postcopy over a new connection */
    bool force;
    /* bounds on every wait (milliseconds) */
    uint64_t qmp_timeout_ms;
    uint64_t incoming_timeout_ms;
    uint64_t exit_timeout_ms;
    uint64_t stall_timeout_ms;
    uint64_t downtime_ceiling_ms; /* perform: --converge auto raises the limit up to this */
    /* status */
    bool json;
    bool recover;
    bool list_drivers;
    bool print_rules;
    /* migrate */
    bool local;
    char *transport; /* command prefix for the destination's steps */
    char *dest_qmp_socket;
    /* trust between hosts (config file only, but pki-dir) */
    char *pki_dir;
    bool trust_none;           /* trust = none: nothing signed or verified (a lab) */
    uint64_t cookie_max_age_s; /* prepare: oldest Begin cookie accepted */
    char *cookie_group;        /* NULL: --out files are 0600 */
    char **emulators;          /* glob patterns of the binaries a VM may run */
    char **vm_users;           /* users a VM process may run as */
    /* the destination's policy (config file only) */
    char **allowed_paths; /* directories every file of a VM must be under */
    char *qemu_user;      /* the user QEMU runs as; "root" only when named */
    enum mp_tls_mode tls; /* the host's rule for streams */
    /* positional arguments left after the options */
    char **args;
};

/* Parse the configuration file (if any) and then argv into opts. Returns <0
 * on error (MP_ERR_INPUT), 0 when it already answered (--help, --version),
 * >0 to go on. usage is the program's synopsis and contract for --help. */
int mp_options_parse(struct mp_options *opts, enum mp_program program, const char *usage, int argc,
                     char **argv, struct mp_error **err);
void mp_options_free(struct mp_options *opts);
