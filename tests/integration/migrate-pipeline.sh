#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# migphase-migrate starts Finish before Perform ends, blocked on Perform's
# cookie, so that Finish's own start is off the guest's pause, and Confirm
# with it, blocked on Finish's:
#   - a live migration: Prepare started before Begin wrote its cookie,
#     Perform before Prepare ended, Finish before Perform ended and
#     Confirm before Finish ended; each step's
#     cookie goes on once the step closes its output, not at its exit (the
#     wrappers of Begin, Prepare and Finish exit a second later): Prepare
#     starts before Begin exits, Perform streams (Finish starts) before
#     Prepare exits, Confirm ends before Finish exits; the migration
#     completes, memory verified, nothing pending; Begin, then Finish,
#     failing after their cookies (status 3, SIGKILL) are told as such
#     and change nothing;
#   - Begin fails: the waiting Prepare goes without a word (it read no
#     cookie), the source runs on, nothing pending;
#   - Prepare fails: the waiting Perform is killed without a word (it read
#     no cookie), Confirm --cancelled closes the source's side, the source
#     runs on, nothing pending;
#   - Perform says "acting" (MIGPHASE_NOTIFY_FD) only once its stream runs:
#     stopped (SIGSTOP) the moment it says so, it has started the stream
#     all the same, and, continued, completes it;
#   - Perform fails before doing anything: the waiting Finish and Confirm
#     are abandoned (they read no cookie and touched nothing: no complaint
#     of their own on migphase-migrate's stderr), the source runs on,
#     nothing pending;
#   - the helpers of migphase-migrate's own build run in forked copies of it,
#     not exec'd: the processes named migphase-perfor and migphase-finish
#     (ps's fifteen characters) run migphase-migrate's executable, their
#     parent, and the migration completes; while Perform still streams, the
#     waiting Finish (given the domain) holds the destination journal's lock
#     and a connection to the destination VM's monitor;
#   - Perform's fsyncs slowed (slow-fsync.so), its done commit, which
#     follows its cookie, outlasts Finish: Confirm, given Finish's cookie,
#     waits for the source journal's lock Perform still holds, and the
#     migration completes.
# The first two are wrapped (MIGPHASE_HELPER_DIR) by scripts that log when
# each helper starts and ends: helpers from another directory are exec'd.
# shellcheck source=tests/integration/lib.sh disable=SC2154
. "$top_srcdir/tests/integration/lib.sh"
mp_require_qemu
mp_init

wrapped="$MP_TMP/wrapped"
steps="$MP_TMP/steps.log"
mkdir -p "$wrapped"
for helper in begin prepare perform finish confirm; do
    cat >"$wrapped/migphase-$helper" <<EOF
#!/bin/sh
echo "start $helper \$(date +%s%N)" >>"$steps"
echo "pid $helper \$\$" >>"$steps"
if [ -e "$MP_TMP/fail-$helper" ]; then
    # A failing Prepare fails once the Perform started beside it is under
    # way (its wrapper said so), for the test to see that one abandoned.
    if [ "$helper" = prepare ]; then
        for _ in \$(seq 100); do
            ! grep -q "^pid perform" "$steps" || break
            sleep 0.1
        done
    fi
    echo "$helper: failing on purpose" >&2
    exit 1
fi
# Begin holds its cookie until the Prepare started beside it is under way
# (its wrapper said so), for the test to see Prepare start before it.
if [ "$helper" = begin ] && [ -e "$MP_TMP/begin-awaits-prepare" ]; then
    for _ in \$(seq 100); do
        ! grep -q "^start prepare" "$steps" || break
        sleep 0.1
    done
fi
rc=0
"$MP_HELPERS/migphase-$helper" "\$@" || rc=\$?
echo "cookie $helper \$(date +%s%N)" >>"$steps"
# The cookie written and the output closed, the exit a second later: the
# next step need not wait for it.
case $helper in begin | prepare | finish) exec >&-; sleep 1 ;; esac
echo "end $helper \$(date +%s%N)" >>"$steps"
# Failing after the cookie, which was acted on: a status, or KILL.
late=\$(cat "$MP_TMP/late-exit-$helper" 2>/dev/null) || true
[ "\$late" != KILL ] || kill -KILL \$\$
exit "\${late:-\$rc}"
EOF
    chmod 755 "$wrapped/migphase-$helper"
