#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The Xen driver's tests, run by the test bed's dom0 (tests/xen/dom0-init.sh)
# on a real hypervisor: guests migrated to localhost through the five
# helpers, and failures recovered with what migphase-status prints. Every
# line for the host starts with "migphase-xen-test: "; the last one says
# "MIGPHASE-XEN-VERDICT: N passed, N failed".
set -u

H=/opt/migphase        # the helpers and the receiver
T=/opt/mpt             # kernel, guest initramfs
S=/var/lib/migphase    # one state directory: both roles live on this host
W=/tmp/mpt             # cookies and logs of this run
C=/var/log/xen/console # xenconsoled's guest logs
mkdir -p "$W"

passed=0
failed=0
# Forks are dear in a PV dom0 under TCG: builtins where it is easy.
clock() {
    read -r up _ </proc/uptime
    echo "${up%.*}"
}
say() { echo "migphase-xen-test: [$(clock)] $*"; }
ok() {
    passed=$((passed + 1))
    say "ok $((passed + failed)) - $*"
}
not_ok() {
    failed=$((failed + 1))
    say "not ok $((passed + failed)) - $*"
}
check() { # DESCRIPTION COMMAND...
    d=$1
    shift
    if "$@"; then ok "$d"; else not_ok "$d"; fi
}
show() { # FILE: a file's lines, for the host to read
    sed 's/^/migphase-xen-test:   | /' "$1"
}

# ---- guests ---------------------------------------------------------------

# tsc_mode native: on this emulated CPU (no invariant TSC) Xen would
# otherwise trap and emulate every RDTSC of the guest, thousands of exits to
# Xen a second through TCG's emulation of SVM, where guests crash now and
# then (docs/xen.md); the guests never leave this host's TSC.
create_guest() { # NAME TYPE
    cat >"$W/$1.cfg" <<EOF
name = "$1"
type = "$2"
kernel = "$T/vmlinux"
ramdisk = "$T/guest.cpio.gz"
extra = "console=hvc0 quiet"
memory = 96
vcpus = 1
tsc_mode = "native"
on_crash = "preserve"
EOF
    xl create -q "$W/$1.cfg" >"$W/$1.create.log" 2>&1 || {
        show "$W/$1.create.log"
        return 1
    }
}

# The newest heartbeat of a boot in any guest log, as "COUNT STATE"; the
# state is BAD if any of its heartbeats was. Empty if there is none.
last_beat() { # BOOT
    awk -v b="$1" '{ sub(/\r$/, "") }
        $1 == "heartbeat" && $2 == b {
            if ($3 + 0 > n) { n = $3 + 0; st = $4 }
            if ($4 != "ok") bad = 1
        }
        END { if (n) print n, (bad ? "BAD" : st) }' "$C"/guest-*.log 2>/dev/null
}

# The boot id of a guest, from its first log.
boot_of() { # NAME
    awk '{ sub(/\r$/, "") } /^guest up: boot / { b = $4 } END { print b }' \
        "$C/guest-$1.log" 2>/dev/null
}

wait_boot() { # NAME SECONDS
    t0=$(clock)
    while [ $(($(clock) - t0)) -lt "$2" ]; do
        b=$(boot_of "$1")
        if [ -n "$b" ] && [ -n "$(last_beat "$b")" ]; then
            say "$1 is up (boot $b) after $(($(clock) - t0)) s"
            return 0
        fi
        sleep 1
    done
    say "$1 printed no heartbeat within $2 s; its console:"
    show "$C/guest-$1.log" 2>/dev/null
    return 1
}

# The heartbeat of a boot goes on past COUNT, and the block never went bad.
# A guest NAME that is gone or shut down (crashed) cannot beat again: no
# use waiting out the 90 s for it.
beats_go_on() { # NAME BOOT COUNT
    t0=$(clock)
    while [ $(($(clock) - t0)) -lt 90 ]; do
        beat=$(last_beat "$2")
        if [ "${beat%% *}" -gt "$3" ] 2>/dev/null; then
            say "heartbeat of $2: $3 before, $beat now"
            [ "${beat#* }" = ok ] || say "the guest's memory block changed"
            [ "${beat#* }" = ok ]
            return
        fi
        if ! can_run "$1"; then
            say "no heartbeat of $2 past $3, and $1 cannot run: ${state:-no such domain}"
            return 1
        fi
        sleep 1
    done
    say "no heartbeat of $2 past $3 within 90 s"
    return 1
}

