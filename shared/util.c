/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "util.h"

#include "buf.h"
#include "error.h"

#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

static _noreturn_ void
out_of_memory(void)
{
    static const char msg[] = "migphase: out of memory\n";
    (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
    abort();
}

void *
xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        out_of_memory();
    return p;
}

void *
xzalloc(size_t size)
{
    void *p = calloc(1, size ? size : 1);
    if (!p)
        out_of_memory();
    return p;
}

void *
xrealloc(void *p, size_t size)
{
    p = realloc(p, size ? size : 1);
    if (!p)
        out_of_memory();
    return p;
}

void *
xreallocarray(void *p, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        out_of_memory();
    return xrealloc(p, n * size);
}

char *
xstrdup(const char *s)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        out_of_memory();
    return d;
}

char *
xstrndup(const char *s, size_t n)
{
    char *d = strndup(s, n);
    if (!d)
        out_of_memory();
    return d;
}

char *
xvasprintf(const char *fmt, va_list ap)
{
    char *s;
    if (vasprintf(&s, fmt, ap) < 0)
        out_of_memory();
    return s;
}

char *
xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = xvasprintf(fmt, ap);
    va_end(ap);
    return s;
}

void
mp_strv_free(char **strv)
{
    if (!strv)
        return;
    for (char **p = strv; *p; p++)
        free(*p);
    free(strv);
}

size_t
mp_strv_length(char *const *strv)
{
    size_t n = 0;
    while (strv && strv[n])
        n++;
    return n;
}

char **
mp_strv_append(char **strv, const char *s)
{
    size_t n = mp_strv_length(strv);
    strv = xreallocarray(strv, n + 2, sizeof(*strv));
    strv[n] = xstrdup(s);
    strv[n + 1] = NULL;
    return strv;
}

char **
mp_strv_copy(char *const *strv)
{
    size_t n = mp_strv_length(strv);
    char **copy = xreallocarray(NULL, n + 1, sizeof(*copy));
    for (size_t i = 0; i < n; i++)
        copy[i] = xstrdup(strv[i]);
    copy[n] = NULL;
    return copy;
}

uint64_t
mp_fnv1a64(uint64_t h, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

bool
mp_streq0(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

bool
mp_str_is_name(const char *s, size_t max, const char *first, const char *chars)
{
    size_t n = strlen(s);
    return n > 0 && n <= max && strchr(first ? first : chars, s[0]) && strspn(s, chars) == n;
}

int
mp_utf8_decode(const char *s, size_t len, uint32_t *ch)
{
    static const uint32_t shortest[] = { 0, 0, 0x80, 0x800, 0x10000 };
    const unsigned char *p = (const unsigned char *)s;
    size_t n = *p < 0x80             ? 1
               : (*p & 0xe0) == 0xc0 ? 2
               : (*p & 0xf0) == 0xe0 ? 3
               : (*p & 0xf8) == 0xf0 ? 4
                                     : 0;
    if (n == 0 || n > len)
        return -1;
    uint32_t c = n == 1 ? *p : *p & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return -1;
        c = c << 6 | (p[i] & 0x3f);
    }
    if (c < shortest[n])
        return -1; /* overlong: a second spelling of a character, never valid */
    *ch = c;
    return (int)n;
}

bool
mp_str_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

int
mp_read_fd(int fd, size_t max, char **out, size_t *len, struct mp_error **err)
{
    _cleanup_buf_ struct mp_buf buf = { 0 };
    for (;;) {
        /* Reads grow with the buffer: few system calls for a large file. */
        char *room = mp_buf_reserve(&buf, 4096);
        ssize_t n = read(fd, room, buf.alloc - buf.len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return mp_error_set_errno(err, errno, "read failed");
        }
        if (n == 0)
            break;
        mp_buf_grew(&buf, (size_t)n);
        if (buf.len > max)
            return mp_error_input(err, EFBIG, "input is larger than %zu bytes", max);
    }
    *out = mp_buf_steal(&buf, len);
    return 0;
}

int
mp_read_file(const char *path, size_t max, char **out, size_t *len, struct mp_error **err)
{
    if (strcmp(path, "-") == 0)
        return mp_read_fd(STDIN_FILENO, max, out, len, err);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return mp_error_input(err, errno, "cannot open %s: %s", path, strerror(errno));
    int r = mp_read_fd(fd, max, out, len, err);
    if (r < 0)
        return mp_error_prefix(err, "%s", path);
    return 0;
}

char *
mp_file_last_line(const char *path, const char *fallback)
{
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    if (!path || mp_read_file(path, 1024 * 1024, &text, &len, NULL) < 0)
        return xstrdup(fallback);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        text[--len] = '\0';
    char *nl = strrchr(text, '\n');
    return xstrdup(len == 0 ? fallback : nl ? nl + 1 : text);
}

int
mp_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The temporary file is ours alone: created new (O_EXCL), never through a
 * link someone left in the directory (O_NOFOLLOW), its mode and group set
 * on the open file before a byte is written. */
static int
write_file_at(int dirfd, const char *name, const void *buf, size_t len, mode_t mode, gid_t gid,
              struct mp_error **err)
{
    _cleanup_free_ char *tmp = xasprintf(".%s.tmp.%ld", name, (long)getpid());
    (void)unlinkat(dirfd, tmp, 0); /* one this pid left when killed */
    _cleanup_close_ int fd =
        openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return mp_error_set_errno(err, errno, "cannot create %s", tmp);
    int r = 0;
    if (gid != (gid_t)-1 && fchown(fd, (uid_t)-1, gid) < 0)
        r = -errno;
    if (r == 0 && fchmod(fd, mode) < 0) /* whatever the umask */
        r = -errno;
    if (r == 0)
        r = mp_write_all(fd, buf, len);
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
        r = -errno;
    if (r < 0) {
        (void)unlinkat(dirfd, tmp, 0);
        return mp_error_set_errno(err, -r, "cannot write %s", name);
    }
    /* The rename is durable only once the directory itself is synced. */
    if (fsync(dirfd) < 0)
        return mp_error_set_errno(err, errno, "cannot sync the directory of %s", name);
    return 0;
}

int
mp_write_file_at(int dirfd, const char *name, const void *buf, size_t len, mode_t mode,
                 struct mp_error **err)
{
    return write_file_at(dirfd, name, buf, len, mode, (gid_t)-1, err);
}

static int
write_file(const char *path, const void *buf, size_t len, mode_t mode, gid_t gid,
           struct mp_error **err)
{
    if (strcmp(path, "-") == 0) {
        int r = mp_write_all(STDOUT_FILENO, buf, len);
        if (r < 0)
            return mp_error_set_errno(err, -r, "cannot write to standard output");
        return 0;
    }
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        /* A pipe or terminal given by path: no rename possible, just write. */
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
            return mp_error_set_errno(err, errno, "cannot open %s", path);
        int r = mp_write_all(fd, buf, len);
        if (r < 0)
            return mp_error_set_errno(err, -r, "cannot write %s", path);
        return 0;
    }
    _cleanup_free_ char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    const char *name = path;
    if (slash) {
        name = path + (slash - dir) + 1;
        if (slash == dir)
            slash[1] = '\0';
        else
            *slash = '\0';
    } else {
        free(dir);
        dir = xstrdup(".");
    }
    _cleanup_close_ int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return mp_error_set_errno(err, errno, "cannot open directory %s", dir);
    return write_file_at(dirfd, name, buf, len, mode, gid, err);
}

