# SPDX-License-Identifier: LGPL-2.1-or-later
# The QEMU driver: QMP client, command-line capture and rewrite, the steps.
noinst_LIBRARIES += qemu/libqemu.a
qemu_libqemu_a_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/qemu
qemu_libqemu_a_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(LIBXML_CFLAGS)
qemu_libqemu_a_SOURCES = \
	qemu/qmp.c qemu/qmp.h \
	qemu/argv.c qemu/argv.h \
	qemu/option-table.c qemu/option-table.h \
	qemu/monitor.c qemu/monitor.h \
	qemu/tls.c qemu/tls.h \
	qemu/storage.h qemu/storage-source.c qemu/storage-dest.c \
	qemu/source.c qemu/destination.c qemu/postcopy.c qemu/probe.c qemu/qemu-internal.h \
	qemu/driver.c