# The domain NAME exists and is not shut down, crashed or dying (xl's state
# flags s, c and d); its state in $state.
can_run() { # NAME
    state=$(xl list "$1" 2>/dev/null | awk -v n="$1" '$1 == n { print $5 }')
    case "$state" in
    ???---) return 0 ;;
    *) return 1 ;;
    esac
}

# Exactly one copy runs, under its own name.
alive_once() { # NAME
    xl list >"$W/list.txt" 2>&1
    copies=$(grep -c -e "^$1 " -e "^$1--incoming " -e "^$1--migratedaway " "$W/list.txt")
    state=$(awk -v n="$1" '$1 == n { print $5 }' "$W/list.txt")
    # Running, blocked or waiting for a CPU: not paused, shut down, crashed
    # or dying (xl's flags r b p s c d).
    case "$copies:$state" in
    1:??----) return 0 ;;
    esac
    say "expected one running $1; xl list says:"
    show "$W/list.txt"
    # A guest that stopped by itself says why on its console (a panic, a
    # triple fault's reset): the last of it, for a failure seen only in CI.
    # xenconsoled names a log after the domain's first name: a copy that
    # arrived by migration writes to NAME--incoming's.
    # shellcheck disable=SC2012 # Xen's own file names, no blanks
    console=$(ls -t "$C/guest-$1.log" "$C/guest-$1--incoming.log" 2>/dev/null | head -n 1)
    say "the end of $1's console (${console##*/}):"
    tail -n 25 "$console" >"$W/console-tail.txt" 2>/dev/null && show "$W/console-tail.txt"
    say "Xen's last words about guests:"
    xl dmesg 2>/dev/null | grep -E 'd[1-9][0-9]*v[0-9]|[Tt]riple|crash' | tail -n 10 >"$W/dmesg-tail.txt"
    show "$W/dmesg-tail.txt"
    return 1
}

# A new domain took over: the domid changed.
moved() { # NAME OLD-DOMID
    new=$(xl domid "$1" 2>/dev/null)
    say "$1 was domain $2, is now domain ${new:-none}"
    [ -n "$new" ] && [ "$new" != "$2" ]
}

# ---- steps ----------------------------------------------------------------

# Run a helper; its messages go to the serial console when it fails.
step() { # EXPECTED-STATUS NAME ARGS...
    want=$1
    name=$2
    shift 2
    "$H/migphase-$name" --driver xen --state-dir "$S" --log-level info "$@" \
        2>"$W/$name.err"
    rc=$?
    say "  migphase-$name $* -> $rc"
    if [ "$rc" -ne "$want" ] || [ -s "$W/$name.err" ]; then
        show "$W/$name.err"
    fi
    [ "$rc" -eq "$want" ]
}

migrate() { # NAME PREFIX [BEGIN-ARGS...]
    n=$1
    p=$W/$2
    shift 2
    t0=$(clock)
    step 0 begin --domain "$n" "$@" --out "$p.begin.xml" &&
        step 0 prepare --listen 127.0.0.1 --in "$p.begin.xml" --out "$p.prepare.xml" &&
        step 0 perform --progress none --in "$p.prepare.xml" --out "$p.perform.xml" &&
        step 0 finish --in "$p.perform.xml" --out "$p.finish.xml" &&
        step 0 confirm --in "$p.finish.xml"
    rc=$?
    say "migration of $n took $(($(clock) - t0)) s; Perform's figures:"
    grep -o '<statistics[^>]*>' "$p.perform.xml" | sed 's/^/migphase-xen-test:   | /'
    return $rc
}

# Each cookie ends with its signature (shared/sign.h).
signed() { # FILE...
    for f; do
        tail -n 1 "$f" | grep -q '^<?migphase-signature ' || {
            say "$f is not signed"
            return 1
        }
    done
}

# Nothing pending on this host.
status_clean() {
    "$H/migphase-status" --state-dir "$S" >"$W/status.txt" 2>&1
    rc=$?
    [ "$rc" -eq 0 ] || show "$W/status.txt"
    return $rc
}

