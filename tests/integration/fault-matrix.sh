#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The fault-injection matrix. For each step (Begin, Prepare, Perform, Finish,
# Confirm) and each fault, one migration of a fresh 64 MiB test guest runs up
# to that step, the fault strikes inside the step, the orchestration stops
# there, and the case is resolved only with the commands migphase-status
# prints (run on the host it names, exactly as printed). Then: the guest runs
# on exactly one side (never both; never neither unless the fault killed the
# only copy), its memory passes the guest's check, no QEMU process and no
# listening port of the migration is left, and neither host's journal has
# anything pending. A table of cases and outcomes ends the run.
#
# Faults:
#   kill-helper  SIGKILL of the step's helper at seeded random points in
#                [0, the step's duration] (a seeded fraction of the duration
#                last measured on a normal run); some land after the step
#                ended, which is a case too (the journal must say so)
#   kill-rerun   the same, then the step is re-run with the same input and the
#                migration goes on: it must complete (re-running is safe)
#   kill-at      SIGKILL of Prepare's helper where it enters a named function
#                (gdb): just after it started the destination QEMU, before
#                the journal names it (SKIP without gdb)
#   kill-src     SIGKILL of the source QEMU during the step
#   kill-dst     SIGKILL of the destination QEMU during the step
#   netcut       the link between the hosts goes down during Perform's stream
#                (and back up before recovery, as a human would first do);
#                n/a for the other steps: nothing else crosses the link
#   disk-full    the state directory (a small tmpfs) is full when the step
#                starts (and, for Perform, also: fills up during the stream)
#   tamper       the cookie handed to the step truncated, one (seeded) letter
#                or digit of its content flipped, its migration id changed,
#                its domain changed (one case each): exit 2 for its broken
#                signature, nothing touched; then the migration goes on with
#                the good cookie.
# A step that exits 3 must leave something that migphase-status reports.
#
# Recovery: migphase-status --json on each host; the first pending entry with
# a command (the source host's first) is run on the host it names, then both
# are asked again. A command is run at most twice, 12 commands in all; an
# entry without a command, or a loop, fails the case ("recovery stuck").
#
# The two hosts are two network namespaces joined by a veth pair; they share
# the file system, so one state directory serves both. Without root the
# destination runs on this host and the netcut and disk-full faults are
# skipped (SKIP lines).
#
# Environment:
#   MIGPHASE_MATRIX_SEED     seed of the fault points (default 1; printed)
#   MIGPHASE_MATRIX_POINTS   kill-helper points per step (default 3)
#   MIGPHASE_MATRIX_FILTER   extended regex on "STEP:FAULT", e.g. "^perform:",
#                            ":kill-(src|dst)$", "netcut|disk"
#   MIGPHASE_MATRIX_KEEP=1   keep every case's files, not just failed ones
# shellcheck source=tests/integration/lib.sh disable=SC2154
. "$top_srcdir/tests/integration/lib.sh"
mp_require_qemu

FM_SEED=${MIGPHASE_MATRIX_SEED:-1}
FM_POINTS=${MIGPHASE_MATRIX_POINTS:-3}
FM_FILTER=${MIGPHASE_MATRIX_FILTER:-}
FM_MEM=64          # MiB of guest test region
FM_RATE=8          # MiB/s the guest dirties
FM_BANDWIDTH=32    # MiB/s of the stream: a 64 MiB guest takes about 2 s
FM_STALL_MS=3000   # Perform's stall timeout for the netcut cases
FM_STEP_TIMEOUT=120
STEPS=(begin prepare perform finish confirm)

FM_MOUNTS=()
fm_exit() {
    local status=$? m
    for m in "${FM_MOUNTS[@]}"; do
        mountpoint -q "$m" 2>/dev/null && umount -l "$m" 2>/dev/null
    done
    set +e
    (exit "$status")
    mp_cleanup
}
mp_init
trap fm_exit EXIT

# ---- the two hosts ---------------------------------------------------------

FM_NETNS=0
SRC_PFX=()
DST_PFX=()
DST_ADDR=127.0.0.1
PORTS=49152-49215
if [ "$(id -u)" -eq 0 ] && command -v ip >/dev/null &&
    ip netns add "mpfsrc$$" 2>/dev/null; then
    FM_NETNS=1
    SRC_NS="mpfsrc$$"
    DST_NS="mpfdst$$"
    MP_NETNS="$SRC_NS"
    ip netns add "$DST_NS"
    MP_NETNS="$SRC_NS $DST_NS"
    VETH_S="mpfs$$"
    VETH_D="mpfd$$"
    ip link add "$VETH_S" netns "$SRC_NS" type veth peer name "$VETH_D" netns "$DST_NS"
    ip -n "$SRC_NS" addr add 10.214.0.1/30 dev "$VETH_S"
    ip -n "$DST_NS" addr add 10.214.0.2/30 dev "$VETH_D"
    for ns in "$SRC_NS" "$DST_NS"; do
        ip -n "$ns" link set lo up
    done
    ip -n "$SRC_NS" link set "$VETH_S" up
    ip -n "$DST_NS" link set "$VETH_D" up
    SRC_PFX=(ip netns exec "$SRC_NS")
    DST_PFX=(ip netns exec "$DST_NS")
    DST_ADDR=10.214.0.2
    echo "hosts: source in netns $SRC_NS, destination in netns $DST_NS (10.214.0.1 -> 10.214.0.2)"
else
    PORTS=47311-47374
    echo "hosts: both on this host (no root or no network namespaces)"
fi
echo "seed $FM_SEED, $FM_POINTS kill points per step (MIGPHASE_MATRIX_SEED, MIGPHASE_MATRIX_POINTS)"

