# SPDX-License-Identifier: LGPL-2.1-or-later
# The test guest (a Multiboot kernel that dirties a memory region at a set pace), the
# checker for dumps of that region, and their self-tests. See tests/guest/README.md.

# The guest is a freestanding 32-bit kernel, so it is built with its own flags and never
# with AM_CFLAGS/CFLAGS: sanitizers, -fPIE or host tuning would break or bloat it. Only the
# compiler and ld are needed (gcc -m32 needs no multilib for code without libc or libgcc).
GUEST_CC = $(CC)
GUEST_LD = ld
GUEST_COMPILE_FLAGS = -m32 -march=i686 -std=gnu11 -O2 -g -Wall -Wextra \
	-ffreestanding -fno-pic -fno-pie -nostdlib -fno-stack-protector \
	-fno-asynchronous-unwind-tables -fcf-protection=none -mgeneral-regs-only
GUEST_LINK_FLAGS = -m elf_i386 -z noexecstack --build-id=none
GUEST_OBJECTS = tests/guest/guest-boot.o tests/guest/guest-hw.o tests/guest/guest-ata.o \
	tests/guest/guest-disk.o tests/guest/guest-main.o

tests/guest/guest-boot.o: tests/guest/boot.S
	$(AM_V_CC)$(MKDIR_P) tests/guest && \
	$(GUEST_CC) $(GUEST_COMPILE_FLAGS) -c -o $@ $(srcdir)/tests/guest/boot.S
tests/guest/guest-hw.o: tests/guest/hw.c tests/guest/hw.h
	$(AM_V_CC)$(MKDIR_P) tests/guest && \
	$(GUEST_CC) $(GUEST_COMPILE_FLAGS) -c -o $@ $(srcdir)/tests/guest/hw.c
tests/guest/guest-ata.o: tests/guest/ata.c tests/guest/ata.h tests/guest/hw.h
	$(AM_V_CC)$(MKDIR_P) tests/guest && \
	$(GUEST_CC) $(GUEST_COMPILE_FLAGS) -c -o $@ $(srcdir)/tests/guest/ata.c
tests/guest/guest-disk.o: tests/guest/disk.c tests/guest/disk.h tests/guest/ata.h \
	tests/guest/hw.h tests/guest/layout.h
	$(AM_V_CC)$(MKDIR_P) tests/guest && \
	$(GUEST_CC) $(GUEST_COMPILE_FLAGS) -c -o $@ $(srcdir)/tests/guest/disk.c
tests/guest/guest-main.o: tests/guest/guest.c tests/guest/hw.h tests/guest/layout.h \
	tests/guest/disk.h tests/guest/ata.h
	$(AM_V_CC)$(MKDIR_P) tests/guest && \
	$(GUEST_CC) $(GUEST_COMPILE_FLAGS) -c -o $@ $(srcdir)/tests/guest/guest.c
tests/guest/migphase-guest.elf: $(GUEST_OBJECTS) tests/guest/guest.ld
	$(AM_V_CCLD)$(GUEST_LD) $(GUEST_LINK_FLAGS) -T $(srcdir)/tests/guest/guest.ld -o $@ \
	$(GUEST_OBJECTS)

# A host program: the demo uses it, so plain `make` builds it.
noinst_PROGRAMS += tests/guest/migphase-guest-check
tests_guest_migphase_guest_check_SOURCES = tests/guest/migphase-guest-check.c \
	tests/guest/layout.h
# The guest rides on the checker: `make` then builds both without a noinst_DATA, which the
# top Makefile.am does not declare for `+=`.
EXTRA_tests_guest_migphase_guest_check_DEPENDENCIES = tests/guest/migphase-guest.elf

TESTS += tests/guest/selftest.sh tests/guest/migrate-selftest.sh tests/guest/disk-selftest.sh
EXTRA_DIST += tests/guest/README.md tests/guest/boot.S tests/guest/hw.c tests/guest/hw.h \
	tests/guest/ata.c tests/guest/ata.h tests/guest/disk.c tests/guest/disk.h \
	tests/guest/guest.c tests/guest/guest.ld tests/guest/qmp.py tests/guest/lib.sh \
	tests/guest/check-serial.sh tests/guest/selftest.sh tests/guest/migrate-selftest.sh \
	tests/guest/disk-selftest.sh
CLEANFILES += tests/guest/migphase-guest.elf $(GUEST_OBJECTS)
