# SPDX-License-Identifier: LGPL-2.1-or-later
# Man pages, written in mdoc(7) by hand: one per program (section 8), the
# cookie format and the configuration file (section 5). The sources are
# templates (.in) that make fills with the installation paths (MP_EDIT,
# systemd/local.mk), so building them needs nothing but sed. Their OPTIONS
# lists are compared with each program's --help by
# tests/packaging/man-options.sh, and mandoc lints them in make check.
MIGPHASE_MANS = \
	docs/man/migphase-begin.8 \
	docs/man/migphase-prepare.8 \
	docs/man/migphase-perform.8 \
	docs/man/migphase-finish.8 \
	docs/man/migphase-confirm.8 \
	docs/man/migphase-status.8 \
	docs/man/migphase-migrate.8 \
	docs/man/migphase-pki.1 \
	docs/man/migphase-cookie.5 \
	docs/man/migphase.conf.5
nodist_man_MANS = $(MIGPHASE_MANS)
CLEANFILES += $(MIGPHASE_MANS)
EXTRA_DIST += $(MIGPHASE_MANS:=.in)

docs/man/migphase-begin.8: docs/man/migphase-begin.8.in Makefile
	$(MP_EDIT_RULE)
docs/man/migphase-prepare.8: docs/man/migphase-prepare.8.in Makefile
	$(MP_EDIT_RULE)
docs/man/migphase-perform.8: docs/man/migphase-perform.8.in Makefile
	$(MP_EDIT_RULE)
docs/man/migphase-finish.8: docs/man/migphase-finish.8.in Makefile
	$(MP_EDIT_RULE)
docs/man/migphase-confirm.8: docs/man/migphase-confirm.8.in Makefile
	$(MP_EDIT_RULE)
docs/man/migphase-status.8: docs/man/migphase-status.8.in Makefile
	$(MP_EDIT_RULE)
docs/man/migphase-migrate.8: docs/man/migphase-migrate.8.in Makefile
	$(MP_EDIT_RULE)
docs/man/migphase-pki.1: docs/man/migphase-pki.1.in Makefile
	$(MP_EDIT_RULE)
docs/man/migphase-cookie.5: docs/man/migphase-cookie.5.in Makefile
	$(MP_EDIT_RULE)
docs/man/migphase.conf.5: docs/man/migphase.conf.5.in Makefile
	$(MP_EDIT_RULE)
