# The Xen driver on libxenlight, built when configure finds xenlight: the
# steps (linked into every helper) and the receiver Prepare starts.
if WITH_XEN
noinst_LIBRARIES += xen/libxen.a
xen_libxen_a_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/xen
xen_libxen_a_CFLAGS = $(AM_CFLAGS) $(XENLIGHT_CFLAGS) $(JSONC_CFLAGS) $(LIBXML_CFLAGS)
xen_libxen_a_SOURCES = \
	xen/xen-internal.h \
	xen/context.c xen/domain.c xen/result.c xen/stream.c \
	xen/source.c xen/destination.c xen/probe.c \
	xen/driver.c
# Perform's stream guard is a thread.
DRIVER_LIBS_XEN = xen/libxen.a $(XENLIGHT_LIBS) -lpthread

pkglibexec_PROGRAMS += xen/migphase-xen-receiver
xen_migphase_xen_receiver_SOURCES = xen/receiver.c
xen_migphase_xen_receiver_CPPFLAGS = $(xen_libxen_a_CPPFLAGS)
xen_migphase_xen_receiver_CFLAGS = $(xen_libxen_a_CFLAGS)
xen_migphase_xen_receiver_LDADD = xen/libxen.a $(XENLIGHT_LIBS) $(LIBMIGPHASE_LIBS)
endif
