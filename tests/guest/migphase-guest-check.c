/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* migphase-guest-check: verifies a dump of the test guest's region, taken while the guest
 * was paused (QMP stop, then pmemsave), or (--disk) a raw image of the disk its disk ring
 * wrote, and prints one verdict line. The formats and the rules are in layout.h and
 * README.md. It only needs libc, so that it builds even where
 * the rest of the tree does not, and it reads the dump with explicit little-endian loads
 * because the dump is guest memory, whatever the host. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"

#define PROGRAM "migphase-guest-check"

/* Exit statuses: the memory (or disk) is good, it is bad, or we could not tell. */
enum {
    EXIT_CHECK_OK = 0,
    EXIT_CHECK_FAILED = 1,
    EXIT_CHECK_ERROR = 2,
};

#define VERBOSE_MAX 100 /* bad pages or sectors listed by --verbose */

struct options {
    const char *path;
    bool disk;          /* path is a disk image, not a memory dump */
    bool memory_only;   /* an option that only means something for a memory dump was given */
    uint64_t dump_base; /* guest-physical address of the dump's first byte */
    bool json;
    bool verbose;
    bool have_boot_id;
    uint32_t boot_id;
    uint32_t min_pass;
    bool have_min_seq;
    uint32_t min_seq;
};

/* The header's fields, once they have passed header_check(). */
struct header {
    uint32_t npages;
    uint32_t rate;
    uint32_t boot_id;
    uint32_t pass;
    uint32_t cursor;
    uint32_t tick;
    uint32_t faults;
};

struct verdict {
    bool header_valid;
    struct header hdr;
    uint32_t bad_pages;
    char error[256]; /* the first failure; empty when the memory checked out */
};

static uint32_t
le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool fail(char *msg, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Formats a failure into msg; returns false, so that checks can `return fail(...)`. */
static bool
fail(char *msg, size_t len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, len, fmt, ap);
    va_end(ap);
    return false;
}

static void
usage(FILE *out)
{
    fprintf(out,
            "Usage: " PROGRAM " [OPTION]... DUMPFILE\n"
            "   or: " PROGRAM " --disk IMAGE [--min-seq N] [OPTION]...\n"
            "Check a dump of the migphase test guest's region, taken while the guest was\n"
            "paused (QMP stop; pmemsave val=REGION-BASE size=REGION-SIZE), or a raw image\n"
            "of the disk its disk ring wrote (qemu-img convert -O raw a qcow2 one first).\n"
            "\n"
            "  --base ADDR      guest-physical address of the dump's first byte\n"
            "                   (default 0x%08x, the region's own address)\n"
            "  --boot-id ID     fail unless the guest's boot id is ID (from the banner)\n"
            "  --min-pass N     fail if the guest is at a pass below N\n"
            "  --disk IMAGE     check a disk image instead of a memory dump\n"
            "  --min-seq N      fail if the disk's last record is below sequence number N\n"
            "                   (the last 'disk seq N' the guest printed)\n"
            "  --json           print the verdict as a JSON object\n"
            "  --verbose        list every bad page or sector (up to %u) on stderr\n"
            "  --help           print this help\n"
            "\n"
            "Exit status: 0 memory (disk) OK, 1 memory (disk) bad, 2 could not check.\n",
            MPG_REGION_BASE, VERBOSE_MAX);
}

static bool
parse_number(const char *text, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(text, &end, 0);
    if (errno || end == text || *end || text[0] == '-' || v > max)
        return false;
    *out = v;
    return true;
}