done
# stamp EVENT STEP: the first time EVENT (start or end) was logged for STEP.
stamp() {
    sed -n "s/^$1 $2 //p" "$steps" | head -n 1
}

echo "== Finish waits for Perform's cookie"
mem=64
mp_start_guest pipe $mem 16
mp_wait_ticks "$MP_TMP/pipe-src-serial.log" 2 60
: >"$MP_TMP/begin-awaits-prepare"
echo 3 >"$MP_TMP/late-exit-begin"
echo KILL >"$MP_TMP/late-exit-finish"
MIGPHASE_HELPER_DIR=$wrapped mp_migrate pipe --local --listen 127.0.0.1 --progress none \
    2>"$MP_TMP/migrate.err" || mp_fail "migphase-migrate failed: $(cat "$MP_TMP/migrate.err")"
rm "$MP_TMP/begin-awaits-prepare" "$MP_TMP/late-exit-begin" "$MP_TMP/late-exit-finish"
finish_start=$(stamp start finish) perform_start=$(stamp start perform)
perform_end=$(stamp end perform) prepare_end=$(stamp end prepare)
if [ -z "$finish_start" ] || [ -z "$perform_end" ] || [ -z "$prepare_end" ]; then
    mp_fail "the steps did not all run: $(cat "$steps")"
fi
[ "$perform_start" -lt "$prepare_end" ] ||
    mp_fail "Perform started $(((perform_start - prepare_end) / 1000000)) ms after Prepare ended"
[ "$(stamp start prepare)" -lt "$(stamp cookie begin)" ] ||
    mp_fail "Prepare waited for Begin's cookie, not started beside Begin: $(cat "$steps")"
[ "$finish_start" -lt "$prepare_end" ] ||
    mp_fail "Perform waited for Prepare's exit, not for its cookie: $(cat "$steps")"
echo "Perform started $(((prepare_end - perform_start) / 1000000)) ms before Prepare ended"
[ "$finish_start" -lt "$perform_end" ] ||
    mp_fail "Finish started $(((finish_start - perform_end) / 1000000)) ms after Perform ended"
echo "Finish started $(((perform_end - finish_start) / 1000000)) ms before Perform ended" \
    "($(((finish_start - perform_start) / 1000000)) ms after Perform started)"
confirm_start=$(stamp start confirm) finish_end=$(stamp end finish)
confirm_end=$(stamp end confirm)
if [ -z "$confirm_start" ] || [ "$confirm_start" -ge "$finish_end" ]; then
    mp_fail "Confirm did not start before Finish ended: $(cat "$steps")"
fi
[ "$confirm_end" -lt "$finish_end" ] ||
    mp_fail "Confirm waited for Finish's exit, not for its cookie: $(cat "$steps")"
# A step's failure after its cookie was acted on is told as it was.
grep -q "migphase-begin exited with status 3 after its cookie" "$MP_TMP/migrate.err" ||
    mp_fail "Begin's late exit status not told: $(cat "$MP_TMP/migrate.err")"
grep -q "migphase-finish was killed by signal 9 (Killed) after its cookie" "$MP_TMP/migrate.err" ||
    mp_fail "Finish's late death not told: $(cat "$MP_TMP/migrate.err")"
[ "$(mp_where_running pipe)" = destination ] || mp_fail "guest runs: $(mp_where_running pipe)"
mp_verify_memory "$MP_TMP/pipe-dst.qmp" $mem || mp_fail "memory check failed on the destination"
mp_assert_nothing_pending

echo "== Perform says it acts once its stream runs, not while it sets it up"
mp_start_guest says $mem 16
S=(--state-dir "$MP_STATE")
"$MP_HELPERS/migphase-begin" "${S[@]}" --qmp "$MP_TMP/says-src.qmp" --bandwidth 16 \
    --out "$MP_TMP/says-begin.xml"
