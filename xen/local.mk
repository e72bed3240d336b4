# SPDX-License-Identifier: LGPL-2.1-or-later
# The Xen driver on libxenlight, built when configure finds xenlight: a
# module the helpers load for --driver xen (so that the QEMU driver's runs do
# not load libxenlight and its dozen libraries), and the receiver Prepare
# starts.
if WITH_XEN
noinst_LIBRARIES += xen/libxen.a
xen_libxen_a_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/xen
# Position-independent: it goes into the module as well as into programs.
xen_libxen_a_CFLAGS = $(AM_CFLAGS) -fPIC $(XENLIGHT_CFLAGS) $(JSONC_CFLAGS) $(LIBXML_CFLAGS)
xen_libxen_a_SOURCES = \
	xen/xen-internal.h \
	xen/context.c xen/domain.c xen/result.c xen/stream.c \
	xen/source.c xen/suspend.c xen/destination.c xen/probe.c

# Our libraries' symbols are left undefined here: the helper that loads the
# module exports them (helpers/module-exports.list, checked by
# tests/modules/exports.sh). Perform's stream guard is a thread.
driverdir = $(pkglibdir)/drivers
driver_PROGRAMS = xen/migphase-driver-xen.so
xen_migphase_driver_xen_so_SOURCES = xen/driver.c
xen_migphase_driver_xen_so_CPPFLAGS = $(xen_libxen_a_CPPFLAGS)
xen_migphase_driver_xen_so_CFLAGS = $(xen_libxen_a_CFLAGS)
xen_migphase_driver_xen_so_LDFLAGS = $(AM_LDFLAGS) -shared \
	-Wl,--whole-archive,xen/libxen.a,--no-whole-archive
xen_migphase_driver_xen_so_LDADD = $(XENLIGHT_LIBS) $(LIBXML_LIBS) $(JSONC_LIBS) -lpthread
EXTRA_xen_migphase_driver_xen_so_DEPENDENCIES = xen/libxen.a

pkglibexec_PROGRAMS += xen/migphase-xen-receiver
xen_migphase_xen_receiver_SOURCES = xen/receiver.c
xen_migphase_xen_receiver_CPPFLAGS = $(xen_libxen_a_CPPFLAGS)
xen_migphase_xen_receiver_CFLAGS = $(xen_libxen_a_CFLAGS)
xen_migphase_xen_receiver_LDADD = xen/libxen.a $(XENLIGHT_LIBS) $(BASE_LIBS)
endif
# The stream's TLS (xen/tls.c): GnuTLS, with a pump thread.
if WITH_XEN
xen_libxen_a_SOURCES += xen/tls.c xen/tls.h
xen_libxen_a_CFLAGS += $(GNUTLS_CFLAGS)
xen_migphase_driver_xen_so_LDADD += $(GNUTLS_LIBS)
endif
