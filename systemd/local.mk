# SPDX-License-Identifier: LGPL-2.1-or-later
# systemd integration: the boot-time recovery unit, tmpfiles.d (the state
# and runtime directories) and sysusers.d (the migphase service user).
# configure finds their directories with pkg-config (systemd.pc) or takes
# --with-systemdsystemunitdir, --with-tmpfilesdir and --with-sysusersdir;
# "no" leaves that file out.

# Fills in the installation paths of a template (a file ending in .in). The
# [@] keeps config.status from replacing the patterns in Makefile.in itself.
# Shared by every fragment that installs a template: etc/, docs/man/.
MP_EDIT = sed \
	-e 's|@VERSION[@]|$(VERSION)|g' \
	-e 's|@bindir[@]|$(bindir)|g' \
	-e 's|@pkglibexecdir[@]|$(pkglibexecdir)|g' \
	-e 's|@pkglibdir[@]|$(pkglibdir)|g' \
	-e 's|@pkgdatadir[@]|$(pkgdatadir)|g' \
	-e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	-e 's|@localstatedir[@]|$(localstatedir)|g' \
	-e 's|@docdir[@]|$(docdir)|g' \
	-e 's|@systemdsystemunitdir[@]|$(systemdsystemunitdir)|g'
# Rules: $(MP_EDIT_RULE) with $< the template and $@ the file. They depend on
# Makefile so that a new configure (another prefix) rewrites them.
MP_EDIT_RULE = $(AM_V_GEN)$(MKDIR_P) $(@D) && $(MP_EDIT) $< > $@.tmp && mv $@.tmp $@

# Installed under the names the tools look for (migphase.conf in each
# directory), built under names of their own.
if WITH_SYSTEMD_UNITS
nodist_systemdsystemunit_DATA = systemd/migphase-recover.service
endif
if WITH_TMPFILES
nodist_tmpfiles_DATA = systemd/tmpfiles.d/migphase.conf
endif
if WITH_SYSUSERS
nodist_sysusers_DATA = systemd/sysusers.d/migphase.conf
endif

systemd/migphase-recover.service: systemd/migphase-recover.service.in Makefile
	$(MP_EDIT_RULE)
systemd/tmpfiles.d/migphase.conf: systemd/migphase.tmpfiles.in Makefile
	$(MP_EDIT_RULE)
systemd/sysusers.d/migphase.conf: systemd/migphase.sysusers.in Makefile
	$(MP_EDIT_RULE)

# Built whether or not installed, so that the tests always check them.
SYSTEMD_FILES = systemd/migphase-recover.service systemd/tmpfiles.d/migphase.conf \
	systemd/sysusers.d/migphase.conf
noinst_DATA += $(SYSTEMD_FILES)
CLEANFILES += $(SYSTEMD_FILES)
EXTRA_DIST += systemd/migphase-recover.service.in systemd/migphase.tmpfiles.in \
	systemd/migphase.sysusers.in

# distcheck installs into a scratch prefix: the systemd directories, which
# pkg-config puts outside any prefix, must follow it there.
AM_DISTCHECK_CONFIGURE_FLAGS += \
	--with-systemdsystemunitdir='$$dc_install_base/$(systemdsystemunitdir)' \
	--with-tmpfilesdir='$$dc_install_base/$(tmpfilesdir)' \
	--with-sysusersdir='$$dc_install_base/$(sysusersdir)'

# Packaging fragments that Makefile.am does not include itself.
include etc/local.mk
include tests/packaging/local.mk