# Run every command migphase-status prints, here or "on the destination"
# (both are this host). Commands are argv words without blanks.
recover() {
    "$H/migphase-status" --state-dir "$S" >"$W/status.txt" 2>&1
    show "$W/status.txt"
    sed -n 's/^  run [^:]*: //p' "$W/status.txt" >"$W/commands.txt"
    [ -s "$W/commands.txt" ] || return 1
    while read -r cmd; do
        # shellcheck disable=SC2086 # split the command into its words
        set -- $cmd
        prog=$1
        shift
        "$H/$prog" "$@" >"$W/recover.out" 2>"$W/recover.err"
        rc=$?
        say "  $prog $* -> $rc"
        [ -s "$W/recover.err" ] && show "$W/recover.err"
        [ "$rc" -eq 0 ] || return 1
    done <"$W/commands.txt"
}

# Xen's tracking of a guest's dirty memory (log-dirty mode): a live stream
# turns it on; a source that runs on after a failed stream must have it off.
dirty_tracking_off() { # NAME
    state=$("$T/xen-dirty-tracking" "$(xl domid "$1")") || return 1
    say "  $1's dirty-memory tracking: $state"
    [ "$state" = off ]
}

fact() { # ROLE DOMAIN KEY
    sed -n "s/^fact\\.$3 = //p" "$S/$1/$2/record"
}

# ---- the tests ------------------------------------------------------------

say "Xen $(xl info | sed -n 's/^xen_version *: //p'), $(xl info | sed -n 's/^virt_caps *: //p')"
t_start=$(clock)

# Both at once: building a domain is slow under TCG.
create_guest pvh1 pvh &
pvh_create=$!
create_guest pv1 pv &
pv_create=$!
check "a PVH guest starts" wait "$pvh_create"
check "a PV guest starts" wait "$pv_create"
check "the PVH guest prints its heartbeat" wait_boot pvh1 240
check "the PV guest prints its heartbeat" wait_boot pv1 240
pvh_boot=$(boot_of pvh1)
pv_boot=$(boot_of pv1)
check "a guest that never moved has its dirty-memory tracking off" dirty_tracking_off pvh1

# 1. PVH, live, to localhost.
before=$(last_beat "$pvh_boot")
domid=$(xl domid pvh1)
check "PVH live migration: the five steps succeed" migrate pvh1 live
check "PVH live migration: the guest runs once, as pvh1" alive_once pvh1
check "PVH live migration: a new domain runs it" moved pvh1 "$domid"
check "PVH live migration: its heartbeat goes on, memory intact" \
    beats_go_on pvh1 "$pvh_boot" "${before%% *}"
check "PVH live migration: Perform's cookie has statistics" \
    grep -q '<statistics' "$W/live.perform.xml"
check "PVH live migration: every cookie is signed" signed "$W"/live.*.xml
check "PVH live migration: nothing pending" status_clean

# 2. PV: live needs shadow paging, which this hypervisor lacks; offline works.
check "PV live migration is refused at Begin" \
    step 1 begin --domain pv1 --out "$W/pvlive.begin.xml"
before=$(last_beat "$pv_boot")
domid=$(xl domid pv1)
check "PV offline migration: the five steps succeed" migrate pv1 offline --offline
check "PV offline migration: the guest runs once, as pv1" alive_once pv1
check "PV offline migration: a new domain runs it" moved pv1 "$domid"
check "PV offline migration: its heartbeat goes on, memory intact" \
    beats_go_on pv1 "$pv_boot" "${before%% *}"
check "PV offline migration: nothing pending" status_clean

# Until the receiver reports a state (a builtin loop: the stream of a small
# guest lasts seconds).
wait_state() { # NAME STATE
    i=0
    until { read -r line <"$S/destination/$1/receiver.result"; } 2>/dev/null &&
        [ "$line" = "state = $2" ]; do
        sleep 0.1
        i=$((i + 1))
        [ "$i" -lt 600 ] || return 1
    done
}
# Until the receiver has accepted the stream.
wait_receiving() { # NAME
    wait_state "$1" receiving
}

