/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "options.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "proc.h"

#define STEPS (MP_PROG_BEGIN | MP_PROG_PREPARE | MP_PROG_PERFORM | MP_PROG_FINISH | MP_PROG_CONFIRM)
#define ALL   (STEPS | MP_PROG_STATUS | MP_PROG_MIGRATE)

/* Where an option may be set. What decides whom a host trusts is the host's
 * own setting (CONFIG_ONLY), never an argument of whoever runs the helper. */
enum option_where {
    CLI_ONLY,       /* --name VALUE */
    CLI_AND_CONFIG, /* also `name = value` in the config file */
    CONFIG_ONLY,
};

struct option_def;
typedef int (*option_setter)(struct mp_options *o, const struct option_def *d, const char *value,
                             struct mp_error **err);

struct option_def {
    const char *name;
    const char *arg; /* NULL: a flag without value */
    unsigned programs;
    enum option_where where;
    option_setter set;
    size_t offset; /* of the field that set_string/set_u64/set_flag fill */
    const char *help;
};

#define FIELD(f) offsetof(struct mp_options, f)

static int
set_string(struct mp_options *o, const struct option_def *d, const char *value,
           struct mp_error **err)
{
    char **field = (char **)((char *)o + d->offset);
    free(*field);
    *field = xstrdup(value);
    return 0;
}

static int
set_flag(struct mp_options *o, const struct option_def *d, const char *value, struct mp_error **err)
{
    bool *field = (bool *)((char *)o + d->offset);
    if (!value || strcmp(value, "yes") == 0 || strcmp(value, "true") == 0 ||
        strcmp(value, "1") == 0)
        *field = true;
    else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0 || strcmp(value, "0") == 0)
        *field = false;
    else
        return mp_error_input(err, EINVAL, "--%s takes yes or no, not '%s'", d->name, value);
    return 0;
}

static int
set_u64(struct mp_options *o, const struct option_def *d, const char *value, struct mp_error **err)
{
    uint64_t *field = (uint64_t *)((char *)o + d->offset);
    if (mp_parse_u64(value, field) < 0)
        return mp_error_input(err, EINVAL, "--%s needs a whole number, not '%s'", d->name, value);
    return 0;
}

static int
set_offline(struct mp_options *o, const struct option_def *d, const char *value,
            struct mp_error **err)
{
    o->params.live = strcmp(d->name, "live") == 0;
    return 0;
}

static int
set_log_level(struct mp_options *o, const struct option_def *d, const char *value,
              struct mp_error **err)
{
    if (mp_log_level_parse(value, &o->log_level) < 0)
        return mp_error_input(err, EINVAL,
                              "--log-level takes error, warning, info or debug, not '%s'", value);
    return 0;
}

static int
set_port_range(struct mp_options *o, const struct option_def *d, const char *value,
               struct mp_error **err)
{
    unsigned lo, hi;
    char tail;
    if (sscanf(value, "%u-%u%c", &lo, &hi, &tail) != 2 || lo == 0 || lo > hi || hi > 65535)
        return mp_error_input(
            err, EINVAL, "--port-range needs LO-HI with 0 < LO <= HI < 65536, not '%s'", value);
    o->port_lo = (uint16_t)lo;
    o->port_hi = (uint16_t)hi;
    return 0;
}

static int
set_rewrite(struct mp_options *o, const struct option_def *d, const char *value,
            struct mp_error **err)
{
    const char *eq = strchr(value, '=');
    if (!eq || eq == value)
        return mp_error_input(err, EINVAL,
                              "--rewrite needs FROM=TO with a non-empty FROM, not '%s'", value);
    o->rewrites = mp_strv_append(o->rewrites, value);
    return 0;
}

static int
set_progress(struct mp_options *o, const struct option_def *d, const char *value,
             struct mp_error **err)
{
    static const char *const modes[] = {
        [MP_PROGRESS_AUTO] = "auto",
        [MP_PROGRESS_BAR] = "bar",
        [MP_PROGRESS_JSON] = "json",
        [MP_PROGRESS_NONE] = "none",
    };
    for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
        if (strcmp(value, modes[i]) == 0) {
            o->progress = (enum mp_progress_mode)i;
            return 0;
        }
    }
    return mp_error_input(err, EINVAL, "--progress takes auto, bar, json or none, not '%s'", value);
}

