# SPDX-License-Identifier: LGPL-2.1-or-later
# The engine: the steps' rules, the driver registry, site hooks and the
# recovery table. It stands above the drivers (the registry names them) and
# the base library; nothing below calls it.
noinst_LIBRARIES += engine/libmigphase-engine.a
engine_libmigphase_engine_a_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/engine
engine_libmigphase_engine_a_CFLAGS = $(AM_CFLAGS) $(LIBXML_CFLAGS) $(JSONC_CFLAGS) $(CAPNG_CFLAGS) \
	$(GNUTLS_CFLAGS)
engine_libmigphase_engine_a_SOURCES = \
	engine/driver.h \
	engine/registry.c \
	engine/step.c engine/step.h \
	engine/rules.c engine/rules.h \
	engine/recovery.c engine/recovery.h \
	engine/support.c engine/support.h \
	engine/hooks.c engine/hooks.h \
	engine/trust.c engine/trust.h \
	engine/listen.c engine/listen.h \
	engine/pause.c engine/pause.h
nodist_engine_libmigphase_engine_a_SOURCES = engine/support-matrix.gen.c
BUILT_SOURCES += engine/support-matrix.gen.c engine/driver-abi.gen.h

# The stamp a driver module carries (MP_DRIVER_ABI): a sum of the headers
# whose structs cross between a helper and a module. A module built from
# other headers is refused when it loads.
DRIVER_ABI_INPUTS = engine/driver.h shared/cookie.h shared/error.h shared/journal.h \
	shared/options.h shared/protocol.h shared/progress.h shared/proc.h shared/util.h \
	shared/log.h shared/kv.h
engine/driver-abi.gen.h: $(DRIVER_ABI_INPUTS) configure.ac
	$(AM_V_GEN)$(MKDIR_P) engine && \
	sum=$$(cd $(srcdir) && cat $(DRIVER_ABI_INPUTS) | cksum | cut -d' ' -f1) && \
	printf '#define MP_DRIVER_ABI PACKAGE_VERSION "/%s"\n' "$$sum" > $@.tmp && mv $@.tmp $@
CLEANFILES += engine/driver-abi.gen.h

# Everything a program that runs steps links, in layer order: the engine,
# the drivers built in, the base. No library appears twice.
ENGINE_LIBS = engine/libmigphase-engine.a qemu/libqemu.a $(BASE_LIBS)
engine_libmigphase_engine_a_SOURCES += engine/stream-tls.c engine/stream-tls.h