/* Returns <0 on a usage error (already reported), 0 if --help answered, >0 to go on. */
static int
parse_options(int argc, char **argv, struct options *o)
{
    enum {
        OPT_BASE = 256,
        OPT_BOOT_ID,
        OPT_MIN_PASS,
        OPT_DISK,
        OPT_MIN_SEQ,
        OPT_JSON,
        OPT_VERBOSE,
        OPT_HELP,
    };
    static const struct option longopts[] = {
        { "base", required_argument, NULL, OPT_BASE },
        { "boot-id", required_argument, NULL, OPT_BOOT_ID },
        { "min-pass", required_argument, NULL, OPT_MIN_PASS },
        { "disk", required_argument, NULL, OPT_DISK },
        { "min-seq", required_argument, NULL, OPT_MIN_SEQ },
        { "json", no_argument, NULL, OPT_JSON },
        { "verbose", no_argument, NULL, OPT_VERBOSE },
        { "help", no_argument, NULL, OPT_HELP },
        { NULL, 0, NULL, 0 },
    };
    uint64_t v;
    int c;

    *o = (struct options){ .dump_base = MPG_REGION_BASE };
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_BASE:
            if (!parse_number(optarg, MPG_REGION_BASE, &o->dump_base)) {
                fprintf(stderr, PROGRAM ": --base: '%s' is not an address at or below 0x%08x\n",
                        optarg, MPG_REGION_BASE);
                return -1;
            }
            o->memory_only = true;
            break;
        case OPT_BOOT_ID:
            if (!parse_number(optarg, UINT32_MAX, &v)) {
                fprintf(stderr, PROGRAM ": --boot-id: '%s' is not a 32-bit number\n", optarg);
                return -1;
            }
            o->have_boot_id = true;
            o->boot_id = (uint32_t)v;
            break;
        case OPT_MIN_PASS:
            if (!parse_number(optarg, UINT32_MAX, &v)) {
                fprintf(stderr, PROGRAM ": --min-pass: '%s' is not a 32-bit number\n", optarg);
                return -1;
            }
            o->min_pass = (uint32_t)v;
            o->memory_only = true;
            break;
        case OPT_DISK:
            o->disk = true;
            o->path = optarg;
            break;
        case OPT_MIN_SEQ:
            if (!parse_number(optarg, UINT32_MAX, &v)) {
                fprintf(stderr, PROGRAM ": --min-seq: '%s' is not a 32-bit number\n", optarg);
                return -1;
            }
            o->have_min_seq = true;
            o->min_seq = (uint32_t)v;
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case OPT_VERBOSE:
            o->verbose = true;
            break;
        case OPT_HELP:
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return -1;
        }
    }
    if (o->disk && (o->memory_only || optind != argc)) {
        fprintf(stderr, PROGRAM ": --disk takes no DUMPFILE, --base or --min-pass\n");
        return -1;
    }
    if (!o->disk && o->have_min_seq) {
        fprintf(stderr, PROGRAM ": --min-seq is for --disk\n");
        return -1;
    }
    if (o->disk)
        return 1;
    if (optind != argc - 1) {
        usage(stderr);
        return -1;
    }
    o->path = argv[optind];
    return 1;
}

/* Maps the whole file read-only. Returns 0, or a negative errno (the mapping is then
 * unset); a file smaller than min_size is -ENODATA. */
static int
dump_map(const char *path, size_t min_size, const uint8_t **data, size_t *size)
{
    struct stat st;
    void *p;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        int r = -errno;

        close(fd);
        return r;
    }
    if (st.st_size < (off_t)min_size) {
        close(fd);
        return -ENODATA;
    }
    p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return -errno;
    *data = p;
    *size = (size_t)st.st_size;
    return 0;
}

/* Validates page 0 and decodes it into *h; avail is how many bytes of the region the dump
 * holds. On failure, describes the problem in msg and returns false. */
