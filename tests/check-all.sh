#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The whole test suite, as CI runs it (through ./quickstart check): the
# normal build with warnings as errors and every test; the same under ASan and
# UBSan; make distcheck; the fuzz targets built with libFuzzer and run
# briefly; shellcheck and clang-format; the packages; the Xen test bed. Ends
# with one line: "N passed, N failed, N skipped".
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
jobs=$(nproc)
stage_pass=0 stage_fail=0 stage_skip=0
logs=()

# stage NAME COMMAND...: a step of CI that is not an automake test suite.
# Exit 77 means skipped.
stage() {
    local name=$1 start rc=0
    shift
    start=$(date +%s)
    echo "=== $name"
    "$@" || rc=$?
    local took=$(($(date +%s) - start))
    case $rc in
    0) echo "=== PASS: $name (${took}s)"; stage_pass=$((stage_pass + 1)) ;;
    77) echo "=== SKIP: $name (${took}s)"; stage_skip=$((stage_skip + 1)) ;;
    *) echo "=== FAIL: $name (exit $rc, ${took}s)"; stage_fail=$((stage_fail + 1)) ;;
    esac
}

configure_in() {
    local dir=$1
    shift
    rm -rf "$dir"
    mkdir -p "$dir"
    (cd "$dir" && "$top/configure" "$@" >configure.log) || { tail -n 20 "$dir/configure.log"; return 1; }
}

# check_in DIR [MAKE ARGS...]: make check, keeping the log for the summary even on failure.
check_in() {
    local dir=$1 rc=0
    make -C "$dir" -j"$jobs" check "${@:2}" || rc=$?
    [ -f "$dir/test-suite.log" ] && logs+=("$dir/test-suite.log")
    if [ "$rc" -ne 0 ]; then
        grep -E '^(FAIL|ERROR)' "$dir/test-suite.log" 2>/dev/null
        # Print the failing tests' logs: CI shows nothing else.
        sed -n 's/^\(FAIL\|ERROR\): //p' "$dir/test-suite.log" 2>/dev/null | while read -r t; do
            echo "----- $t.log"
            tail -n 40 "$dir/$t.log" 2>/dev/null
        done
    fi
    return "$rc"
}

build_and_check() {
    local dir=$1
    shift
    configure_in "$dir" "$@" && make -C "$dir" -j"$jobs" >/dev/null && check_in "$dir"
}

# Under ASan run the tests of code that reads what another host or user
# sends (unit, fuzz replay, security, the hook adapters, Xen's driver) and
# one integration test for each path of a migration: the rest are guest
# minutes over the same C paths, and all of them run in the first stage.
# Left out: the guest and packaging checks (no migphase C code under test),
# the fault matrix and the storage faults (kills of the steps whose
# recovery recovery.sh, step-failures.sh and migrate-storage.sh's cancel
# cases drive), converge, migrate-tuning and migrate-options (settings
# passed to QEMU, whose building test-qmp covers), migrate-many and
# migrate-netns (the job runner's one migration is migrate-live's and
# migrate-pipeline's), prepare-check (prepare-policy's checks, printed),
# slow-monitor (a proxy delays the replies whose reading test-qmp covers),
# libvirt-real (a real libvirtd drives the hook that libvirt-adapter runs)
# opennebula-adapter (its migrations are migrate-live's; the XML it gets
# from OpenNebula is read by shell tools, not by our C) and postcopy (three
# minutes of guest time; the replies it reads are QMP's, whose reading
# test-qmp covers, and its refusals are test-engine's).
ASAN_TESTS_MATCH='^tests/(unit|fuzz|security|xen)/
^tests/hooks/(libvirt-adapter|lease-handoff|network-taps|site-hooks)\.sh$
^tests/integration/(cookie-errors|migrate-live|migrate-tls|migrate-storage|migrate-pipeline|migrate-ssh|step-failures|recovery|confinement)\.sh$'
asan_build_and_check() {
    local dir=$1 tests
    shift
    configure_in "$dir" "$@" && make -C "$dir" -j"$jobs" >/dev/null || return 1
    tests=$(make -s -C "$dir" list-tests | tr ' ' '\n' | grep -E "$ASAN_TESTS_MATCH" | tr '\n' ' ')
    check_in "$dir" TESTS="$tests"
}

