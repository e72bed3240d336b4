# The Xen driver on libxenlight, built when configure finds xenlight.
if WITH_XEN
noinst_LIBRARIES += xen/libxen.a
xen_libxen_a_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/xen
xen_libxen_a_CFLAGS = $(AM_CFLAGS) $(XENLIGHT_CFLAGS) $(JSONC_CFLAGS) $(LIBXML_CFLAGS)
xen_libxen_a_SOURCES = xen/driver.c
DRIVER_LIBS_XEN = xen/libxen.a $(XENLIGHT_LIBS)
endif