# ---- small tools -------------------------------------------------------------

# The interpreter itself: a shim (pyenv) in front of python3 costs a lot per call.
FM_PY=$(python3 -c 'import sys; print(sys.executable)')

fm_now_ms() {
    local t
    t=$(date +%s%N)
    echo $((t / 1000000))
}

fm_sleep_ms() {
    sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"
}

# fm_draw WHAT MAX: a number in [0, MAX] that depends only on the seed and WHAT.
fm_draw() {
    local h
    h=$(printf '%s/%s' "$FM_SEED" "$1" | cksum | cut -d' ' -f1)
    echo $((h % ($2 + 1)))
}

fm_selected() {
    [ -z "$FM_FILTER" ] || [[ $1 =~ $FM_FILTER ]]
}

fm_alive() { # a process that exists and is not a zombie
    [ -n "$1" ] && kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}

# The case's QEMU processes, by the paths only this case uses.
fm_qemu_pids() { # fm_qemu_pids src|dst|all
    local pat
    case $1 in
    src) pat="$MP_TMP/$N-src" ;;
    dst) pat="$MP_TMP/$N-dst" ;;
    *) pat="$MP_TMP/$N-" ;;
    esac
    local pid
    for pid in $(pgrep -f -- "qemu-system-x86_64.*$pat" || true); do
        fm_alive "$pid" && echo "$pid"
    done
    return 0
}

# fm_states: "SRC DST", the run states of the case's two VMs ("absent" if
# nobody answers). One try each: mp_run_state waits 5 s for an absent VM.
fm_states() {
    "$FM_PY" - "$MP_TMP/$N-src.qmp" "$MP_TMP/$N-dst.qmp" <<'EOF'
import json, socket, sys
out = []
for path in sys.argv[1:]:
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(path)
        f = s.makefile("r")
        f.readline()
        for cmd in ("qmp_capabilities", "query-status"):
            s.sendall(json.dumps({"execute": cmd}).encode() + b"\n")
            while True:
                reply = json.loads(f.readline())
                if "event" not in reply:
                    break
        state = reply["return"]["status"]
        s.close()
    except Exception:
        state = "absent"
    out.append(state)
print(" ".join(out))
EOF
}

fm_count_qemu() {
    fm_qemu_pids all | wc -l
}

# Listening TCP ports of the migration range on either host.
fm_listeners() {
    local lo=${PORTS%-*} hi=${PORTS#*-} out
    if [ "$FM_NETNS" = 1 ]; then
        out=$(for ns in "$SRC_NS" "$DST_NS"; do ip netns exec "$ns" ss -Hltn; done)
    else
        # On a shared host, only ours count.
        local pids
        pids=$(fm_qemu_pids all | paste -sd'|')
        [ -n "$pids" ] || return 0
        out=$(ss -Hltnp | grep -E "pid=($pids)," || true)
    fi
    awk -v lo="$lo" -v hi="$hi" '{ n = split($4, a, ":"); p = a[n] + 0; if (p >= lo && p <= hi) print $4 }' \
        <<<"$out" | paste -sd' '
}

# ---- the steps ---------------------------------------------------------------

# fm_step_cmd STEP [EXTRA...]: FM_CMD = the step's command line on its host,
# with this case's files.
fm_step_cmd() {
    local step=$1
    shift
    local h="$MP_HELPERS/migphase-$step"
    case $step in
    begin)
        FM_CMD=("${SRC_PFX[@]}" "$h" --state-dir "$S" --qmp "$MP_TMP/$N-src.qmp"
            --bandwidth "$FM_BANDWIDTH" --out "$C/begin.xml")
        ;;
    prepare)
        FM_CMD=("${DST_PFX[@]}" "$h" --state-dir "$S" --qmp "$MP_TMP/$N-dst.qmp"
            --listen "$DST_ADDR" --port-range "$PORTS" --rewrite "$MP_TMP/$N-src-=$MP_TMP/$N-dst-"
            --in "$C/begin.xml" --out "$C/prepare.xml")
        ;;
    perform)
        FM_CMD=("${SRC_PFX[@]}" "$h" --state-dir "$S" --progress none
            --stall-timeout-ms "$FM_STALL_MS" --in "$C/prepare.xml" --out "$C/perform.xml")
        ;;
    finish)
        FM_CMD=("${DST_PFX[@]}" "$h" --state-dir "$S" --in "$C/perform.xml" --out "$C/finish.xml")
        ;;
    confirm)
        FM_CMD=("${SRC_PFX[@]}" "$h" --state-dir "$S" --in "$C/finish.xml")
        ;;
    esac
    FM_CMD+=("$@")
}

# fm_run STEP [EXTRA...]: run the step to its end; FM_RC is its exit status.
# With FM_CALIBRATE=1 (a first, normal run) a successful run updates
# DUR[STEP], the step's latest duration.
fm_run() {
    local step=$1 t0
    fm_step_cmd "$@"
    FM_RC=0
    t0=$(fm_now_ms)
    timeout -k 5 "$FM_STEP_TIMEOUT" "${FM_CMD[@]}" >>"$C/$step.out" 2>>"$C/$step.err" || FM_RC=$?
    if [ "$FM_RC" -eq 0 ] && [ "${FM_CALIBRATE:-0}" = 1 ]; then
        DUR[$step]=$(($(fm_now_ms) - t0))
    fi
    echo "$step: exit $FM_RC" >>"$C/log"
}

# fm_point WHAT STEP: a delay in [0, STEP's latest duration], as a seeded
# fraction of it (the same fraction whatever the machine's speed).
fm_point() {
    local f
    f=$(fm_draw "$1" 1000)
    echo $((f * DUR[$2] / 1000))
}

