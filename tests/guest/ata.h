/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A minimal ATA driver for the master drive of the legacy primary IDE channel (ports
 * 0x1f0-0x1f7 and 0x3f6), which QEMU's pc machine has even with -nodefaults: PIO, LBA28, one
 * sector at a time, polled, interrupts off. Enough for the test guest's disk ring. */
#ifndef MIGPHASE_GUEST_ATA_H
#define MIGPHASE_GUEST_ATA_H

#include <stdint.h>

struct ata_drive {
    uint32_t tsc_per_ms; /* for the timeouts */
    uint32_t sectors;    /* addressable with LBA28, from IDENTIFY DEVICE */
    uint8_t status;      /* the status register when the last command ended or gave up */
    uint8_t error;       /* the error register, when status has ERR or DF */
};

/* Each function below returns NULL on success, or a short phrase saying what went wrong, for
 * the caller to print along with d->status and d->error. A wait gives up after ten seconds
 * of running time: a VM paused or migrated while the guest polls does not time it out. */

/* Finds the drive with IDENTIFY DEVICE, fills d->sectors and turns the channel's interrupt
 * off (the guest polls). */
const char *ata_identify(struct ata_drive *d, uint32_t tsc_per_ms);

/* Writes one 512-byte sector (WRITE SECTORS) and returns once the drive has completed it. */
const char *ata_write_sector(struct ata_drive *d, uint32_t lba, const uint32_t *data);

/* CACHE FLUSH: returns once everything the drive completed is on stable storage. */
const char *ata_flush(struct ata_drive *d);

#endif