/* A list of blank-separated words (`emulators = /usr/bin/qemu-system-*`). */
static int
set_words(struct mp_options *o, const struct option_def *d, const char *value,
          struct mp_error **err)
{
    char ***field = (char ***)((char *)o + d->offset);
    mp_strv_free(*field);
    *field = mp_proc_split_command(value);
    if (!*field || !**field)
        return mp_error_input(err, EINVAL, "%s needs at least one value", d->name);
    return 0;
}

/* A group for cookies: checked when read, so that a wrong name stops a
 * step before it does anything. */
static int
set_group(struct mp_options *o, const struct option_def *d, const char *value,
          struct mp_error **err)
{
    if (!getgrnam(value))
        return mp_error_input(err, ENOENT, "%s: no such group '%s'", d->name, value);
    return set_string(o, d, value, err);
}

static int
set_trust(struct mp_options *o, const struct option_def *d, const char *value,
          struct mp_error **err)
{
    if (strcmp(value, "x509") == 0)
        o->trust_none = false;
    else if (strcmp(value, "none") == 0)
        o->trust_none = true;
    else
        return mp_error_input(err, EINVAL, "trust takes x509 or none, not '%s'", value);
    return 0;
}

/* tls = auto|on|off: the host's rule for streams, and Begin's request
 * unless --tls or --no-tls says otherwise. */
static int
set_tls(struct mp_options *o, const struct option_def *d, const char *value, struct mp_error **err)
{
    enum mp_tls_mode mode;
    if (mp_tls_mode_parse(value, &mode) < 0)
        return mp_error_input(err, EINVAL, "%s takes auto, on or off, not '%s'", d->name, value);
    o->tls = mode;
    o->params.tls = mode;
    return 0;
}

static int
set_copy_storage(struct mp_options *o, const struct option_def *d, const char *value,
                 struct mp_error **err)
{
    if (mp_copy_storage_parse(value, &o->params.copy_storage) < 0)
        return mp_error_input(err, EINVAL, "--%s takes all, incremental or none, not '%s'", d->name,
                              value);
    return 0;
}

static int
set_tls_flag(struct mp_options *o, const struct option_def *d, const char *value,
             struct mp_error **err)
{
    o->params.tls = strcmp(d->name, "tls") == 0 ? MP_TLS_ON : MP_TLS_OFF;
    return 0;
}

static int
set_converge(struct mp_options *o, const struct option_def *d, const char *value,
             struct mp_error **err)
{
    if (mp_converge_parse(value, &o->params.tuning.converge) < 0)
        return mp_error_input(err, EINVAL, "--%s takes auto or none, not '%s'", d->name, value);
    return 0;
}

/* --postcopy-after-precopy: the switch is the plan, so it is allowed too. */
static int
set_postcopy_after_precopy(struct mp_options *o, const struct option_def *d, const char *value,
                           struct mp_error **err)
{
    int r = set_flag(o, d, value, err);
    if (r == 0 && o->params.tuning.postcopy_after_precopy)
        o->params.tuning.postcopy = true;
    return r;
}

static int
set_compress(struct mp_options *o, const struct option_def *d, const char *value,
             struct mp_error **err)
{
    if (mp_compress_parse(value, &o->params.tuning.compress) < 0)
        return mp_error_input(err, EINVAL, "--%s takes none, zlib or zstd, not '%s'", d->name,
                              value);
    return 0;
}

/* A size in bytes, with an optional K, M or G (powers of 1024). */
static int
set_size(struct mp_options *o, const struct option_def *d, const char *value, struct mp_error **err)
{
    uint64_t *field = (uint64_t *)((char *)o + d->offset);
    _cleanup_free_ char *digits = xstrdup(value);
    size_t n = strlen(digits);
    unsigned shift = 0;
    const char *units = "KMG";
    const char *unit = n > 0 ? strchr(units, digits[n - 1] & ~0x20) : NULL;
    if (unit && *unit) {
        shift = 10 * (unsigned)(unit - units + 1);
        digits[n - 1] = '\0';
    }
    uint64_t v;
    if (mp_parse_u64(digits, &v) < 0 || v > (UINT64_MAX >> shift))
        return mp_error_input(err, EINVAL, "--%s needs a size such as 64M, not '%s'", d->name,
                              value);
    *field = v << shift;
    return 0;
}