# fm_steps_before STEP: the normal migration up to STEP. Fails if a step fails.
fm_steps_before() {
    local s
    for s in "${STEPS[@]}"; do
        [ "$s" = "$1" ] && return 0
        FM_CALIBRATE=1 fm_run "$s"
        if [ "$FM_RC" -ne 0 ]; then
            FM_NOTE="setup: $s exited $FM_RC: $(head -c 200 "$C/$s.err")"
            return 1
        fi
    done
}

# fm_steps_from STEP: go on with the migration from STEP to Confirm, as an
# orchestrator that sees success; stop at the first step that fails.
fm_steps_from() {
    local s go=0
    FM_MAXVMS=$(fm_count_qemu)
    for s in "${STEPS[@]}"; do
        [ "$s" = "$1" ] && go=1
        [ "$go" = 1 ] || continue
        fm_run "$s"
        local n
        n=$(fm_count_qemu)
        [ "$n" -gt "$FM_MAXVMS" ] && FM_MAXVMS=$n
        if [ "$FM_RC" -ne 0 ]; then
            FM_NOTE+="then $s exited $FM_RC; "
            return 1
        fi
    done
}

# fm_inject STEP ACTION DELAY_MS: run STEP and, DELAY_MS after it started,
# call ACTION (a function). FM_RC: the step's exit status (137: killed).
fm_inject() {
    local step=$1 action=$2 delay=$3 t0
    fm_step_cmd "$step"
    t0=$(fm_now_ms)
    # ip netns exec execs the helper: $! is the helper itself.
    "${FM_CMD[@]}" >>"$C/$step.out" 2>>"$C/$step.err" &
    FM_PID=$!
    fm_sleep_ms "$delay"
    FM_AT="+${delay}ms"
    fm_alive "$FM_PID" || FM_AT+="(step over)"
    "$action"
    local waited=0
    while fm_alive "$FM_PID"; do
        sleep 0.1
        waited=$((waited + 1))
        if [ "$waited" -ge $((FM_STEP_TIMEOUT * 10)) ]; then
            kill -KILL "$FM_PID" 2>/dev/null || true
            FM_NOTE+="$step hung, killed after ${FM_STEP_TIMEOUT}s; "
            break
        fi
    done
    FM_RC=0
    # (braces: no "Killed" line from the shell)
    { wait "$FM_PID"; } 2>/dev/null || FM_RC=$?
    FM_STEP_MS=$(($(fm_now_ms) - t0))
    echo "$step: $action at $FM_AT: exit $FM_RC after ${FM_STEP_MS}ms" >>"$C/log"
}

fm_kill_helper() {
    kill -KILL "$FM_PID" 2>/dev/null || true
}

fm_kill_src() {
    fm_alive "$FM_SRC_PID" || FM_AT+="(source VM already gone)"
    kill -KILL "$FM_SRC_PID" 2>/dev/null || true
}

fm_kill_dst() {
    local pids i
    # Prepare starts the destination VM: wait for it if it is not there yet.
    for i in $(seq 100); do
        pids=$(fm_qemu_pids dst)
        [ -n "$pids" ] && break
        fm_alive "$FM_PID" || break
        sleep 0.05
        [ "$i" = 1 ] && FM_AT+="(waited for the VM)"
    done
    if [ -z "$pids" ]; then
        FM_AT+="(no destination VM)"
        return 0
    fi
    local pid
    for pid in $pids; do
        kill -KILL "$pid" 2>/dev/null || true
    done
}

fm_cut_link() {
    [ "$FM_NETNS" = 1 ] && ip -n "$SRC_NS" link set "$VETH_S" down
    return 0
}

fm_restore_link() {
    [ "$FM_NETNS" = 1 ] && ip -n "$SRC_NS" link set "$VETH_S" up
    return 0
}

fm_fill_disk() {
    dd if=/dev/zero of="$S/filler" bs=64k 2>/dev/null || true
    sync -f "$S" 2>/dev/null || true
}

fm_nothing() { :; }

fm_mark() { # time since the case began, in its log
    echo "[$(($(fm_now_ms) - FM_T0))ms] $*" >>"$C/log"
}

# ---- resolution: only what migphase-status prints ---------------------------

# fm_entries SRC_JSON DST_JSON: one line per unfinished migration, the
# source host's (role source) first, then the destination's (role
# destination): host TAB where TAB summary TAB argv (joined with \x1f, empty
# if there is no command).
fm_entries() {
    "$FM_PY" - "$1" "$2" <<'EOF'
import json, sys
for host, path, role in (("src", sys.argv[1], "source"), ("dst", sys.argv[2], "destination")):
    try:
        data = json.load(open(path))
    except Exception as e:
        print("%s\t-\tunparsable status output: %s\t" % (host, e))
        continue
    for e in data:
        if e.get("role") != role:
            continue
        if "error" in e:
            print("%s\t-\t%s journal unreadable: %s\t" % (host, e.get("domain"), e["error"]))
            continue
        summary = "%s/%s/%s vm=%s: %s" % (role[:3], e["step"], e["phase"], e["vm_state"], e["why"])
        argv = "\x1f".join(e.get("command") or [])
        then = "\x1f".join(e.get("then") or [])
        print("%s\t%s\t%s\t%s\t%s" % (host, e.get("where", "-"), summary, argv, then))
EOF
}

# fm_status HOST FILE: migphase-status --json on HOST; its exit status.
fm_status() {
    local host=$1 file=$2 rc=0
    local -a pfx=("${SRC_PFX[@]}")
    [ "$host" = dst ] && pfx=("${DST_PFX[@]}")
    timeout -k 5 60 "${pfx[@]}" "$MP_HELPERS/migphase-status" --json --state-dir "$S" \
        >"$file" 2>"$file.err" || rc=$?
    return "$rc"
}

