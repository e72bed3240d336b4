# SPDX-License-Identifier: LGPL-2.1-or-later
# The base library: what knows no driver (errors, logging, utilities,
# processes, privileges, cookies, the journal). The drivers and the engine
# stand on it; it calls neither.
noinst_LIBRARIES += shared/libmigphase-base.a
shared_libmigphase_base_a_CFLAGS = $(AM_CFLAGS) $(LIBXML_CFLAGS) $(JSONC_CFLAGS) $(CAPNG_CFLAGS) \
	$(GNUTLS_CFLAGS)
shared_libmigphase_base_a_SOURCES = \
	shared/util.c shared/util.h \
	shared/buf.c shared/buf.h \
	shared/kv.c shared/kv.h \
	shared/error.c shared/error.h \
	shared/log.c shared/log.h \
	shared/xml.c shared/xml.h \
	shared/protocol.c shared/protocol.h \
	shared/cookie.c shared/cookie.h shared/cookie-internal.h \
	shared/cookie-elements.c shared/cookie-reader.c shared/cookie-writer.c \
	shared/journal.c shared/journal.h shared/journal-internal.h shared/journal-record.c \
	shared/facts.h \
	shared/options.c shared/options.h \
	shared/privs.c shared/privs.h \
	shared/proc.c shared/proc.h \
	shared/progress.c shared/progress.h \
	shared/sign.c shared/sign.h
nodist_shared_libmigphase_base_a_SOURCES = shared/cookie-schema.gen.c

# The schema is compiled in, so validation never depends on where the package
# was installed; the same file is installed for other tools to use.
dist_pkgdata_DATA += shared/cookie.rng
shared/cookie-schema.gen.c: shared/cookie.rng shared/embed-file.sh
	$(AM_V_GEN)$(SHELL) $(srcdir)/shared/embed-file.sh --compact-xml mp_cookie_schema $(srcdir)/shared/cookie.rng > $@.tmp && mv $@.tmp $@
BUILT_SOURCES += shared/cookie-schema.gen.c
CLEANFILES += shared/cookie-schema.gen.c
EXTRA_DIST += shared/embed-file.sh

BASE_LIBS = shared/libmigphase-base.a $(LIBXML_LIBS) $(JSONC_LIBS) $(CAPNG_LIBS) $(GNUTLS_LIBS)