# 3. Perform fails: the receiver dies in the middle of the stream.
perform_failure() {
    p=$W/pf
    step 0 begin --domain pvh1 --out "$p.begin.xml" || return 1
    step 0 prepare --listen 127.0.0.1 --in "$p.begin.xml" --out "$p.prepare.xml" || return 1
    receiver=$(fact destination pvh1 receiver-pid)
    step 1 perform --progress none --in "$p.prepare.xml" --out "$p.perform.xml" &
    perform=$!
    wait_receiving pvh1
    # Once the incoming domain exists, so that it is left half-built.
    i=0
    until xl domid pvh1--incoming >/dev/null 2>&1 || [ "$i" -ge 100 ]; do
        i=$((i + 1))
    done
    say "  killing the receiver (pid $receiver) mid-stream"
    kill -9 "$receiver"
    wait "$perform"
}
before=$(last_beat "$pvh_boot")
check "Perform failure: Perform fails when the receiver dies" perform_failure
check "Perform failure: migphase-status's commands recover" recover
check "Perform failure: nothing pending afterwards" status_clean
check "Perform failure: the source's dirty-memory tracking is off" dirty_tracking_off pvh1
check "Perform failure: the guest runs once, as pvh1" alive_once pvh1
check "Perform failure: its heartbeat goes on, memory intact" \
    beats_go_on pvh1 "$pvh_boot" "${before%% *}"

# 4. Finish fails: the incoming domain dies before Finish.
finish_failure() {
    p=$W/ff
    step 0 begin --domain pvh1 --out "$p.begin.xml" &&
        step 0 prepare --listen 127.0.0.1 --in "$p.begin.xml" --out "$p.prepare.xml" &&
        step 0 perform --progress none --in "$p.prepare.xml" --out "$p.perform.xml" || return 1
    say "  destroying pvh1--incoming before Finish"
    xl destroy pvh1--incoming
    step 1 finish --in "$p.perform.xml" --out "$p.finish.xml"
}
# The source's journal says the stream completed: nothing but the
# destination's Finish cookie may resume it.
confirm_refused() {
    step 3 confirm --cancelled --in "$W/ff.perform.xml"
}
# migphase-status on the source says to ask the destination's Finish; its
# answer (the failed cookie) is what Confirm resumes the source with.
finish_recovery() {
    "$H/migphase-status" --state-dir "$S" >"$W/status.txt" 2>&1
    show "$W/status.txt"
    cmd=$(sed -n 's/^  run on the destination: //p' "$W/status.txt")
    [ -n "$cmd" ] || return 1
    # shellcheck disable=SC2086 # split the command into its words
    set -- $cmd
    prog=$1
    shift
    "$H/$prog" "$@" --out "$W/ff.finish-again.xml" 2>"$W/recover.err"
    say "  $prog $* -> $? (its cookie says: $(grep -o 'result="[a-z]*"' "$W/ff.finish-again.xml"))"
    step 0 confirm --in "$W/ff.finish-again.xml"
}
before=$(last_beat "$pvh_boot")
check "Finish failure: Finish fails when the incoming domain is gone" finish_failure
check "Finish failure: Confirm --cancelled without Finish's cookie is refused" confirm_refused
check "Finish failure: migphase-status's command, then Confirm, recover" finish_recovery
check "Finish failure: nothing pending afterwards" status_clean
check "Finish failure: the guest runs once, as pvh1" alive_once pvh1
check "Finish failure: its heartbeat goes on, memory intact" \
    beats_go_on pvh1 "$pvh_boot" "${before%% *}"

# 5. Perform is interrupted (SIGTERM): its guard cuts the stream, the source
# is rolled back, and the destination's leftovers go with migphase-status.
interrupted_perform() {
    p=$W/int
    step 0 begin --domain pvh1 --out "$p.begin.xml" || return 1
    step 0 prepare --listen 127.0.0.1 --in "$p.begin.xml" --out "$p.prepare.xml" || return 1
    "$H/migphase-perform" --driver xen --state-dir "$S" --progress none \
        --in "$p.prepare.xml" --out "$p.perform.xml" 2>"$W/int.err" &
    perform=$!
    wait_receiving pvh1
    say "  sending SIGTERM to migphase-perform (pid $perform)"
    kill -TERM "$perform"
    wait "$perform"
    rc=$?
    say "  migphase-perform -> $rc"
    show "$W/int.err"
    [ "$rc" -eq 1 ] && grep -q 'interrupted by signal 15' "$W/int.err"
}
before=$(last_beat "$pvh_boot")
check "Interrupted Perform: it stops and rolls back" interrupted_perform
check "Interrupted Perform: migphase-status's commands recover" recover
check "Interrupted Perform: nothing pending afterwards" status_clean
check "Interrupted Perform: the source's dirty-memory tracking is off" dirty_tracking_off pvh1
check "Interrupted Perform: the guest runs once, as pvh1" alive_once pvh1
check "Interrupted Perform: its heartbeat goes on, memory intact" \
    beats_go_on pvh1 "$pvh_boot" "${before%% *}"

