# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=sh
# Helpers for the test guest's self-tests; sourced, not run. The sourcing script sets
# top_srcdir and top_builddir (`make check` exports them) and `set -eu`.
: "${top_srcdir:?}" "${top_builddir:?}"

qemu=${QEMU:-qemu-system-x86_64}
guest_elf=$top_builddir/tests/guest/migphase-guest.elf
guest_check=$top_builddir/tests/guest/migphase-guest-check
guest_ram=128M
workdir=
guest_pids=
last_guest_pid=

skip()
{
    echo "SKIP: $*"
    exit 77
}

hard_error()
{
    echo "ERROR: $*"
    exit 99
}

fail()
{
    echo "FAIL: $*"
    for log in "$workdir"/*.log "$workdir"/*.err; do
        if [ -s "$log" ]; then
            sed "s|^|$(basename "$log"): |" "$log"
        fi
    done
    exit 1
}

# Kills every QEMU that start_guest started, on every way out of the script.
cleanup()
{
    for pid in $guest_pids; do
        kill "$pid" 2>/dev/null || :
    done
    for pid in $guest_pids; do
        wait "$pid" 2>/dev/null || :
    done
    if [ -n "$workdir" ]; then
        rm -rf "$workdir"
    fi
}

setup()
{
    command -v "$qemu" >/dev/null 2>&1 || skip "$qemu not found"
    command -v python3 >/dev/null 2>&1 || skip "python3 not found (tests/guest/qmp.py needs it)"
    [ -f "$guest_elf" ] || hard_error "$guest_elf is missing: run make first"
    [ -x "$guest_check" ] || hard_error "$guest_check is missing: run make first"
    trap cleanup EXIT
    trap 'exit 1' HUP INT TERM
    # Short: a unix socket path must fit in 108 bytes.
    workdir=$(mktemp -d "${TMPDIR:-/tmp}/mpguest.XXXXXX")
}

# start_guest NAME APPEND [QEMU-OPTION...]: serial to $workdir/NAME.log, QMP on NAME.sock,
# QEMU's own messages to NAME.err. Leaves QEMU's process id in last_guest_pid.
start_guest()
{
    name=$1
    append=$2
    shift 2
    "$qemu" -accel tcg -m "$guest_ram" -kernel "$guest_elf" -append "$append" \
        -display none -nodefaults -no-user-config -serial "file:$workdir/$name.log" \
        -qmp "unix:$workdir/$name.sock,server=on,wait=off" "$@" 2>"$workdir/$name.err" &
    last_guest_pid=$!
    guest_pids="$guest_pids $last_guest_pid"
}

# start_disk_guest NAME APPEND IMAGE FORMAT [QEMU-OPTION...]: start_guest with IMAGE (raw or
# qcow2) as the master drive of the primary IDE channel, where the guest's disk ring writes.
start_disk_guest()
{
    name=$1
    append=$2
    image=$3
    format=$4
    shift 4
    start_guest "$name" "$append" -blockdev "driver=file,filename=$image,node-name=f0" \
        -blockdev "driver=$format,file=f0,node-name=disk0" \
        -device ide-hd,drive=disk0,bus=ide.0,unit=0 "$@"
}

# last_disk_seq NAME: the seq of guest NAME's last complete "disk seq" line, or 0.
last_disk_seq()
{
    sed -n 's/^disk seq \([0-9][0-9]*\)$/\1/p' "$workdir/$1.log" | tail -n 1 | grep . || echo 0
}

# qmp NAME [--get PATH] COMMAND [ARG=VALUE...]
qmp()
{
    name=$1
    shift
    python3 "$top_srcdir/tests/guest/qmp.py" --timeout 20 "$workdir/$name.sock" "$@"
}

# count_lines NAME REGEX: how many serial lines of guest NAME match REGEX.
count_lines()
{
    count=$(grep -c "$2" "$workdir/$1.log" 2>/dev/null) || :
    echo "${count:-0}"
}

# wait_lines NAME REGEX [COUNT]: waits up to 20 s for COUNT (default 1) serial lines of
# guest NAME matching REGEX; fails at once if the guest reports an error.
wait_lines()
{
    tries=0
    while [ "$(count_lines "$1" "$2")" -lt "${3:-1}" ]; do
        if grep -q '^migphase-guest: error' "$workdir/$1.log" 2>/dev/null; then
            fail "$1: the guest reported an error"
        fi
        tries=$((tries + 1))
        [ "$tries" -le 200 ] || fail "$1: no ${3:-1} serial lines matching '$2' after 20 s"
        sleep 0.1
    done
}

# wait_pass NAME PASS: waits up to 20 s for a tick line at pass PASS or later.
wait_pass()
{
    tries=0
    while [ "$(last_tick_field "$1" 2)" -lt "$2" ]; do
        tries=$((tries + 1))
        [ "$tries" -le 200 ] || fail "$1: pass $2 not reached after 20 s"
        sleep 0.1
    done
}

# last_tick_field NAME N: field N (1 = tick, 2 = pass) of guest NAME's last tick line, or 0.
last_tick_field()
{
    sed -n "s/^tick \([0-9][0-9]*\) pass \([0-9][0-9]*\)$/\\$2/p" "$workdir/$1.log" |
        tail -n 1 | grep . || echo 0
}

# banner_field NAME FIELD: FIELD (base, size, boot_id, ...) from the last region line.
banner_field()
{
    sed -n "s/^migphase-guest: region.* $2=\([^ ]*\).*/\1/p" "$workdir/$1.log" | tail -n 1
}

# dump NAME FILE [BOOTED]: saves guest NAME's region to $workdir/FILE (the guest should be
# paused), where guest BOOTED's banner (default NAME's) says it is: a migration destination
# prints none of its own.
dump()
{
    qmp "$1" pmemsave val="$(banner_field "${3:-$1}" base)" \
        size="$(banner_field "${3:-$1}" size)" filename="$workdir/$2" >/dev/null ||
        fail "$1: pmemsave failed"
}

# expect_ok WHAT CHECKER-ARG...: the checker must accept.
expect_ok()
{
    what=$1
    shift
    out=$("$guest_check" "$@") || fail "$what: $out"
    echo "ok: $what: $out"
}

# expect_bad WHAT TEXT CHECKER-ARG...: the checker must reject (status 1) and say TEXT.
expect_bad()
{
    what=$1
    want=$2
    shift 2
    status=0
    out=$("$guest_check" "$@") || status=$?
    [ "$status" -eq 1 ] || fail "$what: checker exit status $status, expected 1: $out"
    case $out in
    *"$want"*) echo "ok: $what: $out" ;;
    *) fail "$what: expected '$want' in: $out" ;;
    esac
}

# verdict_field TEXT NAME: the number after NAME in a checker verdict ("pass", "cursor").
verdict_field()
{
    echo "$1" | sed -n "s/.* $2 \([0-9][0-9]*\).*/\1/p"
}

# flip_byte FILE OFFSET: inverts the byte at OFFSET.
flip_byte()
{
    byte=$(od -An -tu1 -j "$2" -N 1 "$1" | tr -d ' ')
    printf '%b' "\\0$(printf '%o' $((byte ^ 255)))" |
        dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

# copy_bytes FROM TO FROM-OFFSET TO-OFFSET LENGTH: copies bytes of FROM over bytes of TO.
copy_bytes()
{
    dd if="$1" of="$2" bs=1 skip="$3" seek="$4" count="$5" conv=notrunc 2>/dev/null
}
