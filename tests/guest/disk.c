/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The disk ring writer; see disk.h and README.md. */
#include <stdbool.h>
#include <stdint.h>

#include "disk.h"
#include "hw.h"
#include "layout.h"

/* TSC ticks per sector = tsc_per_ms * 1000 / rate without a 64-bit division (no libgcc):
 * tsc_per_ms * 1000 may not fit in 32 bits, the two parts below do for rate <= 4 million. */
static uint32_t
ticks_per_sector(uint32_t tsc_per_ms, uint32_t rate)
{
    if (rate == 0)
        return 0;
    return tsc_per_ms / rate * 1000 + tsc_per_ms % rate * 1000 / rate;
}

void
disk_ring_start(struct disk_ring *r, uint32_t ring, uint32_t rate, uint32_t boot_id,
                uint32_t tsc_per_ms)
{
    const char *err;

    *r = (struct disk_ring){ .ring = ring, .boot_id = boot_id, .next_seq = 1 };
    if (ring == 0)
        return;
    err = ata_identify(&r->drive, tsc_per_ms);
    if (err)
        fatal("disk: IDENTIFY DEVICE: %s (status 0x%02x, error 0x%02x)", err, r->drive.status,
              r->drive.error);
    if (ring > r->drive.sectors)
        fatal("disk=%u but the drive has %u sectors", ring, r->drive.sectors);
    r->per_sector = ticks_per_sector(tsc_per_ms, rate);
    r->second = (uint64_t)tsc_per_ms * 1000;
    r->max_lag = (uint64_t)tsc_per_ms * 100;
    r->due = rdtsc();
    gprintf("migphase-guest: disk sectors=%u ring=%u diskrate=%u\n", r->drive.sectors, ring, rate);
}

static void
record_fill(struct disk_ring *r)
{
    uint32_t check = mpg_disk_check(r->boot_id, r->next_seq, r->next_lba, r->ring);

    r->record[MPG_DSK_MAGIC / 4] = MPG_DISK_MAGIC;
    r->record[MPG_DSK_VERSION / 4] = MPG_DISK_VERSION;
    r->record[MPG_DSK_BOOT_ID / 4] = r->boot_id;
    r->record[MPG_DSK_SEQ / 4] = r->next_seq;
    r->record[MPG_DSK_LBA / 4] = r->next_lba;
    r->record[MPG_DSK_RING / 4] = r->ring;
    for (uint32_t w = MPG_DSK_PAYLOAD_FIRST; w < MPG_DSK_PAYLOAD_END; w++)
        r->record[w] = mpg_disk_word(check, w);
    r->record[MPG_DSK_CHECK / 4] = check;
}

static void
disk_stop(struct disk_ring *r, const char *what, const char *err)
{
    gprintf("migphase-guest: error: disk: %s: %s (status 0x%02x, error 0x%02x); "
            "no more disk writes\n",
            what, err, r->drive.status, r->drive.error);
    r->stopped = true;
}

static void
write_next(struct disk_ring *r)
{
    const char *err;

    /* 2^32 - 1 writes take 248 days at 200 sectors/s: stop rather than wrap. */
    if (r->next_seq == UINT32_MAX) {
        disk_stop(r, "sequence numbers", "all used");
        return;
    }
    record_fill(r);
    err = ata_write_sector(&r->drive, r->next_lba, r->record);
    if (err) {
        gprintf("migphase-guest: error: disk: writing seq %u to sector %u failed\n", r->next_seq,
                r->next_lba);
        disk_stop(r, "WRITE SECTORS", err);
        return;
    }
    r->done = r->next_seq++;
    if (++r->next_lba == r->ring)
        r->next_lba = 0;
}

bool
disk_ring_step(struct disk_ring *r, uint64_t now)
{
    if (r->ring == 0 || r->stopped)
        return false;
    if (r->per_sector == 0) {
        write_next(r);
        return !r->stopped;
    }
    /* As for the pages: a clock that stood still or jumped resets the schedule, rather than
     * causing a burst of catch-up writes or a long silence. */
    if (tsc_before(r->due + r->max_lag, now) || tsc_before(now + r->second, r->due))
        r->due = now;
    if (tsc_before(now, r->due))
        return false;
    write_next(r);
    r->due += r->per_sector;
    return !r->stopped && !tsc_before(now, r->due);
}

void
disk_ring_report(struct disk_ring *r)
{
    const char *err;

    if (r->ring == 0)
        return;
    if (!r->stopped && r->flushed != r->done) {
        err = ata_flush(&r->drive);
        if (err)
            disk_stop(r, "FLUSH CACHE", err);
        else
            r->flushed = r->done;
    }
    gprintf("disk seq %u\n", r->flushed);
}
