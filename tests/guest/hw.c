/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* PC devices for the test guest; see hw.h. */
#include <stdarg.h>
#include <stdint.h>

#include "hw.h"

#define COM1          0x3f8
#define UART_LSR_THRE 0x20

#define PIT_HZ  1193182u
#define PIT_CH0 0x40
#define PIT_CH2 0x42
#define PIT_CMD 0x43
#define PORT_B  0x61 /* bit 0: PIT channel 2 gate, bit 1: speaker, bit 5: channel 2 output */

#define PIC1_CMD        0x20
#define PIC1_DATA       0x21
#define PIC2_CMD        0xa0
#define PIC2_DATA       0xa1
#define IRQ_VECTOR_BASE 0x20

#define CODE_SELECTOR 0x08 /* set up by boot.S */

/* Stubs in boot.S. */
extern const uint32_t exception_stubs[32];
void irq0_stub(void);
void ignore_stub(void);

struct idt_gate {
    uint16_t offset_low;
    uint16_t selector;
    uint8_t zero;
    uint8_t type;
    uint16_t offset_high;
} __attribute__((packed));

struct idt_pointer {
    uint16_t limit;
    uint32_t base;
} __attribute__((packed));

static struct idt_gate idt[256] __attribute__((aligned(8)));

void
serial_init(void)
{
    outb(COM1 + 1, 0x00); /* no interrupts */
    outb(COM1 + 3, 0x80); /* DLAB on to set the divisor */
    outb(COM1 + 0, 0x01); /* 115200 baud */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03); /* 8N1, DLAB off */
    outb(COM1 + 2, 0xc7); /* FIFOs on and cleared */
    outb(COM1 + 4, 0x03); /* DTR, RTS; OUT2 off keeps the IRQ line quiet */
}

void
serial_putc(char c)
{
    /* Bounded: a UART that never drains must not hang the dirtying loop. */
    for (uint32_t i = 0; i < 100000 && !(inb(COM1 + 5) & UART_LSR_THRE); i++)
        ;
    outb(COM1, (uint8_t)c);
}

static void
put_string(const char *s)
{
    while (*s)
        serial_putc(*s++);
}

static void
put_number(uint32_t v, unsigned int radix, unsigned int width)
{
    char buf[12];
    unsigned int n = 0;

    do {
        buf[n++] = "0123456789abcdef"[v % radix];
        v /= radix;
    } while (v);
    for (; width > n; width--)
        serial_putc('0');
    while (n)
        serial_putc(buf[--n]);
}

static void
vgprintf(const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        unsigned int width = 0;

        if (*fmt != '%') {
            serial_putc(*fmt);
            continue;
        }
        fmt++;
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (unsigned int)(*fmt++ - '0');
        switch (*fmt) {
        case 'u':
            put_number(va_arg(ap, unsigned int), 10, width);
            break;
        case 'x':
            put_number(va_arg(ap, unsigned int), 16, width);
            break;
        case 's':
            put_string(va_arg(ap, const char *));
            break;
        case 'c':
            serial_putc((char)va_arg(ap, int));
            break;
        case '%':
            serial_putc('%');
            break;
        default:
            return;
        }
    }
}

void
gprintf(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vgprintf(fmt, ap);
    va_end(ap);
}

void
fatal(const char *fmt, ...)
{
    va_list ap;

    put_string("migphase-guest: error: ");
    va_start(ap, fmt);
    vgprintf(fmt, ap);
    va_end(ap);
    serial_putc('\n');
    for (;;)
        __asm__ volatile("cli; hlt");
}

/* Called by boot.S's exception stubs with interrupts off. */
void guest_exception(uint32_t vector) __attribute__((noreturn));

void
guest_exception(uint32_t vector)
{
    fatal("CPU exception %u", vector);
}

