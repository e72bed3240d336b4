/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The test guest's disk ring: records (layout.h) written to sectors 0..ring-1 of the IDE
 * master drive in turn, wrapping around, at a set pace, so that an image of the disk can be
 * checked against the last sequence number the guest reported. */
#ifndef MIGPHASE_GUEST_DISK_H
#define MIGPHASE_GUEST_DISK_H

#include <stdbool.h>
#include <stdint.h>

#include "ata.h"
#include "layout.h"

struct disk_ring {
    uint32_t ring;       /* sectors in the ring, 0 = no disk writing */
    uint32_t boot_id;    /* written into every record */
    uint32_t next_seq;   /* the sequence number of the next write, from 1 */
    uint32_t next_lba;   /* mpg_disk_slot(next_seq, ring), counted along */
    uint32_t done;       /* the last sequence number the drive completed, 0 = none yet */
    uint32_t flushed;    /* the last one known to be on stable storage */
    bool stopped;        /* the drive failed: no more writes */
    uint32_t per_sector; /* TSC ticks between writes, 0 = as fast as the drive goes */
    uint64_t due;        /* TSC when the next write is due */
    uint64_t second;     /* TSC ticks in a second and in 100 ms, for resetting due */
    uint64_t max_lag;
    struct ata_drive drive;
    uint32_t record[MPG_SECTOR_WORDS]; /* the record being written */
};

/* Sets the ring up: ring sectors (0: the ring stays off and every other call does nothing),
 * rate sectors per second (0: unpaced). Finds the drive and checks it is big enough; stops
 * the guest with an error line if not. */
void disk_ring_start(struct disk_ring *r, uint32_t ring, uint32_t rate, uint32_t boot_id,
                     uint32_t tsc_per_ms);

/* Writes the next record if it is due at TSC now. Returns whether another one is due
 * already, i.e. whether the caller should come back without idling. A drive that fails
 * gets one error line and no more writes; the rest of the guest carries on. */
bool disk_ring_step(struct disk_ring *r, uint64_t now);

/* Flushes the drive's cache and prints "disk seq S": every record up to S is on the disk.
 * Nothing when the ring is off. */
void disk_ring_report(struct disk_ring *r);

#endif