"$MP_HELPERS/migphase-prepare" "${S[@]}" --qmp "$MP_TMP/says-dst.qmp" --listen 127.0.0.1 \
    --rewrite "$MP_TMP/says-src-=$MP_TMP/says-dst-" \
    --in "$MP_TMP/says-begin.xml" --out "$MP_TMP/says-prepare.xml"
port=$(sed -n 's/.*uri="tcp:[^"]*:\([0-9]*\)".*/\1/p' "$MP_TMP/says-prepare.xml")
[ -n "$port" ] || mp_fail "no TCP port in Prepare's cookie"
mkfifo "$MP_TMP/says.fifo"
exec 8<>"$MP_TMP/says.fifo"
MIGPHASE_NOTIFY_FD=9 "$MP_HELPERS/migphase-perform" "${S[@]}" \
    --in "$MP_TMP/says-prepare.xml" --out "$MP_TMP/says-perform.xml" 9>"$MP_TMP/says.fifo" &
perform=$!
said=""
read -r -t 60 -u 8 said || true
# Frozen the moment it spoke: whatever it had not sent QEMU by then, QEMU
# does not get until it runs again.
kill -STOP "$perform"
exec 8<&-
[ "$said" = acting ] || mp_fail "Perform said '$said', not acting"
streams=0
for _ in $(seq 60); do
    streams=$(ss -Htn state established "( sport = :$port or dport = :$port )" | wc -l)
    [ "$streams" -eq 0 ] || break
    sleep 0.05
done
kill -CONT "$perform"
rc=0
wait "$perform" || rc=$?
[ "$streams" -gt 0 ] ||
    mp_fail "no stream on port $port when Perform said it acts: Finish would start beside its setup"
mp_expect_status 0 "$rc" "migphase-perform, stopped once it said it acts"
"$MP_HELPERS/migphase-finish" "${S[@]}" --in "$MP_TMP/says-perform.xml" \
    --out "$MP_TMP/says-finish.xml"
"$MP_HELPERS/migphase-confirm" "${S[@]}" --in "$MP_TMP/says-finish.xml"
[ "$(mp_where_running says)" = destination ] || mp_fail "guest runs: $(mp_where_running says)"
mp_assert_nothing_pending

# migrate_failing STEP NAME: a new guest NAME migrated with STEP's wrapper
# failing; migphase-migrate must fail. Its stderr is in $MP_TMP/migrate.err.
migrate_failing() {
    local rc=0
    : >"$steps"
    : >"$MP_TMP/fail-$1"
    mp_start_guest "$2" $mem 16
    mp_wait_ticks "$MP_TMP/$2-src-serial.log" 2 60
    MIGPHASE_HELPER_DIR=$wrapped mp_migrate "$2" --local --listen 127.0.0.1 --progress none \
        2>"$MP_TMP/migrate.err" || rc=$?
    rm "$MP_TMP/fail-$1"
    [ "$rc" -ne 0 ] || mp_fail "migphase-migrate succeeded with a failing $1"
    cat "$MP_TMP/migrate.err"
}

# abandoned_quietly STEP: STEP was started ahead of its cookie and, given
# none, said nothing on migphase-migrate's stderr.
abandoned_quietly() {
    [ -n "$(stamp start "$1")" ] || mp_fail "$1 was not started ahead: $(cat "$steps")"
    ! grep -q "migphase-$1" "$MP_TMP/migrate.err" ||
        mp_fail "the abandoned $1 spoke: $(cat "$MP_TMP/migrate.err")"
}

echo "== Begin fails: the waiting Prepare is abandoned, the source runs on"
migrate_failing begin nobegin
abandoned_quietly prepare
[ -n "$(stamp end prepare)" ] || mp_fail "the abandoned Prepare did not end: $(cat "$steps")"
grep -q "begin: failing on purpose" "$MP_TMP/migrate.err" ||
    mp_fail "Begin's own error was not shown: $(cat "$MP_TMP/migrate.err")"
[ "$(mp_where_running nobegin)" = source ] || mp_fail "guest runs: $(mp_where_running nobegin)"
mp_assert_nothing_pending

