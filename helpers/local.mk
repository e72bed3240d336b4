# One program per step, migphase-status and the reference orchestrator.
# Driver modules (xen/local.mk) use libmigphase from the helper that loads
# them: every part of it is linked in and exported.
HELPER_LIBS = qemu/libqemu.a $(LIBMIGPHASE_LIBS)
HELPER_LINK_FLAGS = $(AM_LDFLAGS) -Wl,--export-dynamic \
	-Wl,--whole-archive,shared/libmigphase.a,--no-whole-archive
pkglibexec_PROGRAMS += \
	helpers/migphase-begin helpers/migphase-prepare helpers/migphase-perform \
	helpers/migphase-finish helpers/migphase-confirm
bin_PROGRAMS += helpers/migphase-status helpers/migphase-migrate
helpers_migphase_begin_SOURCES = helpers/begin.c
helpers_migphase_begin_LDADD = $(HELPER_LIBS)
helpers_migphase_begin_LDFLAGS = $(HELPER_LINK_FLAGS)
helpers_migphase_prepare_SOURCES = helpers/prepare.c
helpers_migphase_prepare_LDADD = $(HELPER_LIBS)
helpers_migphase_prepare_LDFLAGS = $(HELPER_LINK_FLAGS)
helpers_migphase_perform_SOURCES = helpers/perform.c
helpers_migphase_perform_LDADD = $(HELPER_LIBS)
helpers_migphase_perform_LDFLAGS = $(HELPER_LINK_FLAGS)
helpers_migphase_finish_SOURCES = helpers/finish.c
helpers_migphase_finish_LDADD = $(HELPER_LIBS)
helpers_migphase_finish_LDFLAGS = $(HELPER_LINK_FLAGS)
helpers_migphase_confirm_SOURCES = helpers/confirm.c
helpers_migphase_confirm_LDADD = $(HELPER_LIBS)
helpers_migphase_confirm_LDFLAGS = $(HELPER_LINK_FLAGS)
helpers_migphase_status_SOURCES = helpers/status.c
helpers_migphase_status_LDADD = $(HELPER_LIBS)
helpers_migphase_status_LDFLAGS = $(HELPER_LINK_FLAGS)
helpers_migphase_migrate_SOURCES = helpers/migrate.c
helpers_migphase_migrate_LDADD = $(HELPER_LIBS)
helpers_migphase_migrate_LDFLAGS = $(HELPER_LINK_FLAGS)
