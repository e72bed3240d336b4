/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ATA PIO for the test guest's disk ring; see ata.h. */
#include <stddef.h>
#include <stdint.h>

#include "ata.h"
#include "hw.h"

#define ATA_DATA       0x1f0
#define ATA_ERROR      0x1f1
#define ATA_COUNT      0x1f2
#define ATA_LBA_LOW    0x1f3
#define ATA_LBA_MID    0x1f4
#define ATA_LBA_HIGH   0x1f5
#define ATA_DEVICE     0x1f6
#define ATA_STATUS     0x1f7 /* reading it also acknowledges the drive's interrupt */
#define ATA_COMMAND    0x1f7
#define ATA_ALT_STATUS 0x3f6 /* the same bits, without side effects */
#define ATA_CONTROL    0x3f6

#define ATA_SR_ERR  0x01
#define ATA_SR_DRQ  0x08
#define ATA_SR_DF   0x20
#define ATA_SR_DRDY 0x40
#define ATA_SR_BSY  0x80

#define ATA_CTL_NIEN   0x02
#define ATA_DEV_LBA    0xe0 /* master, LBA addressing (bits 5 and 7 are obsolete ones) */
#define ATA_CMD_WRITE  0x30 /* WRITE SECTORS, LBA28 */
#define ATA_CMD_FLUSH  0xe7 /* FLUSH CACHE */
#define ATA_CMD_IDENT  0xec /* IDENTIFY DEVICE */
#define ATA_TIMEOUT_MS 10000u

/* ATA wants 400 ns between a command and the first status read; four reads of the
 * alternate status take at least that on real hardware, and cost nothing under QEMU. */
static void
ata_delay(void)
{
    for (int i = 0; i < 4; i++)
        (void)inb(ATA_ALT_STATUS);
}

/* Polls the status until (status & mask) == want, or the drive reports an error. Only small
 * steps of the TSC count towards the timeout: it stops while the VM is paused and may jump
 * when it is migrated, and neither means the drive is slow. */
static const char *
ata_wait(struct ata_drive *d, uint8_t mask, uint8_t want)
{
    const uint64_t step_max = (uint64_t)d->tsc_per_ms * 100;
    const uint64_t limit = (uint64_t)d->tsc_per_ms * ATA_TIMEOUT_MS;
    uint64_t last = rdtsc();
    uint64_t waited = 0;

    for (;;) {
        uint64_t now, step;

        d->status = inb(ATA_STATUS);
        if (!(d->status & ATA_SR_BSY) && (d->status & (ATA_SR_ERR | ATA_SR_DF))) {
            d->error = inb(ATA_ERROR);
            return "the drive reported an error";
        }
        if ((d->status & mask) == want)
            return NULL;
        now = rdtsc();
        step = now - last;
        last = now;
        if (step < step_max)
            waited += step;
        if (waited > limit)
            return "timed out";
    }
}

/* Selects the master drive with the top bits of lba and loads the rest of the address and
 * a sector count of one; the command register is written next. */
static const char *
ata_select(struct ata_drive *d, uint32_t lba)
{
    const char *err = ata_wait(d, ATA_SR_BSY | ATA_SR_DRQ, 0);

    if (err)
        return err;
    outb(ATA_DEVICE, (uint8_t)(ATA_DEV_LBA | (lba >> 24 & 0x0f)));
    ata_delay();
    err = ata_wait(d, ATA_SR_BSY | ATA_SR_DRDY, ATA_SR_DRDY);
    if (err)
        return err;
    outb(ATA_COUNT, 1);
    outb(ATA_LBA_LOW, (uint8_t)lba);
    outb(ATA_LBA_MID, (uint8_t)(lba >> 8));
    outb(ATA_LBA_HIGH, (uint8_t)(lba >> 16));
    return NULL;
}

const char *
ata_identify(struct ata_drive *d, uint32_t tsc_per_ms)
{
    uint16_t id[256];
    uint16_t *p = id;
    uint32_t words = 256;
    const char *err;

    d->tsc_per_ms = tsc_per_ms;
    d->error = 0;
    outb(ATA_CONTROL, ATA_CTL_NIEN);
    /* The firmware's own probe may have left the slave selected. */
    outb(ATA_DEVICE, ATA_DEV_LBA);
    ata_delay();
    d->status = inb(ATA_STATUS);
    /* A bus without drives floats high; QEMU reads 0 for a missing drive. */
    if (d->status == 0xff || d->status == 0)
        return "no drive on the primary IDE channel (master)";
    err = ata_select(d, 0);
    if (err)
        return err;
    outb(ATA_COMMAND, ATA_CMD_IDENT);
    ata_delay();
    err = ata_wait(d, ATA_SR_BSY | ATA_SR_DRQ, ATA_SR_DRQ);
    if (err)
        return err;
    __asm__ volatile("rep insw" : "+D"(p), "+c"(words) : "d"(ATA_DATA) : "memory");
    if (!(id[49] & 0x0200))
        return "the drive does not do LBA";
    d->sectors = (uint32_t)id[60] | (uint32_t)id[61] << 16;
    return NULL;
}

const char *
ata_write_sector(struct ata_drive *d, uint32_t lba, const uint32_t *data)
{
    const uint32_t *p = data;
    uint32_t words = 256;
    const char *err;

    d->error = 0;
    err = ata_select(d, lba);
    if (err)
        return err;
    outb(ATA_COMMAND, ATA_CMD_WRITE);
    ata_delay();
    err = ata_wait(d, ATA_SR_BSY | ATA_SR_DRQ, ATA_SR_DRQ);
    if (err)
        return err;
    __asm__ volatile("rep outsw" : "+S"(p), "+c"(words) : "d"(ATA_DATA) : "memory");
    ata_delay();
    /* BSY stays set until QEMU's block layer has completed the write. */
    return ata_wait(d, ATA_SR_BSY | ATA_SR_DRQ, 0);
}

const char *
ata_flush(struct ata_drive *d)
{
    const char *err;

    d->error = 0;
    err = ata_select(d, 0);
    if (err)
        return err;
    outb(ATA_COMMAND, ATA_CMD_FLUSH);
    ata_delay();
    return ata_wait(d, ATA_SR_BSY | ATA_SR_DRQ, 0);
}
