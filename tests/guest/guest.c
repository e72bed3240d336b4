/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The migphase test guest: dirties a memory region at a steady pace, writing records that
 * a dump of the region can be checked against (layout.h), and prints a numbered tick line
 * on COM1 every second so that serial continuity across a migration can be checked too.
 * See README.md for the contract with the tests. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "disk.h"
#include "hw.h"
#include "layout.h"

#define MB_BOOT_MAGIC   0x2badb002u
#define MB_INFO_MEMORY  (1u << 0)
#define MB_INFO_CMDLINE (1u << 2)

#define MEM_DEFAULT      256u
#define MEM_MAX          3072u /* the region must end below 4 GiB; the RAM check does the rest */
#define RATE_DEFAULT     64u
#define RATE_MAX         1048576u
#define DISKRATE_DEFAULT 200u
#define DISKRATE_MAX     1000000u
#define UNPACED_BATCH    64u /* pages between clock reads when rate=0 */
#define FAULTS_SHOWN     10u /* self-check failures described on the serial port */

/* The start of the Multiboot information structure; we need nothing past cmdline. */
struct multiboot_info {
    uint32_t flags;
    uint32_t mem_lower; /* KiB below 1 MiB */
    uint32_t mem_upper; /* KiB from 1 MiB to the first hole */
    uint32_t boot_device;
    uint32_t cmdline; /* physical address of a NUL-terminated string */
};

struct config {
    uint32_t mem_mib;
    uint32_t rate;      /* MiB/s of dirtied pages, 0 = as fast as possible */
    uint32_t disk_ring; /* sectors in the disk ring, 0 = no disk writing */
    uint32_t disk_rate; /* sectors written per second, 0 = as fast as possible */
};

/* The dirtying state. Only this file writes the region. */
struct dirtier {
    uint32_t npages;
    uint32_t pass;
    uint32_t page; /* next page to write, 1..npages-1 */
    uint32_t tick;
    uint64_t pos;    /* what we last stored in the header's cursor */
    uint32_t faults; /* failed self-checks, mirrored in the header */
};

void guest_main(uint32_t magic, const struct multiboot_info *info) __attribute__((noreturn));

static volatile uint32_t *
page_words(uint32_t index)
{
    return (volatile uint32_t *)(MPG_REGION_BASE + index * MPG_PAGE_SIZE);
}

static volatile uint32_t *
header_words(void)
{
    return page_words(0);
}

