# SPDX-License-Identifier: LGPL-2.1-or-later
# Unit tests (Criterion, one suite per module), fuzz-corpus replays and
# integration tests. `make check` runs them all; tests/summary.sh prints the
# closing "N passed, N failed" line.

TEST_EXTENSIONS = .sh
# Run through the shell, not by their mode: a tree unpacked from `git archive`
# has its scripts 0664. Every test script is bash or plain sh.
SH_LOG_COMPILER = bash
EXTRA_DIST += tests/summary.sh

TEST_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/qemu -DTEST_DATADIR='"$(abs_top_srcdir)/tests/data"'
TEST_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS) $(LIBXML_CFLAGS) $(JSONC_CFLAGS)
TEST_LIBS = $(ENGINE_LIBS) $(CRITERION_LIBS)

if HAVE_CRITERION
UNIT_TESTS = \
	tests/unit/test-error \
	tests/unit/test-protocol \
	tests/unit/test-cookie \
	tests/unit/test-journal \
	tests/unit/test-options \
	tests/unit/test-qmp \
	tests/unit/test-argv \
	tests/unit/test-privs \
	tests/unit/test-proc \
	tests/unit/test-util \
	tests/unit/test-sign \
	tests/unit/test-engine \
	tests/unit/test-recovery \
	tests/unit/test-trust \
	tests/unit/test-listen \
	tests/unit/test-pause
check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)
endif

tests_unit_test_error_SOURCES = tests/unit/test-error.c
tests_unit_test_error_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_error_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_error_LDADD = $(TEST_LIBS)
tests_unit_test_protocol_SOURCES = tests/unit/test-protocol.c
tests_unit_test_protocol_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_protocol_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_protocol_LDADD = $(TEST_LIBS)
tests_unit_test_cookie_SOURCES = tests/unit/test-cookie.c
tests_unit_test_cookie_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_cookie_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_cookie_LDADD = $(TEST_LIBS)
tests_unit_test_journal_SOURCES = tests/unit/test-journal.c
tests_unit_test_journal_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_journal_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_journal_LDADD = $(TEST_LIBS)
tests_unit_test_options_SOURCES = tests/unit/test-options.c
tests_unit_test_options_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_options_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_options_LDADD = $(TEST_LIBS)
tests_unit_test_qmp_SOURCES = tests/unit/test-qmp.c
tests_unit_test_qmp_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_qmp_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_qmp_LDADD = $(TEST_LIBS)
tests_unit_test_argv_SOURCES = tests/unit/test-argv.c
tests_unit_test_argv_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_argv_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_argv_LDADD = $(TEST_LIBS)

tests_unit_test_privs_SOURCES = tests/unit/test-privs.c
tests_unit_test_privs_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_privs_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_privs_LDADD = $(TEST_LIBS)
tests_unit_test_proc_SOURCES = tests/unit/test-proc.c
tests_unit_test_proc_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_proc_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_proc_LDADD = $(TEST_LIBS) -lpthread
tests_unit_test_util_SOURCES = tests/unit/test-util.c
tests_unit_test_util_CPPFLAGS = $(TEST_CPPFLAGS)
tests_unit_test_util_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_util_LDADD = $(TEST_LIBS)
# The test PKI (CA, host certificates of every kind) made with GnuTLS.
PKI_TEST_SOURCES = tests/engine/test-pki.c tests/engine/test-pki.h
tests_unit_test_sign_SOURCES = tests/unit/test-sign.c $(PKI_TEST_SOURCES)
tests_unit_test_sign_CPPFLAGS = $(TEST_CPPFLAGS) -I$(top_srcdir)/tests/engine
tests_unit_test_sign_CFLAGS = $(TEST_CFLAGS) $(GNUTLS_CFLAGS)
tests_unit_test_sign_LDADD = $(TEST_LIBS)

# The engine's rules and the recovery table, driven by a fake driver: no
# hypervisor needed (tests/engine/fake-driver.h).
ENGINE_TEST_SOURCES = tests/engine/fake-driver.c tests/engine/fake-driver.h \
	tests/engine/world.c tests/engine/world.h