# A command for the table: H:helper--flags(cookie)=rc
fm_abbrev() {
    local host=$1 rc=$2
    shift 2
    local s="${host:0:1}:${1#migphase-}" cookie="" prev="" a
    shift
    for a in "$@"; do
        [ "$prev" = --in ] && cookie=$(basename "$a" .xml)
        case $a in
        --state-dir | --in | --driver) ;;
        --*) s+="$a" ;;
        esac
        prev=$a
    done
    echo "$s($cookie)=$rc"
}

# fm_resolve: run what migphase-status on each host prints until nothing is
# pending. FM_RES lists the commands run; returns 1 if it gets stuck.
fm_resolve() {
    fm_mark resolving
    FM_RES=""
    FM_STUCK=""
    local -A tries=()
    local i
    for i in $(seq 12); do
        local src_rc=0 dst_rc=0
        fm_status src "$C/status$i-src.json" || src_rc=$?
        fm_status dst "$C/status$i-dst.json" || dst_rc=$?
        if [ "$src_rc" -eq 0 ] && [ "$dst_rc" -eq 0 ]; then
            [ -n "$FM_RES" ] || FM_RES="-"
            return 0
        fi
        if [ "$src_rc" -gt 1 ] || [ "$dst_rc" -gt 1 ]; then
            FM_STUCK="migphase-status exited $src_rc/$dst_rc: $(cat "$C/status$i-src.json.err")"
            return 1
        fi
        # Candidates: the source host's entries first, then the destination's.
        local -a hosts=() wheres=() summaries=() cmds=() thens=()
        local host where summary cmd next
        while IFS=$'\t' read -r host where summary cmd next; do
            hosts+=("$host")
            wheres+=("$where")
            summaries+=("$summary")
            cmds+=("$cmd")
            thens+=("$next")
        done < <(fm_entries "$C/status$i-src.json" "$C/status$i-dst.json")
        local k chosen=-1
        for k in "${!cmds[@]}"; do
            [ -n "${cmds[$k]}" ] || continue
            local sig="${hosts[$k]} ${cmds[$k]}"
            if [ "${tries[$sig]:-0}" -lt 2 ]; then
                chosen=$k
                tries[$sig]=$((${tries[$sig]:-0} + 1))
                break
            fi
        done
        if [ "$chosen" -lt 0 ]; then
            FM_STUCK="no (untried) command: $(printf '%s; ' "${summaries[@]}")"
            return 1
        fi
        local -a argv
        IFS=$'\x1f' read -r -a argv <<<"${cmds[$chosen]}"
        # The helpers are on the PATH of a real host: here, in the build tree.
        local exe="${argv[0]}"
        [[ $exe == migphase-* ]] && exe="$MP_HELPERS/$exe"
        local run_host=${hosts[$chosen]}
        [ "${wheres[$chosen]}" = "on the destination" ] && run_host=dst
        local -a pfx=("${SRC_PFX[@]}")
        [ "$run_host" = dst ] && pfx=("${DST_PFX[@]}")
        local rc=0
        timeout -k 5 "$FM_STEP_TIMEOUT" "${pfx[@]}" "$exe" "${argv[@]:1}" \
            >"$C/resolve$i.out" 2>"$C/resolve$i.err" || rc=$?
        echo "resolve $i on $run_host (${summaries[$chosen]}): ${argv[*]}: exit $rc:" \
            "$(head -c 300 "$C/resolve$i.err")" >>"$C/log"
        FM_RES+="$(fm_abbrev "$run_host" "$rc" "${argv[@]}") "
        # A two-host resolution: what the destination wrote comes back to the
        # entry's own host ("then run here").
        if [ -n "${thens[$chosen]}" ]; then
            IFS=$'\x1f' read -r -a argv <<<"${thens[$chosen]}"
            exe="${argv[0]}"
            [[ $exe == migphase-* ]] && exe="$MP_HELPERS/$exe"
            run_host=${hosts[$chosen]}
            pfx=("${SRC_PFX[@]}")
            [ "$run_host" = dst ] && pfx=("${DST_PFX[@]}")
            rc=0
            timeout -k 5 "$FM_STEP_TIMEOUT" "${pfx[@]}" "$exe" "${argv[@]:1}" \
                >"$C/resolve$i-then.out" 2>"$C/resolve$i-then.err" || rc=$?
            echo "resolve $i then on $run_host: ${argv[*]}: exit $rc:" \
                "$(head -c 300 "$C/resolve$i-then.err")" >>"$C/log"
            FM_RES+="$(fm_abbrev "$run_host" "$rc" "${argv[@]}") "
        fi
    done
    FM_STUCK="not resolved after 12 commands"
    return 1
}

# ---- checks -----------------------------------------------------------------

