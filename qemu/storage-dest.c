/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Storage migration on the destination: the target images and their NBD
 * export. */
#include "config.h"

#include "argv.h"
#include "facts.h"
#include "log.h"
#include "proc.h"
#include "storage.h"
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define QEMU_IMG_TIMEOUT_MS 60000
#define EXPORT_PREFIX       "migphase-export-"

void
qemu_storage_targets_free(struct qemu_storage_target *targets, size_t n)
{
    for (size_t i = 0; targets && i < n; i++) {
        free(targets[i].node);
        free(targets[i].format);
        free(targets[i].path);
        free(targets[i].backing);
        free(targets[i].backing_format);
    }
    free(targets);
}

static char *
image_fact(size_t i)
{
    return xasprintf(QEMU_FACT_IMAGE ".%zu", i);
}

/* Whether an earlier Prepare of this migration recorded path as its own. */
static bool
recorded_image(const struct mp_journal_record *record, const char *path)
{
    for (size_t i = 0;; i++) {
        _cleanup_free_ char *key = image_fact(i);
        const char *v = mp_journal_record_get_fact(record, key);
        if (!v)
            return false;
        if (strcmp(v, path) == 0)
            return true;
    }
}

/* qemu-img info of a file this host has: its format and virtual size. */
static int
image_info(const char *path, char **format, uint64_t *size, struct mp_error **err)
{
    char *const argv[] = { "qemu-img", "info", "--output=json", "-U", (char *)path, NULL };
    _cleanup_free_ char *out = NULL, *errout = NULL;
    int status = 0;
    int r =
        mp_proc_run(argv, NULL, NULL, 0, 1 << 20, QEMU_IMG_TIMEOUT_MS, &out, &errout, &status, err);
    if (r < 0)
        return r;
    if (status != 0)
        return mp_error_input(err, EIO, "cannot read the image %s: %s", path,
                              errout ? errout : "qemu-img failed");
    _cleanup_json_ json_object *info = json_tokener_parse(out);
    json_object *f = NULL, *s = NULL;
    if (!info || !json_object_object_get_ex(info, "format", &f) ||
        !json_object_object_get_ex(info, "virtual-size", &s))
        return mp_error_set(err, EPROTO, "qemu-img info of %s said nothing usable", path);
    *format = xstrdup(json_object_get_string(f));
    *size = (uint64_t)json_object_get_int64(s);
    return 0;
}

/* Incremental: the top layer goes onto the backing file this host already
 * has at the source's path (rewritten), with the source's size. */
