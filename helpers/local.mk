# SPDX-License-Identifier: LGPL-2.1-or-later
# One program per step, migphase-status and the reference orchestrator.
# Driver modules (xen/local.mk) take our functions from the helper that loads
# them: every part of the base library is linked in, and the helpers export
# exactly what the modules use (helpers/module-exports.list), nothing else.
HELPER_LIBS = $(ENGINE_LIBS)
HELPER_EXPORTS = helpers/module-exports.list
HELPER_LINK_FLAGS = $(AM_LDFLAGS) -Wl,--dynamic-list=$(srcdir)/$(HELPER_EXPORTS) \
	-Wl,--whole-archive,shared/libmigphase-base.a,--no-whole-archive
EXTRA_DIST += $(HELPER_EXPORTS)
# Each helper's contract, also in migphase-migrate, which runs them in place.
STEP_SPECS = helpers/step-specs.c helpers/step-specs.h
pkglibexec_PROGRAMS += \
	helpers/migphase-begin helpers/migphase-prepare helpers/migphase-perform \
	helpers/migphase-finish helpers/migphase-confirm
bin_PROGRAMS += helpers/migphase-status helpers/migphase-migrate
helpers_migphase_begin_SOURCES = helpers/begin.c $(STEP_SPECS)
helpers_migphase_begin_LDADD = $(HELPER_LIBS)
helpers_migphase_begin_LDFLAGS = $(HELPER_LINK_FLAGS)
EXTRA_helpers_migphase_begin_DEPENDENCIES = $(HELPER_EXPORTS)
helpers_migphase_prepare_SOURCES = helpers/prepare.c $(STEP_SPECS)
helpers_migphase_prepare_LDADD = $(HELPER_LIBS)
helpers_migphase_prepare_LDFLAGS = $(HELPER_LINK_FLAGS)
EXTRA_helpers_migphase_prepare_DEPENDENCIES = $(HELPER_EXPORTS)
helpers_migphase_perform_SOURCES = helpers/perform.c $(STEP_SPECS)
helpers_migphase_perform_LDADD = $(HELPER_LIBS)
helpers_migphase_perform_LDFLAGS = $(HELPER_LINK_FLAGS)
EXTRA_helpers_migphase_perform_DEPENDENCIES = $(HELPER_EXPORTS)
helpers_migphase_finish_SOURCES = helpers/finish.c $(STEP_SPECS)
helpers_migphase_finish_LDADD = $(HELPER_LIBS)
helpers_migphase_finish_LDFLAGS = $(HELPER_LINK_FLAGS)
EXTRA_helpers_migphase_finish_DEPENDENCIES = $(HELPER_EXPORTS)
helpers_migphase_confirm_SOURCES = helpers/confirm.c $(STEP_SPECS)
helpers_migphase_confirm_LDADD = $(HELPER_LIBS)
helpers_migphase_confirm_LDFLAGS = $(HELPER_LINK_FLAGS)
EXTRA_helpers_migphase_confirm_DEPENDENCIES = $(HELPER_EXPORTS)
helpers_migphase_status_SOURCES = helpers/status.c
helpers_migphase_status_LDADD = $(HELPER_LIBS)
helpers_migphase_status_LDFLAGS = $(HELPER_LINK_FLAGS)
EXTRA_helpers_migphase_status_DEPENDENCIES = $(HELPER_EXPORTS)
helpers_migphase_migrate_SOURCES = helpers/migrate.c helpers/migrate.h helpers/migrate-jobs.c \
	helpers/ssh-master.c $(STEP_SPECS)
helpers_migphase_migrate_LDADD = $(HELPER_LIBS)
helpers_migphase_migrate_LDFLAGS = $(HELPER_LINK_FLAGS)
EXTRA_helpers_migphase_migrate_DEPENDENCIES = $(HELPER_EXPORTS)

# Driver modules and the helpers that load them: a module of another build is
# refused (its interface stamp), and the helpers export what this build's
# module takes from them, only that. Both skip without the Xen driver.
MODULE_TESTS = tests/modules/abi-stamp.sh tests/modules/exports.sh
TESTS += $(MODULE_TESTS)
EXTRA_DIST += $(MODULE_TESTS) tests/modules/other-build.c
# The module of another build: made as a module of this build is, stamped
# with another interface. Built for the test only (make check).
tests/modules/other-build/migphase-driver-xen.so: tests/modules/other-build.c \
		engine/driver-abi.gen.h config.h
	$(AM_V_CC)$(MKDIR_P) tests/modules/other-build && \
	$(CC) $(DEFS) $(AM_CPPFLAGS) $(CPPFLAGS) $(AM_CFLAGS) $(CFLAGS) -fPIC -shared \
		$(AM_LDFLAGS) $(LDFLAGS) -o $@ $(srcdir)/tests/modules/other-build.c
tests/modules/abi-stamp.log: tests/modules/other-build/migphase-driver-xen.so
CLEANFILES += tests/modules/other-build/migphase-driver-xen.so

# The lab PKI command beside the helpers in the build tree, where
# migphase-migrate --local finds it as it does installed (both in bindir).
noinst_SCRIPTS = helpers/migphase-pki
helpers/migphase-pki: tools/migphase-pki
	$(AM_V_GEN)$(MKDIR_P) helpers && cp $(srcdir)/tools/migphase-pki $@
CLEANFILES += helpers/migphase-pki