/* A user QEMU runs as: checked when read, so that a wrong name stops
 * Prepare before it does anything. */
static int
set_user_name(struct mp_options *o, const struct option_def *d, const char *value,
              struct mp_error **err)
{
    if (!getpwnam(value))
        return mp_error_input(err, ENOENT, "%s: no such user '%s'", d->name, value);
    return set_string(o, d, value, err);
}

/* Directories, absolute: a relative one would depend on where a step runs. */
static int
set_directories(struct mp_options *o, const struct option_def *d, const char *value,
                struct mp_error **err)
{
    int r = set_words(o, d, value, err);
    char **dirs = *(char ***)((char *)o + d->offset);
    for (size_t i = 0; r == 0 && dirs[i]; i++)
        if (dirs[i][0] != '/')
            r = mp_error_input(err, EINVAL, "%s: '%s' is not an absolute path", d->name, dirs[i]);
    return r;
}

static const struct option_def option_defs[] = {
    { "in", "FILE", STEPS & ~MP_PROG_BEGIN, CLI_ONLY, set_string, FIELD(in_path),
      "read the previous step's cookie from FILE (- for standard input, the default)" },
    { "out", "FILE", STEPS & ~MP_PROG_CONFIRM, CLI_ONLY, set_string, FIELD(out_path),
      "write this step's cookie to FILE (- for standard output, the default)" },
    { "state-dir", "DIR", ALL, CLI_AND_CONFIG, set_string, FIELD(state_dir),
      "journal directory (default $MIGPHASE_STATE_DIR or " MP_JOURNAL_DEFAULT_STATE_DIR ")" },
    { "driver", "NAME", ALL & ~MP_PROG_STATUS, CLI_AND_CONFIG, set_string, FIELD(driver),
      "hypervisor driver (default qemu)" },
    { "config", "FILE", ALL, CLI_ONLY, set_string, FIELD(config_path),
      "configuration file (default " MP_DEFAULT_CONFIG ", if it exists)" },
    { "log-level", "LEVEL", ALL, CLI_AND_CONFIG, set_log_level, 0,
      "error, warning (default), info or debug" },
    { "user", "USER", STEPS, CLI_AND_CONFIG, set_string, FIELD(user),
      "run the step as USER after dropping capabilities" },
    { "hooks-dir", "DIR", STEPS | MP_PROG_MIGRATE, CLI_AND_CONFIG, set_string, FIELD(hooks_dir),
      "site hooks directory (default " MP_DEFAULT_HOOKS_DIR ")" },
    { "hook-capabilities", "CAPS", STEPS, CLI_AND_CONFIG, set_string, FIELD(hook_capabilities),
      "capabilities the site hooks get, e.g. net_admin (default: none)" },
    { "qmp", "SOCKET", MP_PROG_BEGIN | MP_PROG_PREPARE | MP_PROG_MIGRATE, CLI_ONLY, set_string,
      FIELD(qmp_socket), "QMP socket of the VM (prepare: of the destination VM to start)" },
    { "domain", "NAME", MP_PROG_BEGIN | MP_PROG_MIGRATE, CLI_ONLY, set_string, FIELD(domain),
      "domain name (default: QEMU's -name, else the socket's basename)" },
    { "domain", "NAME", MP_PROG_PERFORM | MP_PROG_FINISH, CLI_ONLY, set_string, FIELD(domain),
      "get ready for domain NAME's cookie before reading it (journal, VM's monitor)" },
    { "live", NULL, MP_PROG_BEGIN | MP_PROG_MIGRATE, CLI_ONLY, set_offline, 0,
      "migrate while the VM runs (default)" },
    { "offline", NULL, MP_PROG_BEGIN | MP_PROG_MIGRATE, CLI_ONLY, set_offline, 0,
      "pause the VM first, then send its state" },
    { "bandwidth", "MIB_PER_S", MP_PROG_BEGIN | MP_PROG_MIGRATE, CLI_AND_CONFIG, set_u64,
      FIELD(params.bandwidth_mib), "limit the stream (default 0: unlimited)" },
    { "downtime-ms", "N", MP_PROG_BEGIN | MP_PROG_MIGRATE, CLI_AND_CONFIG, set_u64,
      FIELD(params.downtime_ms),
      "longest pause allowed at switch-over (default: the hypervisor's)" },
    { "paused", NULL, MP_PROG_BEGIN | MP_PROG_MIGRATE, CLI_ONLY, set_flag, FIELD(params.paused),
      "leave the destination VM paused after Finish" },
    { "timeout", "S", MP_PROG_BEGIN | MP_PROG_MIGRATE, CLI_AND_CONFIG, set_u64,
      FIELD(params.timeout_s),
      "cancel a stream that has not completed after S seconds (default 0: none)" },
    { "parallel", "N", MP_PROG_BEGIN | MP_PROG_MIGRATE, CLI_AND_CONFIG, set_u64,
      FIELD(params.tuning.parallel),
      "send over N parallel channels, 1-64 (QEMU's multifd; default 0: one plain stream)" },
    { "compress", "METHOD", MP_PROG_BEGIN | MP_PROG_MIGRATE, CLI_AND_CONFIG, set_compress, 0,
      "compress the parallel channels: none (default), zlib or zstd; needs --parallel" },
    { "xbzrle", "SIZE", MP_PROG_BEGIN | MP_PROG_MIGRATE, CLI_AND_CONFIG, set_size,
      FIELD(params.tuning.xbzrle_bytes),
      "send changed pages as deltas against a cache of SIZE bytes (K, M, G), 1M-1T" },
    { "auto-converge", NULL, MP_PROG_BEGIN | MP_PROG_MIGRATE, CLI_AND_CONFIG, set_flag,
      FIELD(params.tuning.auto_converge),
      "slow the guest's vCPUs down while it dirties memory faster than the stream carries it" },
    { "throttle-initial", "PCT", MP_PROG_BEGIN | MP_PROG_MIGRATE, CLI_AND_CONFIG, set_u64,
      FIELD(params.tuning.throttle_initial),
      "with --auto-converge: the first throttle, 1-99 (default 20)" },
    { "throttle-step", "PCT", MP_PROG_BEGIN | MP_PROG_MIGRATE, CLI_AND_CONFIG, set_u64,
      FIELD(params.tuning.throttle_step),
      "with --auto-converge: how much more each time, 1-99 (default 10)" },
    { "converge", "POLICY", MP_PROG_BEGIN | MP_PROG_MIGRATE, CLI_AND_CONFIG, set_converge, 0,
      "auto (default): Perform raises the downtime limit of a stream that does not converge; "
      "none" },
    { "postcopy", NULL, MP_PROG_BEGIN | MP_PROG_MIGRATE, CLI_AND_CONFIG, set_flag,
      FIELD(params.tuning.postcopy),
      "allow a switch to postcopy: the last step of --converge auto, after which the source "
      "never runs again" },
    { "postcopy-after-precopy", NULL, MP_PROG_BEGIN | MP_PROG_MIGRATE, CLI_AND_CONFIG,
      set_postcopy_after_precopy, FIELD(params.tuning.postcopy_after_precopy),
      "switch to postcopy right after the first pass (implies --postcopy)" },
    { "downtime-ceiling-ms", "N", MP_PROG_PERFORM | MP_PROG_MIGRATE, CLI_AND_CONFIG, set_u64,
      FIELD(downtime_ceiling_ms),
      "--converge auto raises the downtime limit up to N ms (default 2000)" },
    { "listen", "ADDR", MP_PROG_PREPARE | MP_PROG_MIGRATE, CLI_AND_CONFIG, set_string,
      FIELD(listen_addr),
      "address to receive the stream on (default: the only one this host has, loopback)" },
    { "port-range", "LO-HI", MP_PROG_PREPARE | MP_PROG_MIGRATE, CLI_AND_CONFIG, set_port_range, 0,
      "ports to try for the stream (default 49152-49215)" },
    { "rewrite", "FROM=TO", MP_PROG_PREPARE | MP_PROG_MIGRATE, CLI_ONLY, set_rewrite, 0,
      "replace FROM by TO in every argument of the VM's command line (repeatable)" },
    { "launcher", "CMD", MP_PROG_PREPARE | MP_PROG_MIGRATE, CLI_AND_CONFIG, set_string,
      FIELD(launcher),
      "start the destination VM through this command prefix (default: daemonize)" },
    { "progress", "MODE", MP_PROG_PERFORM | MP_PROG_MIGRATE, CLI_AND_CONFIG, set_progress, 0,
      "auto (a bar on a terminal), bar, json (lines on stderr) or none" },
    { "resume", NULL, MP_PROG_PREPARE | MP_PROG_PERFORM, CLI_ONLY, set_flag, FIELD(resume),
      "recover a paused postcopy: prepare listens again (migrate-recover), perform resumes the "
      "stream to prepare's new cookie" },
    { "cancelled", NULL, MP_PROG_FINISH | MP_PROG_CONFIRM, CLI_ONLY, set_flag, FIELD(cancelled),
      "undo the migration on this host instead of completing it" },
    { "force", NULL, MP_PROG_CONFIRM, CLI_ONLY, set_flag, FIELD(force),
      "with --cancelled: resume the source although no cookie proves the destination gave up" },
    { "qmp-timeout-ms", "N", STEPS | MP_PROG_STATUS | MP_PROG_MIGRATE, CLI_AND_CONFIG, set_u64,
      FIELD(qmp_timeout_ms), "bound on every QMP reply (default 10000)" },
    { "stall-timeout-ms", "N", MP_PROG_PERFORM | MP_PROG_CONFIRM | MP_PROG_MIGRATE, CLI_AND_CONFIG,
      set_u64, FIELD(stall_timeout_ms),
      "give up a stream that sends nothing for N ms: perform cancels it, confirm stops waiting "
      "for a postcopy's end (default 30000; 0: never)" },
    { "incoming-timeout-ms", "N", MP_PROG_FINISH | MP_PROG_MIGRATE, CLI_AND_CONFIG, set_u64,
      FIELD(incoming_timeout_ms), "bound on waiting for the incoming stream (default 600000)" },
    { "exit-timeout-ms", "N", STEPS | MP_PROG_STATUS | MP_PROG_MIGRATE, CLI_AND_CONFIG, set_u64,
      FIELD(exit_timeout_ms), "bound on waiting for a VM process to exit (default 10000)" },
    { "dest-qmp", "SOCKET", MP_PROG_MIGRATE, CLI_ONLY, set_string, FIELD(dest_qmp_socket),
      "QMP socket for the destination VM that Prepare starts" },
    { "local", NULL, MP_PROG_MIGRATE, CLI_ONLY, set_flag, FIELD(local),
      "run the destination's steps on this host" },
    { "transport", "CMD", MP_PROG_MIGRATE, CLI_AND_CONFIG, set_string, FIELD(transport),
      "run the destination's steps through this command prefix (ssh HOST, ip netns exec NS)" },
    { "json", NULL, MP_PROG_STATUS, CLI_ONLY, set_flag, FIELD(json), "machine-readable output" },
    { "recover", NULL, MP_PROG_STATUS, CLI_ONLY, set_flag, FIELD(recover),
      "apply the unambiguous recovery actions" },
    { "rules", NULL, MP_PROG_STATUS, CLI_ONLY, set_flag, FIELD(print_rules),
      "print the recovery rules as a Markdown table" },
    { "drivers", NULL, MP_PROG_STATUS, CLI_ONLY, set_flag, FIELD(list_drivers),
      "print the drivers compiled in and what they support" },
    { "verbose", NULL, ALL, CLI_ONLY, set_flag, FIELD(verbose),
      "with --version: the support matrix" },
    { "pki-dir", "DIR", ALL, CLI_AND_CONFIG, set_string, FIELD(pki_dir),
      "this host's CA, certificate and key (default $MIGPHASE_PKI_DIR or " MP_DEFAULT_PKI_DIR ")" },
    { "trust", "MODE", ALL, CONFIG_ONLY, set_trust, 0,
      "x509 (default): cookies are signed and verified; none: a lab without keys" },
    { "cookie-max-age", "S", MP_PROG_PREPARE, CONFIG_ONLY, set_u64, FIELD(cookie_max_age_s),
      "refuse a Begin cookie signed longer ago than S seconds (default 300)" },
    { "cookie-group", "GROUP", STEPS | MP_PROG_MIGRATE, CONFIG_ONLY, set_group, FIELD(cookie_group),
      "cookies written with --out are readable by GROUP (mode 0640; default 0600)" },
    { "emulators", "PATH...", ALL, CONFIG_ONLY, set_words, FIELD(emulators),
      "the emulator binaries a VM may run (default " MP_DEFAULT_EMULATORS ")" },
    { "vm-users", "USER...", MP_PROG_BEGIN | MP_PROG_MIGRATE, CONFIG_ONLY, set_words,
      FIELD(vm_users),
      "the users a VM process may run as (default root " MP_DEFAULT_QEMU_USER ")" },
    { "allowed-paths", "DIR...", MP_PROG_PREPARE | MP_PROG_MIGRATE, CONFIG_ONLY, set_directories,
      FIELD(allowed_paths),
      "every file of the VM's command line must be under one of these "
      "(default " MP_DEFAULT_ALLOWED_PATHS ")" },
    { "qemu-user", "USER", MP_PROG_PREPARE | MP_PROG_MIGRATE, CONFIG_ONLY, set_user_name,
      FIELD(qemu_user),
      "the user the destination VM runs as (default " MP_DEFAULT_QEMU_USER "; root "
      "only when named)" },
    { "tls", "MODE", ALL, CONFIG_ONLY, set_tls, 0,
      "auto (default: when both hosts have certificates), on or off: TLS for the stream" },
    { "tls", NULL, MP_PROG_BEGIN | MP_PROG_MIGRATE, CLI_ONLY, set_tls_flag, 0,
      "encrypt and authenticate the stream (refused without certificates)" },
    { "no-tls", NULL, MP_PROG_BEGIN | MP_PROG_MIGRATE, CLI_ONLY, set_tls_flag, 0,
      "send the stream in clear text" },
    { "copy-storage", "MODE", MP_PROG_BEGIN | MP_PROG_MIGRATE, CLI_ONLY, set_copy_storage, 0,
      "copy the VM's local disks with it: all (whole images), incremental (the top layer onto "
      "a backing chain the destination has) or none (default)" },
    { "disks", "LIST", MP_PROG_BEGIN | MP_PROG_MIGRATE, CLI_ONLY, set_string, FIELD(disks),
      "with --copy-storage: copy only these disks (comma-separated node or device names)" },
    { "unsafe", NULL, MP_PROG_BEGIN | MP_PROG_MIGRATE, CLI_ONLY, set_flag, FIELD(unsafe),
      "move the VM although a writable disk is local and not copied" },
    { "shared-paths", "PATH...", MP_PROG_BEGIN | MP_PROG_MIGRATE, CONFIG_ONLY, set_directories,
      FIELD(shared_paths),
      "directories and block devices every host sees: disks there are shared (default: none; "
      "NFS, CIFS, GlusterFS, CephFS, OCFS2 and GFS2 are recognised)" },
    { "check", NULL, MP_PROG_PREPARE, CLI_ONLY, set_flag, FIELD(check_only),
      "print the command line this host would run for the cookie, or the rule it breaks; start "
      "nothing" },
};

