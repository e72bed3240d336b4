# libmigphase: the internal library every helper and driver links.
noinst_LIBRARIES += shared/libmigphase.a
shared_libmigphase_a_CFLAGS = $(AM_CFLAGS) $(LIBXML_CFLAGS) $(JSONC_CFLAGS) $(CAPNG_CFLAGS)
shared_libmigphase_a_SOURCES = \
	shared/util.c shared/util.h \
	shared/error.c shared/error.h \
	shared/log.c shared/log.h \
	shared/protocol.c shared/protocol.h \
	shared/cookie.c shared/cookie.h \
	shared/journal.c shared/journal.h \
	shared/options.c shared/options.h \
	shared/privs.c shared/privs.h \
	shared/proc.c shared/proc.h \
	shared/progress.c shared/progress.h \
	shared/driver.c shared/driver.h \
	shared/step.c shared/step.h \
	shared/recovery.c shared/recovery.h \
	shared/support.c shared/support.h \
	shared/hooks.c shared/hooks.h
nodist_shared_libmigphase_a_SOURCES = shared/cookie-schema.gen.c shared/support-matrix.gen.c

# The schema is compiled in, so validation never depends on where the package
# was installed; the same file is installed for other tools to use.
dist_pkgdata_DATA += shared/cookie.rng
shared/cookie-schema.gen.c: shared/cookie.rng shared/embed-file.sh
	$(AM_V_GEN)$(SHELL) $(srcdir)/shared/embed-file.sh --compact-xml mp_cookie_schema $(srcdir)/shared/cookie.rng > $@.tmp && mv $@.tmp $@
BUILT_SOURCES += shared/cookie-schema.gen.c shared/support-matrix.gen.c
CLEANFILES += shared/cookie-schema.gen.c
EXTRA_DIST += shared/embed-file.sh

LIBMIGPHASE_LIBS = shared/libmigphase.a $(LIBXML_LIBS) $(JSONC_LIBS) $(CAPNG_LIBS)