static bool
header_check(const uint8_t *p, size_t avail, struct header *h, char *msg, size_t len)
{
    uint32_t magic = le32(p + MPG_HDR_MAGIC);
    uint32_t version = le32(p + MPG_HDR_VERSION);
    uint32_t base = le32(p + MPG_HDR_BASE);
    uint32_t tick_check;

    if (magic != MPG_HEADER_MAGIC)
        return fail(msg, len,
                    "header: no migphase-guest header (magic 0x%08x): guest not ready yet, "
                    "or wrong --base",
                    magic);
    if (version != MPG_VERSION)
        return fail(msg, len, "header: format version %" PRIu32 ", this checker reads %u", version,
                    MPG_VERSION);
    h->npages = le32(p + MPG_HDR_NPAGES);
    h->rate = le32(p + MPG_HDR_RATE);
    h->boot_id = le32(p + MPG_HDR_BOOT_ID);
    if (le32(p + MPG_HDR_CHECK) != mpg_header_check(h->npages, base, h->rate, h->boot_id))
        return fail(msg, len, "header: corrupt (check word)");
    if (base != MPG_REGION_BASE)
        return fail(msg, len, "header: region at 0x%08" PRIx32 ", this checker expects 0x%08x",
                    base, MPG_REGION_BASE);
    for (size_t off = MPG_HDR_SIZE; off < MPG_PAGE_SIZE; off++) {
        if (p[off])
            return fail(msg, len, "header: corrupt (nonzero byte at offset 0x%zx)", off);
    }
    if (h->npages < 2)
        return fail(msg, len, "header: corrupt (%" PRIu32 " pages)", h->npages);
    if ((uint64_t)h->npages * MPG_PAGE_SIZE > avail)
        return fail(msg, len,
                    "dump holds %zu bytes of the region but the header says %" PRIu32
                    " pages (%" PRIu64 " bytes)",
                    avail, h->npages, (uint64_t)h->npages * MPG_PAGE_SIZE);

    h->cursor = le32(p + MPG_HDR_POS);
    h->pass = le32(p + MPG_HDR_POS + 4);
    if (h->pass == 0 || h->cursor == 0 || h->cursor >= h->npages)
        return fail(msg, len, "header: corrupt cursor (pass %" PRIu32 ", page %" PRIu32 ")",
                    h->pass, h->cursor);
    h->tick = le32(p + MPG_HDR_TICK);
    tick_check = le32(p + MPG_HDR_TICK + 4);
    if (tick_check != mpg_tick_check(h->tick))
        return fail(msg, len, "header: corrupt tick counter (check word)");
    h->faults = le32(p + MPG_HDR_FAULTS);
    return true;
}

/* Validates the record at rec (the page's head or tail, named by which) and returns its
 * pass in *pass. */
static bool
record_check(const uint8_t *rec, uint32_t index, const char *which, uint32_t *pass, char *msg,
             size_t len)
{
    uint32_t magic = le32(rec + MPG_REC_MAGIC);
    uint32_t found = le32(rec + MPG_REC_INDEX);

    *pass = le32(rec + MPG_REC_PASS);
    if (magic != MPG_RECORD_MAGIC)
        return fail(msg, len, "page %" PRIu32 ": corrupt %s record (magic 0x%08" PRIx32 ")", index,
                    which, magic);
    if (found != index)
        return fail(msg, len, "page %" PRIu32 ": misplaced (%s record is for page %" PRIu32 ")",
                    index, which, found);
    if (le32(rec + MPG_REC_CHECK) != mpg_record_check(*pass, index))
        return fail(msg, len, "page %" PRIu32 ": corrupt %s record (check word)", index, which);
    return true;
}

/* The pass rule. The guest moves the cursor to a page, then rewrites the page's head, then
 * its tail, one instruction each, and a paused guest stops between instructions. So in a
 * dump of a paused guest at (pass P, cursor C): pages before C are exactly at P, pages after
 * C exactly at P-1, and page C is at P-1, half-way (head P, tail P-1), or done (both P). */
static bool
pass_check(uint32_t index, uint32_t head, uint32_t tail, const struct header *h, char *msg,
           size_t len)
{
    uint32_t want = index < h->cursor ? h->pass : h->pass - 1;

    if (index == h->cursor) {
        if (head != h->pass && head != h->pass - 1)
            return fail(msg, len,
                        "page %" PRIu32 ": %s (pass %" PRIu32 ", expected %" PRIu32 " or %" PRIu32
                        ")",
                        index, head < h->pass ? "stale" : "ahead", head, h->pass, h->pass - 1);
        if (tail != head && !(head == h->pass && tail == h->pass - 1))
            return fail(msg, len,
                        "page %" PRIu32 ": torn (head pass %" PRIu32 ", tail pass %" PRIu32
                        ", but the head is written first)",
                        index, head, tail);
        return true;
    }
    if (head != tail)
        return fail(msg, len,
                    "page %" PRIu32 ": torn (head pass %" PRIu32 ", tail pass %" PRIu32
                    ", expected %" PRIu32 ")",
                    index, head, tail, want);
    if (head != want)
        return fail(msg, len, "page %" PRIu32 ": %s (pass %" PRIu32 ", expected %" PRIu32 ")",
                    index, head < want ? "stale" : "ahead", head, want);
    return true;
}