static const struct option_def *
find_option(const char *name, enum mp_program program)
{
    for (size_t i = 0; i < ARRAY_SIZE(option_defs); i++)
        if ((option_defs[i].programs & program) && strcmp(option_defs[i].name, name) == 0)
            return &option_defs[i];
    return NULL;
}

static void
set_defaults(struct mp_options *o, enum mp_program program)
{
    memset(o, 0, sizeof(*o));
    o->program = program;
    o->in_path = xstrdup("-");
    o->out_path = xstrdup("-");
    const char *env_state = getenv("MIGPHASE_STATE_DIR");
    o->state_dir = xstrdup(env_state && *env_state ? env_state : MP_JOURNAL_DEFAULT_STATE_DIR);
    o->driver = xstrdup("qemu");
    o->hooks_dir = xstrdup(MP_DEFAULT_HOOKS_DIR);
    o->log_level = MP_LOG_WARNING;
    o->params.live = true;
    mp_tuning_init(&o->params.tuning);
    o->port_lo = 49152;
    o->port_hi = 49215;
    o->progress = MP_PROGRESS_AUTO;
    o->qmp_timeout_ms = 10000;
    o->incoming_timeout_ms = 600000;
    o->exit_timeout_ms = 10000;
    o->stall_timeout_ms = MP_DEFAULT_STALL_TIMEOUT_MS;
    o->downtime_ceiling_ms = 2000;
    const char *env_pki = getenv("MIGPHASE_PKI_DIR");
    o->pki_dir = xstrdup(env_pki && *env_pki ? env_pki : MP_DEFAULT_PKI_DIR);
    o->cookie_max_age_s = 300;
    o->emulators = mp_proc_split_command(MP_DEFAULT_EMULATORS);
    o->vm_users = mp_proc_split_command("root " MP_DEFAULT_QEMU_USER);
    o->allowed_paths = mp_proc_split_command(MP_DEFAULT_ALLOWED_PATHS);
    o->qemu_user = xstrdup(MP_DEFAULT_QEMU_USER);
}