# 6. The sender dies as the guest suspends (where libxl 4.17 crashes): a
# request the guest has not taken is withdrawn, one it took is waited for,
# so that the source Perform leaves is the one that stays: running, not
# suspended a moment later with no one to resume it. The sender is killed
# as soon as libxl asks the guest to suspend; a stream that completes first
# is finished and tried again.
sender_dies() {
    p=$W/sd
    for attempt in 1 2 3; do
        step 0 begin --domain pvh1 --out "$p.begin.xml" &&
            step 0 prepare --listen 127.0.0.1 --in "$p.begin.xml" --out "$p.prepare.xml" ||
            return 1
        domid=$(xl domid pvh1)
        # Bounded: a libxl that asked through an event channel instead would
        # never write the node (the stream then completes first).
        timeout 120 xenstore-watch -n 2 "/local/domain/$domid/control/shutdown" \
            >/dev/null 2>&1 &
        watcher=$!
        "$H/migphase-perform" --driver xen --state-dir "$S" --progress none --log-level info \
            --in "$p.prepare.xml" --out "$p.perform.xml" 2>"$W/sd.err" &
        perform=$!
        wait "$watcher"
        read -r sender _ <"/proc/$perform/task/$perform/children"
        kill -9 "$sender"
        wait "$perform"
        rc=$?
        say "  attempt $attempt: killed the sender (pid $sender) at the suspend request; migphase-perform -> $rc"
        show "$W/sd.err"
        [ "$rc" -eq 0 ] || break
        step 0 finish --in "$p.perform.xml" --out "$p.finish.xml" &&
            step 0 confirm --in "$p.finish.xml" || return 1
    done
    [ "$rc" -eq 1 ] && grep -q 'libxenlight died of signal 9' "$W/sd.err"
}
# Right after Perform, and again once a guest that took the request would
# have suspended.
still_running() { # NAME
    alive_once "$1" && sleep 3 && alive_once "$1"
}
before=$(last_beat "$pvh_boot")
check "Sender dies at the suspend: Perform fails" sender_dies
check "Sender dies at the suspend: Perform left the guest running, as pvh1" still_running pvh1
check "Sender dies at the suspend: migphase-status's commands recover" recover
check "Sender dies at the suspend: nothing pending afterwards" status_clean
check "Sender dies at the suspend: the source's dirty-memory tracking is off" dirty_tracking_off pvh1
check "Sender dies at the suspend: its heartbeat goes on, memory intact" \
    beats_go_on pvh1 "$pvh_boot" "${before%% *}"

# 7. Prepare dies while it acts, just after it started the receiver: it
# committed no fact naming the receiver (a step commits none while it
# acts), so recovery must find it through the result file the receiver
# writes first thing. The launcher kills Prepare, then becomes the receiver.
prepare_dies() {
    p=$W/pd
    step 0 begin --domain pvh1 --out "$p.begin.xml" || return 1
    # shellcheck disable=SC2016 # expanded when the script runs
    printf '#!/bin/sh\nkill -9 "$(cat "%s")"\nexec "$@"\n' "$W/prepare.pid" >"$W/kill-prepare"
    chmod +x "$W/kill-prepare"
    # shellcheck disable=SC2016 # $$ and $1 are the inner shell's
    sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$W/prepare.pid" \
        "$H/migphase-prepare" --driver xen --state-dir "$S" --log-level info \
        --listen 127.0.0.1 --launcher "$W/kill-prepare" \
        --in "$p.begin.xml" --out "$p.prepare.xml" 2>"$W/pd.err"
    rc=$?
    say "  migphase-prepare, killed by its launcher -> $rc"
    show "$W/pd.err"
    [ "$rc" -eq 137 ] && wait_state pvh1 listening || return 1
    receiver=$(sed -n 's/^pid = //p' "$S/destination/pvh1/receiver.result")
    recorded=$(fact destination pvh1 receiver-pid)
    say "  the receiver (pid $receiver) listens; the record names '$recorded'"
    [ -z "$recorded" ] && [ -d "/proc/$receiver" ]
}
destination_incoming() {
    "$H/migphase-status" --state-dir "$S" >"$W/status.txt" 2>&1
    show "$W/status.txt"
    grep -q 'pvh1 (destination) .*: step prepare started, VM incoming' "$W/status.txt"
}
# The receiver prepare_dies found is gone (or a zombie of init's).
receiver_gone() {
    st=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$receiver/status" 2>/dev/null)
    say "  the receiver (pid $receiver): ${st:-gone}"
    [ -z "$st" ] || [ "$st" = Z ]
}
check "Prepare dies while it acts: its receiver runs, named only by its result file" prepare_dies
check "Prepare dies while it acts: migphase-status finds the receiver" destination_incoming
check "Prepare dies while it acts: migphase-status's commands recover" recover
check "Prepare dies while it acts: the receiver is stopped" receiver_gone
check "Prepare dies while it acts: nothing pending afterwards" status_clean
check "Prepare dies while it acts: the guest runs once, as pvh1" alive_once pvh1