static bool
page_check(const uint8_t *page, uint32_t index, const struct header *h, char *msg, size_t len)
{
    uint32_t head, tail;

    if (!record_check(page + MPG_HEAD_OFFSET, index, "head", &head, msg, len))
        return false;
    if (!record_check(page + MPG_TAIL_OFFSET, index, "tail", &tail, msg, len))
        return false;
    for (uint32_t w = MPG_BODY_FIRST_WORD; w < MPG_BODY_END_WORD; w++) {
        uint32_t found = le32(page + 4 * w);
        uint32_t want = mpg_body_word(index, w);

        if (found != want)
            return fail(msg, len,
                        "page %" PRIu32 ": corrupt body (word at offset 0x%" PRIx32
                        " is 0x%08" PRIx32 ", expected 0x%08" PRIx32 ")",
                        index, 4 * w, found, want);
    }
    return pass_check(index, head, tail, h, msg, len);
}

/* Checks the region that starts at data and fills *v. */
static void
region_check(const uint8_t *data, size_t avail, const struct options *o, struct verdict *v)
{
    char msg[sizeof(v->error)];

    if (!header_check(data, avail, &v->hdr, v->error, sizeof(v->error)))
        return;
    v->header_valid = true;
    if (o->have_boot_id && v->hdr.boot_id != o->boot_id) {
        snprintf(v->error, sizeof(v->error),
                 "boot id 0x%08" PRIx32 ", expected 0x%08" PRIx32 ": the guest was restarted",
                 v->hdr.boot_id, o->boot_id);
        return;
    }
    if (v->hdr.pass < o->min_pass) {
        snprintf(v->error, sizeof(v->error),
                 "pass %" PRIu32 " is below --min-pass %" PRIu32
                 ": the guest was restarted or lost its progress",
                 v->hdr.pass, o->min_pass);
        return;
    }
    for (uint32_t i = 1; i < v->hdr.npages; i++) {
        if (page_check(data + (size_t)i * MPG_PAGE_SIZE, i, &v->hdr, msg, sizeof(msg)))
            continue;
        if (v->bad_pages++ == 0)
            memcpy(v->error, msg, sizeof(msg));
        if (o->verbose && v->bad_pages <= VERBOSE_MAX)
            fprintf(stderr, PROGRAM ": %s\n", msg);
    }
    /* Pages can look right again once the guest has rewritten them; the count it keeps of
     * what it found wrong before rewriting does not forget. */
    if (!v->bad_pages && v->hdr.faults)
        snprintf(v->error, sizeof(v->error),
                 "the guest's self-check failed %" PRIu32
                 " times: its memory changed under it (its serial log says where)",
                 v->hdr.faults);
}

static void
json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", (unsigned int)(unsigned char)*s);
        else
            putchar(*s);
    }
    putchar('"');
}

static void
verdict_print(const struct verdict *v, bool json)
{
    bool ok = v->error[0] == '\0';

    if (!json) {
        if (ok)
            printf("memory check: OK, %" PRIu32 " pages, pass %" PRIu32 ", cursor %" PRIu32 "\n",
                   v->hdr.npages, v->hdr.pass, v->hdr.cursor);
        else if (v->bad_pages > 1)
            printf("memory check: FAILED: %s; %" PRIu32 " pages bad\n", v->error, v->bad_pages);
        else
            printf("memory check: FAILED: %s\n", v->error);
        return;
    }
    printf("{\"ok\": %s, \"error\": ", ok ? "true" : "false");
    if (ok)
        printf("null");
    else
        json_string(v->error);
    if (v->header_valid)
        printf(", \"pages\": %" PRIu32 ", \"pass\": %" PRIu32 ", \"cursor\": %" PRIu32
               ", \"tick\": %" PRIu32 ", \"rate\": %" PRIu32 ", \"boot_id\": \"0x%08" PRIx32
               "\", \"base\": \"0x%08x\", \"faults\": %" PRIu32 ", \"bad_pages\": %" PRIu32,
               v->hdr.npages, v->hdr.pass, v->hdr.cursor, v->hdr.tick, v->hdr.rate, v->hdr.boot_id,
               MPG_REGION_BASE, v->hdr.faults, v->bad_pages);
    printf("}\n");
}