echo "== Prepare fails: the waiting Perform is abandoned, the source runs on"
migrate_failing prepare noprep
abandoned_quietly perform
[ -z "$(stamp end perform)" ] || mp_fail "the abandoned Perform was not killed: $(cat "$steps")"
# Its wrapper's shell, in the process group that was killed (other tests
# may run a Perform of their own meanwhile).
perform_pid=$(stamp pid perform)
[ -n "$perform_pid" ] || mp_fail "the waiting Perform's wrapper left no pid: $(cat "$steps")"
! kill -0 "$perform_pid" 2>/dev/null || mp_fail "the abandoned Perform still runs"
[ "$(mp_where_running noprep)" = source ] || mp_fail "guest runs: $(mp_where_running noprep)"
mp_assert_nothing_pending

echo "== Perform fails: the waiting Finish is abandoned, the source runs on"
migrate_failing perform nope
[ "$(sed -n 's/^start finish //p' "$steps" | wc -l)" -eq 2 ] ||
    mp_fail "expected the abandoned Finish and a Finish --cancelled: $(cat "$steps")"
[ "$(sed -n 's/^start confirm //p' "$steps" | wc -l)" -eq 2 ] ||
    mp_fail "expected the abandoned Confirm and a Confirm --cancelled: $(cat "$steps")"
grep -Eq "migphase-(finish|confirm)" "$MP_TMP/migrate.err" &&
    mp_fail "an abandoned step spoke: $(cat "$MP_TMP/migrate.err")"
[ "$(mp_where_running nope)" = source ] || mp_fail "guest runs: $(mp_where_running nope)"
mp_assert_nothing_pending

# step_exe NAME PARENT: the executable of the process named NAME whose
# parent is PARENT (mp_migrate's subshell) or a child of PARENT.
step_exe() {
    local pid parents
    parents=$(pgrep -P "$2" | paste -sd, || true)
    pid=$(pgrep -x -P "$2${parents:+,$parents}" "$1" | head -n 1 || true)
    if [ -n "$pid" ]; then
        readlink "/proc/$pid/exe" || true
    fi
}

# step_pid NAME PARENT: the pid of that process.
step_pid() {
    local parents
    parents=$(pgrep -P "$2" | paste -sd, || true)
    pgrep -x -P "$2${parents:+,$parents}" "$1" | head -n 1 || true
}

# ready_ahead PID: whether the Finish of pid PID, waiting for its cookie,
# holds the destination journal's lock (/proc/locks: its flock on the lock
# file's inode; trying the lock could take it from under Finish) and a
# connection to the VM's monitor (its only socket: its input and output are
# pipes).
ready_ahead() {
    local inode
    inode=$(stat -c %i "$MP_STATE/destination/fork/lock" 2>/dev/null) || return 1
    grep -Eq "FLOCK +ADVISORY +WRITE +$1 [0-9a-f]+:[0-9a-f]+:$inode " /proc/locks &&
        ss -xpH state established 2>/dev/null | grep -q "pid=$1,"
}

echo "== This build's helpers run in forked copies of migphase-migrate;"
echo "   Finish opens its journal and the VM's monitor before its cookie"
mp_start_guest fork $mem 16
mp_wait_ticks "$MP_TMP/fork-src-serial.log" 2 60
mp_migrate fork --local --listen 127.0.0.1 --progress none --bandwidth 16 \
    2>"$MP_TMP/migrate.err" &
migrate=$!
perform_exe="" finish_exe="" ready=""
for _ in $(seq 200); do
    [ -n "$perform_exe" ] || perform_exe=$(step_exe migphase-perfor "$migrate")
    [ -n "$finish_exe" ] || finish_exe=$(step_exe migphase-finish "$migrate")
    finish_pid=$(step_pid migphase-finish "$migrate")
    # Only while Perform still runs the stream, before Finish has a cookie.
    if [ -z "$ready" ] && [ -n "$finish_pid" ] && [ -n "$(step_pid migphase-perfor "$migrate")" ] &&
        ready_ahead "$finish_pid"; then
        ready=yes
    fi
    [ -z "$perform_exe" ] || [ -z "$finish_exe" ] || [ -z "$ready" ] || break
    sleep 0.05