# fm_check ALLOWED: where the guest runs (one of ALLOWED), its memory, strays,
# pending, serial continuity. Sets FM_SIDE FM_MEMORY FM_STRAYS FM_PENDING and
# appends reasons to FM_WHY.
fm_check() {
    fm_mark checking
    local allowed=$1 src dst
    read -r src dst < <(fm_states)
    local dst_log="$MP_TMP/$N-dst-serial.log" dst_ran=0
    [ -f "$dst_log" ] && grep -q '^tick ' "$dst_log" && dst_ran=1
    if [ "$src" = running ] && [ "$dst" = running ]; then
        FM_SIDE=BOTH
    elif [ "$src" = running ]; then
        FM_SIDE=source
    elif [ "$dst" = running ]; then
        FM_SIDE=destination
    else
        FM_SIDE=none
    fi
    echo "final: source $src, destination $dst" >>"$C/log"
    if [[ " $allowed " != *" $FM_SIDE "* ]]; then
        FM_WHY+="guest on '$FM_SIDE' (source $src, destination $dst), expected one of: $allowed; "
    fi
    FM_MEMORY=-
    if [ "$FM_SIDE" = source ] || [ "$FM_SIDE" = destination ]; then
        local sock="$MP_TMP/$N-src.qmp" verdict
        [ "$FM_SIDE" = destination ] && sock="$MP_TMP/$N-dst.qmp"
        if verdict=$(mp_verify_memory "$sock" "$FM_MEM" 2>&1); then
            FM_MEMORY=ok
        else
            FM_MEMORY=BAD
            FM_WHY+="memory: $verdict; "
        fi
        echo "memory: $verdict" >>"$C/log"
    fi
    # Serial: a destination that ran carries on from the source; a source
    # that runs at the end means the destination never ran the guest.
    if [ "$FM_SIDE" = destination ]; then
        local _
        for _ in $(seq 100); do
            grep -q '^tick ' "$dst_log" 2>/dev/null && break
            sleep 0.2
        done
        if ! sh "$MP_SERIAL_CHECK" "$MP_TMP/$N-src-serial.log" "$dst_log" >>"$C/log" 2>&1; then
            FM_WHY+="serial: the destination does not carry on from the source; "
            FM_MEMORY+="/serial-BAD"
        fi
    elif [ "$FM_SIDE" = source ] && [ "$dst_ran" = 1 ]; then
        FM_WHY+="split brain: the destination ran the guest, then the source runs it; "
        FM_MEMORY+="/split-brain"
    fi
    local want=1 n ports
    [ "$FM_SIDE" = none ] && want=0
    [ "$FM_SIDE" = BOTH ] && want=2
    n=$(fm_count_qemu)
    ports=$(fm_listeners)
    FM_STRAYS=none
    if [ "$n" -ne "$want" ] || [ -n "$ports" ]; then
        FM_STRAYS=""
        [ "$n" -ne "$want" ] && FM_STRAYS="$n-qemu"
        [ -n "$ports" ] && FM_STRAYS+="${FM_STRAYS:+,}port:${ports// /,}"
        FM_WHY+="left over: $n QEMU processes (expected $want), listening: ${ports:-none}; "
    fi
    local src_rc=0 dst_rc=0
    fm_status src "$C/final-src.json" || src_rc=$?
    fm_status dst "$C/final-dst.json" || dst_rc=$?
    FM_PENDING=no
    if [ "$src_rc" -ne 0 ] || [ "$dst_rc" -ne 0 ]; then
        FM_PENDING=YES
        FM_WHY+="pending: $(fm_entries "$C/final-src.json" "$C/final-dst.json" | cut -f3 | paste -sd';'); "
    fi
}

# ---- cases -------------------------------------------------------------------

declare -A DUR=()
ROWS=()
FAILED=()
DETAILS=()
CASE_N=0

fm_row() { # step fault point exit resolution final memory strays pending verdict
    local row
    row=$(printf '%-3s %-7s %-11s %-24s %-12s %-11s %-6s %-8s %-4s %-7s %s' "$N" "$1" "$2" "$3" "$4" \
        "$6" "$7" "$8" "$9" "${10}" "$5")
    ROWS+=("$row")
    echo "$row"
}

# fm_begin_case STEP FAULT: a fresh guest, a directory and a state dir.
fm_begin_case() {
    CASE_N=$((CASE_N + 1))
    N=$(printf 'c%02d' "$CASE_N")
    C="$MP_TMP/$N"
    S="$C/state"
    mkdir -p "$S"
    FM_NOTE=""
    FM_WHY=""
    FM_RES="-"
    FM_STUCK=""
    FM_SIDE=- FM_MEMORY=- FM_STRAYS=- FM_PENDING=-
    echo "== $N: $1 $2" >"$C/log"
    FM_T0=$(fm_now_ms)
    MP_PREFIX="${SRC_PFX[*]}" mp_start_guest "$N" "$FM_MEM" "$FM_RATE" >/dev/null
    FM_SRC_PID=$(mp_pid "$MP_TMP/$N-src.pid")
    fm_mark booted
}