# 8. A cookie whose signature no longer matches its content: one byte of
# Prepare's cookie changed (the stream's address, 127.0.0.1 to .2). The
# next step refuses it before it acts, as an input error, and leaves the
# guest where it was and the journal as it was; the genuine cookie then
# completes the migration.
broken_signature() {
    p=$W/bs
    step 0 begin --domain pvh1 --out "$p.begin.xml" &&
        step 0 prepare --listen 127.0.0.1 --in "$p.begin.xml" --out "$p.prepare.xml" || return 1
    sed 's/\(<incoming uri="tcp:127\.0\.0\.\)1:/\12:/' "$p.prepare.xml" >"$p.broken.xml"
    if cmp -s "$p.prepare.xml" "$p.broken.xml"; then
        say "  Prepare's cookie has no stream URI to 127.0.0.1 to change:"
        show "$p.prepare.xml"
        return 1
    fi
    domid=$(xl domid pvh1)
    cp "$S/source/pvh1/record" "$W/bs.record"
    step 2 perform --progress none --in "$p.broken.xml" --out "$p.perform.xml" &&
        grep -q 'signature does not match' "$W/perform.err"
}
# The source's domain is the one it was, running, and its journal unchanged.
untouched() { # NAME DOMID
    alive_once "$1" && [ "$(xl domid "$1")" = "$2" ] &&
        cmp "$S/source/$1/record" "$W/bs.record" && [ ! -e "$W/bs.perform.xml" ]
}
moved_once() { # NAME OLD-DOMID
    moved "$1" "$2" && alive_once "$1"
}
genuine_completes() {
    p=$W/bs
    step 0 perform --progress none --in "$p.prepare.xml" --out "$p.perform.xml" &&
        step 0 finish --in "$p.perform.xml" --out "$p.finish.xml" &&
        step 0 confirm --in "$p.finish.xml"
}
before=$(last_beat "$pvh_boot")
check "Broken signature: Perform refuses a changed Prepare cookie with exit 2" broken_signature
check "Broken signature: the guest stays where it was, its journal untouched" \
    untouched pvh1 "$domid"
check "Broken signature: the genuine cookie then completes the migration" genuine_completes
check "Broken signature: a new domain runs pvh1, once" moved_once pvh1 "$domid"
check "Broken signature: its heartbeat goes on, memory intact" \
    beats_go_on pvh1 "$pvh_boot" "${before%% *}"
check "Broken signature: nothing pending afterwards" status_clean