done
wait "$migrate" || mp_fail "migphase-migrate failed: $(cat "$MP_TMP/migrate.err")"
own=$(readlink -f "$MP_HELPERS/migphase-migrate")
[ "$perform_exe" = "$own" ] || mp_fail "Perform ran '$perform_exe', not $own"
[ "$finish_exe" = "$own" ] || mp_fail "Finish ran '$finish_exe', not $own"
[ -n "$ready" ] ||
    mp_fail "during the stream, the waiting Finish held no journal lock or monitor connection"
[ "$(mp_where_running fork)" = destination ] || mp_fail "guest runs: $(mp_where_running fork)"
mp_verify_memory "$MP_TMP/fork-dst.qmp" $mem || mp_fail "memory check failed on the destination"
mp_assert_nothing_pending
echo "== Perform opens the VM's monitor ahead of Prepare's cookie; its done commit, after its"
echo "   cookie, outlasts Finish (its fsyncs 40 ms each, 3 s more once its cookie is out): Confirm"
echo "   waits for the source journal's lock (10 s at most), and the migration completes"
mp_start_guest slowsync $mem 16
mp_wait_ticks "$MP_TMP/slowsync-src-serial.log" 2 60
# An ASan build wants its runtime first: the preload, built without it, may
# come before (it only sleeps, then calls the next fsync).
asan_options=${ASAN_OPTIONS-}
export LD_PRELOAD="$top_builddir/tests/integration/slow-fsync.so" SLOW_FSYNC_COMM=migphase-perfor \
    SLOW_FSYNC_AFTER_COOKIE_MS=3000 ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
rc=0
mp_migrate slowsync --local --listen 127.0.0.1 --progress none --log-level debug \
    2>"$MP_TMP/migrate.err" || rc=$?
unset LD_PRELOAD SLOW_FSYNC_COMM SLOW_FSYNC_AFTER_COOKIE_MS
ASAN_OPTIONS=$asan_options
[ "$rc" -eq 0 ] || mp_fail "migphase-migrate exited $rc: $(grep -v debug: "$MP_TMP/migrate.err")"
grep -q "migphase-perform: debug: the VM's monitor is open, its state and migration settings asked, ahead of the cookie" \
    "$MP_TMP/migrate.err" || mp_fail "Perform did not open the VM's monitor ahead of Prepare's cookie"
grep -q "migphase-perform: debug: the VM's state as asked ahead: its monitor said nothing since" \
    "$MP_TMP/migrate.err" || mp_fail "Perform's plan asked the VM's state again, the monitor silent"
grep -q "migphase-migrate: debug: beside Begin, at nice [0-9]* until its cookie" "$MP_TMP/migrate.err" ||
    mp_fail "the schema's compile and Prepare's start ran beside Begin at its priority"
grep -q "migphase-migrate: debug: Begin is done: Prepare back at nice" "$MP_TMP/migrate.err" ||
    mp_fail "Prepare was not given its priority back with Begin's cookie"
grep -q "migphase-migrate: debug: Perform started at nice [0-9]* until Prepare's cookie" \
    "$MP_TMP/migrate.err" || mp_fail "Perform started early at the priority of Prepare's QEMU"
grep -q "migphase-migrate: debug: Perform back at nice [0-9]* with Prepare's cookie" \
    "$MP_TMP/migrate.err" || mp_fail "Perform was not given its priority back with its cookie"
grep -q "migphase-confirm: debug: waiting for migphase-perform to conclude" "$MP_TMP/migrate.err" ||
    mp_fail "Confirm never met Perform's lock: the test did not test it"
[ "$(mp_where_running slowsync)" = destination ] || mp_fail "guest runs: $(mp_where_running slowsync)"
mp_verify_memory "$MP_TMP/slowsync-dst.qmp" $mem || mp_fail "memory check failed on the destination"
mp_assert_nothing_pending
echo "PASS: Finish waits for Perform's cookie, its journal and monitor open; abandoned, it" \
    "changes nothing; this build's helpers run without an exec; Perform opens the VM's monitor" \
    "ahead of its cookie; Confirm waits for a Perform still committing"