fm_end_case() { # fm_end_case VERDICT
    fm_mark checked
    local pid
    for pid in $(fm_qemu_pids all); do
        kill -KILL "$pid" 2>/dev/null || true
    done
    local _
    for _ in $(seq 50); do
        [ -z "$(fm_qemu_pids all)" ] && break
        sleep 0.1
    done
    if mountpoint -q "$S" 2>/dev/null; then
        umount "$S" || umount -l "$S" || true
    fi
    if [ "$1" = FAIL ]; then
        FAILED+=("$N")
        DETAILS+=("$N: ${FM_WHY}${FM_STUCK:+ stuck: $FM_STUCK}${FM_NOTE:+ note: $FM_NOTE}
    log: $C/log")
    elif [ "${MIGPHASE_MATRIX_KEEP:-0}" != 1 ]; then
        rm -rf "$C" "$MP_TMP/$N"-*
    fi
}

fm_verdict() {
    if [ -n "$FM_WHY" ] || [ -n "$FM_STUCK" ]; then
        echo FAIL
    else
        echo ok
    fi
}

fm_exit_label() {
    if [ "$1" -eq 137 ]; then echo KILLED; else echo "$1"; fi
}

# Calibration, which is also the fault-free baseline: each step's duration.
fm_baseline() {
    fm_begin_case all baseline
    local s
    for s in "${STEPS[@]}"; do
        FM_CALIBRATE=1 fm_run "$s"
        [ "$FM_RC" -eq 0 ] || FM_WHY+="$s exited $FM_RC: $(head -c 200 "$C/$s.err"); "
    done
    if [ -z "$FM_WHY" ]; then
        fm_resolve || true
        fm_check destination
    fi
    local v
    v=$(fm_verdict)
    fm_row all baseline - 0 "$FM_RES" "$FM_SIDE" "$FM_MEMORY" "$FM_STRAYS" "$FM_PENDING" "$v"
    echo "   step durations (ms): begin ${DUR[begin]} prepare ${DUR[prepare]} perform ${DUR[perform]}" \
        "finish ${DUR[finish]} confirm ${DUR[confirm]}"
    fm_end_case "$v"
    [ "$v" = ok ] || mp_fail "the fault-free migration failed: ${DETAILS[*]}"
}

# The sides the guest may end on after FAULT in STEP.
fm_allowed() {
    local fault=$1 step=$2
    case $fault:$step in
    kill-rerun:*) echo destination ;;
    kill-src:begin | kill-src:prepare) echo none ;;
    kill-src:perform) echo "none destination" ;;
    kill-src:*) echo destination ;;
    kill-dst:prepare | kill-dst:perform) echo source ;;
    kill-dst:finish) # the only copy is gone if Finish had resumed the destination
        if grep -q 'result="success"' "$C/finish.xml" 2>/dev/null ||
            grep -q '^tick ' "$MP_TMP/$N-dst-serial.log" 2>/dev/null; then
            echo none
        else
            echo source
        fi
        ;;
    kill-dst:confirm) echo none ;;
    netcut:perform) echo source ;;
    netcut:*) echo destination ;;
    *) echo "source destination" ;;
    esac
}

# A fault in a step, then recovery by migphase-status alone.
fm_fault_case() { # STEP FAULT ACTION DELAY_MS POINT_LABEL
    local step=$1 fault=$2 action=$3 delay=$4 label=$5
    fm_begin_case "$step" "$fault"
    local rc=- allowed
    if fm_steps_before "$step"; then
        if [ "$fault" = disk-full ] && [ "$action" = fm_nothing ]; then
            fm_fill_disk
        fi
        fm_inject "$step" "$action" "$delay"
        rc=$(fm_exit_label "$FM_RC")
        label="${label}${FM_AT#"+${delay}ms"}"
        case $fault in
        kill-helper) ;;
        netcut)
            # A human brings the link back before anything else.
            fm_restore_link
            if [ "$step" = perform ]; then
                [ "$FM_RC" -eq 1 ] || [ "$FM_RC" -eq 3 ] ||
                    FM_WHY+="Perform with the link cut exited $FM_RC, expected 1 or 3; "
                [ "$FM_STEP_MS" -lt $((FM_STALL_MS + 15000)) ] ||
                    FM_WHY+="Perform took ${FM_STEP_MS}ms with the link cut (stall timeout ${FM_STALL_MS}ms); "
                label+="(${FM_STEP_MS}ms)"
            elif [ "$FM_RC" -ne 0 ]; then
                FM_WHY+="$step exited $FM_RC with the link cut, though it does not use the link; "
            fi
            ;;
        disk-full)
            case $FM_RC in
            1 | 2 | 3) ;;
            *) FM_WHY+="$step exited $FM_RC with its state directory full, expected 1, 2 or 3; " ;;
            esac
            echo "disk-full: $(head -c 300 "$C/$step.err")" >>"$C/log"
            rm -f "$S/filler"
            ;;
        esac
        allowed=$(fm_allowed "$fault" "$step")
        fm_exit3_check "$step"
        fm_resolve || FM_WHY+="recovery stuck: $FM_STUCK; "
        fm_check "$allowed"
    else
        FM_WHY+="$FM_NOTE; "
        FM_SIDE=- FM_MEMORY=- FM_STRAYS=- FM_PENDING=-
    fi
    local v
    v=$(fm_verdict)
    fm_row "$step" "$fault" "$label" "$rc" "$FM_RES" "$FM_SIDE" "$FM_MEMORY" "$FM_STRAYS" "$FM_PENDING" "$v"
    fm_end_case "$v"
}

# Kill the helper of STEP where it enters FUNCTION (gdb breakpoint): points
# between a side effect and the journal record of it, which random points
# rarely hit.
fm_gdb_case() { # STEP FUNCTION WHY
    local step=$1 fn=$2 rc=- label
    label="at $fn"
    fm_begin_case "$step" kill-at
    if fm_steps_before "$step"; then
        fm_step_cmd "$step"
        local -a pfx=("${SRC_PFX[@]}")
        [ "$step" = prepare ] || [ "$step" = finish ] && pfx=("${DST_PFX[@]}")
        local -a helper=("${FM_CMD[@]:${#pfx[@]}}")
        rc=0
        timeout -k 5 "$FM_STEP_TIMEOUT" "${pfx[@]}" gdb -q -batch -ex 'set breakpoint pending on' \
            -ex "break $fn" -ex run -ex kill --args "${helper[@]}" >"$C/gdb.log" 2>&1 || rc=$?
        if grep -q "^Breakpoint 1, $fn" "$C/gdb.log"; then
            rc=KILLED
        else
            rc="$rc(no-hit)"
            FM_WHY+="the helper never reached $fn: the test needs updating; "
        fi
        echo "$step: killed at $fn ($3): $rc" >>"$C/log"
        fm_resolve || FM_WHY+="recovery stuck: $FM_STUCK; "
        fm_check "$(fm_allowed kill-at "$step")"
    else
        FM_WHY+="$FM_NOTE; "
    fi
    local v
    v=$(fm_verdict)
    fm_row "$step" kill-at "$label" "$rc" "$FM_RES" "$FM_SIDE" "$FM_MEMORY" "$FM_STRAYS" "$FM_PENDING" "$v"
    fm_end_case "$v"
}