uint32_t
tsc_calibrate(void)
{
    const uint32_t count = PIT_HZ / 20; /* 50 ms */
    uint64_t start, end;
    uint32_t spins = 0;

    /* Channel 2 in mode 0 raises its output when the count runs out; its gate and output
     * are wired to port B, so it can be timed without interrupts. */
    outb(PORT_B, (uint8_t)((inb(PORT_B) & ~0x02) | 0x01));
    outb(PIT_CMD, 0xb0); /* channel 2, lobyte/hibyte, mode 0, binary */
    outb(PIT_CH2, (uint8_t)count);
    outb(PIT_CH2, (uint8_t)(count >> 8));
    start = rdtsc();
    while (!(inb(PORT_B) & 0x20)) {
        if (++spins > 50000000)
            fatal("PIT channel 2 never fired: cannot calibrate the TSC");
    }
    end = rdtsc();
    if ((end - start) >> 32 || end - start < 50000)
        fatal("implausible TSC calibration (0x%x%08x ticks in 50 ms)",
              (uint32_t)((end - start) >> 32), (uint32_t)(end - start));
    return (uint32_t)(end - start) / 50;
}

static uint8_t
cmos_read(uint8_t reg)
{
    outb(0x70, (uint8_t)(0x80 | reg)); /* bit 7 keeps NMIs off while we talk to the RTC */
    return inb(0x71);
}

uint32_t
boot_id_read(void)
{
    uint64_t tsc = rdtsc();
    uint32_t clock = 0;
    static const uint8_t regs[] = { 0x00, 0x02, 0x04, 0x07, 0x08, 0x09 };

    for (unsigned int i = 0; i < sizeof(regs); i++)
        clock = clock << 5 ^ clock >> 27 ^ cmos_read(regs[i]);
    return (uint32_t)tsc * 0x9e3779b1u ^ (uint32_t)(tsc >> 32) ^ clock * 0x85ebca77u;
}

static void
idt_set(unsigned int vector, uint32_t handler)
{
    idt[vector].offset_low = (uint16_t)handler;
    idt[vector].selector = CODE_SELECTOR;
    idt[vector].zero = 0;
    idt[vector].type = 0x8e; /* present, ring 0, 32-bit interrupt gate */
    idt[vector].offset_high = (uint16_t)(handler >> 16);
}

void
timer_start(void)
{
    struct idt_pointer ptr = { sizeof(idt) - 1, (uint32_t)idt };
    const uint32_t divisor = (PIT_HZ + 500) / 1000;

    for (unsigned int v = 0; v < 256; v++)
        idt_set(v, v < 32 ? exception_stubs[v] : (uint32_t)ignore_stub);
    idt_set(IRQ_VECTOR_BASE, (uint32_t)irq0_stub);
    __asm__ volatile("lidt %0" : : "m"(ptr));

    /* The firmware leaves the master PIC on vectors 8-15, which are CPU exceptions in
     * protected mode: move both PICs to 0x20-0x2f and unmask only IRQ 0. */
    outb(PIC1_CMD, 0x11);
    outb(PIC2_CMD, 0x11);
    outb(PIC1_DATA, IRQ_VECTOR_BASE);
    outb(PIC2_DATA, IRQ_VECTOR_BASE + 8);
    outb(PIC1_DATA, 0x04);
    outb(PIC2_DATA, 0x02);
    outb(PIC1_DATA, 0x01);
    outb(PIC2_DATA, 0x01);
    outb(PIC1_DATA, 0xfe);
    outb(PIC2_DATA, 0xff);

    outb(PIT_CMD, 0x34); /* channel 0, lobyte/hibyte, mode 2 (rate generator) */
    outb(PIT_CH0, (uint8_t)divisor);
    outb(PIT_CH0, (uint8_t)(divisor >> 8));
    __asm__ volatile("sti");
}

/* Compilers may call memset to zero a struct even in a freestanding
 * program: clang does for the disk ring's. A string instruction, so that
 * no compiler turns the body back into a call to itself. */
void *
memset(void *dst, int c, __SIZE_TYPE__ n)
{
    void *d = dst;
    __asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
    return dst;
}