distcheck() {
    # The integration tests already ran above; here the tarball must build
    # and pass its unit tests.
    MIGPHASE_SKIP_INTEGRATION=1 make -C build -j"$jobs" distcheck \
        DISTCHECK_CONFIGURE_FLAGS="--enable-werror --with-xen=yes" >build/distcheck.log 2>&1 ||
        { tail -n 40 build/distcheck.log; return 1; }
    grep -A3 'archives ready for distribution' build/distcheck.log
}

# Without Xen the code that Xen's presence selects builds otherwise: it
# must build warning-free and pass the tests that need no guest (the
# tarball's completeness is the distcheck's; the module tests need Xen's
# module).
build_without_xen() {
    local tests
    configure_in build-noxen --enable-werror --with-xen=no "${layout[@]}" &&
        make -C build-noxen -j"$jobs" >/dev/null || return 1
    tests=$(make -s -C build-noxen list-tests | tr ' ' '\n' |
        grep -E '^tests/(unit|fuzz|hvsupport)/' | tr '\n' ' ')
    check_in build-noxen TESTS="$tests"
}

fuzz_smoke() {
    # Targets named alone skip BUILT_SOURCES: make the generated files first.
    configure_in build-fuzz CC=clang --enable-fuzzing &&
        make -C build-fuzz engine/driver-abi.gen.h shared/cookie-schema.gen.c \
            engine/support-matrix.gen.c >/dev/null &&
        make -C build-fuzz -j"$jobs" tests/fuzz/fuzz-cookie tests/fuzz/fuzz-journal \
            tests/fuzz/fuzz-qmp tests/fuzz/fuzz-signature >/dev/null || return 1
    local target work
    for target in cookie journal qmp signature; do
        work=$(mktemp -d)
        cp "$top/tests/fuzz/corpus/$target"/* "$work/"
        "build-fuzz/tests/fuzz/fuzz-$target" -max_total_time=10 -max_len=65536 "$work" 2>&1 |
            grep -E '^(#[0-9]+.*DONE|==.*ERROR|SUMMARY)' || true
        "build-fuzz/tests/fuzz/fuzz-$target" -runs=0 "$work" >/dev/null 2>&1 ||
            { echo "fuzz-$target found a crash"; rm -rf "$work"; return 1; }
        rm -rf "$work"
    done
}

lint_shell() {
    local files
    files=$(git ls-files | while read -r f; do
        case $f in
        *.sh | quickstart | .ci/run) [ -f "$f" ] && echo "$f" ;;
        *) head -n 1 "$f" 2>/dev/null | grep -qE '^#!.*(ba)?sh' && echo "$f" ;;
        esac
    done | sort -u)
    # shellcheck disable=SC2086
    shellcheck -x $files && echo "shellcheck: $(echo "$files" | wc -w) scripts clean"
}

check_format() {
    command -v clang-format >/dev/null || return 77
    # shellcheck disable=SC2046
    clang-format --dry-run -Werror $(git ls-files '*.c' '*.h' | grep -v -e '^tests/guest/' -e '^tests/hvsupport/') &&
        echo "clang-format: clean"
}

[ -x configure ] || sh ./autogen.sh >/dev/null
# The distributions' layout, so that the adapters' tests find their settings
# in /etc (they write only a private copy of it).
layout=(--sysconfdir=/etc --localstatedir=/var)
stage "build and test (warnings as errors)" build_and_check build --enable-werror "${layout[@]}"
stage "build and test under ASan+UBSan" asan_build_and_check build-asan --enable-werror \
    --enable-sanitizers "${layout[@]}"
stage "distcheck" distcheck
stage "build and unit tests without Xen" build_without_xen
# The fuzz targets keep one core busy for their 40 s; the packages stage
# mostly downloads (debootstrap) and runs one-core tools: side by side they
# take two minutes less of CI's time than one after the other. The fuzz
# stage's output is shown when it ends, after the packages'.
fuzz_log=$(mktemp)
(
    start=$(date +%s) rc=0
    fuzz_smoke >"$fuzz_log" 2>&1 || rc=$?
    echo "(ran beside the packages: $(($(date +%s) - start))s)" >>"$fuzz_log"
    exit "$rc"
) &
fuzz_pid=$!
# replay LOG PID: what a stage run in the background printed, and its exit.
replay() {
    local rc=0
    wait "$2" || rc=$?
    cat "$1"
    rm -f "$1"
    return "$rc"
}
stage "shellcheck" lint_shell
stage "clang-format" check_format
[ -f tests/packaging/build-packages.sh ] && stage "Debian and RPM packages" bash tests/packaging/build-packages.sh
stage "fuzz targets (libFuzzer, 10 s each)" replay "$fuzz_log" "$fuzz_pid"
# The Xen test bed reports its own counts ("xen: N passed, N failed, N
# skipped"): they join the totals, so a skipped Xen test shows as skipped.
xen_pass=0 xen_fail=0 xen_skip=0
check_xen() {
    local out line last_run
    out=$(make -C build check-xen 2>&1)
    local rc=$?
    echo "$out" >build/xen-testbed.log
    echo "$out" | tail -n 40
    # A run the emulator spoiled is booted again (tests/xen/testbed.sh): say
    # so, since its lines are no longer at the end.
    if echo "$out" | grep -q '^testbed: run 1: '; then
        echo "--- the Xen test bed was booted twice; why:"
        echo "$out" | grep -A1 '^testbed: run 1: '
    fi
    line=$(echo "$out" | grep -E '^xen: [0-9]+ passed, [0-9]+ failed' | tail -n 1)
    if [ -z "$line" ]; then
        xen_fail=1
    else
        read -r _ xen_pass _ xen_fail _ xen_skip _ <<<"${line//,/}"
        xen_skip=${xen_skip:-0}
    fi
    [ "$rc" -eq 0 ] && [ "$xen_fail" -eq 0 ] && return 0
    # A CI log is often read from its end: the last boot's first failure,
    # with what led to it, goes last, where the later failures it caused
    # cannot hide it.
    last_run=$(echo "$out" | awk '/^testbed: booting Xen/ { n = 0 } { l[++n] = $0 }
        END { for (i = 1; i <= n; i++) print l[i] }')
    if echo "$last_run" | grep -q '\] not ok '; then
        echo "--- the Xen test bed's first failure (whole log: build/xen-testbed.log):"
        echo "$last_run" | awk '/\] not ok / { for (i = NR - 12; i < NR; i++) if (i in l) print l[i]; print; exit }
            { l[NR] = $0 }'
    fi
    return 1
}
if [ -f tests/xen/check-xen.sh ]; then
    echo "=== Xen test bed"
    start=$(date +%s)
    check_xen
    echo "=== Xen test bed: $xen_pass passed, $xen_fail failed, $xen_skip skipped ($(($(date +%s) - start))s)"
fi

echo
echo "automake suites: ${logs[*]}"
auto=$(tests/summary.sh "${logs[@]}" | tail -n 1)
read -r ap _ af _ as _ <<<"${auto//,/}"
total_pass=$((ap + stage_pass + xen_pass))
total_fail=$((af + stage_fail + xen_fail))
total_skip=$((as + stage_skip + xen_skip))
echo "stages: $stage_pass passed, $stage_fail failed, $stage_skip skipped; tests: $auto"
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ] && [ "$total_pass" -gt 0 ]
