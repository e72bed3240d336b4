# SPDX-License-Identifier: LGPL-2.1-or-later
# Integration tests: the real helpers against real QEMU processes (TCG).
# `make check -j` starts them in this order: the longest come first (after a
# quick cookie check), so that no long test is left running alone at the
# end while the other cores idle (fault-matrix 5 minutes, postcopy 3,
# migrate-pipeline and migrate-storage 2 each, on CI's two cores).
INTEGRATION_TESTS = \
	tests/integration/cookie-errors.sh \
	tests/integration/fault-matrix.sh \
	tests/integration/postcopy.sh \
	tests/integration/migrate-pipeline.sh \
	tests/integration/migrate-storage.sh \
	tests/integration/migrate-live.sh \
	tests/integration/migrate-netns.sh \
	tests/integration/migrate-tls.sh \
	tests/integration/prepare-check.sh \
	tests/integration/step-failures.sh \
	tests/integration/recovery.sh \
	tests/integration/migrate-options.sh \
	tests/integration/migrate-many.sh \
	tests/integration/migrate-storage-faults.sh \
	tests/integration/confinement.sh \
	tests/integration/slow-monitor.sh \
	tests/integration/migrate-tuning.sh \
	tests/integration/converge.sh \
	tests/integration/migrate-ssh.sh
TESTS += $(INTEGRATION_TESTS)
EXTRA_DIST += $(INTEGRATION_TESTS) tests/integration/lib.sh tests/integration/qmp-proxy.py

# The preload that slows one helper's fsyncs (migrate-pipeline.sh). Built
# without this build's CFLAGS: a sanitizer's runtime must not come with it.
# Built before the tests start (check_DATA), not named as a prerequisite of
# that test's log: GNU make puts off a log that has a prerequisite of its
# own until the others have started, and migrate-pipeline then ran last,
# alone for two minutes.
check_DATA = tests/integration/slow-fsync.so
tests/integration/slow-fsync.so: tests/integration/slow-fsync.c
	$(AM_V_CC)$(MKDIR_P) tests/integration && \
	$(CC) -O2 -Wall -Wextra -fPIC -shared -o $@ $(srcdir)/tests/integration/slow-fsync.c -ldl
CLEANFILES += tests/integration/slow-fsync.so
EXTRA_DIST += tests/integration/slow-fsync.c