/* What a disk image holds, once disk_check() has been through it. */
struct disk_verdict {
    bool found;        /* at least one valid record: ring and boot_id mean something */
    uint32_t ring;     /* sectors in the ring, from the first valid record */
    uint32_t boot_id;  /* the writer's boot id, from --boot-id or the first valid record */
    uint32_t last_seq; /* the highest sequence number found */
    uint32_t records;  /* sectors that hold a record */
    uint32_t bad_sectors;
    char error[256]; /* the first failure; empty when the disk checked out */
};

/* Whether the sector's fields hang together (magic, version, check word): a record, if
 * perhaps not one of this ring or in its place. */
static bool
sector_is_record(const uint8_t *p)
{
    return le32(p + MPG_DSK_MAGIC) == MPG_DISK_MAGIC &&
           le32(p + MPG_DSK_VERSION) == MPG_DISK_VERSION &&
           le32(p + MPG_DSK_CHECK) == mpg_disk_check(le32(p + MPG_DSK_BOOT_ID),
                                                     le32(p + MPG_DSK_SEQ), le32(p + MPG_DSK_LBA),
                                                     le32(p + MPG_DSK_RING));
}

static bool
sector_is_zero(const uint8_t *p)
{
    for (uint32_t i = 0; i < MPG_SECTOR_SIZE; i++) {
        if (p[i])
            return false;
    }
    return true;
}

/* Validates sector lba of the ring described by v: all zeros (*seq = 0) or a record of this
 * ring, this boot and this sector, payload included (*seq = its sequence number). */
static bool
sector_check(const uint8_t *p, uint32_t lba, const struct disk_verdict *v, uint32_t *seq, char *msg,
             size_t len)
{
    uint32_t found;

    *seq = 0;
    if (sector_is_zero(p))
        return true;
    if (le32(p + MPG_DSK_MAGIC) != MPG_DISK_MAGIC)
        return fail(msg, len, "sector %" PRIu32 ": corrupt (magic 0x%08" PRIx32 ")", lba,
                    le32(p + MPG_DSK_MAGIC));
    if (!sector_is_record(p))
        return fail(msg, len, "sector %" PRIu32 ": corrupt record (check word)", lba);
    found = le32(p + MPG_DSK_BOOT_ID);
    if (found != v->boot_id)
        return fail(msg, len,
                    "sector %" PRIu32 ": boot id 0x%08" PRIx32 ", expected 0x%08" PRIx32
                    ": written by another boot of the guest",
                    lba, found, v->boot_id);
    found = le32(p + MPG_DSK_RING);
    if (found != v->ring)
        return fail(msg, len, "sector %" PRIu32 ": ring of %" PRIu32 " sectors, expected %" PRIu32,
                    lba, found, v->ring);
    found = le32(p + MPG_DSK_LBA);
    *seq = le32(p + MPG_DSK_SEQ);
    if (found != lba || *seq == 0 || mpg_disk_slot(*seq, v->ring) != lba)
        return fail(msg, len,
                    "sector %" PRIu32 ": misplaced (record of seq %" PRIu32 " for sector %" PRIu32
                    ")",
                    lba, *seq, found);
    for (uint32_t w = MPG_DSK_PAYLOAD_FIRST; w < MPG_DSK_PAYLOAD_END; w++) {
        uint32_t want = mpg_disk_word(le32(p + MPG_DSK_CHECK), w);

        if (le32(p + 4 * w) != want)
            return fail(msg, len,
                        "sector %" PRIu32 ": corrupt payload (word at offset 0x%" PRIx32
                        " is 0x%08" PRIx32 ", expected 0x%08" PRIx32 ")",
                        lba, 4 * w, le32(p + 4 * w), want);
    }
    return true;
}