# Exit status 3 says "migphase-status says what to run": it must list something.
fm_exit3_check() {
    [ "$FM_RC" -eq 3 ] || return 0
    if fm_status src "$C/after-exit3.json" && fm_status dst "$C/after-exit3-dst.json"; then
        FM_WHY+="$1 exited 3 (state left behind) but migphase-status shows nothing pending; "
    fi
}

# Kill the helper, re-run the step with the same input, go on to the end.
fm_rerun_case() { # STEP DELAY_MS
    local step=$1 delay=$2 rc=- label="+${2}ms"
    fm_begin_case "$step" kill-rerun
    if fm_steps_before "$step"; then
        fm_inject "$step" fm_kill_helper "$delay"
        rc="$(fm_exit_label "$FM_RC")"
        label="${label}${FM_AT#"+${delay}ms"}"
        fm_steps_from "$step" || true
        rc+=",rerun:$(fm_exit_label "$FM_RC")"
        [ "$FM_RC" -eq 0 ] || FM_WHY+="re-running $step or a later step failed: $FM_NOTE; "
        [ "$FM_MAXVMS" -le 2 ] || FM_WHY+="$FM_MAXVMS QEMU processes at once after the re-run; "
        fm_resolve || FM_WHY+="recovery stuck: $FM_STUCK; "
        fm_check "$(fm_allowed kill-rerun "$step")"
    else
        FM_WHY+="$FM_NOTE; "
        FM_SIDE=- FM_MEMORY=- FM_STRAYS=- FM_PENDING=-
    fi
    local v
    v=$(fm_verdict)
    fm_row "$step" kill-rerun "$label" "$rc" "$FM_RES" "$FM_SIDE" "$FM_MEMORY" "$FM_STRAYS" "$FM_PENDING" "$v"
    fm_end_case "$v"
}

# What a tampered input may change: the journal, the case's QEMU processes,
# the VMs' run states, the step's output cookie.
fm_snapshot() {
    (
        cd "$S" && find . -path ./filler -prune -o -printf '%p %y\n' | sort
        find . -type f ! -name lock ! -name filler -exec md5sum {} + | sort
    )
    fm_qemu_pids all | sort
    fm_states
}

fm_tamper() { # fm_tamper VARIANT IN OUT STEP: prints what was changed
    "$FM_PY" - "$1" "$2" "$3" "$(fm_draw "$4/flip" 1000000)" "$FM_SEED/$4" <<'EOF'
import re, sys, uuid
mode, src, dst, draw, seed = sys.argv[1:6]
data = bytearray(open(src, "rb").read())
if mode == "trunc":
    data = data[: len(data) // 2]
    what = "cut to %d bytes" % len(data)
elif mode == "flip":
    # A letter or digit of content (attribute values, text): damage to the
    # markup itself is what "trunc" tests.
    spots = []
    for m in re.finditer(rb'="([^"]*)"|>([^<]+)<', bytes(data)):
        g = 1 if m.group(1) is not None else 2
        spots += [i for i in range(m.start(g), m.end(g)) if chr(data[i]).isalnum()]
    off = spots[int(draw) % len(spots)]
    before = bytes(data[max(0, off - 12): off + 8]).decode("utf-8", "replace")
    data[off] ^= 0x01
    what = "byte %d %r -> %r in %r" % (off, chr(data[off] ^ 1), chr(data[off]), before)
elif mode == "id":
    new = str(uuid.uuid5(uuid.NAMESPACE_OID, seed)).encode()
    data, n = re.subn(rb'(<migration id=")[^"]*', lambda m: m.group(1) + new, bytes(data), count=1)
    what = "id -> %s" % new.decode()
else:
    data, n = re.subn(rb'(<domain name=")([^"]*)', lambda m: m.group(1) + m.group(2) + b"x", bytes(data), count=1)
    what = "domain name + 'x'"
open(dst, "wb").write(data)
print(what)
EOF
}

# A tampered cookie (VARIANT) to STEP: exit 2, nothing touched; then the
# migration goes on with the good cookie, and whatever is left is resolved.
fm_tamper_case() { # STEP VARIANT
    local step=$1 variant=$2 in rc=- what=""
    case $step in
    prepare) in=begin ;;
    perform) in=prepare ;;
    finish) in=perform ;;
    confirm) in=finish ;;
    esac
    fm_begin_case "$step" "tamper-$variant"
    if fm_steps_before "$step"; then
        cp "$C/$in.xml" "$C/good.xml"
        local before after
        what=$(fm_tamper "$variant" "$C/good.xml" "$C/$in.xml" "$step")
        before=$(fm_snapshot)
        rc=0
        fm_step_cmd "$step"
        # Same command line, but the output cookie goes aside.
        local -a cmd=("${FM_CMD[@]}")
        local k
        for k in "${!cmd[@]}"; do
            [ "${cmd[$k]}" = "$C/$step.xml" ] && cmd[k]="$C/tampered-out.xml"
        done
        timeout -k 5 "$FM_STEP_TIMEOUT" "${cmd[@]}" >>"$C/$step.out" 2>"$C/tamper.err" || rc=$?
        after=$(fm_snapshot)
        local touched=""
        [ "$before" = "$after" ] || touched=",touched"
        [ -s "$C/tampered-out.xml" ] && touched+=",cookie-out"
        echo "tamper $variant ($what): exit $rc$touched: $(head -c 300 "$C/tamper.err")" >>"$C/log"
        [ -z "$touched" ] || diff <(echo "$before") <(echo "$after") >>"$C/log" || true
        # Every cookie is signed: whatever was changed, the signature no
        # longer matches, and the step refuses it with nothing touched.
        [ "$rc" -eq 2 ] || FM_WHY+="$variant ($what): exit $rc, expected 2: $(head -c 200 "$C/tamper.err"); "
        [ -z "$touched" ] || FM_WHY+="$variant ($what) touched: ${touched#,}; "
        grep -q "signature\|signer\|not signed" "$C/tamper.err" ||
            FM_WHY+="$variant ($what): refused for another reason than its signature: $(head -c 200 "$C/tamper.err"); "
        rc+=$touched
        cp "$C/good.xml" "$C/$in.xml"
        FM_NOTE=""
        fm_steps_from "$step" || true
        fm_resolve || FM_WHY+="recovery stuck: $FM_STUCK; "
        fm_check "$(fm_allowed tamper "$step")"
    else
        FM_WHY+="$FM_NOTE; "
    fi
    local v
    v=$(fm_verdict)
    fm_row "$step" "tamper" "$variant" "$rc" "$FM_RES" "$FM_SIDE" "$FM_MEMORY" "$FM_STRAYS" "$FM_PENDING" "$v"
    fm_end_case "$v"
}

