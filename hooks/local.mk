# SPDX-License-Identifier: LGPL-2.1-or-later
# Site hooks: the example hooks and the adapters for existing hook
# directories (installed under $(pkgdatadir)/hooks, documented in
# docs/hooks.md), and their tests. engine/hooks.c itself is in the engine library.

hooksexamplesdir = $(pkgdatadir)/hooks/examples
dist_hooksexamples_SCRIPTS = hooks/examples/lease-handoff hooks/examples/network-taps

# OpenNebula: one script, installed under the action names it implements.
hooksopennebuladir = $(pkgdatadir)/hooks/opennebula
nodist_hooksopennebula_SCRIPTS = hooks/opennebula/migphase-one
hooks/opennebula/migphase-one: hooks/opennebula/migphase-one.in Makefile
	$(AM_V_GEN)$(MKDIR_P) hooks/opennebula && \
	sed -e 's|@pkglibexecdir[@]|$(pkglibexecdir)|g' -e 's|@sysconfdir[@]|$(sysconfdir)|g' $(srcdir)/hooks/opennebula/migphase-one.in >$@.tmp && \
	chmod +x $@.tmp && mv $@.tmp $@
CLEANFILES += hooks/opennebula/migphase-one
EXTRA_DIST += hooks/opennebula/migphase-one.in
# Its root-only cookie store, run through sudo like the helpers.
nodist_pkglibexec_SCRIPTS = hooks/opennebula/migphase-one-cookie
hooks/opennebula/migphase-one-cookie: hooks/opennebula/migphase-one-cookie.in Makefile
	$(AM_V_GEN)$(MKDIR_P) hooks/opennebula && \
	sed -e 's|@localstatedir[@]|$(localstatedir)|g' -e 's|@sysconfdir[@]|$(sysconfdir)|g' $(srcdir)/hooks/opennebula/migphase-one-cookie.in >$@.tmp && \
	chmod +x $@.tmp && mv $@.tmp $@
CLEANFILES += hooks/opennebula/migphase-one-cookie
EXTRA_DIST += hooks/opennebula/migphase-one-cookie.in

# libvirt: a program for /etc/libvirt/hooks/qemu.d/ (a link to it there).
pkglibexec_PROGRAMS += hooks/libvirt/migphase-libvirt-hook
hooks_libvirt_migphase_libvirt_hook_SOURCES = hooks/libvirt/libvirt-hook.c
hooks_libvirt_migphase_libvirt_hook_CFLAGS = $(AM_CFLAGS) $(LIBXML_CFLAGS)
hooks_libvirt_migphase_libvirt_hook_LDADD = $(ENGINE_LIBS)

if HAVE_CRITERION
check_PROGRAMS += tests/unit/test-hooks
TESTS += tests/unit/test-hooks
endif
tests_unit_test_hooks_SOURCES = tests/unit/test-hooks.c
tests_unit_test_hooks_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_hooks_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_hooks_LDADD = $(TEST_LIBS)

# Runs one step's hooks as the helpers do, for tests of hooks that need more
# privilege than the helpers keep for them.
check_PROGRAMS += tests/hooks/run-hooks
tests_hooks_run_hooks_SOURCES = tests/hooks/run-hooks.c
tests_hooks_run_hooks_LDADD = $(ENGINE_LIBS)

HOOK_TESTS = \
	tests/hooks/site-hooks.sh \
	tests/hooks/lease-handoff.sh \
	tests/hooks/network-taps.sh \
	tests/hooks/libvirt-adapter.sh \
	tests/hooks/libvirt-real.sh \
	tests/hooks/opennebula-adapter.sh
TESTS += $(HOOK_TESTS)
EXTRA_DIST += $(HOOK_TESTS) tests/hooks/lib.sh tests/hooks/libvirt-lab.sh tests/hooks/fake-ssh \
	docs/hooks.md