static char *
trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* The config file says whom this host trusts and what it runs: whoever may
 * write it may steer the host. Only root (or the user the helper runs as)
 * may own it, and nobody else may write it. */
static int
check_config_owner(int fd, const char *path, struct mp_error **err)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return mp_error_input(err, errno, "cannot stat %s: %s", path, strerror(errno));
    if (st.st_uid != 0 && st.st_uid != geteuid())
        return mp_error_input(err, EPERM,
                              "refusing %s: it is owned by uid %ld, not by root or this user", path,
                              (long)st.st_uid);
    /* Root's character devices (/dev/null, an empty config) hold nothing
     * anyone could have written. */
    bool root_device = S_ISCHR(st.st_mode) && st.st_uid == 0;
    if (!root_device && (st.st_mode & (S_IWGRP | S_IWOTH)))
        return mp_error_input(err, EPERM,
                              "refusing %s: others than its owner may write it (mode %04o); "
                              "chmod go-w it",
                              path, (unsigned)(st.st_mode & 07777));
    return 0;
}

/* key = value lines, '#' comments. Keys a program does not use are ignored so
 * that one file serves every helper; keys no helper knows are errors. */
static int
parse_config(struct mp_options *o, const char *path, bool must_exist, struct mp_error **err)
{
    _cleanup_free_ char *text = NULL;
    if (access(path, F_OK) < 0 && !must_exist)
        return 0;
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return mp_error_input(err, errno, "cannot open %s: %s", path, strerror(errno));
    int r = check_config_owner(fd, path, err);
    if (r == 0)
        r = mp_read_fd(fd, 1024 * 1024, &text, NULL, err);
    if (r < 0)
        return r;
    unsigned lineno = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        line = trim(line);
        if (!*line || *line == '#')
            continue;
        char *eq = strchr(line, '=');
        if (!eq)
            return mp_error_input(err, EINVAL, "%s:%u: expected 'key = value'", path, lineno);
        *eq = '\0';
        char *key = trim(line), *value = trim(eq + 1);
        const struct option_def *d = find_option(key, ALL);
        if (!d || d->where == CLI_ONLY)
            return mp_error_input(err, EINVAL, "%s:%u: unknown setting '%s'", path, lineno, key);
        if (!(d->programs & o->program))
            continue;
        r = d->set(o, d, value, err);
        if (r < 0)
            return mp_error_prefix(err, "%s:%u", path, lineno);
    }
    return 0;
}

