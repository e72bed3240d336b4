/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The test region's layout and record format, and the disk ring's sector format, shared by
 * the guest (which writes them) and migphase-guest-check (which verifies a dump of the region
 * or an image of the disk). Everything is little-endian; the functions below are the single
 * definition of every check word, so the two sides cannot drift apart. Only <stdint.h> is
 * used: the guest is freestanding. */
#ifndef MIGPHASE_GUEST_LAYOUT_H
#define MIGPHASE_GUEST_LAYOUT_H

#include <stdint.h>

/* The region starts at 16 MiB: above the kernel (loaded at 1 MiB), the Multiboot info and
 * anything the firmware keeps low, and below any sensible -m. */
#define MPG_REGION_BASE 0x01000000u
#define MPG_PAGE_SIZE   4096u
#define MPG_PAGE_WORDS  (MPG_PAGE_SIZE / 4)

#define MPG_VERSION      1u
#define MPG_HEADER_MAGIC 0x4847504du /* "MPGH" */
#define MPG_RECORD_MAGIC 0x5247504du /* "MPGR" */

/* Page 0 of the region: the header. All other bytes of page 0 are zero. */
#define MPG_HDR_MAGIC   0  /* MPG_HEADER_MAGIC, written last once the region is filled */
#define MPG_HDR_VERSION 4  /* MPG_VERSION */
#define MPG_HDR_NPAGES  8  /* pages in the region, header included */
#define MPG_HDR_BASE    12 /* physical address of the region */
#define MPG_HDR_RATE    16 /* rate= from the command line, MiB/s, 0 = unpaced */
#define MPG_HDR_BOOT_ID 20 /* random per boot: tells a rebooted guest apart */
#define MPG_HDR_CHECK   24 /* mpg_header_check() of the six words above */
#define MPG_HDR_FAULTS  28 /* failed self-checks (README.md); nonzero fails the check */
#define MPG_HDR_POS     32 /* u64: pass << 32 | cursor, stored by one instruction */
#define MPG_HDR_TICK    40 /* u64: mpg_tick_check(tick) << 32 | tick, one instruction */
#define MPG_HDR_SIZE    48

/* Pages 1..npages-1 carry a record at their start (head) and at their end (tail); the
 * words between hold a fixed pattern (mpg_body_word) written once at boot. The pass and
 * check words are adjacent and 8-byte aligned so that the guest can replace both with one
 * instruction: a pause never sees a record whose pass and check disagree. */
#define MPG_REC_MAGIC       0  /* MPG_RECORD_MAGIC */
#define MPG_REC_INDEX       4  /* page index within the region */
#define MPG_REC_PASS        8  /* pass that last wrote the page, 0 = the boot-time fill */
#define MPG_REC_CHECK       12 /* mpg_record_check(pass, index) */
#define MPG_REC_SIZE        16
#define MPG_HEAD_OFFSET     0u
#define MPG_TAIL_OFFSET     (MPG_PAGE_SIZE - MPG_REC_SIZE)
#define MPG_BODY_FIRST_WORD (MPG_REC_SIZE / 4)
#define MPG_BODY_END_WORD   (MPG_TAIL_OFFSET / 4)

/* A bijective 32-bit mixer: any change to the input changes the output, so one flipped bit
 * in a field covered by a check word is always detected. */
static inline uint32_t
mpg_mix(uint32_t x)
{
    x ^= x >> 15;
    x *= 0x2c1b3c6du;
    x ^= x >> 12;
    x *= 0x297a2d39u;
    x ^= x >> 15;
    return x;
}

static inline uint32_t
mpg_record_check(uint32_t pass, uint32_t index)
{
    return mpg_mix(mpg_mix(index ^ MPG_RECORD_MAGIC) + pass);
}

/* Word w (MPG_BODY_FIRST_WORD <= w < MPG_BODY_END_WORD) of page index. Both factors are
 * odd, so a word moved to another page or another offset (up to 2^32 pages away) never
 * matches; it does not depend on the pass, so the guest writes it only at boot. */
static inline uint32_t
mpg_body_word(uint32_t index, uint32_t w)
{
    return index * 0x9e3779b1u + w * 0x6c8e9cf5u + 0x3c6ef372u;
}

static inline uint32_t
mpg_tick_check(uint32_t tick)
{
    return mpg_mix(tick ^ 0x7469636bu);
}

static inline uint32_t
mpg_header_check(uint32_t npages, uint32_t base, uint32_t rate, uint32_t boot_id)
{
    uint32_t h = mpg_mix(MPG_HEADER_MAGIC ^ MPG_VERSION);

    h = mpg_mix(h + npages);
    h = mpg_mix(h + base);
    h = mpg_mix(h + rate);
    return mpg_mix(h + boot_id);
}

/* The disk ring (disk=SECTORS on the command line): the guest writes sequence numbers 1, 2,
 * 3, ... one per sector, sequence seq to sector mpg_disk_slot(seq, ring) of the disk, so the
 * ring occupies sectors 0..ring-1 and wraps around. Each sector holds one record: the fields
 * below, a payload that depends on (boot id, seq, sector) filling the rest, and a check word
 * over the fields in the last word. A sector the guest never wrote is all zeros. */
#define MPG_SECTOR_SIZE       512u
#define MPG_SECTOR_WORDS      (MPG_SECTOR_SIZE / 4)
#define MPG_DISK_MAGIC        0x4447504du /* "MPGD" */
#define MPG_DISK_VERSION      1u
#define MPG_DISK_RING_MAX     0x0fffffffu /* LBA28 addresses 2^28 sectors */
#define MPG_DSK_MAGIC         0           /* MPG_DISK_MAGIC */
#define MPG_DSK_VERSION       4           /* MPG_DISK_VERSION */
#define MPG_DSK_BOOT_ID       8           /* the writer's boot id, as in the region header */
#define MPG_DSK_SEQ           12          /* sequence number, from 1 */
#define MPG_DSK_LBA           16          /* the sector this record was written to */
#define MPG_DSK_RING          20          /* sectors in the ring */
#define MPG_DSK_PAYLOAD_FIRST 6           /* first payload word */
#define MPG_DSK_CHECK         508         /* mpg_disk_check() of the five fields above */
#define MPG_DSK_PAYLOAD_END   (MPG_DSK_CHECK / 4)

/* The sector that sequence number seq (>= 1) goes to. The guest keeps the slot as a counter
 * instead (it has no 64-bit division); the checker uses this. */
static inline uint32_t
mpg_disk_slot(uint64_t seq, uint32_t ring)
{
    return (uint32_t)((seq - 1) % ring);
}

static inline uint32_t
mpg_disk_check(uint32_t boot_id, uint32_t seq, uint32_t lba, uint32_t ring)
{
    uint32_t h = mpg_mix(MPG_DISK_MAGIC ^ MPG_DISK_VERSION);

    h = mpg_mix(h + boot_id);
    h = mpg_mix(h + seq);
    h = mpg_mix(h + lba);
    return mpg_mix(h + ring);
}

/* Payload word w (MPG_DSK_PAYLOAD_FIRST <= w < MPG_DSK_PAYLOAD_END) of a record. The seed
 * differs for every (boot id, seq, sector), and the odd factor makes a word moved to another
 * offset differ too, so a sector holding an older write, or another boot's, never matches. */
static inline uint32_t
mpg_disk_word(uint32_t check, uint32_t w)
{
    return mpg_mix(check) + w * 0x6c8e9cf5u;
}

#endif
