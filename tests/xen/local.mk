# SPDX-License-Identifier: LGPL-2.1-or-later
# The Xen driver's tests on a real Xen hypervisor booted under QEMU (TCG):
# tests/xen/testbed.sh builds the test bed from Debian's archive, caches it
# under $MIGPHASE_XEN_CACHE (default /var/cache/migphase-xen), boots it and
# runs tests/xen/dom0-tests.sh inside dom0. It needs root and minutes, so it
# is its own target rather than part of `make check`; see docs/xen.md.
XEN_CHECK_FILES = \
	tests/xen/check-xen.sh \
	tests/xen/testbed.sh \
	tests/xen/serial-log.sh \
	tests/xen/dom0-init.sh \
	tests/xen/dom0-tests.sh \
	tests/xen/guest-init.sh
EXTRA_DIST += $(XEN_CHECK_FILES)

check-xen: all
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	$(SHELL) $(srcdir)/tests/xen/check-xen.sh
.PHONY: check-xen

# Whether a spoiled test-bed run is booted again: its reading of Xen's dumps.
TESTS += tests/xen/emulator-fault.sh
EXTRA_DIST += tests/xen/emulator-fault.sh

# The driver's pieces that need no hypervisor (stream framing, result file).
if WITH_XEN
if HAVE_CRITERION
check_PROGRAMS += tests/xen/test-xen
TESTS += tests/xen/test-xen
endif
tests_xen_test_xen_SOURCES = tests/xen/test-xen.c
tests_xen_test_xen_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/xen
tests_xen_test_xen_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS) $(XENLIGHT_CFLAGS)
tests_xen_test_xen_LDADD = xen/libxen.a $(ENGINE_LIBS) $(XENLIGHT_LIBS) \
	-lpthread $(CRITERION_LIBS)
endif

# The test bed's probe of a guest's dirty-memory tracking, copied into dom0
# by testbed.sh: built with the driver, never installed.
if WITH_XEN
noinst_PROGRAMS += tests/xen/xen-dirty-tracking
endif
tests_xen_xen_dirty_tracking_SOURCES = tests/xen/dirty-tracking.c
tests_xen_xen_dirty_tracking_CFLAGS = $(AM_CFLAGS) $(XENLIGHT_CFLAGS)
tests_xen_xen_dirty_tracking_LDADD = $(XENLIGHT_LIBS)