static int
check_backing(const struct mp_disk *d, const struct qemu_argv_target *policy,
              struct qemu_storage_target *t, struct mp_error **err)
{
    if (!d->backing || !d->backing_size)
        return mp_error_input(
            err, EINVAL, "disk %s: an incremental copy needs the source's backing file", d->node);
    _cleanup_free_ char *path = xstrdup(d->backing);
    for (size_t i = 0; policy->rewrites && policy->rewrites[i]; i++) {
        const char *eq = strchr(policy->rewrites[i], '=');
        _cleanup_free_ char *from =
            xstrndup(policy->rewrites[i], (size_t)(eq - policy->rewrites[i]));
        char *next = qemu_replace_all(path, from, eq + 1);
        free(path);
        path = next;
    }
    int r = qemu_argv_check_file(policy, "backing file", path, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *format = NULL;
    uint64_t size = 0;
    r = image_info(path, &format, &size, err);
    if (r < 0)
        return mp_error_prefix(err, "disk %s: an incremental copy needs its backing file here",
                               d->node);
    if (size != d->backing_size)
        return mp_error_input(err, EINVAL,
                              "disk %s: the backing file %s has %llu bytes here, %llu on the "
                              "source",
                              d->node, path, (unsigned long long)size,
                              (unsigned long long)d->backing_size);
    if (strcmp(format, "raw") != 0 && strcmp(format, "qcow2") != 0)
        return mp_error_input(err, EINVAL, "disk %s: the backing file %s is %s", d->node, path,
                              format);
    t->backing = steal_ptr(&path);
    t->backing_format = steal_ptr(&format);
    return 0;
}

/* One disk of the cookie: the image the checked command line opens for its
 * node, which this Prepare will create. */
static int
plan_target(struct mp_step_ctx *ctx, const struct mp_disk *d, char *const *argv,
            const struct qemu_argv_target *policy, struct qemu_storage_target *t,
            struct mp_error **err)
{
    if (d->size == 0 || d->size > QEMU_DISK_MAX_BYTES)
        return mp_error_input(err, EINVAL, "disk %s: a size of %llu bytes is refused", d->node,
                              (unsigned long long)d->size);
    _cleanup_free_ char *format = NULL, *path = NULL;
    if (qemu_argv_blockdev_image(argv, d->node, &format, &path) < 0)
        return mp_error_input(err, EINVAL,
                              "disk %s: the VM's command line has no -blockdev of that node on "
                              "a file",
                              d->node);
    if (strcmp(format, d->format) != 0)
        return mp_error_input(err, EINVAL, "disk %s: the command line opens it as %s, not %s",
                              d->node, format, d->format);
    /* Never over a file that is not ours: a local disk of another VM. */
    struct stat st;
    if (lstat(path, &st) == 0 && !(ctx->record && recorded_image(ctx->record, path)))
        return mp_error_input(err, EEXIST,
                              "disk %s: %s exists already on this host; the copy makes a new "
                              "image (use --rewrite to another path, or no --copy-storage if it "
                              "is shared)",
                              d->node, path);
    *t = (struct qemu_storage_target){ .node = xstrdup(d->node),
                                       .format = steal_ptr(&format),
                                       .path = steal_ptr(&path),
                                       .size = d->size };
    if (ctx->in->params.copy_storage == MP_COPY_STORAGE_INCREMENTAL)
        return check_backing(d, policy, t, err);
    return 0;
}

int
qemu_storage_plan_targets(struct mp_step_ctx *ctx, char *const *argv,
                          const struct qemu_argv_target *policy,
                          struct qemu_storage_target **targets, size_t *n, struct mp_error **err)
{
    const struct mp_cookie *in = ctx->in;
    *targets = NULL;
    *n = 0;
    if (in->params.copy_storage == MP_COPY_STORAGE_NONE || in->n_disks == 0)
        return 0;
    struct qemu_storage_target *t = xzalloc(in->n_disks * sizeof(*t));
    for (size_t i = 0; i < in->n_disks; i++) {
        int r = plan_target(ctx, &in->disks[i], argv, policy, &t[i], err);
        if (r < 0) {
            qemu_storage_targets_free(t, in->n_disks);
            return r;
        }
    }
    /* Recorded before any is made: undoing removes these and nothing else. */
    for (size_t i = 0; ctx->journal && i < in->n_disks; i++) {
        _cleanup_free_ char *key = image_fact(i);
        mp_journal_record_set_fact(ctx->record, key, t[i].path);
    }
    if (ctx->journal)
        mp_journal_record_set_fact(ctx->record, QEMU_FACT_NBD, MP_FACT_YES);
    *targets = t;
    *n = in->n_disks;
    return 0;
}

/* A qcow2 image, on the backing file for an incremental copy, written by
 * qemu-img over the empty file create_target made. */
static int
format_qcow2(const struct qemu_storage_target *t, struct mp_error **err)
{
    _cleanup_free_ char *size = xasprintf("%llu", (unsigned long long)t->size);
    char *argv[12];
    size_t n = 0;
    argv[n++] = "qemu-img";
    argv[n++] = "create";
    argv[n++] = "-q";
    argv[n++] = "-f";
    argv[n++] = "qcow2";
    if (t->backing) {
        argv[n++] = "-b";
        argv[n++] = t->backing;
        argv[n++] = "-F";
        argv[n++] = t->backing_format;
    }
    argv[n++] = t->path;
    argv[n++] = size;
    argv[n] = NULL;
    _cleanup_free_ char *out = NULL, *errout = NULL;
    int status = 0;
    int r =
        mp_proc_run(argv, NULL, NULL, 0, 1 << 16, QEMU_IMG_TIMEOUT_MS, &out, &errout, &status, err);
    if (r == 0 && status != 0)
        r = mp_error_set(err, EIO, "qemu-img create %s failed: %s", t->path, errout ? errout : "");
    return r;
}

/* The file is made here, new (O_EXCL, no symbolic link followed), and
 * given to the VM's user through its descriptor: whatever appears at the
 * path meanwhile, only our own inode is changed, and it must still be the
 * one at the path at the end. */
static int
create_target(const struct qemu_storage_target *t, uid_t uid, gid_t gid, struct mp_error **err)
{
    /* A file of an interrupted earlier Prepare of this migration (the plan
     * checked the record) goes first. */
    (void)unlink(t->path);
    _cleanup_close_ int fd =
        open(t->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return mp_error_set_errno(err, errno, "creating %s", t->path);
    int r = 0;
    if (strcmp(t->format, "raw") == 0) {
        if (ftruncate(fd, (off_t)t->size) < 0)
            r = mp_error_set_errno(err, errno, "sizing %s", t->path);
    } else {
        r = format_qcow2(t, err);
    }
    struct stat ours, there;
    if (r == 0 && (fsync(fd) < 0 || fchown(fd, uid, gid) < 0))
        r = mp_error_set_errno(err, errno, "giving %s to the VM's user", t->path);
    if (r == 0 && (fstat(fd, &ours) < 0 || lstat(t->path, &there) < 0 ||
                   ours.st_ino != there.st_ino || ours.st_dev != there.st_dev))
        r = mp_error_set(err, EEXIST, "%s was replaced while it was made", t->path);
    return r;
}

int
qemu_storage_create_targets(const struct qemu_storage_target *targets, size_t n,
                            const char *qemu_user, struct mp_error **err)
{
    uid_t uid = 0;
    gid_t gid = 0;
    struct passwd *pw = qemu_user ? getpwnam(qemu_user) : NULL;
    if (pw) {
        uid = pw->pw_uid;
        gid = pw->pw_gid;
    }
    for (size_t i = 0; i < n; i++) {
        int r = create_target(&targets[i], uid, gid, err);
        if (r < 0)
            return mp_error_prefix(err, "making the target image of disk %s", targets[i].node);
        mp_info("created %s (%s, %llu bytes) for disk %s", targets[i].path, targets[i].format,
                (unsigned long long)targets[i].size, targets[i].node);
    }
    return 0;
}

static json_object *
server_args(const char *host, unsigned port, bool tls)
{
    json_object *data = json_object_new_object();
    json_object_object_add(data, "host", json_object_new_string(host));
    _cleanup_free_ char *p = xasprintf("%u", port);
    json_object_object_add(data, "port", json_object_new_string(p));
    json_object *addr = json_object_new_object();
    json_object_object_add(addr, "type", json_object_new_string("inet"));
    json_object_object_add(addr, "data", data);
    json_object *args = json_object_new_object();
    json_object_object_add(args, "addr", addr);
    if (tls) {
        /* The memory stream's credentials and its one allowed sender. */
        json_object_object_add(args, "tls-creds", json_object_new_string(QEMU_TLS_CREDS_ID));
        json_object_object_add(args, "tls-authz", json_object_new_string(QEMU_TLS_AUTHZ_ID));
    }
    return args;
}

/* nbd-server-start on the first free port of the range after the stream's. */
static int
start_server(struct mp_step_ctx *ctx, struct qemu_qmp *qmp, bool tls, unsigned *port,
             struct mp_error **err)
{
    const struct mp_options *opts = ctx->opts;
    for (unsigned p = opts->port_lo; p <= opts->port_hi; p++) {
        _cleanup_free_ char *taken = mp_tcp_uri(opts->listen_addr, p);
        if (mp_streq0(mp_journal_record_get_fact(ctx->record, "uri"), taken))
            continue;
        struct mp_error *e = NULL;
        int r = qemu_qmp_execute(qmp, "nbd-server-start", server_args(opts->listen_addr, p, tls),
                                 NULL, &e);
        if (r == 0) {
            *port = p;
            return 0;
        }
        if (r != -EREMOTEIO || !strstr(e->message, "in use")) {
            *err = e;
            return mp_error_prefix(err, "starting the disks' NBD server");
        }
        mp_error_free(e);
    }
    return mp_error_set(err, EADDRINUSE, "no free port for the disks' NBD server in %u-%u",
                        opts->port_lo, opts->port_hi);
}

static json_object *
export_args(const char *node)
{
    _cleanup_free_ char *id = xasprintf(EXPORT_PREFIX "%s", node);
    json_object *args = json_object_new_object();
    json_object_object_add(args, "type", json_object_new_string("nbd"));
    json_object_object_add(args, "id", json_object_new_string(id));
    json_object_object_add(args, "node-name", json_object_new_string(node));
    json_object_object_add(args, "name", json_object_new_string(node));
    json_object_object_add(args, "writable", json_object_new_boolean(true));
    return args;
}

int
qemu_storage_export(struct mp_step_ctx *ctx, struct qemu_qmp *qmp, bool tls, struct mp_error **err)
{
    const struct mp_cookie *in = ctx->in;
    if (in->params.copy_storage == MP_COPY_STORAGE_NONE || in->n_disks == 0)
        return 0;
    unsigned port = 0;
    int r = start_server(ctx, qmp, tls, &port, err);
    for (size_t i = 0; r == 0 && i < in->n_disks; i++) {
        r = qemu_qmp_execute(qmp, "block-export-add", export_args(in->disks[i].node), NULL, err);
        if (r < 0)
            mp_error_prefix(err, "exporting disk %s", in->disks[i].node);
    }
    if (r < 0)
        return r;
    ctx->out->nbd_uri = mp_stream_uri(ctx->opts->listen_addr, ctx->out->destination.hostname, port);
    return 0;
}

void
qemu_storage_remove_targets(const struct mp_journal_record *record)
{
    for (size_t i = 0;; i++) {
        _cleanup_free_ char *key = image_fact(i);
        const char *path = mp_journal_record_get_fact(record, key);
        if (!path)
            return;
        if (unlink(path) == 0)
            mp_info("removed %s, which this migration created", path);
        else if (errno != ENOENT)
            mp_warn("cannot remove %s, which this migration created: %s", path, strerror(errno));
    }
}