tests_unit_test_engine_SOURCES = tests/unit/test-engine.c $(ENGINE_TEST_SOURCES)
tests_unit_test_engine_CPPFLAGS = $(TEST_CPPFLAGS) -I$(top_srcdir)/tests/engine
tests_unit_test_engine_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_engine_LDADD = $(TEST_LIBS)
tests_unit_test_recovery_SOURCES = tests/unit/test-recovery.c $(ENGINE_TEST_SOURCES)
tests_unit_test_recovery_CPPFLAGS = $(TEST_CPPFLAGS) -I$(top_srcdir)/tests/engine
tests_unit_test_recovery_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_recovery_LDADD = $(TEST_LIBS)
tests_unit_test_listen_SOURCES = tests/unit/test-listen.c
tests_unit_test_listen_CPPFLAGS = $(TEST_CPPFLAGS) -I$(top_srcdir)/engine
tests_unit_test_listen_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_listen_LDADD = $(TEST_LIBS)
tests_unit_test_pause_SOURCES = tests/unit/test-pause.c
tests_unit_test_pause_CPPFLAGS = $(TEST_CPPFLAGS) -I$(top_srcdir)/engine
tests_unit_test_pause_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_pause_LDADD = $(TEST_LIBS)
# The steps with signed cookies, and attacks on them.
tests_unit_test_trust_SOURCES = tests/unit/test-trust.c $(ENGINE_TEST_SOURCES) $(PKI_TEST_SOURCES)
tests_unit_test_trust_CPPFLAGS = $(TEST_CPPFLAGS) -I$(top_srcdir)/tests/engine
tests_unit_test_trust_CFLAGS = $(TEST_CFLAGS) $(GNUTLS_CFLAGS)
tests_unit_test_trust_LDADD = $(TEST_LIBS)

EXTRA_DIST += tests/data
# How the tests remove the directories they make (header only).
EXTRA_DIST += tests/remove-tree.h

# Fuzz targets. The same LLVMFuzzerTestOneInput entry points are linked with
# tests/fuzz/replay.c in the normal build, and replay the seed corpus.
FUZZ_TARGETS = cookie journal qmp signature
REPLAY_BINARIES = tests/fuzz/replay-cookie tests/fuzz/replay-journal tests/fuzz/replay-qmp \
	tests/fuzz/replay-signature
check_PROGRAMS += $(REPLAY_BINARIES)
tests_fuzz_replay_cookie_SOURCES = tests/fuzz/fuzz-cookie.c tests/fuzz/replay.c
tests_fuzz_replay_cookie_LDADD = $(BASE_LIBS)
tests_fuzz_replay_journal_SOURCES = tests/fuzz/fuzz-journal.c tests/fuzz/replay.c
tests_fuzz_replay_journal_LDADD = $(BASE_LIBS)
tests_fuzz_replay_qmp_SOURCES = tests/fuzz/fuzz-qmp.c tests/fuzz/replay.c
tests_fuzz_replay_qmp_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/qemu
tests_fuzz_replay_qmp_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS)
tests_fuzz_replay_qmp_LDADD = qemu/libqemu.a $(BASE_LIBS) -lpthread
tests_fuzz_replay_signature_SOURCES = tests/fuzz/fuzz-signature.c tests/fuzz/replay.c
tests_fuzz_replay_signature_LDADD = $(BASE_LIBS)
TESTS += tests/fuzz/replay-corpus.sh
EXTRA_DIST += tests/fuzz/replay-corpus.sh tests/fuzz/corpus

if ENABLE_FUZZING
# Built with clang -fsanitize=fuzzer; run by hand or by tests/fuzz/run.sh.
noinst_PROGRAMS += tests/fuzz/fuzz-cookie tests/fuzz/fuzz-journal tests/fuzz/fuzz-qmp \
	tests/fuzz/fuzz-signature
