/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "argv.h"
#include "option-table.h"

#include <errno.h>
#include <fnmatch.h>
#include <glob.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    const struct qemu_option *opt = qemu_option_lookup(option);
    /* Unknown options are refused; until then, assume the usual shape. */
    return !opt || opt->takes_value;
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

/* The helper's own objects (TLS credentials, authorisation), named
 * "migphase-...": a VM that came here through migphase carries those of its
 * last Prepare, which the next one replaces with its own. */
static bool
is_helpers_object(const char *value)
{
    _cleanup_free_ char *id = NULL;
    if (value[0] == '{') {
        json_object *obj = json_tokener_parse(value), *v = NULL;
        if (obj && json_object_object_get_ex(obj, "id", &v) &&
            json_object_is_type(v, json_type_string))
            id = xstrdup(json_object_get_string(v));
        json_object_put(obj);
    } else {
        id = option_value(value, "id");
    }
    return id && mp_str_has_prefix(id, "migphase-");
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

/* The check of one option's value: what it is, for messages, and the
 * destination's policy. */
struct check {
    const char *option; /* as spelled on the command line */
    const char *value;
    const struct qemu_argv_target *target;
};

/* A space-separated list for messages ("(none)" when empty). */
static char *
words(char *const *list)
{
    if (!list || !list[0])
        return xstrdup("(none)");
    char *out = xstrdup(list[0]);
    for (size_t i = 1; list[i]; i++) {
        char *next = xasprintf("%s %s", out, list[i]);
        free(out);
        out = next;
    }
    return out;
}

static int refuse(const struct check *c, struct mp_error **err, const char *fmt, ...)
    _printf_(3, 4);

static int
refuse(const struct check *c, struct mp_error **err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *why = xvasprintf(fmt, ap);
    va_end(ap);
    return mp_error_input(err, EPERM, "refusing %s %s: %s", c->option, c->value, why);
}

/* Whether path is dir or under it, component by component: /var/lib/x
 * holds /var/lib/x/y, not /var/lib/xy. */
static bool
has_dir_prefix(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    if (n == 1 && dir[0] == '/')
        return true;
    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* The same for a resolved path and an allowed directory, which may itself
 * be reached through symbolic links. */
static bool
path_is_under(const char *path, const char *dir)
{
    char resolved[PATH_MAX];
    if (!realpath(dir, resolved))
        snprintf(resolved, sizeof(resolved), "%s", dir);
    return has_dir_prefix(path, resolved);
}

/* Where path leads on this host: realpath, or for a file QEMU would create,
 * its directory resolved plus its name. Only looks (stat, never open). */
static int
resolve_path(const struct check *c, const char *path, char **out, struct mp_error **err)
{
    char resolved[PATH_MAX];
    if (realpath(path, resolved)) {
        *out = xstrdup(resolved);
        return 0;
    }
    if (errno != ENOENT)
        return refuse(c, err, "cannot resolve %s: %s", path, strerror(errno));
    struct stat st;
    if (lstat(path, &st) == 0)
        return refuse(c, err, "%s is a symbolic link to nothing: QEMU would create its target",
                      path);
    const char *slash = strrchr(path, '/');
    const char *name = slash + 1;
    if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return refuse(c, err, "%s does not exist", path);
    _cleanup_free_ char *dir =
        slash == path ? xstrdup("/") : xstrndup(path, (size_t)(slash - path));
    if (!realpath(dir, resolved))
        return refuse(c, err, "%s does not exist, nor does its directory", path);
    *out = xasprintf("%s/%s", strcmp(resolved, "/") == 0 ? "" : resolved, name);
    return 0;
}

/* A file or directory the VM uses: absolute, and under allowed-paths once
 * symbolic links are followed. */
static int
check_path(const struct check *c, const char *path, struct mp_error **err)
{
    if (path[0] != '/')
        return refuse(c, err, "%s is not an absolute path", *path ? path : "\"\"");
    /* /proc/self/fd/N and /dev/fd/N lead elsewhere in QEMU than here. */
    if (has_dir_prefix(path, "/proc") || has_dir_prefix(path, "/dev/fd") ||
        mp_str_has_prefix(path, "/dev/std"))
        return refuse(c, err, "%s names a file of whichever process opens it", path);
    _cleanup_free_ char *resolved = NULL;
    int r = resolve_path(c, path, &resolved, err);
    if (r < 0)
        return r;
    if (has_dir_prefix(resolved, "/proc"))
        return refuse(c, err, "%s names a file of whichever process opens it", path);
    char *const *allowed = c->target->allowed_paths;
    for (size_t i = 0; allowed && allowed[i]; i++)
        if (allowed[i][0] == '/' && path_is_under(resolved, allowed[i]))
            return 0;
    _cleanup_free_ char *list = words(allowed);
    if (strcmp(resolved, path) != 0)
        return refuse(c, err,
                      "%s (which resolves to %s) is not under an allowed directory "
                      "(allowed-paths = %s)",
                      path, resolved, list);
    return refuse(c, err, "%s is not under an allowed directory (allowed-paths = %s)", path, list);
}

/* A disk image name: a path, "file:PATH", or another protocol (nbd:,
 * json:, fat:...), which the destination does not open from a cookie. */
static int
check_disk(const struct check *c, const char *name, struct mp_error **err)
{
    const char *colon = strchr(name, ':');
    const char *slash = strchr(name, '/');
    if (colon && (!slash || colon < slash)) {
        if (strncmp(name, "file:", 5) == 0)
            return check_path(c, name + 5, err);
        return refuse(c, err, "%.*s: is a protocol; the destination opens local files only",
                      (int)(colon - name), name);
    }
    return check_path(c, name, err);
}

/* key=value options, as QEMU reads them: ",," is a comma, the first item
 * may be a bare value (its key is ""), a later bare item is a flag "on". */
struct kv {
    char *key;
    char *value;
};

static void
kv_free(struct kv *kv)
{
    for (size_t i = 0; kv && kv[i].key; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

static void
kv_freep(struct kv **kv)
{
    kv_free(*kv);
}
#define _cleanup_kv_ _cleanup_(kv_freep)

static struct kv *
kv_add(struct kv *kv, size_t *n, const char *key, size_t key_len, const char *value)
{
    kv = xreallocarray(kv, *n + 2, sizeof(*kv));
    kv[*n] = (struct kv){ xstrndup(key, key_len), xstrdup(value) };
    kv[++*n] = (struct kv){ NULL, NULL };
    return kv;
}

/* The items of a comma-separated list, ",," read as a comma. */
static char **
split_items(const char *s)
{
    char **items = NULL;
    _cleanup_free_ char *item = xmalloc(strlen(s) + 1);
    while (*s) {
        char *w = item;
        for (; *s; s++) {
            if (*s == ',' && s[1] == ',') {
                *w++ = ',';
                s++;
            } else if (*s == ',') {
                s++;
                break;
            } else {
                *w++ = *s;
            }
        }
        *w = '\0';
        items = mp_strv_append(items, item);
    }
    return items;
}

static struct kv *
parse_keys(const char *s)
{
    _cleanup_strv_ char **items = split_items(s);
    struct kv *out = xzalloc(sizeof(*out));
    size_t n = 0;
    for (size_t i = 0; items && items[i]; i++) {
        const char *item = items[i], *eq = strchr(item, '=');
        if (eq)
            out = kv_add(out, &n, item, (size_t)(eq - item), eq + 1);
        else if (i == 0)
            out = kv_add(out, &n, "", 0, item);
        else
            out = kv_add(out, &n, item, strlen(item), "on");
    }
    return out;
}

static void
flatten_json(struct kv **out, size_t *n, const char *prefix, json_object *obj)
{
    if (json_object_is_type(obj, json_type_object)) {
        json_object_object_foreach(obj, key, child)
        {
            _cleanup_free_ char *name = *prefix ? xasprintf("%s.%s", prefix, key) : xstrdup(key);
            flatten_json(out, n, name, child);
        }
    } else if (json_object_is_type(obj, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(obj); i++) {
            _cleanup_free_ char *name = xasprintf("%s.%zu", prefix, i);
            flatten_json(out, n, name, json_object_array_get_idx(obj, i));
        }
    } else {
        const char *v = obj ? json_object_get_string(obj) : "";
        *out = kv_add(*out, n, prefix, strlen(prefix), v ? v : "");
    }
}

/* The value's items: QEMU takes JSON where it takes key=value for -object,
 * -device, -blockdev, -netdev, -audiodev..., nested keys joined with dots. */
static int
parse_value(const struct check *c, struct kv **out, struct mp_error **err)
{
    if (c->value[0] != '{') {
        *out = parse_keys(c->value);
        return 0;
    }
    json_object *obj = json_tokener_parse(c->value);
    if (!obj || !json_object_is_type(obj, json_type_object)) {
        json_object_put(obj);
        return refuse(c, err, "not a JSON object");
    }
    size_t n = 0;
    *out = xzalloc(sizeof(**out));
    flatten_json(out, &n, "", obj);
    json_object_put(obj);
    return 0;
}

static const char *
kv_get(const struct kv *kv, const char *key)
{
    for (size_t i = 0; kv[i].key; i++)
        if (strcmp(kv[i].key, key) == 0)
            return kv[i].value;
    return NULL;
}

static bool
in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

/* Keys (the last component of a dotted key) whose value is a host file or
 * directory, in any option: image files, chardev and socket paths, logs,
 * ROMs, firmware, kernels, TLS and SEV files, host devices, record/replay
 * files, trace event lists, shared directories (-netdev user tftp=/smb=). */
static const char *const path_keys[] = {
    "file",
    "filename",
    "path",
    "mem-path",
    "dir",
    "logfile",
    "input-path",
    "romfile",
    "kernel",
    "initrd",
    "dtb",
    "firmware",
    "shim",
    "hostdevice",
    "sysfsdev",
    "vhostdev",
    "evdev",
    "rendernode",
    "splash",
    "rrfile",
    "events",
    "cancel-path",
    "sock",
    "socket",
    "tftp",
    "smb",
    "x509-dir",
    "x509-key-file",
    "x509-cert-file",
    "x509-cacert-file",
    "x509-dh-key-file",
    "dh-cert-file",
    "session-file",
};
/* Descriptors are the helper's, not the source's: refused wherever. */
static const char *const fd_keys[] = { "fd", "fds", "vhostfd", "vhostfds", "sock_fd", "sock-fds" };

static const char *
last_component(const char *key)
{
    const char *dot = strrchr(key, '.');
    return dot ? dot + 1 : key;
}

/* Every item of a key=value (or JSON) option. node_refs: "file" names a
 * block node, not a file (-blockdev). */
static int
check_items(const struct check *c, const struct kv *kv, bool node_refs, struct mp_error **err)
{
    for (size_t i = 0; kv[i].key; i++) {
        const char *key = last_component(kv[i].key), *v = kv[i].value;
        int r = 0;
        if (in_list(key, fd_keys, ARRAY_SIZE(fd_keys)))
            return refuse(c, err, "%s= passes a file descriptor this host did not open", key);
        if (strcmp(key, "script") == 0 || strcmp(key, "downscript") == 0) {
            if (strcmp(v, "no") != 0)
                return refuse(c, err, "%s= runs a program as root; only %s=no is allowed", key,
                              key);
            continue;
        }
        if (strcmp(key, "helper") == 0)
            return refuse(c, err, "helper= runs a program as root");
        if (strcmp(key, "guestfwd") == 0 && strstr(v, "cmd:"))
            return refuse(c, err, "guestfwd=...cmd: runs a command on this host");
        if (strcmp(key, "dumpdtb") == 0)
            return refuse(c, err, "dumpdtb= writes a file and exits");
        if (strcmp(key, "vnc") == 0 && mp_str_has_prefix(v, "unix:")) {
            /* -display vnc=unix:PATH */
            r = check_path(c, v + 5, err);
            if (r < 0)
                return r;
            continue;
        }
        if (strcmp(key, "property") == 0 &&
            in_list(last_component(v), path_keys, ARRAY_SIZE(path_keys))) {
            /* -global driver=D,property=P,value=V */
            const char *value = kv_get(kv, "value");
            r = check_path(c, value ? value : "", err);
        } else if (in_list(key, path_keys, ARRAY_SIZE(path_keys)) &&
                   !(node_refs && strcmp(key, "file") == 0)) {
            r = check_path(c, v, err);
        }
        if (r < 0)
            return r;
    }
    return 0;
}

static int
check_keys(const struct check *c, struct mp_error **err)
{
    _cleanup_kv_ struct kv *kv = NULL;
    int r = parse_value(c, &kv, err);
    return r < 0 ? r : check_items(c, kv, false, err);
}

static int
check_drive(const struct check *c, struct mp_error **err)
{
    _cleanup_kv_ struct kv *kv = parse_keys(c->value);
    const char *file = kv_get(kv, "file");
    if (file) {
        int r = check_disk(c, file, err);
        if (r < 0)
            return r;
    }
    /* file= is checked as a disk name above, every other key as usual. */
    for (size_t i = 0; kv[i].key; i++)
        if (strcmp(kv[i].key, "file") == 0)
            kv[i].key[0] = '\0';
    return check_items(c, kv, false, err);
}

static int
check_blockdev(const struct check *c, struct mp_error **err)
{
    _cleanup_kv_ struct kv *kv = NULL;
    int r = parse_value(c, &kv, err);
    return r < 0 ? r : check_items(c, kv, true, err);
}

static int
check_chardev(const struct check *c, struct mp_error **err)
{
    _cleanup_kv_ struct kv *kv = parse_keys(c->value);
    const char *backend = kv_get(kv, "");
    if (!backend)
        backend = kv_get(kv, "backend");
    if (backend && strcmp(backend, "pipe") == 0)
        return refuse(c, err, "a pipe chardev opens FIFOs of the source's choosing");
    int r = check_socket_paths("-chardev", c->value, err);
    return r < 0 ? r : check_items(c, kv, false, err);
}

/* The old chardev shorthand of -serial, -parallel, -debugcon. */
static int
check_char_legacy(const struct check *c, struct mp_error **err)
{
    static const char *const plain[] = {
        "null", "none", "vc", "stdio", "pty", "msmouse", "braille"
    };
    static const char *const network[] = { "tcp:", "telnet:", "websocket:",
                                           "udp:", "vc:",     "chardev:" };
    const char *v = c->value;
    if (in_list(v, plain, ARRAY_SIZE(plain)))
        return 0;
    for (size_t i = 0; i < ARRAY_SIZE(network); i++)
        if (mp_str_has_prefix(v, network[i]))
            return 0;
    if (mp_str_has_prefix(v, "mon:"))
        return refuse(c, err, "mon: adds a monitor the helper does not control");
    if (mp_str_has_prefix(v, "pipe:"))
        return refuse(c, err, "pipe: opens FIFOs of the source's choosing");
    if (mp_str_has_prefix(v, "file:"))
        return check_path(c, v + 5, err);
    if (mp_str_has_prefix(v, "/dev/"))
        return check_path(c, v, err);
    if (mp_str_has_prefix(v, "unix:")) {
        _cleanup_free_ char *path = xstrndup(v + 5, strcspn(v + 5, ","));
        struct stat st;
        if (is_server_socket(v) && stat(path, &st) == 0)
            return mp_error_input(err, EEXIST,
                                  "the VM's socket %s already exists on this host; give the "
                                  "destination its own path with --rewrite",
                                  path);
        return check_path(c, path, err);
    }
    return refuse(c, err, "not a character device this host knows");
}

static int
check_object(const struct check *c, struct mp_error **err)
{
    static const char *const refused_types[] = { "qtest", "x-remote-object" };
    _cleanup_kv_ struct kv *kv = NULL;
    int r = parse_value(c, &kv, err);
    if (r < 0)
        return r;
    const char *type = kv_get(kv, "");
    if (!type)
        type = kv_get(kv, "qom-type");
    if (type && in_list(type, refused_types, ARRAY_SIZE(refused_types)))
        return refuse(c, err, "%s objects control the guest from outside", type);
    return check_items(c, kv, false, err);
}

/* ':'-separated lists of files. */
static int
check_path_list(const struct check *c, const char *list, struct mp_error **err)
{
    _cleanup_free_ char *copy = xstrdup(list);
    char *save = NULL;
    for (char *p = strtok_r(copy, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
        int r = check_path(c, p, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int
check_acpitable(const struct check *c, struct mp_error **err)
{
    _cleanup_kv_ struct kv *kv = parse_keys(c->value);
    for (size_t i = 0; kv[i].key; i++) {
        if (strcmp(kv[i].key, "file") == 0 || strcmp(kv[i].key, "data") == 0) {
            int r = check_path_list(c, kv[i].value, err);
            if (r < 0)
                return r;
            kv[i].key[0] = '\0';
        }
    }
    return check_items(c, kv, false, err);
}

static int
check_vnc(const struct check *c, struct mp_error **err)
{
    _cleanup_kv_ struct kv *kv = parse_keys(c->value);
    const char *display = kv_get(kv, "");
    if (display && mp_str_has_prefix(display, "unix:")) {
        int r = check_path(c, display + 5, err);
        if (r < 0)
            return r;
    }
    return check_items(c, kv, false, err);
}

static int
check_spice(const struct check *c, struct mp_error **err)
{
    _cleanup_kv_ struct kv *kv = parse_keys(c->value);
    const char *unix_socket = kv_get(kv, "unix"), *addr = kv_get(kv, "addr");
    if (unix_socket && strcmp(unix_socket, "off") != 0 && addr) {
        int r = check_path(c, addr, err);
        if (r < 0)
            return r;
    }
    return check_items(c, kv, false, err);
}

/* One file, or multiboot modules: "path args,path args" (",," a comma). */
static int
check_initrd(const struct check *c, struct mp_error **err)
{
    _cleanup_strv_ char **modules = split_items(c->value);
    if (!modules)
        return check_path(c, "", err);
    for (size_t i = 0; modules[i]; i++) {
        modules[i][strcspn(modules[i], " ")] = '\0';
        int r = check_path(c, modules[i], err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int
check_first_path(const struct check *c, struct mp_error **err)
{
    _cleanup_kv_ struct kv *kv = parse_keys(c->value);
    const char *path = kv_get(kv, "");
    int r = check_path(c, path ? path : "", err);
    if (r < 0)
        return r;
    return check_items(c, kv + 1, false, err);
}

static int
check_value(const struct qemu_option *opt, const struct check *c, struct mp_error **err)
{
    switch (opt->check) {
    case QEMU_CHECK_NONE:
        return 0;
    case QEMU_CHECK_PATH:
        return check_path(c, c->value, err);
    case QEMU_CHECK_DISK:
        return check_disk(c, c->value, err);
    case QEMU_CHECK_FIRST_PATH:
        return check_first_path(c, err);
    case QEMU_CHECK_INITRD:
        return check_initrd(c, err);
    case QEMU_CHECK_KEYS:
    case QEMU_CHECK_NETDEV:
        return check_keys(c, err);
    case QEMU_CHECK_DRIVE:
        return check_drive(c, err);
    case QEMU_CHECK_BLOCKDEV:
        return check_blockdev(c, err);
    case QEMU_CHECK_CHARDEV:
        return check_chardev(c, err);
    case QEMU_CHECK_CHAR_LEGACY:
        return check_char_legacy(c, err);
    case QEMU_CHECK_OBJECT:
        return check_object(c, err);
    case QEMU_CHECK_ACPITABLE:
        return check_acpitable(c, err);
    case QEMU_CHECK_VNC:
        return check_vnc(c, err);
    case QEMU_CHECK_SPICE:
        return check_spice(c, err);
    }
    return refuse(c, err, "no check for this option");
}

static bool
is_executable_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

int
qemu_emulator_for(const char *requested, char *const *emulators, char **path, struct mp_error **err)
{
    _cleanup_free_ char *list = words(emulators);
    bool matched = false;
    for (size_t i = 0; requested[0] == '/' && emulators && emulators[i]; i++)
        if (fnmatch(emulators[i], requested, FNM_PATHNAME) == 0)
            matched = true;
    if (!matched)
        return mp_error_input(err, EPERM,
                              "refusing emulator %s: it is not an absolute path matching one of "
                              "emulators = %s",
                              requested, list);
    const char *name = strrchr(requested, '/') + 1;
    for (size_t i = 0; emulators[i]; i++) {
        if (emulators[i][0] != '/')
            continue;
        glob_t g;
        if (glob(emulators[i], GLOB_NOSORT, NULL, &g) != 0)
            continue;
        for (size_t j = 0; j < g.gl_pathc; j++) {
            const char *base = strrchr(g.gl_pathv[j], '/') + 1;
            if (strcmp(base, name) == 0 && is_executable_file(g.gl_pathv[j])) {
                *path = xstrdup(g.gl_pathv[j]);
                globfree(&g);
                return 0;
            }
        }
        globfree(&g);
    }
    return mp_error_input(err, EPERM,
                          "refusing emulator %s: no emulator named %s is allowed on this host "
                          "(emulators = %s)",
                          requested, name, list);
}

int
qemu_argv_for_destination(char *const *source, const struct qemu_argv_target *target, char ***out,
                          struct mp_error **err)
{
    if (!source || !source[0] || !*source[0])
        return mp_error_input(err, EINVAL, "the VM description has no command line");
    for (size_t i = 0; source[i]; i++)
        if (has_control_char(source[i]))
            return mp_error_input(
                err, EINVAL, "argument %zu of the VM's command line holds a control character", i);
    _cleanup_free_ char *emulator = NULL;
    int r = qemu_emulator_for(source[0], target->emulators, &emulator, err);
    if (r < 0)
        return r;
    _cleanup_strv_ char **monitors = monitor_chardevs(source);
    _cleanup_strv_ char **argv = mp_strv_append(NULL, emulator);
    for (size_t i = 1; source[i]; i++) {
        _cleanup_free_ char *arg = rewrite(source[i], target->rewrites);
        if (arg[0] != '-') {
            /* QEMU reads a bare argument as the first hard disk's image. */
            struct check c = { "image", arg, target };
            r = check_disk(&c, arg, err);
            if (r < 0)
                return r;
            argv = mp_strv_append(argv, arg);
            continue;
        }
        const struct qemu_option *opt = qemu_option_lookup(arg);
        if (!opt)
            return mp_error_input(err, EPERM,
                                  "refusing %s: not an option this host knows (unknown options "
                                  "are refused)",
                                  arg);
        _cleanup_free_ char *value = NULL;
        if (opt->takes_value) {
            if (!source[i + 1])
                return mp_error_input(
                    err, EINVAL, "option %s at the end of the VM's command line has no value", arg);
            value = rewrite(source[++i], target->rewrites);
        }
        if (opt->action == QEMU_OPT_REFUSE)
            return mp_error_input(err, EPERM, "refusing %s%s%s: %s", arg, value ? " " : "",
                                  value ? value : "", opt->why);
        if (opt->action == QEMU_OPT_DROP)
            continue;
        if (strcmp(opt->name, "-chardev") == 0 && is_monitor_chardev(value, monitors))
            continue;
        if (strcmp(opt->name, "-object") == 0 && is_helpers_object(value))
            continue;
        if (opt->action == QEMU_OPT_CHECK) {
            struct check c = { arg, value, target };
            r = check_value(opt, &c, err);
            if (r < 0)
                return r;
        }
        argv = mp_strv_append(argv, arg);
        if (value)
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

int
qemu_argv_check_file(const struct qemu_argv_target *target, const char *what, const char *path,
                     struct mp_error **err)
{
    struct check c = { what, path, target };
    return check_path(&c, path, err);
}

/* The items of the -blockdev whose node-name is node, or NULL. */
static struct kv *
find_blockdev(char *const *argv, const char *node)
{
    for (size_t i = 1; argv[i] && argv[i + 1]; i++) {
        if (strcmp(normalize_option(argv[i]), "-blockdev") != 0)
            continue;
        struct check c = { argv[i], argv[i + 1], NULL };
        struct kv *kv = NULL;
        if (parse_value(&c, &kv, NULL) < 0)
            continue;
        if (mp_streq0(kv_get(kv, "node-name"), node))
            return kv;
        kv_free(kv);
    }
    return NULL;
}

int
qemu_argv_blockdev_image(char *const *argv, const char *node, char **format, char **path)
{
    _cleanup_kv_ struct kv *fmt = find_blockdev(argv, node);
    const char *driver = fmt ? kv_get(fmt, "driver") : NULL;
    if (!driver)
        return -ENOENT;
    const char *file = NULL;
    _cleanup_kv_ struct kv *proto = NULL;
    if (mp_streq0(kv_get(fmt, "file.driver"), "file")) {
        file = kv_get(fmt, "file.filename");
    } else if (kv_get(fmt, "file")) {
        proto = find_blockdev(argv, kv_get(fmt, "file"));
        if (proto && mp_streq0(kv_get(proto, "driver"), "file"))
            file = kv_get(proto, "filename");
    }
    if (!file)
        return -ENOENT;
    *format = xstrdup(driver);
    *path = xstrdup(file);
    return 0;
}
