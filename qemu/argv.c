#include "config.h"

#include "argv.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

/* QEMU options that take no value (qemu-options.def without HAS_ARG). Every
 * other option takes exactly one, which is how QEMU's own parser reads argv. */
static const char *const flag_options[] = {
    "-S",
    "-daemonize",
    "-nographic",
    "-no-reboot",
    "-no-shutdown",
    "-snapshot",
    "-enable-kvm",
    "-no-user-config",
    "-nodefaults",
    "-no-hpet",
    "-no-acpi",
    "-full-screen",
    "-no-fd-bootchk",
    "-win2k-hack",
    "-rtc-td-hack",
    "-usb",
    "-s",
    "-version",
    "-help",
    "-h",
    "-preconfig",
    "-no-quit",
    "-no-frame",
    "-alt-grab",
    "-ctrl-grab",
    "-only-migratable",
    "-enable-fips",
    "-semihosting",
    "-old-param",
    "-enable-sync-profile",
    "-xen-attach",
    "-perfmap",
    "-jitdump",
};

/* Options whose value configures something we replace or refuse. */
static const char *const dropped_with_value[] = {
    "-incoming", "-pidfile", "-qmp", "-qmp-pretty", "-monitor", "-mon",
};
static const char *const dropped_flags[] = { "-daemonize", "-S" };
static const char *const refused_options[] = { "-readconfig" };

static bool
in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

/* "--qmp" and "-qmp" are the same option to QEMU. */
static const char *
normalize_option(const char *arg)
{
    if (arg[0] == '-' && arg[1] == '-' && arg[2])
        return arg + 1;
    return arg;
}

bool
qemu_option_takes_value(const char *option)
{
    return !in_list(normalize_option(option), flag_options, ARRAY_SIZE(flag_options));
}

char *
qemu_replace_all(const char *s, const char *from, const char *to)
{
    size_t from_len = strlen(from), to_len = strlen(to), count = 0;
    for (const char *p = strstr(s, from); p; p = strstr(p + from_len, from))
        count++;
    char *out = xmalloc(strlen(s) + count * to_len + 1);
    char *w = out;
    for (const char *p = s, *hit; (hit = strstr(p, from)); p = hit + from_len) {
        memcpy(w, p, (size_t)(hit - p));
        w += hit - p;
        memcpy(w, to, to_len);
        w += to_len;
        s = hit + from_len;
    }
    strcpy(w, s);
    return out;
}

/* The value of key=... in a comma-separated option string, or NULL. */
static char *
option_value(const char *opts, const char *key)
{
    size_t key_len = strlen(key);
    for (const char *p = opts; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > key_len && strncmp(p, key, key_len) == 0 && p[key_len] == '=')
            return xstrndup(p + key_len + 1, len - key_len - 1);
        p = end ? end + 1 : NULL;
    }
    return NULL;
}

/* The chardev ids that -mon options use: the monitor goes with its chardev. */
static char **
monitor_chardevs(char *const *argv)
{
    char **ids = NULL;
    for (size_t i = 1; argv[i] && argv[i + 1]; i++) {
        if (strcmp(normalize_option(argv[i]), "-mon") != 0)
            continue;
        _cleanup_free_ char *id = option_value(argv[i + 1], "chardev");
        if (id)
            ids = mp_strv_append(ids, id);
        i++;
    }
    return ids;
}

static bool
is_monitor_chardev(const char *value, char *const *ids)
{
    _cleanup_free_ char *id = option_value(value, "id");
    for (size_t i = 0; id && ids && ids[i]; i++)
        if (strcmp(ids[i], id) == 0)
            return true;
    return false;
}

