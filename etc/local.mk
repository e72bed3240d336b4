# SPDX-License-Identifier: LGPL-2.1-or-later
# The configuration file, installed with every key commented out at its
# default so that it changes nothing (packages mark it as a conffile), and
# the empty site hook directories <hooks-dir>/<step>.d/ that the steps read.
# The hook adapters themselves go to $(pkgdatadir)/hooks (hooks/local.mk).
migphaseconfdir = $(sysconfdir)/migphase
nodist_migphaseconf_DATA = etc/migphase.conf
etc/migphase.conf: etc/migphase.conf.in Makefile
	$(MP_EDIT_RULE)
CLEANFILES += etc/migphase.conf
EXTRA_DIST += etc/migphase.conf.in

# Automake installs no empty directory; uninstall removes them only if the
# site left nothing in them.
MP_HOOK_STEPS = begin prepare perform finish confirm
install-data-local: install-migphase-hook-dirs
uninstall-local: uninstall-migphase-hook-dirs
install-migphase-hook-dirs:
	@for step in $(MP_HOOK_STEPS); do \
	  echo " $(MKDIR_P) '$(DESTDIR)$(migphaseconfdir)/hooks/$$step.d'"; \
	  $(MKDIR_P) "$(DESTDIR)$(migphaseconfdir)/hooks/$$step.d" || exit 1; \
	done
uninstall-migphase-hook-dirs:
	@for step in $(MP_HOOK_STEPS); do \
	  rmdir "$(DESTDIR)$(migphaseconfdir)/hooks/$$step.d" 2>/dev/null || :; \
	done; \
	rmdir "$(DESTDIR)$(migphaseconfdir)/hooks" 2>/dev/null || :
.PHONY: install-migphase-hook-dirs uninstall-migphase-hook-dirs
