/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Storage migration on the source: which disks travel, and their mirrors. */
#include "config.h"

#include "buf.h"
#include "log.h"
#include "proc.h"
#include "progress.h"
#include "storage.h"

#include <errno.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#define MIRROR_POLL_MS 100
/* How long completed mirrors may take to report, the source paused. */
#define COMPLETE_TIMEOUT_MS 60000
/* Our node and job names: QEMU's names for what this migration added. */
#define NBD_NODE_PREFIX "migphase-nbd-"
#define JOB_PREFIX      "migphase-mirror-"

static char **recorded_nodes(const struct mp_journal_record *record);

/* What query-block says of one disk, borrowed from its reply. */
struct vm_disk {
    const char *device;
    const char *node;
    const char *file;
    const char *format;
    const char *backing;
    uint64_t size;
    uint64_t backing_size;
    bool read_only;
};

static const char *
str_at(json_object *obj, const char *key)
{
    json_object *v = NULL;
    if (!obj || !json_object_object_get_ex(obj, key, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static json_object *
obj_at(json_object *obj, const char *key)
{
    json_object *v = NULL;
    return obj && json_object_object_get_ex(obj, key, &v) ? v : NULL;
}

static uint64_t
u64_at(json_object *obj, const char *key)
{
    json_object *v = obj_at(obj, key);
    int64_t n = v ? json_object_get_int64(v) : 0;
    return n > 0 ? (uint64_t)n : 0;
}

/* A device with a medium: 0; an empty drive (CD-ROM): -ENOENT. */
static int
read_disk(json_object *device, struct vm_disk *d)
{
    json_object *in = obj_at(device, "inserted");
    if (!in)
        return -ENOENT;
    json_object *image = obj_at(in, "image");
    json_object *ro = obj_at(in, "ro");
    *d = (struct vm_disk){
        .device = str_at(device, "device"),
        .node = str_at(in, "node-name"),
        .file = str_at(in, "file"),
        .format = str_at(in, "drv"),
        .backing = str_at(image, "full-backing-filename"),
        .size = u64_at(image, "virtual-size"),
        .backing_size = u64_at(obj_at(image, "backing-image"), "virtual-size"),
        .read_only = ro && json_object_get_boolean(ro),
    };
    return 0;
}

static const char *
disk_name(const struct vm_disk *d)
{
    if (d->node)
        return d->node;
    return d->device && *d->device ? d->device : "?";
}

static bool
under_dir(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/' || n == 1);
}

/* File systems every host of a cluster sees the same (statfs f_type). */
static bool
shared_fs_type(long type)
{
    static const long shared[] = {
        NFS_SUPER_MAGIC,         0xff534d42 /* CIFS */,  0xfe534d42 /* SMB2 */,
        0x00c36400 /* CephFS */, 0x7461636f /* OCFS2 */, 0x01161970 /* GFS2 */,
        0x47504653 /* GPFS */,
    };
    for (size_t i = 0; i < ARRAY_SIZE(shared); i++)
        if ((unsigned long)type == (unsigned long)shared[i])
            return true;
    return false;
}

/* GlusterFS is mounted through FUSE: its mount says so by type. */
static bool
gluster_mount(const char *path)
{
    FILE *f = fopen("/proc/self/mounts", "re");
    if (!f)
        return false;
    char dev[512], dir[PATH_MAX], type[64];
    size_t best = 0;
    bool gluster = false;
    while (fscanf(f, "%511s %4095s %63s %*[^\n]", dev, dir, type) == 3) {
        size_t n = strlen(dir);
        if (under_dir(path, dir) && n >= best) {
            best = n;
            gluster = strcmp(type, "fuse.glusterfs") == 0;
        }
    }
    fclose(f);
    return gluster;
}

/* Whether the image every host would open is the same one: a network
 * protocol, a path under shared-paths, or a file on a network or cluster
 * file system. A local block device is local unless shared-paths names it. */
static bool
disk_is_shared(const char *file, char *const *shared_paths)
{
    if (!file || !*file)
        return false;
    if (file[0] != '/')
        /* nbd:, rbd:, iscsi:... are on the network; json: may be anything. */
        return strncmp(file, "json:", 5) != 0 && strchr(file, ':') != NULL;
    char resolved[PATH_MAX];
    const char *path = realpath(file, resolved) ? resolved : file;
    for (size_t i = 0; shared_paths && shared_paths[i]; i++)
        if (under_dir(path, shared_paths[i]) || under_dir(file, shared_paths[i]))
            return true;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISBLK(st.st_mode))
        return false;
    struct statfs fs;
    if (statfs(path, &fs) < 0)
        return false;
    return shared_fs_type((long)fs.f_type) ||
           ((unsigned long)fs.f_type == FUSE_SUPER_MAGIC && gluster_mount(path));
}

/* --disks: whether the list names this disk (by node or device name). */
static bool
in_disk_list(const char *list, const struct vm_disk *d)
{
    _cleanup_free_ char *copy = xstrdup(list);
    for (char *save = NULL, *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save))
        if (mp_streq0(w, d->node) || (d->device && *d->device && mp_streq0(w, d->device)))
            return true;
    return false;
}

/* What the destination needs to know of a disk it makes, checked here so
 * that Begin, not a later step, says what cannot be copied. */
static int
check_copyable(const struct vm_disk *d, enum mp_copy_storage mode, struct mp_error **err)
{
    const char *name = disk_name(d);
    if (!d->node || !mp_str_is_name(d->node, 31, MP_CHARS_LOWER MP_CHARS_UPPER,
                                    MP_CHARS_LOWER MP_CHARS_UPPER MP_CHARS_DIGITS "_-."))
        return mp_error_input(err, EINVAL,
                              "disk %s (%s) has no node name the copy can use: give its format "
                              "node a node-name (-blockdev ...,node-name=NAME)",
                              name, d->file ? d->file : "?");
    if (!mp_streq0(d->format, "raw") && !mp_streq0(d->format, "qcow2"))
        return mp_error_input(err, EINVAL, "disk %s is %s: only raw and qcow2 disks are copied",
                              name, d->format ? d->format : "of no format");
    if (d->size == 0 || d->size > QEMU_DISK_MAX_BYTES)
        return mp_error_input(err, EINVAL, "disk %s has a size (%llu) the copy cannot make", name,
                              (unsigned long long)d->size);
    if (mode == MP_COPY_STORAGE_INCREMENTAL && (!d->backing || !d->backing_size))
        return mp_error_input(err, EINVAL,
                              "disk %s has no backing file: an incremental copy needs one "
                              "(use --copy-storage all)",
                              name);
    return 0;
}

static void
add_disk(struct mp_cookie *out, const struct vm_disk *d, enum mp_copy_storage mode)
{
    struct mp_disk disk = {
        .node = (char *)d->node,
        .format = (char *)d->format,
        .path = (char *)(d->file ? d->file : ""),
        .size = d->size,
    };
    if (mode == MP_COPY_STORAGE_INCREMENTAL) {
        disk.backing = (char *)d->backing;
        disk.backing_size = d->backing_size;
    }
    mp_cookie_add_disk(out, &disk);
}

/* Decide for one writable disk: copied, shared, or refused. */
static int
classify(struct mp_step_ctx *ctx, const struct vm_disk *d, struct mp_error **err)
{
    const struct mp_options *opts = ctx->opts;
    enum mp_copy_storage mode = opts->params.copy_storage;
    bool chosen =
        opts->disks ? in_disk_list(opts->disks, d) : !disk_is_shared(d->file, opts->shared_paths);
    if (mode != MP_COPY_STORAGE_NONE && chosen) {
        int r = check_copyable(d, mode, err);
        if (r == 0)
            add_disk(ctx->out, d, mode);
        return r;
    }
    if (disk_is_shared(d->file, opts->shared_paths))
        return 0;
    if (opts->unsafe) {
        mp_warn("disk %s (%s) is local and is not copied: the destination will use its own "
                "file at that path (--unsafe)",
                disk_name(d), d->file ? d->file : "?");
        return 0;
    }
    return mp_error_input(err, EPERM,
                          "disk %s (%s) is on local storage and is not copied: give "
                          "--copy-storage all, put it on shared storage (shared-paths) or "
                          "--unsafe",
                          disk_name(d), d->file ? d->file : "?");
}

/* Every name of --disks must be a writable disk of the VM. */
static int
check_disk_list(const char *list, json_object *devices, struct mp_error **err)
{
    _cleanup_free_ char *copy = xstrdup(list);
    for (char *save = NULL, *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        bool found = false;
        for (size_t i = 0; !found && i < json_object_array_length(devices); i++) {
            struct vm_disk d;
            if (read_disk(json_object_array_get_idx(devices, i), &d) == 0 && !d.read_only)
                found = mp_streq0(w, d.node) || (d.device && *d.device && mp_streq0(w, d.device));
        }
        if (!found)
            return mp_error_input(err, ENOENT, "--disks: the VM has no writable disk named '%s'",
                                  w);
    }
    return 0;
}

int
qemu_storage_begin(struct mp_step_ctx *ctx, struct qemu_qmp *qmp, json_object *devices,
                   struct mp_error **err)
{
    _cleanup_json_ json_object *asked = NULL;
    int r = 0;
    if (!devices) {
        r = qemu_qmp_execute(qmp, "query-block", NULL, &asked, err);
        if (r < 0)
            return mp_error_prefix(err, "listing the VM's disks");
        devices = asked;
    }
    if (!json_object_is_type(devices, json_type_array))
        return mp_error_set(err, EPROTO, "query-block answered no list");
    if (ctx->opts->disks) {
        if (ctx->opts->params.copy_storage == MP_COPY_STORAGE_NONE)
            return mp_error_input(err, EINVAL, "--disks needs --copy-storage all|incremental");
        r = check_disk_list(ctx->opts->disks, devices, err);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < json_object_array_length(devices); i++) {
        struct vm_disk d;
        if (read_disk(json_object_array_get_idx(devices, i), &d) < 0 || d.read_only)
            continue;
        r = classify(ctx, &d, err);
        if (r < 0)
            return r;
    }
    if (ctx->opts->params.copy_storage != MP_COPY_STORAGE_NONE && ctx->out->n_disks == 0)
        mp_warn("--copy-storage: every writable disk is shared; nothing to copy");
    return 0;
}

/* ---- Perform ---- */

/* "tcp:HOST:PORT" of Prepare's cookie, HOST a name or address ("[v6]"). */
static int
parse_nbd_uri(const char *uri, char **host, char **port, struct mp_error **err)
{
    const char *p = uri && mp_str_has_prefix(uri, "tcp:") ? uri + 4 : NULL;
    const char *colon = p ? strrchr(p, ':') : NULL;
    unsigned long n = 0;
    char *end = NULL;
    if (colon) {
        errno = 0;
        n = strtoul(colon + 1, &end, 10);
    }
    if (!colon || colon == p || !end || *end || errno || n == 0 || n > 65535)
        return mp_error_input(err, EINVAL, "Prepare's cookie names no NBD server (tcp:HOST:PORT)");
    _cleanup_free_ char *h = xstrndup(p, (size_t)(colon - p));
    if (h[0] == '[' && h[strlen(h) - 1] == ']') {
        char *bare = xstrndup(h + 1, strlen(h) - 2);
        free(h);
        h = bare;
    }
    if (!mp_str_is_name(h, 253, MP_CHARS_LOWER MP_CHARS_UPPER MP_CHARS_DIGITS ":",
                        MP_CHARS_LOWER MP_CHARS_UPPER MP_CHARS_DIGITS ".-_:"))
        return mp_error_input(err, EINVAL, "Prepare's cookie names an NBD host that is no host");
    *host = steal_ptr(&h);
    *port = xasprintf("%lu", n);
    return 0;
}

/* Each disk of the cookie must be a writable disk of this VM: the cookie
 * went through the destination, the VM did not. */
static int
check_disks_are_ours(const struct mp_cookie *in, struct qemu_qmp *qmp, struct mp_error **err)
{
    _cleanup_json_ json_object *devices = NULL;
    int r = qemu_qmp_execute(qmp, "query-block", NULL, &devices, err);
    if (r < 0)
        return mp_error_prefix(err, "listing the VM's disks");
    for (size_t k = 0; k < in->n_disks; k++) {
        bool found = false;
        for (size_t i = 0; !found && i < json_object_array_length(devices); i++) {
            struct vm_disk d;
            if (read_disk(json_object_array_get_idx(devices, i), &d) == 0)
                found = !d.read_only && mp_streq0(d.node, in->disks[k].node);
        }
        if (!found)
            return mp_error_input(err, EINVAL, "the cookie's disk '%s' is not a disk of this VM",
                                  in->disks[k].node);
    }
    return 0;
}

int
qemu_storage_plan_mirrors(struct mp_step_ctx *ctx, struct qemu_qmp *qmp, struct mp_error **err)
{
    const struct mp_cookie *in = ctx->in;
    if (in->params.copy_storage == MP_COPY_STORAGE_NONE || in->n_disks == 0)
        return 0;
    _cleanup_free_ char *host = NULL, *port = NULL, *stream_host = NULL, *stream_port = NULL;
    int r = parse_nbd_uri(in->nbd_uri, &host, &port, err);
    /* The disks go where the memory goes, to the host the stream's TLS
     * checks: a cookie cannot send them anywhere else. */
    if (r == 0 && (parse_nbd_uri(in->uri, &stream_host, &stream_port, NULL) < 0 ||
                   strcmp(host, stream_host) != 0))
        r = mp_error_input(err, EPERM,
                           "Prepare's cookie sends the disks to another host than the stream");
    if (r == 0)
        r = check_disks_are_ours(in, qmp, err);
    if (r < 0)
        return r;
    struct mp_buf nodes = { 0 };
    for (size_t i = 0; i < in->n_disks; i++)
        mp_buf_printf(&nodes, "%s%s", i ? " " : "", in->disks[i].node);
    _cleanup_free_ char *list = mp_buf_steal(&nodes, NULL);
    mp_journal_record_set_fact(ctx->record, QEMU_FACT_MIRRORS, list);
    return 0;
}

static json_object *
nbd_node_args(const char *node, const char *host, const char *port, const char *tls_creds,
              const char *tls_hostname)
{
    _cleanup_free_ char *name = xasprintf(NBD_NODE_PREFIX "%s", node);
    json_object *server = json_object_new_object();
    json_object_object_add(server, "type", json_object_new_string("inet"));
    json_object_object_add(server, "host", json_object_new_string(host));
    json_object_object_add(server, "port", json_object_new_string(port));
    json_object *args = json_object_new_object();
    json_object_object_add(args, "driver", json_object_new_string("nbd"));
    json_object_object_add(args, "node-name", json_object_new_string(name));
    json_object_object_add(args, "server", server);
    json_object_object_add(args, "export", json_object_new_string(node));
    if (tls_creds) {
        json_object_object_add(args, "tls-creds", json_object_new_string(tls_creds));
        json_object_object_add(args, "tls-hostname", json_object_new_string(tls_hostname));
    }
    return args;
}

static json_object *
mirror_args(const char *node, enum mp_copy_storage mode)
{
    _cleanup_free_ char *job = xasprintf(JOB_PREFIX "%s", node);
    _cleanup_free_ char *target = xasprintf(NBD_NODE_PREFIX "%s", node);
    json_object *args = json_object_new_object();
    json_object_object_add(args, "job-id", json_object_new_string(job));
    json_object_object_add(args, "device", json_object_new_string(node));
    json_object_object_add(args, "target", json_object_new_string(target));
    json_object_object_add(
        args, "sync", json_object_new_string(mode == MP_COPY_STORAGE_INCREMENTAL ? "top" : "full"));
    /* The job stays listed once it ends, so that its end is seen. */
    json_object_object_add(args, "auto-dismiss", json_object_new_boolean(false));
    return args;
}

/* One of our jobs as query-block-jobs lists it. */
struct job_state {
    bool found;
    bool ready;
    uint64_t offset, len;
    char status[32];
    char error[200];
};

static int
query_job(json_object *jobs, const char *node, struct job_state *s)
{
    _cleanup_free_ char *id = xasprintf(JOB_PREFIX "%s", node);
    *s = (struct job_state){ 0 };
    for (size_t i = 0; i < json_object_array_length(jobs); i++) {
        json_object *j = json_object_array_get_idx(jobs, i);
        if (!mp_streq0(str_at(j, "device"), id))
            continue;
        json_object *ready = obj_at(j, "ready");
        s->found = true;
        s->ready = ready && json_object_get_boolean(ready);
        s->offset = u64_at(j, "offset");
        s->len = u64_at(j, "len");
        snprintf(s->status, sizeof(s->status), "%s", str_at(j, "status") ?: "");
        snprintf(s->error, sizeof(s->error), "%s", str_at(j, "error") ?: "");
        return 0;
    }
    return -ENOENT;
}

/* Whether the job ended, and how: a job that concluded with an error or
 * vanished failed. */
static int
job_failed(const char *node, const struct job_state *s, struct mp_error **err)
{
    if (!s->found)
        return mp_error_set(err, EIO, "the mirror of disk %s is gone", node);
    if (*s->error)
        return mp_error_set(err, EIO, "the mirror of disk %s failed: %s", node, s->error);
    if (strcmp(s->status, "concluded") == 0 || strcmp(s->status, "aborting") == 0 ||
        strcmp(s->status, "null") == 0)
        return mp_error_set(err, EIO, "the mirror of disk %s ended (%s)", node, s->status);
    return 0;
}

/* One look at every mirror: *all_ready when each is in sync. */
static int
look_at_mirrors(const struct mp_cookie *in, struct qemu_qmp *qmp, bool *all_ready,
                struct mp_progress_sample *sample, struct mp_error **err)
{
    _cleanup_json_ json_object *jobs = NULL;
    int r = qemu_qmp_execute(qmp, "query-block-jobs", NULL, &jobs, err);
    if (r < 0)
        return mp_error_prefix(err, "asking about the disks' mirrors");
    *all_ready = true;
    sample->total_bytes = sample->transferred_bytes = 0;
    for (size_t i = 0; i < in->n_disks; i++) {
        struct job_state s;
        (void)query_job(jobs, in->disks[i].node, &s);
        r = job_failed(in->disks[i].node, &s, err);
        if (r < 0)
            return r;
        *all_ready &= s.ready;
        sample->total_bytes += s.len;
        sample->transferred_bytes += s.offset < s.len ? s.offset : s.len;
    }
    sample->remaining_bytes = sample->total_bytes - sample->transferred_bytes;
    sample->disk_total_bytes = sample->total_bytes;
    sample->disk_remaining_bytes = sample->remaining_bytes;
    return 0;
}

void
qemu_storage_progress(const struct mp_journal_record *record, struct qemu_qmp *qmp,
                      struct mp_progress_sample *sample)
{
    _cleanup_strv_ char **nodes = recorded_nodes(record);
    _cleanup_json_ json_object *jobs = NULL;
    if (!nodes || qemu_qmp_execute(qmp, "query-block-jobs", NULL, &jobs, NULL) < 0)
        return;
    for (size_t i = 0; nodes[i]; i++) {
        struct job_state s;
        if (query_job(jobs, nodes[i], &s) < 0)
            continue;
        sample->disk_total_bytes += s.len;
        sample->disk_remaining_bytes += s.offset < s.len ? s.len - s.offset : 0;
    }
}

/* Wait until every mirror is ready, drawing the disks' progress. A mirror
 * whose copy moves no byte for the stall timeout failed (a cut link does
 * not fail the NBD connection for minutes). */
static int
wait_ready(struct mp_step_ctx *ctx, struct qemu_qmp *qmp, struct mp_error **err)
{
    uint64_t started = mp_now_ms(), moved_ms = started, last = 0, last_ms = started;
    for (;;) {
        struct mp_progress_sample s = { .status = "disks" };
        bool ready = false;
        int r = look_at_mirrors(ctx->in, qmp, &ready, &s, err);
        if (r < 0)
            return r;
        uint64_t now = mp_now_ms();
        s.elapsed_ms = now - started;
        if (now > last_ms && s.transferred_bytes >= last)
            s.mbps = (s.transferred_bytes - last) * 8 / 1000 / (now - last_ms);
        if (ready) {
            mp_progress_update(ctx->progress, &s);
            mp_info("the disks are in sync: %llu bytes copied in %llu ms",
                    (unsigned long long)s.transferred_bytes, (unsigned long long)s.elapsed_ms);
            return 0;
        }
        mp_progress_update(ctx->progress, &s);
        if (s.transferred_bytes != last)
            moved_ms = now;
        else if (ctx->opts->stall_timeout_ms && now - moved_ms > ctx->opts->stall_timeout_ms)
            return mp_error_set(err, ETIMEDOUT, "the disks' copy moved nothing for %llu ms",
                                (unsigned long long)ctx->opts->stall_timeout_ms);
        last = s.transferred_bytes;
        last_ms = now;
        r = qemu_qmp_wait_event(qmp, "BLOCK_JOB_READY", MIRROR_POLL_MS, NULL, NULL);
        if (r == -EINTR || mp_interrupted)
            return mp_error_set(err, EINTR, "interrupted by signal %d", (int)mp_interrupted);
    }
}

int
qemu_storage_mirror(struct mp_step_ctx *ctx, struct qemu_qmp *qmp, const char *tls_creds,
                    const char *tls_hostname, struct mp_error **err)
{
    const struct mp_cookie *in = ctx->in;
    if (!mp_journal_record_get_fact(ctx->record, QEMU_FACT_MIRRORS))
        return 0;
    _cleanup_free_ char *host = NULL, *port = NULL;
    int r = parse_nbd_uri(in->nbd_uri, &host, &port, err);
    for (size_t i = 0; r == 0 && i < in->n_disks; i++) {
        const char *node = in->disks[i].node;
        r = qemu_qmp_execute(qmp, "blockdev-add",
                             nbd_node_args(node, host, port, tls_creds, tls_hostname), NULL, err);
        if (r < 0) {
            mp_error_prefix(err, "connecting disk %s to the destination's NBD server %s", node,
                            in->nbd_uri);
            break;
        }
        r = qemu_qmp_execute(qmp, "blockdev-mirror", mirror_args(node, in->params.copy_storage),
                             NULL, err);
        if (r < 0)
            mp_error_prefix(err, "starting the mirror of disk %s", node);
    }
    if (r == 0)
        r = wait_ready(ctx, qmp, err);
    return r;
}

/* Complete one ready mirror without pivot: QEMU's block-job-cancel of a
 * job in sync. */
static int
complete_one(struct qemu_qmp *qmp, const char *node, struct mp_error **err)
{
    _cleanup_free_ char *id = xasprintf(JOB_PREFIX "%s", node);
    json_object *args = json_object_new_object();
    json_object_object_add(args, "device", json_object_new_string(id));
    int r = qemu_qmp_execute(qmp, "block-job-cancel", args, NULL, err);
    return r < 0 ? mp_error_prefix(err, "completing the mirror of disk %s", node) : 0;
}

/* The nodes of a record's mirrors fact, a new NULL-terminated list. */
static char **
recorded_nodes(const struct mp_journal_record *record)
{
    const char *list = mp_journal_record_get_fact(record, QEMU_FACT_MIRRORS);
    return list ? mp_proc_split_command(list) : NULL;
}

/* A job that concluded without error and was not cancelled before sync:
 * QEMU's status "concluded", and no error. A ready mirror cancelled softly
 * reports its completion (BLOCK_JOB_COMPLETED) like a finished job. */
static int
wait_concluded(struct qemu_qmp *qmp, char **nodes, struct mp_error **err)
{
    uint64_t deadline = mp_now_ms() + COMPLETE_TIMEOUT_MS;
    for (;;) {
        _cleanup_json_ json_object *jobs = NULL;
        int r = qemu_qmp_execute(qmp, "query-block-jobs", NULL, &jobs, err);
        if (r < 0)
            return r;
        bool all = true;
        for (size_t i = 0; nodes[i]; i++) {
            struct job_state s;
            (void)query_job(jobs, nodes[i], &s);
            if (!s.found)
                return mp_error_set(err, EIO, "the mirror of disk %s is gone", nodes[i]);
            if (*s.error)
                return mp_error_set(err, EIO, "the mirror of disk %s failed: %s", nodes[i],
                                    s.error);
            all &= strcmp(s.status, "concluded") == 0;
        }
        if (all)
            return 0;
        if (mp_now_ms() > deadline)
            return mp_error_set(err, ETIMEDOUT, "the disks' mirrors did not complete");
        qemu_qmp_wait_event(qmp, "JOB_STATUS_CHANGE", MIRROR_POLL_MS, NULL, NULL);
    }
}

int
qemu_storage_complete(const struct mp_journal_record *record, struct qemu_qmp *qmp,
                      struct mp_error **err)
{
    _cleanup_strv_ char **nodes = recorded_nodes(record);
    if (!nodes)
        return 0;
    /* Every mirror must still be in sync: one that fell out of it (an
     * error, a lost connection) would complete without the last writes. */
    _cleanup_json_ json_object *jobs = NULL;
    int r = qemu_qmp_execute(qmp, "query-block-jobs", NULL, &jobs, err);
    for (size_t i = 0; r == 0 && nodes[i]; i++) {
        struct job_state s;
        (void)query_job(jobs, nodes[i], &s);
        r = job_failed(nodes[i], &s, err);
        if (r == 0 && !s.ready)
            r = mp_error_set(err, EIO, "the mirror of disk %s is not in sync", nodes[i]);
    }
    for (size_t i = 0; r == 0 && nodes[i]; i++)
        r = complete_one(qmp, nodes[i], err);
    if (r == 0)
        r = wait_concluded(qmp, nodes, err);
    if (r == 0)
        mp_info("the disks' mirrors completed with the source paused");
    return r;
}

static void
execute_quietly(struct qemu_qmp *qmp, const char *command, const char *key, const char *value)
{
    json_object *args = json_object_new_object();
    json_object_object_add(args, key, json_object_new_string(value));
    struct mp_error *e = NULL;
    if (qemu_qmp_execute(qmp, command, args, NULL, &e) < 0)
        mp_debug("%s %s: %s", command, value, e->message);
    mp_error_free(e);
}

/* The first of our jobs still listed, or NULL. A monitor that does not
 * answer names the first: nothing says it ended. */
static const char *
job_left(struct qemu_qmp *qmp, char **nodes)
{
    _cleanup_json_ json_object *jobs = NULL;
    if (qemu_qmp_execute(qmp, "query-block-jobs", NULL, &jobs, NULL) < 0)
        return nodes[0];
    for (size_t i = 0; nodes[i]; i++) {
        struct job_state s;
        if (query_job(jobs, nodes[i], &s) == 0)
            return nodes[i];
    }
    return NULL;
}

/* Force-cancel each of our jobs, then dismiss them as they conclude (a
 * cancelled job must reach "concluded" first), until none is left or the
 * deadline: the first node whose job is still there, or NULL. */
static const char *
end_jobs(struct qemu_qmp *qmp, char **nodes, uint64_t wait_ms)
{
    for (size_t i = 0; nodes[i]; i++) {
        _cleanup_free_ char *id = xasprintf(JOB_PREFIX "%s", nodes[i]);
        json_object *args = json_object_new_object();
        json_object_object_add(args, "device", json_object_new_string(id));
        json_object_object_add(args, "force", json_object_new_boolean(true));
        struct mp_error *e = NULL;
        (void)qemu_qmp_execute(qmp, "block-job-cancel", args, NULL, &e);
        mp_error_free(e);
    }
    uint64_t deadline = mp_now_ms() + wait_ms;
    for (;;) {
        for (size_t i = 0; nodes[i]; i++) {
            _cleanup_free_ char *id = xasprintf(JOB_PREFIX "%s", nodes[i]);
            execute_quietly(qmp, "job-dismiss", "id", id);
        }
        const char *left = job_left(qmp, nodes);
        if (!left || mp_now_ms() >= deadline)
            return left;
        qemu_qmp_wait_event(qmp, "JOB_STATUS_CHANGE", MIRROR_POLL_MS, NULL, NULL);
    }
}

int
qemu_storage_release(const struct mp_journal_record *record, struct qemu_qmp *qmp, uint64_t wait_ms,
                     struct mp_error **err)
{
    _cleanup_strv_ char **nodes = recorded_nodes(record);
    if (!nodes || !qmp)
        return 0;
    const char *left = end_jobs(qmp, nodes, wait_ms);
    for (size_t i = 0; nodes[i]; i++) {
        _cleanup_free_ char *name = xasprintf(NBD_NODE_PREFIX "%s", nodes[i]);
        execute_quietly(qmp, "blockdev-del", "node-name", name);
    }
    if (left)
        return mp_error_set(err, EBUSY,
                            "the mirror of disk %s does not end (its NBD connection to the "
                            "destination hangs): run migphase-confirm --cancelled again once "
                            "the destination is reachable",
                            left);
    return 0;
}
