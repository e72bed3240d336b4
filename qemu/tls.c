/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "tls.h"

#include "log.h"
#include "proc.h"
#include "sign.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Where the copies go: /tmp/migphase-tls-PID-XXXXXX, PID the helper's. */
#define STAGE_PARENT "/tmp"
#define STAGE_PREFIX "migphase-tls-"

#define PKI_CLIENT_CERT "client-cert.pem"
#define PKI_CLIENT_KEY  "client-key.pem"

/* The files each end reads, in QEMU's layout; the CRL is optional. */
static const char *const server_files[] = { MP_PKI_CA_CERT, MP_PKI_SERVER_CERT, MP_PKI_SERVER_KEY };
static const char *const client_files[] = { MP_PKI_CA_CERT, PKI_CLIENT_CERT, PKI_CLIENT_KEY };

static int
copy_file(const char *from, const char *to, uid_t uid, gid_t gid, struct mp_error **err)
{
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    int r = mp_read_file(from, 1 << 20, &data, &len, err);
    if (r < 0)
        return r;
    int fd = open(to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400);
    if (fd < 0)
        return mp_error_set_errno(err, errno, "cannot create %s", to);
    bool ok = mp_write_all(fd, data, len) == 0 && fchown(fd, uid, gid) == 0;
    int saved = errno;
    close(fd);
    if (!ok)
        return mp_error_set_errno(err, saved, "cannot write %s", to);
    return 0;
}

static int
stage_one(const char *pki_dir, const char *name, bool optional, const char *dir, uid_t uid,
          gid_t gid, struct mp_error **err)
{
    _cleanup_free_ char *from = xasprintf("%s/%s", pki_dir, name);
    _cleanup_free_ char *to = xasprintf("%s/%s", dir, name);
    if (optional && access(from, F_OK) < 0)
        return 0;
    return copy_file(from, to, uid, gid, err);
}

/* A helper killed between staging and unstaging leaves its copies behind:
 * the next one removes the directories whose helper is gone. Only a
 * directory of root's is touched (nobody else can make one), by names it
 * holds, so no link someone planted is followed. */
static void
sweep_orphans(void)
{
    DIR *tmp = opendir(STAGE_PARENT);
    if (!tmp)
        return;
    for (struct dirent *e; (e = readdir(tmp));) {
        long pid = 0;
        char rest[16];
        if (sscanf(e->d_name, STAGE_PREFIX "%ld-%15s", &pid, rest) != 2 || pid <= 0)
            continue;
        _cleanup_free_ char *path = xasprintf(STAGE_PARENT "/%s", e->d_name);
        struct stat st;
        if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0 ||
            mp_proc_alive((pid_t)pid))
            continue;
        qemu_tls_unstage(steal_ptr(&path));
    }
    closedir(tmp);
}

int
qemu_tls_stage(const char *pki_dir, bool server, uid_t uid, gid_t gid, char **dir,
               struct mp_error **err)
{
    sweep_orphans();
    _cleanup_free_ char *tmpl =
        xasprintf(STAGE_PARENT "/" STAGE_PREFIX "%ld-XXXXXX", (long)getpid());
    if (!mkdtemp(tmpl))
        return mp_error_set_errno(err, errno, "cannot make a directory for QEMU's TLS files");
    _cleanup_free_ char *staged = xstrdup(tmpl);
    int r = 0;
    const char *const *files = server ? server_files : client_files;
    for (size_t i = 0; r == 0 && i < 3; i++)
        r = stage_one(pki_dir, files[i], false, staged, uid, gid, err);
    if (r == 0)
        r = stage_one(pki_dir, MP_PKI_CA_CRL, true, staged, uid, gid, err);
    /* The directory stays root's, and only searchable by others: the VM's
     * user opens its files by name but can neither list nor change the
     * directory, so it cannot swap an entry for a link that the removal
     * would follow. The files are its own, mode 0400. */
    if (r == 0 && chmod(staged, 0711) < 0)
        r = mp_error_set_errno(err, errno, "cannot open %s to uid %ld", staged, (long)uid);
    if (r < 0) {
        qemu_tls_unstage(steal_ptr(&staged));
        return mp_error_prefix(err, "staging the %s's TLS files", server ? "server" : "client");
    }
    *dir = steal_ptr(&staged);
    return 0;
}

void
qemu_tls_unstage(char *dir)
{
    if (!dir)
        return;
    const char *names[] = { MP_PKI_CA_CERT,    MP_PKI_CA_CRL,   MP_PKI_SERVER_CERT,
                            MP_PKI_SERVER_KEY, PKI_CLIENT_CERT, PKI_CLIENT_KEY };
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, names[i]);
        (void)unlink(path);
    }
    if (rmdir(dir) < 0 && errno != ENOENT)
        mp_warn("cannot remove %s: %s", dir, strerror(errno));
    free(dir);
}

bool
qemu_tls_valid_host(const char *host)
{
    return host && mp_str_is_name(host, 253, MP_CHARS_LOWER MP_CHARS_UPPER MP_CHARS_DIGITS ":",
                                  MP_CHARS_LOWER MP_CHARS_UPPER MP_CHARS_DIGITS ".-:");
}

char **
qemu_tls_destination_objects(const char *staged_dir, const char *source_host)
{
    char **args = NULL;
    _cleanup_free_ char *creds =
        xasprintf("tls-creds-x509,id=" QEMU_TLS_CREDS_ID ",endpoint=server,verify-peer=on,dir=%s",
                  staged_dir);
    /* QEMU matches the client certificate's distinguished name, which GnuTLS
     * writes CN first: CN=host alone (migphase-pki's certificates), or
     * followed by the organisation and the rest (libvirt's). A host name
     * holds no glob character (qemu_tls_valid_host). */
    _cleanup_free_ char *authz = xasprintf(
        "{\"qom-type\":\"authz-list\",\"id\":\"" QEMU_TLS_AUTHZ_ID "\",\"policy\":\"deny\","
        "\"rules\":[{\"match\":\"CN=%s\",\"policy\":\"allow\",\"format\":\"exact\"},"
        "{\"match\":\"CN=%s,*\",\"policy\":\"allow\",\"format\":\"glob\"}]}",
        source_host, source_host);
    args = mp_strv_append(args, "-object");
    args = mp_strv_append(args, creds);
    args = mp_strv_append(args, "-object");
    args = mp_strv_append(args, authz);
    return args;
}

int
qemu_tls_add_client(struct qemu_qmp *qmp, const char *staged_dir, struct mp_error **err)
{
    json_object *del = json_object_new_object();
    json_object_object_add(del, "id", json_object_new_string(QEMU_TLS_CREDS_ID));
    struct mp_error *ignored = NULL;
    (void)qemu_qmp_execute(qmp, "object-del", del, NULL, &ignored);
    mp_error_free(ignored);
    json_object *add = json_object_new_object();
    json_object_object_add(add, "qom-type", json_object_new_string("tls-creds-x509"));
    json_object_object_add(add, "id", json_object_new_string(QEMU_TLS_CREDS_ID));
    json_object_object_add(add, "endpoint", json_object_new_string("client"));
    json_object_object_add(add, "verify-peer", json_object_new_boolean(true));
    json_object_object_add(add, "dir", json_object_new_string(staged_dir));
    int r = qemu_qmp_execute(qmp, "object-add", add, NULL, err);
    if (r < 0)
        return mp_error_prefix(err, "loading the source's TLS credentials into QEMU");
    return 0;
}