# 9. TLS (tls = auto, and dom0 has every certificate: every stream above
# was TLS too). The receiver takes the stream only from the host the Begin
# cookie names, with a certificate of dom0's CA; anything else is turned
# away with one line in its log, and it waits on.
receiver_log=$S/destination/pv1/receiver.log
# Until the receiver's log says this (it logs a refusal as it happens).
log_says() { # TEXT
    i=0
    until grep -q "$1" "$receiver_log" 2>/dev/null; do
        sleep 0.2
        i=$((i + 1))
        [ "$i" -lt 50 ] || {
            say "  the receiver's log does not say '$1':"
            show "$receiver_log"
            return 1
        }
    done
}
asks_tls() { # PREPARE-COOKIE
    grep -q '<incoming [^>]*tls="yes"' "$1" || {
        say "  Prepare's cookie does not ask for TLS:"
        grep '<incoming' "$1" | sed 's/^/migphase-xen-test:   | /'
        return 1
    }
}
# A sender in clear is refused; the real source then sends the PV guest
# (offline: quick) over TLS, checked by both ends' logs.
tls_clear_refused() {
    p=$W/tc
    step 0 begin --domain pv1 --offline --out "$p.begin.xml" &&
        step 0 prepare --listen 127.0.0.1 --in "$p.begin.xml" --out "$p.prepare.xml" &&
        asks_tls "$p.prepare.xml" || return 1
    port=$(fact destination pv1 port)
    head=$(grep -o 'id="[^"]*"' "$p.prepare.xml" | head -n 1 | sed 's/id="\(.*\)"/\1/')
    printf 'migphase-xen-stream 2 %s\n' "$head" |
        "$T/busybox" timeout 10 "$T/busybox" nc 127.0.0.1 "$port" >/dev/null 2>&1
    log_says 'refused a connection from 127.0.0.1: the peer does not speak TLS' || return 1
    say "  a sender in clear was refused: $(grep -m 1 'refused a connection' "$receiver_log")"
    step 0 perform --progress none --in "$p.prepare.xml" --out "$p.perform.xml" &&
        grep -q 'TLS with peer dom0' "$W/perform.err" &&
        log_says 'TLS with peer dom0' &&
        step 0 finish --in "$p.perform.xml" --out "$p.finish.xml" &&
        step 0 confirm --in "$p.finish.xml"
}
before=$(last_beat "$pv_boot")
check "TLS: a sender in clear is refused, then the source migrates over TLS" tls_clear_refused
check "TLS: the guest runs once, as pv1" alive_once pv1
check "TLS: its heartbeat goes on, memory intact" beats_go_on pv1 "$pv_boot" "${before%% *}"
check "TLS: nothing pending afterwards" status_clean

# A sender whose client certificate (for dom0's name) another CA issued:
# the receiver refuses it, Perform fails and the source runs on.
receiver_log=$S/destination/pvh1/receiver.log
tls_foreign_sender() {
    p=$W/tf
    step 0 begin --domain pvh1 --out "$p.begin.xml" &&
        step 0 prepare --listen 127.0.0.1 --in "$p.begin.xml" --out "$p.prepare.xml" || return 1
    step 1 perform --pki-dir "$T/foreign-pki" --progress none --in "$p.prepare.xml" \
        --out "$p.perform.xml" || return 1
    # GnuTLS sends the certificate or not (TLS 1.3 lets the client hold
    # back one the server's CA did not issue): either way, refused for it.
    log_says 'refused a connection from 127.0.0.1: the sender.*certificate'
}
before=$(last_beat "$pvh_boot")
check "TLS: a sender with another CA's certificate is refused, Perform fails" tls_foreign_sender
check "TLS: migphase-status's commands recover" recover
check "TLS: nothing pending afterwards" status_clean
check "TLS: the source runs on, once, as pvh1" alive_once pvh1
check "TLS: its heartbeat goes on, memory intact" beats_go_on pvh1 "$pvh_boot" "${before%% *}"

# 10. tls = off on both sides: the stream goes in clear, as asked.
printf 'tls = off\n' >"$W/tls-off.conf"
tls_off() {
    p=$W/to
    c="--config $W/tls-off.conf"
    # shellcheck disable=SC2086 # $c is two words
    step 0 begin $c --domain pv1 --offline --out "$p.begin.xml" &&
        step 0 prepare $c --listen 127.0.0.1 --in "$p.begin.xml" --out "$p.prepare.xml" &&
        ! grep -q 'tls="yes"' "$p.prepare.xml" &&
        step 0 perform $c --progress none --in "$p.prepare.xml" --out "$p.perform.xml" &&
        ! grep -q 'TLS with' "$W/perform.err" "$S/destination/pv1/receiver.log" &&
        step 0 finish $c --in "$p.perform.xml" --out "$p.finish.xml" &&
        step 0 confirm $c --in "$p.finish.xml"
}
before=$(last_beat "$pv_boot")
domid=$(xl domid pv1)
check "tls = off: the five steps succeed in clear" tls_off
check "tls = off: a new domain runs pv1, once" moved_once pv1 "$domid"
check "tls = off: its heartbeat goes on, memory intact" beats_go_on pv1 "$pv_boot" "${before%% *}"
check "tls = off: nothing pending afterwards" status_clean

say "tests took $(($(clock) - t_start)) s in dom0"
echo "MIGPHASE-XEN-VERDICT: $passed passed, $failed failed"