/* Parses a decimal number of len characters into *out; false if it is not one or > max. */
static bool
parse_u32(const char *s, size_t len, uint32_t max, uint32_t *out)
{
    uint32_t v = 0;

    if (len == 0 || len > 10)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

static bool
has_prefix(const char *s, size_t len, const char *prefix)
{
    size_t i;

    for (i = 0; prefix[i]; i++) {
        if (i >= len || s[i] != prefix[i])
            return false;
    }
    return true;
}

/* Reads mem=, rate=, disk= and diskrate= from the command line. QEMU puts the kernel's path
 * first, as GRUB does; any token that is not one of ours is ignored. */
static void
config_parse(struct config *cfg, const char *cmdline)
{
    cfg->mem_mib = MEM_DEFAULT;
    cfg->rate = RATE_DEFAULT;
    cfg->disk_ring = 0;
    cfg->disk_rate = DISKRATE_DEFAULT;
    while (*cmdline) {
        const char *token;
        size_t len;

        while (*cmdline == ' ')
            cmdline++;
        token = cmdline;
        while (*cmdline && *cmdline != ' ')
            cmdline++;
        len = (size_t)(cmdline - token);
        if (has_prefix(token, len, "mem=")) {
            if (!parse_u32(token + 4, len - 4, MEM_MAX, &cfg->mem_mib) || cfg->mem_mib == 0)
                fatal("mem= wants a size in MiB from 1 to %u", MEM_MAX);
        } else if (has_prefix(token, len, "rate=")) {
            if (!parse_u32(token + 5, len - 5, RATE_MAX, &cfg->rate))
                fatal("rate= wants MiB/s from 0 (unpaced) to %u", RATE_MAX);
        } else if (has_prefix(token, len, "disk=")) {
            if (!parse_u32(token + 5, len - 5, MPG_DISK_RING_MAX, &cfg->disk_ring))
                fatal("disk= wants a ring size in sectors from 0 (off) to %u", MPG_DISK_RING_MAX);
        } else if (has_prefix(token, len, "diskrate=")) {
            if (!parse_u32(token + 9, len - 9, DISKRATE_MAX, &cfg->disk_rate))
                fatal("diskrate= wants sectors/s from 0 (unpaced) to %u", DISKRATE_MAX);
        }
    }
}

static void
record_write(volatile uint32_t *rec, uint32_t index, uint32_t pass)
{
    rec[MPG_REC_MAGIC / 4] = MPG_RECORD_MAGIC;
    rec[MPG_REC_INDEX / 4] = index;
    store64((volatile uint64_t *)(rec + MPG_REC_PASS / 4),
            (uint64_t)mpg_record_check(pass, index) << 32 | pass);
}

/* Writes every page as pass 0, then the header, magic last: until the magic is there a
 * dump is recognisably not ready, rather than inconsistent. */
static void
region_fill(struct dirtier *d, const struct config *cfg, uint32_t boot_id)
{
    volatile uint32_t *hdr = header_words();

    for (uint32_t w = 0; w < MPG_PAGE_WORDS; w++)
        hdr[w] = 0;
    for (uint32_t i = 1; i < d->npages; i++) {
        volatile uint32_t *page = page_words(i);

        record_write(page + MPG_HEAD_OFFSET / 4, i, 0);
        for (uint32_t w = MPG_BODY_FIRST_WORD; w < MPG_BODY_END_WORD; w++)
            page[w] = mpg_body_word(i, w);
        record_write(page + MPG_TAIL_OFFSET / 4, i, 0);
    }
    hdr[MPG_HDR_VERSION / 4] = MPG_VERSION;
    hdr[MPG_HDR_NPAGES / 4] = d->npages;
    hdr[MPG_HDR_BASE / 4] = MPG_REGION_BASE;
    hdr[MPG_HDR_RATE / 4] = cfg->rate;
    hdr[MPG_HDR_BOOT_ID / 4] = boot_id;
    hdr[MPG_HDR_CHECK / 4] = mpg_header_check(d->npages, MPG_REGION_BASE, cfg->rate, boot_id);
    d->pos = (uint64_t)d->pass << 32 | d->page;
    store64((volatile uint64_t *)(hdr + MPG_HDR_POS / 4), d->pos);
    store64((volatile uint64_t *)(hdr + MPG_HDR_TICK / 4), (uint64_t)mpg_tick_check(0) << 32);
    hdr[MPG_HDR_MAGIC / 4] = MPG_HEADER_MAGIC;
}

/* Counts a failed self-check in the header and says whether to describe it: only the first
 * few are, so that a wrecked region cannot drown the tick lines. */
static bool
fault(struct dirtier *d)
{
    d->faults++;
    header_words()[MPG_HDR_FAULTS / 4] = d->faults;
    if (d->faults == FAULTS_SHOWN + 1)
        gprintf("migphase-guest: error: more self-check failures, only counted\n");
    return d->faults <= FAULTS_SHOWN;
}

/* The self-check: a record about to be rewritten must still be the one we wrote a pass ago.
 * Nothing but this guest writes the region, so a difference means memory changed under it,
 * for instance a page that a migration did not carry over. */
static void
record_verify(struct dirtier *d, volatile const uint32_t *rec, const char *which)
{
    uint32_t want = d->pass - 1;
    uint32_t pass = rec[MPG_REC_PASS / 4];

    if (rec[MPG_REC_MAGIC / 4] != MPG_RECORD_MAGIC || rec[MPG_REC_INDEX / 4] != d->page ||
        rec[MPG_REC_CHECK / 4] != mpg_record_check(pass, d->page)) {
        if (fault(d))
            gprintf("migphase-guest: error: page %u %s record corrupt\n", d->page, which);
    } else if (pass != want) {
        if (fault(d))
            gprintf("migphase-guest: error: page %u %s record at pass %u, expected %u\n", d->page,
                    which, pass, want);
    }
}

/* Moves the cursor to the next page, self-checks the page, then rewrites its head and tail
 * records. The order is the invariant migphase-guest-check relies on: at any instruction
 * boundary, pages before the cursor carry the cursor's pass, pages after it the pass before,
 * and the cursor page is part-way from one to the other, head first. */
static void
dirty_next_page(struct dirtier *d)
{
    volatile uint32_t *page = page_words(d->page);
    volatile uint64_t *pos = (volatile uint64_t *)(header_words() + MPG_HDR_POS / 4);
    uint64_t old = *pos;

    if (old != d->pos && fault(d))
        gprintf("migphase-guest: error: header cursor at pass %u page %u, expected %u page %u\n",
                (uint32_t)(old >> 32), (uint32_t)old, (uint32_t)(d->pos >> 32), (uint32_t)d->pos);
    d->pos = (uint64_t)d->pass << 32 | d->page;
    store64(pos, d->pos);
    record_verify(d, page + MPG_HEAD_OFFSET / 4, "head");
    record_verify(d, page + MPG_TAIL_OFFSET / 4, "tail");
    record_write(page + MPG_HEAD_OFFSET / 4, d->page, d->pass);
    record_write(page + MPG_TAIL_OFFSET / 4, d->page, d->pass);
    if (++d->page == d->npages) {
        d->page = 1;
        d->pass++;
    }
}

static void
tick(struct dirtier *d)
{
    uint32_t old = header_words()[MPG_HDR_TICK / 4];

    if (old != d->tick && fault(d))
        gprintf("migphase-guest: error: header tick %u, expected %u\n", old, d->tick);
    d->tick++;
    store64((volatile uint64_t *)(header_words() + MPG_HDR_TICK / 4),
            (uint64_t)mpg_tick_check(d->tick) << 32 | d->tick);
    gprintf("tick %u pass %u\n", d->tick, d->pass);
}

/* The endless loop: a tick line every second (and a disk seq line after it when the disk
 * ring is on), pages dirtied at rate MiB/s, disk sectors written in between them, one per
 * turn of the loop so that neither starves the other, hlt when nothing is due.
 * The clock is the TSC, which may stop (VM paused) or jump (migrated): a deadline further
 * behind or ahead than is possible in normal running is reset to now instead of producing
 * a burst of catch-up writes or a hang. */
static void run(struct dirtier *d, struct disk_ring *disk, uint32_t tsc_per_ms, uint32_t rate)
    __attribute__((noreturn));

static void
run(struct dirtier *d, struct disk_ring *disk, uint32_t tsc_per_ms, uint32_t rate)
{
    const uint64_t second = (uint64_t)tsc_per_ms * 1000;
    const uint64_t max_lag = (uint64_t)tsc_per_ms * 100;
    /* tsc per page = tsc_per_ms * 1000 / (rate * 256), reduced so it stays in 32 bits (no
     * 64-bit division without libgcc); 0 when the rate is beyond the clock's resolution. */
    const uint32_t per_page = rate ? tsc_per_ms * 125 / (rate * 32) : 0;
    uint64_t now = rdtsc();
    uint64_t next_tick = now;
    uint64_t due = now;
    bool disk_busy;

    for (;;) {
        now = rdtsc();
        if (!tsc_before(now, next_tick)) {
            tick(d);
            disk_ring_report(disk);
            next_tick += second;
            if (!tsc_before(now, next_tick))
                next_tick = now + second;
        } else if (tsc_before(now + second, next_tick)) {
            next_tick = now + second;
        }

        disk_busy = disk_ring_step(disk, now);
        if (per_page == 0) {
            for (uint32_t i = 0; i < UNPACED_BATCH; i++)
                dirty_next_page(d);
            continue;
        }
        if (tsc_before(due + max_lag, now) || tsc_before(now + second, due))
            due = now;
        if (tsc_before(now, due)) {
            if (!disk_busy)
                cpu_idle();
            continue;
        }
        while (!tsc_before(now, due)) {
            dirty_next_page(d);
            due += per_page;
        }
    }
}

void
guest_main(uint32_t magic, const struct multiboot_info *info)
{
    const char *cmdline = "";
    struct config cfg;
    struct dirtier d;
    static struct disk_ring disk; /* its sector buffer is better off the 16 KiB stack */
    uint32_t ram_top_kib, region_end_kib, tsc_per_ms, boot_id;

    serial_init();
    gprintf("migphase-guest: version %u\n", MPG_VERSION);
    if (magic != MB_BOOT_MAGIC)
        fatal("not started by a Multiboot loader (magic 0x%08x)", magic);
    if (info->flags & MB_INFO_CMDLINE)
        cmdline = (const char *)info->cmdline;
    gprintf("migphase-guest: cmdline \"%s\"\n", cmdline);
    config_parse(&cfg, cmdline);

    if (!(info->flags & MB_INFO_MEMORY))
        fatal("the loader reported no memory size");
    ram_top_kib = 1024 + info->mem_upper;
    region_end_kib = MPG_REGION_BASE / 1024 + cfg.mem_mib * 1024;
    if (region_end_kib > ram_top_kib)
        fatal("region base=0x%08x mem=%u ends at %u MiB but RAM ends at %u MiB", MPG_REGION_BASE,
              cfg.mem_mib, region_end_kib / 1024, ram_top_kib / 1024);

    d.npages = cfg.mem_mib * (1024 * 1024 / MPG_PAGE_SIZE);
    d.pass = 1;
    d.page = 1;
    d.tick = 0;
    d.faults = 0;
    tsc_per_ms = tsc_calibrate();
    boot_id = boot_id_read();
    gprintf("migphase-guest: region base=0x%08x size=0x%08x mem=%u pages=%u rate=%u "
            "boot_id=0x%08x\n",
            MPG_REGION_BASE, cfg.mem_mib << 20, cfg.mem_mib, d.npages, cfg.rate, boot_id);
    gprintf("migphase-guest: tsc %u kHz\n", tsc_per_ms);
    disk_ring_start(&disk, cfg.disk_ring, cfg.disk_rate, boot_id, tsc_per_ms);

    region_fill(&d, &cfg, boot_id);
    timer_start();
    gprintf("migphase-guest: ready\n");
    run(&d, &disk, tsc_per_ms, cfg.rate);
}