# The disk-full cases get a 2 MiB tmpfs as their state dir.
fm_disk_case() { # STEP ACTION DELAY_MS POINT_LABEL
    local dir
    dir="$MP_TMP/$(printf 'c%02d' $((CASE_N + 1)))/state"
    mkdir -p "$dir"
    mount -t tmpfs -o size=2m,mode=0755 "fmstate$$" "$dir"
    FM_MOUNTS+=("$dir")
    fm_fault_case "$1" disk-full "$2" "$3" "$4"
}

fm_skip_row() { # STEP FAULT WHY
    N=--
    fm_row "$1" "$2" - - - - - - - SKIP
    echo "SKIP: $1:$2: $3"
}

# ---- the matrix ---------------------------------------------------------------

started=$(date +%s)
printf '%-3s %-7s %-11s %-24s %-12s %-11s %-6s %-8s %-4s %-7s %s\n' case step fault point exit \
    final memory strays pend verdict "recovery (H:helper--flags(cookie)=exit)"
fm_baseline

for step in "${STEPS[@]}"; do
    if fm_selected "$step:kill-helper"; then
        for k in $(seq "$FM_POINTS"); do
            d=$(fm_point "$step/kill/$k" "$step")
            fm_fault_case "$step" kill-helper fm_kill_helper "$d" "+${d}ms"
        done
    fi
    if fm_selected "$step:kill-rerun"; then
        fm_rerun_case "$step" "$(fm_point "$step/rerun" "$step")"
    fi
    if [ "$step" = prepare ] && fm_selected "$step:kill-at"; then
        if command -v gdb >/dev/null; then
            fm_gdb_case prepare qemu_record_process "QEMU started, its pid not yet in the journal"
        else
            fm_skip_row prepare kill-at "gdb is not installed"
        fi
    fi
    if fm_selected "$step:kill-src"; then
        d=$(fm_point "$step/src" "$step")
        fm_fault_case "$step" kill-src fm_kill_src "$d" "+${d}ms"
    fi
    if fm_selected "$step:kill-dst"; then
        if [ "$step" = begin ]; then
            N=--
            fm_row begin kill-dst - - - - - - - n/a
            echo "   (no destination QEMU exists during Begin)"
        else
            d=$(fm_point "$step/dst" "$step")
            fm_fault_case "$step" kill-dst fm_kill_dst "$d" "+${d}ms"
        fi
    fi
    if fm_selected "$step:netcut"; then
        if [ "$FM_NETNS" != 1 ]; then
            fm_skip_row "$step" netcut "needs root and network namespaces"
        elif [ "$step" = perform ]; then
            # Somewhere in the first half of the stream.
            d=$(($(fm_point "$step/cut" "$step") / 2))
            fm_fault_case "$step" netcut fm_cut_link "$d" "+${d}ms"
        else
            N=--
            fm_row "$step" netcut - - - - - - - n/a
            echo "   (the hosts exchange nothing but the stream, and only Perform streams)"
        fi
    fi
    if fm_selected "$step:disk-full"; then
        if [ "$FM_NETNS" != 1 ] || ! command -v mountpoint >/dev/null; then
            fm_skip_row "$step" disk-full "needs root to mount a tmpfs"
        else
            fm_disk_case "$step" fm_nothing 0 full
            if [ "$step" = perform ]; then
                d=$(fm_point "$step/fill" "$step")
                fm_disk_case "$step" fm_fill_disk "$d" "fills+${d}ms"
            fi
        fi
    fi
    if fm_selected "$step:tamper"; then
        if [ "$step" = begin ]; then
            N=--
            fm_row begin tamper - - - - - - - n/a
            echo "   (Begin reads no cookie)"
        else
            for variant in trunc flip id domain; do
                fm_tamper_case "$step" "$variant"
            done
        fi
    fi
done

elapsed=$(($(date +%s) - started))
echo
echo "== fault matrix: ${#ROWS[@]} rows, $CASE_N cases run in ${elapsed}s, ${#FAILED[@]} failed (seed $FM_SEED)"
printf '%-3s %-7s %-11s %-24s %-12s %-11s %-6s %-8s %-4s %-7s %s\n' case step fault point exit \
    final memory strays pend verdict "recovery (H:helper--flags(cookie)=exit)"
printf '%s\n' "${ROWS[@]}"
if [ "${#FAILED[@]}" -gt 0 ]; then
    echo
    echo "== ${#FAILED[@]} failed cases (files kept under $MP_TMP):"
    printf '%s\n' "${DETAILS[@]}"
    exit 1
fi
echo "PASS: every fault resolved by migphase-status alone"