int
mp_write_file(const char *path, const void *buf, size_t len, struct mp_error **err)
{
    return write_file(path, buf, len, 0644, (gid_t)-1, err);
}

int
mp_write_file_private(const char *path, const void *buf, size_t len, const char *group,
                      struct mp_error **err)
{
    if (!group)
        return write_file(path, buf, len, 0600, (gid_t)-1, err);
    struct group *g = getgrnam(group);
    if (!g)
        return mp_error_input(err, ENOENT, "cookie-group %s: no such group", group);
    return write_file(path, buf, len, 0640, g->gr_gid, err);
}

int
mp_mkdir_p(const char *path, mode_t mode)
{
    _cleanup_free_ char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST)
            return -errno;
        *s = '/';
    }
    if (mkdir(p, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int
mp_parse_u64(const char *s, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -EINVAL;
    *out = v;
    return 0;
}

void
mp_sleep_ms(unsigned ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

uint64_t
mp_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
mp_realtime_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

char *
mp_tcp_uri(const char *host, unsigned port)
{
    return xasprintf(strchr(host, ':') ? "tcp:[%s]:%u" : "tcp:%s:%u", host, port);
}

char *
mp_stream_uri(const char *listen_addr, const char *own_name, unsigned port)
{
    bool everywhere = strcmp(listen_addr, "0.0.0.0") == 0 || strcmp(listen_addr, "::") == 0;
    return mp_tcp_uri(everywhere ? own_name : listen_addr, port);
}

char *
mp_host_name(void)
{
    char name[256] = "";
    if (gethostname(name, sizeof(name) - 1) < 0 || !*name)
        return xstrdup("localhost");
    return xstrdup(name);
}

char *
mp_host_id(void)
{
    _cleanup_free_ char *id = NULL;
    size_t len = 0;
    if (mp_read_file("/etc/machine-id", 4096, &id, &len, NULL) == 0) {
        while (len > 0 && (id[len - 1] == '\n' || id[len - 1] == ' '))
            id[--len] = '\0';
        if (len > 0)
            return steal_ptr(&id);
    }
    return mp_host_name();
}

char *
mp_uuid_new(void)
{
    uint8_t b[16];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        /* getrandom on a fresh boot can block; fall back to time and pid. */
        uint64_t t = mp_realtime_us() ^ ((uint64_t)getpid() << 32);
        for (size_t i = 0; i < sizeof(b); i++)
            b[i] = (uint8_t)(t >> ((i % 8) * 8)) ^ (uint8_t)(i * 37);
    }
    b[6] = (b[6] & 0x0f) | 0x40; /* version 4 */
    b[8] = (b[8] & 0x3f) | 0x80; /* RFC 4122 variant */
    return xasprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                     b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
                     b[13], b[14], b[15]);
}