static bool
has_control_char(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

static bool
is_server_socket(const char *value)
{
    _cleanup_free_ char *server = option_value(value, "server");
    if (server)
        return strcmp(server, "on") == 0 || strcmp(server, "yes") == 0 ||
               strcmp(server, "true") == 0;
    /* The old spelling: a bare "server" flag. */
    size_t n = strlen(value);
    return strstr(value, ",server,") || (n >= 7 && strcmp(value + n - 7, ",server") == 0);
}

/* A server socket the destination would create at a path that exists here
 * is the source's own (a local migration without --rewrite): QEMU would
 * unlink it and steal it from the source. */
static int
check_socket_paths(const char *option, const char *value, struct mp_error **err)
{
    if (strcmp(option, "-chardev") != 0 || !mp_str_has_prefix(value, "socket") ||
        !is_server_socket(value))
        return 0;
    _cleanup_free_ char *path = option_value(value, "path");
    struct stat st;
    if (path && stat(path, &st) == 0)
        return mp_error_input(err, EEXIST,
                              "the VM's socket %s already exists on this host; give the "
                              "destination its own path with --rewrite",
                              path);
    return 0;
}

static char *
rewrite(const char *arg, char *const *rewrites)
{
    char *s = xstrdup(arg);
    for (size_t i = 0; rewrites && rewrites[i]; i++) {
        const char *eq = strchr(rewrites[i], '=');
        _cleanup_free_ char *from = xstrndup(rewrites[i], (size_t)(eq - rewrites[i]));
        char *next = qemu_replace_all(s, from, eq + 1);
        free(s);
        s = next;
    }
    return s;
}

static int
check_binary(char *const *source, struct mp_error **err)
{
    if (!source || !source[0] || !*source[0])
        return mp_error_input(err, EINVAL, "the VM description has no command line");
    if (source[0][0] == '-')
        return mp_error_input(err, EINVAL,
                              "the VM's command line starts with an option, not a binary");
    return 0;
}

int
qemu_argv_for_destination(char *const *source, const struct qemu_argv_target *target, char ***out,
                          struct mp_error **err)
{
    int r = check_binary(source, err);
    if (r < 0)
        return r;
    for (size_t i = 0; source[i]; i++)
        if (has_control_char(source[i]))
            return mp_error_input(
                err, EINVAL, "argument %zu of the VM's command line holds a control character", i);
    _cleanup_strv_ char **monitors = monitor_chardevs(source);
    _cleanup_strv_ char **argv = NULL;
    for (size_t i = 0; source[i]; i++) {
        _cleanup_free_ char *arg = rewrite(source[i], target->rewrites);
        if (i == 0 || arg[0] != '-') {
            argv = mp_strv_append(argv, arg);
            continue;
        }
        const char *option = normalize_option(arg);
        if (in_list(option, refused_options, ARRAY_SIZE(refused_options)))
            return mp_error_input(
                err, EINVAL,
                "cannot move a VM started with %s: its settings are not on the command line",
                option);
        if (in_list(option, dropped_flags, ARRAY_SIZE(dropped_flags)))
            continue;
        if (!qemu_option_takes_value(option)) {
            argv = mp_strv_append(argv, arg);
            continue;
        }
        if (!source[i + 1])
            return mp_error_input(
                err, EINVAL, "option %s at the end of the VM's command line has no value", arg);
        _cleanup_free_ char *value = rewrite(source[++i], target->rewrites);
        if (in_list(option, dropped_with_value, ARRAY_SIZE(dropped_with_value)))
            continue;
        if (strcmp(option, "-chardev") == 0 && is_monitor_chardev(value, monitors))
            continue;
        r = check_socket_paths(option, value, err);
        if (r < 0)
            return r;
        argv = mp_strv_append(argv, arg);
        argv = mp_strv_append(argv, value);
    }
    const char *added[] = { "-S", "-incoming", "defer" };
    for (size_t i = 0; i < ARRAY_SIZE(added); i++)
        argv = mp_strv_append(argv, added[i]);
    if (target->qmp_fd >= 0) {
        _cleanup_free_ char *chardev =
            xasprintf("socket,id=migphase-qmp,fd=%d,server=on,wait=off", target->qmp_fd);
        argv = mp_strv_append(argv, "-chardev");
        argv = mp_strv_append(argv, chardev);
        argv = mp_strv_append(argv, "-mon");
        argv = mp_strv_append(argv, "chardev=migphase-qmp,mode=control");
    } else {
        _cleanup_free_ char *qmp = xasprintf("unix:%s,server=on,wait=off", target->qmp_socket);
        argv = mp_strv_append(argv, "-qmp");
        argv = mp_strv_append(argv, qmp);
    }
    if (target->pidfile) {
        argv = mp_strv_append(argv, "-pidfile");
        argv = mp_strv_append(argv, target->pidfile);
    }
    for (size_t i = 0; target->extra && target->extra[i]; i++)
        argv = mp_strv_append(argv, target->extra[i]);
    *out = steal_ptr(&argv);
    return 0;
}
