/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The few PC devices the test guest drives: COM1 (polled), the PIT, the PICs, the CMOS
 * clock, the TSC, and the CPU tables needed to take the timer interrupt that wakes the
 * guest from hlt between paced writes. */
#ifndef MIGPHASE_GUEST_HW_H
#define MIGPHASE_GUEST_HW_H

#include <stdbool.h>
#include <stdint.h>

static inline void
outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t
inb(uint16_t port)
{
    uint8_t v;

    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint64_t
rdtsc(void)
{
    uint64_t v;

    __asm__ volatile("rdtsc" : "=A"(v));
    return v;
}

/* Stores v to *p with a single instruction (p 8-byte aligned). A VM is only ever paused
 * between instructions, so a dump or a migration sees either the old or the new value,
 * never half of each. An MMX movq does it without any setup (CR0.EM is clear after boot,
 * and no x87 code runs to mind the tag word). Not lock cmpxchg8b: under QEMU 7.2's TCG an
 * interrupt taken right after it pushed garbage EFLAGS (VM and IOPL set), and the iret
 * that loaded them faulted on the next outb. */
static inline void
store64(volatile uint64_t *p, uint64_t v)
{
    __asm__ volatile("movq %1, %%mm0\n\t"
                     "movq %%mm0, %0"
                     : "=m"(*p)
                     : "m"(v)
                     : "memory");
}

/* COM1 at 115200 8N1, no interrupts. */
/* The one C library function compilers call on their own (hw.c). */
void *memset(void *dst, int c, __SIZE_TYPE__ n);

void serial_init(void);
void serial_putc(char c);

/* A printf for the serial port: %u, %x, %s, %c, %%, with an optional zero-padded width
 * for %x and %u ("%08x"). "\n" is sent as is, not as "\r\n", so that logs parse simply. */
void gprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "migphase-guest: error: ..." and stops the CPU for good. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* TSC ticks per millisecond, measured against PIT channel 2 over 50 ms. Under TCG the TSC
 * follows the host clock while the VM runs. */
uint32_t tsc_calibrate(void);

/* A value that differs from boot to boot: the TSC and the CMOS clock mixed. */
uint32_t boot_id_read(void);

/* Loads the IDT, remaps the PICs, starts PIT channel 0 at 1 kHz and enables
 * interrupts: from then on hlt returns within a millisecond. Exceptions are fatal. */
void timer_start(void);

/* Whether TSC value a comes before b, allowing for wrap-around. */
static inline bool
tsc_before(uint64_t a, uint64_t b)
{
    return (int64_t)(a - b) < 0;
}

static inline void
cpu_idle(void)
{
    __asm__ volatile("hlt" : : : "memory");
}

#endif
