/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Multiboot (v1) entry of the test guest: the header QEMU's -kernel looks for, a flat GDT
 * of our own (the spec leaves the loader's GDT undefined, and the IDT needs a known code
 * selector), a stack, a zeroed .bss, then guest_main(magic, info). Also the interrupt
 * stubs the IDT points at. */

        .set MB_MAGIC, 0x1badb002
        .set MB_FLAGS, 0x00000002       /* bit 1: pass the memory sizes */
        .set STACK_SIZE, 16384

        .section .multiboot, "a"
        .balign 4
        .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

        .text
        .globl _start
_start:
        cli
        cld
        movl $stack_top, %esp
        lgdt gdt_pointer
        ljmp $0x08, $1f
1:      movw $0x10, %cx
        movw %cx, %ds
        movw %cx, %es
        movw %cx, %fs
        movw %cx, %gs
        movw %cx, %ss

        /* After a system_reset the loader copies the image again but RAM keeps old data:
         * clear .bss ourselves. eax and ebx carry the Multiboot magic and info. */
        movl %eax, %edx
        movl $__bss_start, %edi
        movl $__bss_end, %ecx
        subl %edi, %ecx
        xorl %eax, %eax
        rep stosb

        pushl %ebx
        pushl %edx
        call guest_main
2:      cli
        hlt
        jmp 2b

/* Exceptions are bugs: report the vector and stop (guest_exception does not return). */
        .macro exception_stub n
exception_stub_\n:
        cli
        pushl $\n
        jmp exception_common
        .endm

        .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
        exception_stub \n
        .endr
        .irp n, 16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        exception_stub \n
        .endr

exception_common:
        call guest_exception            /* the pushed vector is its argument */

/* IRQ 0 only exists to end a hlt: acknowledge it and return. */
        .globl irq0_stub
irq0_stub:
        pushl %eax
        movb $0x20, %al
        outb %al, $0x20
        popl %eax
        iret

/* Every other vector: only spurious PIC interrupts can arrive, and they need no EOI. */
        .globl ignore_stub
ignore_stub:
        iret

        .section .rodata
        .balign 4
        .globl exception_stubs
exception_stubs:
        .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
        .long exception_stub_\n
        .endr
        .irp n, 16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        .long exception_stub_\n
        .endr

        .balign 8
gdt:
        .quad 0
        .quad 0x00cf9a000000ffff        /* 0x08: code, base 0, 4 GiB, 32-bit */
        .quad 0x00cf92000000ffff        /* 0x10: data, base 0, 4 GiB */
gdt_end:

gdt_pointer:
        .word gdt_end - gdt - 1
        .long gdt

        .bss
        .balign 16
stack:
        .skip STACK_SIZE
stack_top:

        .section .note.GNU-stack, "", @progbits
