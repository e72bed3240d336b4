# SPDX-License-Identifier: LGPL-2.1-or-later
# Packaging checks that are cheap enough for every make check: the man pages
# (lint, required sections, options against --help), the configuration
# example, the systemd files, the DESTDIR install tree (layout, no setuid or
# setgid file, clean uninstall) and the version numbers of the packaging.
# The heavy check, building the .deb and the RPM and installing the .deb into
# a fresh debootstrap root, is tests/packaging/build-packages.sh, run by CI.
PACKAGING_TESTS = \
	tests/packaging/man-lint.sh \
	tests/packaging/man-options.sh \
	tests/packaging/systemd-files.sh \
	tests/packaging/install-tree.sh \
	tests/packaging/versions.sh \
	tests/packaging/license.sh
TESTS += $(PACKAGING_TESTS)
EXTRA_DIST += $(PACKAGING_TESTS) migphase.spec
# What the tests compare the build with: the man pages built, the version,
# the installation directories (inst_*), and a make for make install.
AM_TESTS_ENVIRONMENT += \
	MIGPHASE_MANS='$(MIGPHASE_MANS)' PACKAGE_VERSION='$(PACKAGE_VERSION)' \
	MP_MAKE='$(MAKE)' inst_bindir='$(bindir)' inst_pkglibexecdir='$(pkglibexecdir)' \
	inst_pkgdatadir='$(pkgdatadir)' inst_sysconfdir='$(sysconfdir)' \
	inst_docdir='$(docdir)' inst_mandir='$(mandir)' \
	inst_systemdsystemunitdir='$(systemdsystemunitdir)' \
	inst_tmpfilesdir='$(tmpfilesdir)' inst_sysusersdir='$(sysusersdir)'; \
	export MIGPHASE_MANS PACKAGE_VERSION MP_MAKE inst_bindir inst_pkglibexecdir \
	inst_pkgdatadir inst_sysconfdir inst_docdir inst_mandir \
	inst_systemdsystemunitdir inst_tmpfilesdir inst_sysusersdir;
