# SPDX-License-Identifier: LGPL-2.1-or-later
# The hypervisor support matrix. docs/hvsupport.pl reads the version comments
# of the driver tables and writes the matrix three ways: docs/hvsupport.html
# and docs/hvsupport.txt (installed and distributed) and
# engine/support-matrix.gen.c (the same data, compiled into the engine library for
# mp_support_print()). A missing or bad annotation fails the generator, and
# with it the build: there is no hand-written page to fall behind the code.

# Every source holding a driver table, relative to $(srcdir). All of them,
# whether or not configure builds the driver: the page documents the package,
# and the helpers print only the drivers they were built with.
HVSUPPORT_DRIVER_FILES = qemu/driver.c xen/driver.c
# Versions are checked against AC_INIT in configure.ac, so a release bump
# there regenerates the matrix too.
HVSUPPORT_INPUTS = docs/hvsupport.pl engine/driver.h configure.ac $(HVSUPPORT_DRIVER_FILES)
# Inputs are read from $(srcdir); outputs go to the build directory.
HVSUPPORT = $(PERL) $(srcdir)/docs/hvsupport.pl --srcdir=$(srcdir) \
	--header=engine/driver.h --configure=configure.ac

# Distributed, so a tarball build does not need to regenerate them; make
# still does when a source is newer (writing to the build directory).
dist_doc_DATA += docs/hvsupport.html docs/hvsupport.txt
MAINTAINERCLEANFILES = docs/hvsupport.html docs/hvsupport.txt
EXTRA_DIST += docs/hvsupport.pl

docs/hvsupport.html: $(HVSUPPORT_INPUTS)
	$(AM_V_GEN)$(MKDIR_P) docs && $(HVSUPPORT) --html=$@ $(HVSUPPORT_DRIVER_FILES)
docs/hvsupport.txt: $(HVSUPPORT_INPUTS)
	$(AM_V_GEN)$(MKDIR_P) docs && $(HVSUPPORT) --text=$@ $(HVSUPPORT_DRIVER_FILES)

# Not distributed: always generated, like shared/cookie-schema.gen.c. Listed
# in nodist_engine_libmigphase_engine_a_SOURCES (engine/local.mk).
engine/support-matrix.gen.c: $(HVSUPPORT_INPUTS)
	$(AM_V_GEN)$(MKDIR_P) engine && $(HVSUPPORT) --c-source=$@ $(HVSUPPORT_DRIVER_FILES)
CLEANFILES += engine/support-matrix.gen.c

# Tests: broken tables must fail with their exact messages, the fixtures and
# the real tables must give the expected pages, and the C printer must print
# what the generator prints.
HVSUPPORT_TESTS = \
	tests/hvsupport/broken-tables.sh \
	tests/hvsupport/fixture-tables.sh \
	tests/hvsupport/real-tables.sh \
	tests/hvsupport/html-valid.sh
TESTS += $(HVSUPPORT_TESTS)
AM_TESTS_ENVIRONMENT += PERL='$(PERL)' \
	HVSUPPORT_DRIVER_FILES='$(HVSUPPORT_DRIVER_FILES)'; \
	export PERL HVSUPPORT_DRIVER_FILES;
EXTRA_DIST += $(HVSUPPORT_TESTS) \
	tests/hvsupport/fake-driver.h tests/hvsupport/fixture-configure.ac \
	tests/hvsupport/good tests/hvsupport/broken

# print-matrix prints through engine/support.c as the helpers do. It links
# the generated data and the base library but no driver code, so it builds whatever configure found.
check_PROGRAMS += tests/hvsupport/print-matrix tests/hvsupport/print-matrix-fixture
tests_hvsupport_print_matrix_SOURCES = \
	tests/hvsupport/print-matrix.c engine/support.c engine/support.h
nodist_tests_hvsupport_print_matrix_SOURCES = engine/support-matrix.gen.c
tests_hvsupport_print_matrix_CPPFLAGS = $(AM_CPPFLAGS) -DPRINT_MATRIX_DRIVER='"qemu"'
tests_hvsupport_print_matrix_LDADD = $(BASE_LIBS)
tests_hvsupport_print_matrix_fixture_SOURCES = \
	tests/hvsupport/print-matrix.c engine/support.c engine/support.h
nodist_tests_hvsupport_print_matrix_fixture_SOURCES = tests/hvsupport/fixture-matrix.gen.c
tests_hvsupport_print_matrix_fixture_CPPFLAGS = $(AM_CPPFLAGS) -DPRINT_MATRIX_DRIVER='"alpha"'
tests_hvsupport_print_matrix_fixture_LDADD = $(BASE_LIBS)

HVSUPPORT_FIXTURE_INPUTS = docs/hvsupport.pl tests/hvsupport/fake-driver.h \
	tests/hvsupport/fixture-configure.ac tests/hvsupport/good/alpha.c tests/hvsupport/good/beta.c
tests/hvsupport/fixture-matrix.gen.c: $(HVSUPPORT_FIXTURE_INPUTS)
	$(AM_V_GEN)$(MKDIR_P) tests/hvsupport && $(PERL) $(srcdir)/docs/hvsupport.pl \
	--srcdir=$(srcdir)/tests/hvsupport --header=fake-driver.h \
	--configure=fixture-configure.ac --c-source=$@ good/alpha.c good/beta.c
CLEANFILES += tests/hvsupport/fixture-matrix.gen.c