static void
print_help(enum mp_program program, const char *usage)
{
    printf("%s\nOptions:\n", usage);
    for (size_t i = 0; i < ARRAY_SIZE(option_defs); i++) {
        const struct option_def *d = &option_defs[i];
        if (!(d->programs & program) || d->where == CONFIG_ONLY)
            continue;
        _cleanup_free_ char *left =
            xasprintf("--%s%s%s", d->name, d->arg ? " " : "", d->arg ? d->arg : "");
        printf("  %-25s %s\n", left, d->help);
    }
    printf("  %-25s %s\n  %-25s %s\n", "--help", "show this help", "--version", "show the version");
    /* migphase-status has exit statuses of its own, in its usage text. */
    if (program != MP_PROG_STATUS)
        printf("\nExit status: 0 done; 1 failed, nothing to recover; 2 usage or input error,\n"
               "nothing touched; 3 failed and left state behind: run migphase-status.\n");
}

/* The config file is read first so that the command line overrides it; find
 * --config before the full parse. */
static const char *
find_config_arg(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            return argv[i + 1];
        if (mp_str_has_prefix(argv[i], "--config="))
            return argv[i] + strlen("--config=");
    }
    return NULL;
}

/* Postcopy moves a running guest's memory on demand: an offline
 * migration has nothing to gain, and the disks' mirrors complete only at a
 * pre-copy switch-over (qemu/storage-source.c). */