/* The write rule. The guest writes seq 1, 2, 3, ... to sectors mpg_disk_slot(seq), and
 * reports a seq only once the drive completed it, so an image that holds last seq S must
 * hold in each sector the latest write to it up to S, or zeros if S never reached it. */
static bool
seq_check(uint32_t lba, uint32_t seq, const struct disk_verdict *v, char *msg, size_t len)
{
    uint32_t behind = (mpg_disk_slot(v->last_seq, v->ring) + v->ring - lba) % v->ring;
    uint32_t want = behind < v->last_seq ? v->last_seq - behind : 0;

    if (seq == want)
        return true;
    if (seq == 0)
        return fail(msg, len,
                    "sector %" PRIu32 ": lost write (all zeros, expected seq %" PRIu32 ")", lba,
                    want);
    if (want == 0)
        return fail(msg, len, "sector %" PRIu32 ": seq %" PRIu32 ", expected zeros", lba, seq);
    return fail(msg, len, "sector %" PRIu32 ": lost write (seq %" PRIu32 ", expected %" PRIu32 ")",
                lba, seq, want);
}

static void
disk_bad(struct disk_verdict *v, const struct options *o, const char *msg)
{
    if (v->bad_sectors++ == 0)
        snprintf(v->error, sizeof(v->error), "%s", msg);
    if (o->verbose && v->bad_sectors <= VERBOSE_MAX)
        fprintf(stderr, PROGRAM ": %s\n", msg);
}

/* Finds the ring's size and boot id in the first sector that holds a record. */
static bool
disk_find_ring(const uint8_t *data, size_t nsectors, const struct options *o,
               struct disk_verdict *v)
{
    for (size_t i = 0; i < nsectors; i++) {
        const uint8_t *p = data + i * MPG_SECTOR_SIZE;

        if (!sector_is_record(p))
            continue;
        v->found = true;
        v->ring = le32(p + MPG_DSK_RING);
        v->boot_id = o->have_boot_id ? o->boot_id : le32(p + MPG_DSK_BOOT_ID);
        return true;
    }
    return false;
}

/* Checks the disk image at data (nsectors whole sectors) and fills *v. */
static void
disk_check(const uint8_t *data, size_t nsectors, const struct options *o, struct disk_verdict *v)
{
    char msg[sizeof(v->error)];
    uint32_t seq;

    if (!disk_find_ring(data, nsectors, o, v)) {
        fail(v->error, sizeof(v->error), "no disk ring record in the image: nothing written");
        return;
    }
    if (v->ring == 0 || v->ring > nsectors) {
        fail(v->error, sizeof(v->error),
             "the image holds %zu sectors but the records say the ring has %" PRIu32, nsectors,
             v->ring);
        return;
    }
    /* First every sector on its own, which gives the last seq; then the write rule. */
    for (uint32_t i = 0; i < v->ring; i++) {
        if (!sector_check(data + (size_t)i * MPG_SECTOR_SIZE, i, v, &seq, msg, sizeof(msg)))
            disk_bad(v, o, msg);
        else if (seq > v->last_seq)
            v->last_seq = seq;
    }
    for (uint32_t i = 0; i < v->ring; i++) {
        if (!sector_check(data + (size_t)i * MPG_SECTOR_SIZE, i, v, &seq, msg, sizeof(msg)))
            continue;
        if (seq)
            v->records++;
        if (!seq_check(i, seq, v, msg, sizeof(msg)))
            disk_bad(v, o, msg);
    }
    for (size_t i = v->ring; i < nsectors; i++) {
        if (sector_is_zero(data + i * MPG_SECTOR_SIZE))
            continue;
        snprintf(msg, sizeof(msg), "sector %zu: beyond the ring of %" PRIu32 " but not zeros", i,
                 v->ring);
        disk_bad(v, o, msg);
    }
    if (!v->bad_sectors && o->have_min_seq && v->last_seq < o->min_seq)
        snprintf(v->error, sizeof(v->error),
                 "last seq %" PRIu32 " is below --min-seq %" PRIu32
                 ": writes the guest reported done are missing",
                 v->last_seq, o->min_seq);
}