FUZZ_FLAGS = -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_cookie_SOURCES = tests/fuzz/fuzz-cookie.c
tests_fuzz_fuzz_cookie_CFLAGS = $(AM_CFLAGS) $(FUZZ_FLAGS)
tests_fuzz_fuzz_cookie_LDFLAGS = $(FUZZ_FLAGS)
tests_fuzz_fuzz_cookie_LDADD = $(BASE_LIBS)
tests_fuzz_fuzz_journal_SOURCES = tests/fuzz/fuzz-journal.c
tests_fuzz_fuzz_journal_CFLAGS = $(AM_CFLAGS) $(FUZZ_FLAGS)
tests_fuzz_fuzz_journal_LDFLAGS = $(FUZZ_FLAGS)
tests_fuzz_fuzz_journal_LDADD = $(BASE_LIBS)
tests_fuzz_fuzz_qmp_SOURCES = tests/fuzz/fuzz-qmp.c
tests_fuzz_fuzz_qmp_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/qemu
tests_fuzz_fuzz_qmp_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(FUZZ_FLAGS)
tests_fuzz_fuzz_qmp_LDFLAGS = $(FUZZ_FLAGS)
tests_fuzz_fuzz_qmp_LDADD = qemu/libqemu.a $(BASE_LIBS) -lpthread
tests_fuzz_fuzz_signature_SOURCES = tests/fuzz/fuzz-signature.c
tests_fuzz_fuzz_signature_CFLAGS = $(AM_CFLAGS) $(FUZZ_FLAGS)
tests_fuzz_fuzz_signature_LDFLAGS = $(FUZZ_FLAGS)
tests_fuzz_fuzz_signature_LDADD = $(BASE_LIBS)
endif

# The lab PKI command (tools/migphase-pki) against certtool's own checks.
TESTS += tests/security/pki.sh
# Attacks that need a real process: the helpers against the test guest, a
# fake QMP server, hostile files and validly signed hostile cookies.
SECURITY_TESTS = tests/security/qmp-impostor.sh tests/security/stream-uri.sh \
	tests/security/config-file.sh tests/security/hook-env.sh tests/security/cookie-files.sh \
	tests/security/stream-tls.sh
TESTS += $(SECURITY_TESTS)
# Signs a cookie with a lab identity: the tests' way to hand the steps
# well-signed cookies of every shape, hostile ones included.
check_PROGRAMS += tests/security/sign-cookie
tests_security_sign_cookie_SOURCES = tests/security/sign-cookie.c
tests_security_sign_cookie_LDADD = $(BASE_LIBS)
EXTRA_DIST += tests/security/pki.sh $(SECURITY_TESTS) tests/security/lib.sh
# The destination's QEMU policy: its option table against the installed
# emulator's -help, and hostile command lines from real source VMs.
check_PROGRAMS += tests/security/qemu-option-table
tests_security_qemu_option_table_SOURCES = tests/security/qemu-option-table.c
tests_security_qemu_option_table_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/qemu
tests_security_qemu_option_table_LDADD = qemu/libqemu.a $(BASE_LIBS)
TESTS += tests/security/option-table.sh tests/security/prepare-policy.sh
EXTRA_DIST += tests/security/option-table.sh tests/security/prepare-policy.sh

include tests/guest/local.mk
include tests/integration/local.mk

# Pages that show what the code does are checked against the code.
TESTS += tests/docs/recovery-table.sh
EXTRA_DIST += tests/docs/recovery-table.sh
dist_doc_DATA += docs/recovery.md docs/ARCHITECTURE.md docs/cookie-format.md docs/security.md \
	docs/journal-format.md docs/hooks.md docs/xen.md docs/opennebula.md
# Whether a stream uses TLS (engine/stream-tls.c): every rule and refusal.
if HAVE_CRITERION
check_PROGRAMS += tests/unit/test-stream-tls
TESTS += tests/unit/test-stream-tls
endif
tests_unit_test_stream_tls_SOURCES = tests/unit/test-stream-tls.c
tests_unit_test_stream_tls_CPPFLAGS = $(TEST_CPPFLAGS) -I$(top_srcdir)/engine
tests_unit_test_stream_tls_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_stream_tls_LDADD = $(TEST_LIBS)
# The Xen stream's TLS pump (xen/tls.c needs no libxl): built with or
# without the Xen driver.
if HAVE_CRITERION
check_PROGRAMS += tests/unit/test-xen-tls
TESTS += tests/unit/test-xen-tls
endif
tests_unit_test_xen_tls_SOURCES = tests/unit/test-xen-tls.c xen/tls.c xen/tls.h $(PKI_TEST_SOURCES)
tests_unit_test_xen_tls_CPPFLAGS = $(TEST_CPPFLAGS) -I$(top_srcdir)/tests/engine -I$(top_srcdir)/xen
tests_unit_test_xen_tls_CFLAGS = $(TEST_CFLAGS) $(GNUTLS_CFLAGS)
tests_unit_test_xen_tls_LDADD = $(TEST_LIBS) -lpthread

# The test list, for tests/check-all.sh (its ASan stage runs a part of it).
list-tests:
	@echo $(TESTS)
.PHONY: list-tests