static int
check_postcopy(const struct mp_params *p, struct mp_error **err)
{
    if (!p->tuning.postcopy)
        return 0;
    if (!p->live)
        return mp_error_input(err, EINVAL, "--postcopy is for live migrations, not --offline");
    if (p->copy_storage != MP_COPY_STORAGE_NONE)
        return mp_error_input(err, ENOTSUP,
                              "--postcopy cannot be combined with --copy-storage: the disks' "
                              "mirrors complete only at a pre-copy switch-over");
    return 0;
}

int
mp_options_parse(struct mp_options *o, enum mp_program program, const char *usage, int argc,
                 char **argv, struct mp_error **err)
{
    set_defaults(o, program);
    /* $MIGPHASE_CONFIG stands for --config, as $MIGPHASE_PKI_DIR does for
     * --pki-dir: a test or a hook directory points every helper at one file. */
    const char *config = find_config_arg(argc, argv);
    const char *env_config = getenv("MIGPHASE_CONFIG");
    if (!config && env_config && *env_config)
        config = env_config;
    int r = parse_config(o, config ? config : MP_DEFAULT_CONFIG, config != NULL, err);
    if (r < 0)
        return r;

    struct option longopts[ARRAY_SIZE(option_defs) + 3];
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(option_defs); i++) {
        if (!(option_defs[i].programs & program) || option_defs[i].where == CONFIG_ONLY)
            continue;
        longopts[n++] = (struct option){ option_defs[i].name,
                                         option_defs[i].arg ? required_argument : no_argument, NULL,
                                         (int)(256 + i) };
    }
    longopts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
    longopts[n++] = (struct option){ "version", no_argument, NULL, 'V' };
    longopts[n] = (struct option){ 0 };

    bool help = false, version = false;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "+:hV", longopts, NULL)) != -1) {
        if (c == 'h') {
            help = true;
        } else if (c == 'V') {
            version = true;
        } else if (c == '?') {
            return mp_error_input(err, EINVAL, "unknown option '%s' (see --help)",
                                  argv[optind - 1]);
        } else if (c == ':') {
            return mp_error_input(err, EINVAL, "option '%s' needs a value", argv[optind - 1]);
        } else {
            const struct option_def *d = &option_defs[c - 256];
            r = d->set(o, d, optarg, err);
            if (r < 0)
                return r;
        }
    }
    for (int i = optind; i < argc; i++)
        o->args = mp_strv_append(o->args, argv[i]);
    if (o->state_dir[0] != '/') {
        /* VM pid and log files live in the journal: they need a path that
         * means the same thing to the processes we start. */
        _cleanup_free_ char *cwd = getcwd(NULL, 0);
        if (!cwd)
            return mp_error_set_errno(err, errno, "cannot resolve --state-dir %s", o->state_dir);
        char *abs = xasprintf("%s/%s", cwd, o->state_dir);
        free(o->state_dir);
        o->state_dir = abs;
    }
    if (o->args && program != MP_PROG_STATUS)
        return mp_error_input(err, EINVAL, "unexpected argument '%s' (see --help)", o->args[0]);
    mp_log_set_level(o->log_level);

    if (help) {
        print_help(program, usage);
        return 0;
    }
    if (version) {
        printf("%s %s\n", mp_log_progname(), PACKAGE_VERSION);
        o->version_shown = true;
        return 0;
    }
    if (program == MP_PROG_BEGIN || program == MP_PROG_MIGRATE) {
        r = mp_tuning_check(&o->params.tuning, err);
        if (r == 0)
            r = check_postcopy(&o->params, err);
        if (r < 0)
            return r;
    }
    return 1;
}

void
mp_options_free(struct mp_options *o)
{
    free(o->in_path);
    free(o->out_path);
    free(o->state_dir);
    free(o->driver);
    free(o->config_path);
    free(o->user);
    free(o->hooks_dir);
    free(o->hook_capabilities);
    free(o->qmp_socket);
    free(o->domain);
    free(o->disks);
    mp_strv_free(o->shared_paths);
    free(o->listen_addr);
    mp_strv_free(o->rewrites);
    free(o->launcher);
    free(o->transport);
    free(o->dest_qmp_socket);
    mp_strv_free(o->args);
    free(o->pki_dir);
    free(o->cookie_group);
    mp_strv_free(o->emulators);
    mp_strv_free(o->vm_users);
    mp_strv_free(o->allowed_paths);
    free(o->qemu_user);
    memset(o, 0, sizeof(*o));
}