static void
disk_verdict_print(const struct disk_verdict *v, bool json)
{
    bool ok = v->error[0] == '\0';

    if (!json) {
        if (ok)
            printf("disk check: OK, ring %" PRIu32 ", last seq %" PRIu32 ", boot_id 0x%08" PRIx32
                   "\n",
                   v->ring, v->last_seq, v->boot_id);
        else if (v->bad_sectors > 1)
            printf("disk check: FAILED: %s; %" PRIu32 " sectors bad\n", v->error, v->bad_sectors);
        else
            printf("disk check: FAILED: %s\n", v->error);
        return;
    }
    printf("{\"ok\": %s, \"error\": ", ok ? "true" : "false");
    if (ok)
        printf("null");
    else
        json_string(v->error);
    if (v->found)
        printf(", \"ring\": %" PRIu32 ", \"last_seq\": %" PRIu32 ", \"boot_id\": \"0x%08" PRIx32
               "\", \"records\": %" PRIu32 ", \"bad_sectors\": %" PRIu32,
               v->ring, v->last_seq, v->boot_id, v->records, v->bad_sectors);
    printf("}\n");
}

/* The --disk mode of run(). */
static int
disk_run(const struct options *o)
{
    struct disk_verdict v = { 0 };
    const uint8_t *data = NULL;
    size_t size = 0;
    int r;

    r = dump_map(o->path, MPG_SECTOR_SIZE, &data, &size);
    if (r == -ENODATA) {
        fprintf(stderr, PROGRAM ": %s: too small to hold a sector\n", o->path);
        return EXIT_CHECK_ERROR;
    }
    if (r < 0) {
        fprintf(stderr, PROGRAM ": %s: %s\n", o->path, strerror(-r));
        return EXIT_CHECK_ERROR;
    }
    disk_check(data, size / MPG_SECTOR_SIZE, o, &v);
    munmap((void *)data, size);
    disk_verdict_print(&v, o->json);
    return v.error[0] ? EXIT_CHECK_FAILED : EXIT_CHECK_OK;
}

static int
run(int argc, char **argv)
{
    struct options o;
    struct verdict v = { 0 };
    const uint8_t *data = NULL;
    size_t size = 0, offset;
    int r;

    r = parse_options(argc, argv, &o);
    if (r <= 0)
        return r < 0 ? EXIT_CHECK_ERROR : EXIT_CHECK_OK;

    if (o.disk)
        return disk_run(&o);
    r = dump_map(o.path, MPG_PAGE_SIZE, &data, &size);
    if (r == -ENODATA) {
        fprintf(stderr, PROGRAM ": %s: too small to hold a region\n", o.path);
        return EXIT_CHECK_ERROR;
    }
    if (r < 0) {
        fprintf(stderr, PROGRAM ": %s: %s\n", o.path, strerror(-r));
        return EXIT_CHECK_ERROR;
    }
    /* A dump that starts below the region (--base) holds it at this offset. */
    offset = (size_t)(MPG_REGION_BASE - o.dump_base);
    if (offset > size - MPG_PAGE_SIZE) {
        fprintf(stderr, PROGRAM ": %s: dump from 0x%08" PRIx64 " ends before the region's header\n",
                o.path, o.dump_base);
        munmap((void *)data, size);
        return EXIT_CHECK_ERROR;
    }

    region_check(data + offset, size - offset, &o, &v);
    munmap((void *)data, size);
    verdict_print(&v, o.json);
    return v.error[0] ? EXIT_CHECK_FAILED : EXIT_CHECK_OK;
}

int
main(int argc, char **argv)
{
    return run(argc, argv);
}
