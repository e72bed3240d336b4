# SPDX-License-Identifier: LGPL-2.1-or-later
# Integration tests: the real helpers against real QEMU processes (TCG).
INTEGRATION_TESTS = \
	tests/integration/cookie-errors.sh \
	tests/integration/fault-matrix.sh \
	tests/integration/migrate-live.sh \
	tests/integration/migrate-netns.sh \
	tests/integration/migrate-tls.sh \
	tests/integration/prepare-check.sh \
	tests/integration/step-failures.sh \
	tests/integration/recovery.sh \
	tests/integration/migrate-options.sh \
	tests/integration/migrate-many.sh \
	tests/integration/migrate-storage.sh \
	tests/integration/migrate-storage-faults.sh
INTEGRATION_TESTS += tests/integration/confinement.sh tests/integration/migrate-pipeline.sh
INTEGRATION_TESTS += tests/integration/slow-monitor.sh tests/integration/migrate-tuning.sh \
	tests/integration/converge.sh tests/integration/migrate-ssh.sh \
	tests/integration/postcopy.sh
TESTS += $(INTEGRATION_TESTS)
EXTRA_DIST += $(INTEGRATION_TESTS) tests/integration/lib.sh tests/integration/qmp-proxy.py

# The preload that slows one helper's fsyncs (migrate-pipeline.sh). Built
# without this build's CFLAGS: a sanitizer's runtime must not come with it.
tests/integration/slow-fsync.so: tests/integration/slow-fsync.c
	$(AM_V_CC)$(MKDIR_P) tests/integration && \
	$(CC) -O2 -Wall -Wextra -fPIC -shared -o $@ $(srcdir)/tests/integration/slow-fsync.c -ldl
tests/integration/migrate-pipeline.log: tests/integration/slow-fsync.so
CLEANFILES += tests/integration/slow-fsync.so
EXTRA_DIST += tests/integration/slow-fsync.c
