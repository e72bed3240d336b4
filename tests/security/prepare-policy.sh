#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The destination decides what it runs: the source's command line, in a
# validly signed Begin cookie, is a request. Prepare refuses (exit 2, one
# line naming the argument and the rule) a command line that runs a program
# other than one of its own emulators (/bin/sh, an emulator copied outside
# the allowed ones), hides an option behind a value-less one (every
# value-less option of the table, each spelling), or points a chardev, a
# disk, the kernel or a memory backend outside allowed-paths (directly,
# after --rewrite, or through a symbolic link), or uses -add-fd, -plugin or
# a tap script. Each time: no QEMU process starts, the victim files keep
# their bytes and mtime, no file appears, and the destination's journal is
# as it was. The command lines come from a real source QEMU (Begin's
# cookie) where QEMU accepts them, and are hand-made and signed otherwise.
# shellcheck source=tests/security/lib.sh disable=SC2154
. "$top_srcdir/tests/security/lib.sh"
mp_require_qemu
mp_require_root
mp_init

H="$MP_HELPERS"
qemu=$(readlink -f "$(command -v qemu-system-x86_64)")
qemu_dir=$(dirname "$qemu")
src="$MP_TMP/src"         # the source VM's files
allowed="$MP_TMP/allowed" # the destination's allowed-paths
outside="$MP_TMP/outside" # victims, outside it
bin="$MP_TMP/bin"         # an emulator the destination does not allow
MP_STATE="$MP_TMP/dst-state"
install -d -m 0755 "$src" "$allowed" "$outside" "$bin" "$MP_STATE"
cp "$MP_GUEST" "$src/guest.elf"
cp "$MP_GUEST" "$allowed/guest.elf"
cp "$qemu" "$bin/qemu-system-x86_64"
: >"$src/disk.img"
for v in chardev disk kernel mem smug; do
    printf 'precious %s\n' "$v" >"$outside/victim-$v"
    touch -d '2020-01-02 03:04:05' "$outside/victim-$v"
done
ln -s "$outside/victim-disk" "$allowed/link-disk"

# The source allows the copied emulator, so that Begin describes its VM;
# the destination allows only the distribution's.
src_conf="$MP_TMP/src.conf"
printf 'emulators = %s/qemu-system-* %s/qemu-system-*\nvm-users = root\n' "$qemu_dir" "$bin" \
    >"$src_conf"
printf 'emulators = %s/qemu-system-*\nallowed-paths = %s\nlisten = 127.0.0.1\nvm-users = root\n' \
    "$qemu_dir" "$allowed" >"$MP_TMP/dst.conf"
chmod 0644 "$src_conf" "$MP_TMP/dst.conf"
export MIGPHASE_CONFIG="$MP_TMP/dst.conf"

# begin NAME: Begin's cookie of the VM behind $MP_TMP/NAME.qmp. --unsafe: the
# disk is local and not copied, which Begin refuses otherwise; what is tested
# here is what the destination runs, not whether the disk travels.
begin() {
    MIGPHASE_CONFIG="$src_conf" "$H/migphase-begin" --state-dir "$MP_TMP/src-state" \
        --qmp "$MP_TMP/$1.qmp" --unsafe --out "$MP_TMP/$1.xml" || mp_fail "Begin of $1 failed"
}

# One source VM for every attack QEMU itself accepts: the test guest with a
# file chardev behind a value-less option, a disk and a file memory backend.
ram_k=$(((16 + 32) * 1024 + 128))
"$qemu" -accel tcg -m "${ram_k}k" -name pol -kernel "$src/guest.elf" -append "mem=16 rate=4" \
    -display none -nodefaults -no-user-config \
    -object "memory-backend-file,id=ram0,size=${ram_k}K,mem-path=$src/mem" \
    -machine memory-backend=ram0 \
    -qmp "unix:$MP_TMP/pol.qmp,server=on,wait=off" -serial "file:$src/serial.log" \
    -chardev "file,id=ch0,path=$src/chardev.log" \
    -drive "file=$src/disk.img,format=raw,if=none,id=d0" \
    -singlestep -chardev "file,id=smug,path=$src/smug.log" \
    -daemonize -pidfile "$MP_TMP/pol.pid"
mp_wait_ticks "$src/serial.log" 1 60
begin pol
# And one run from a copy of the emulator (no guest: it only needs describing).
# A copy looks for its modules and firmware next to itself: point it at the
# originals.
bios=$(find /usr/share -name bios-256k.bin -print -quit 2>/dev/null)
[ -n "$bios" ] || mp_skip "no bios-256k.bin"
moddir=$(dirname "$(find /usr/lib /usr/lib64 -name 'accel-tcg-x86_64.so' -print -quit 2>/dev/null)")
QEMU_MODULE_DIR=$moddir "$bin/qemu-system-x86_64" -accel tcg -m 16 -name copy -L "$(dirname "$qemu_dir")/share/qemu" -bios "$bios" -display none -nodefaults -no-user-config \
    -qmp "unix:$MP_TMP/copy.qmp,server=on,wait=off" -daemonize -pidfile "$MP_TMP/copy.pid"
begin copy
grep -qF "<arg>$bin/qemu-system-x86_64</arg>" "$MP_TMP/copy.xml" ||
    mp_fail "Begin does not describe the copied emulator as $bin/qemu-system-x86_64"

# handmade NAME FIRST ARG...: pol's cookie with its program replaced by
# FIRST (or kept, for "") and ARGs added at the end, signed again.
handmade() {
    local name=$1 first=$2 add="" a
    shift 2
    for a in "$@"; do
        add+="    <arg>$a</arg>"$'\n'
    done
    ADD="$add" FIRST="$first" awk '
        /<arg>/ && !seen++ && ENVIRON["FIRST"] != "" { print "    <arg>" ENVIRON["FIRST"] "</arg>"; next }
        /<\/description>/ { printf "%s", ENVIRON["ADD"] }
        { print }' "$MP_TMP/pol.xml" | sed '$d' >"$MP_TMP/$name.xml"
    mp_sign "$MP_TMP/$name.xml"
}

# What must not change: the victims (bytes, mtime), the files of the
# allowed and outside directories, the destination's journal (its files:
# taking the lock, which makes the lock file and its directory, is not a
# change; tests/security/lib.sh).
snapshot() {
    find "$outside" "$allowed" -printf '%p %y %s %T@ %m\n' | sort
    md5sum "$outside"/victim-*
    sec_journal
}
vms() {
    pgrep -fc -- "qemu-system-x86_64.*$MP_TMP" || true
}
before=$(snapshot)
vms_before=$(vms)
[ "$vms_before" -eq 2 ] || mp_fail "$vms_before source VMs, expected 2"

# attack WHAT TEXT COOKIE [REWRITE...]: Prepare refuses COOKIE (with the
# REWRITEs, then the source's files mapped to the allowed directory) saying
# TEXT, and nothing changes.
attack() {
    local what=$1 text=$2 cookie=$3 rw=() r
    shift 3
    for r in "$@" "$src/=$allowed/"; do
        rw+=(--rewrite "$r")
    done
    sec_refused "$what" "$text" "$H/migphase-prepare" --state-dir "$MP_STATE" \
        --qmp "$MP_TMP/dst.qmp" --in "$MP_TMP/$cookie.xml" --out "$MP_TMP/$SEC_OUT_NAME" "${rw[@]}"
    [ "$(vms)" = "$vms_before" ] || mp_fail "$what: a QEMU process was started"
    [ ! -e "$MP_TMP/dst.qmp" ] || mp_fail "$what: the destination's QMP socket was made"
    [ "$(snapshot)" = "$before" ] || mp_fail "$what: files changed: $(diff <(echo "$before") \
        <(snapshot) | grep '^[<>]' | head -n 5 | tr '\n' ' ')"
}

not_allowed="is not under an allowed directory (allowed-paths = $allowed)"
echo "== from the real source VM"
attack "chardev outside" "refusing -chardev file,id=ch0,path=$outside/victim-chardev: $outside/victim-chardev $not_allowed" \
    pol "$src/chardev.log=$outside/victim-chardev"
attack "disk outside" "refusing -drive file=$outside/victim-disk,format=raw,if=none,id=d0: $outside/victim-disk $not_allowed" \
    pol "$src/disk.img=$outside/victim-disk"
attack "disk through a symlink" "$allowed/link-disk (which resolves to $outside/victim-disk) $not_allowed" \
    pol "$src/disk.img=$allowed/link-disk"
attack "kernel outside" "refusing -kernel $outside/victim-kernel: $outside/victim-kernel $not_allowed" \
    pol "$src/guest.elf=$outside/victim-kernel"
attack "memory backend outside" "refusing -object memory-backend-file,id=ram0,size=${ram_k}K,mem-path=$outside/victim-mem: $outside/victim-mem $not_allowed" \
    pol "$src/mem=$outside/victim-mem"
attack "chardev after -singlestep" "refusing -chardev file,id=smug,path=$outside/victim-smug: " \
    pol "$src/smug.log=$outside/victim-smug"
attack "emulator copied outside the allowed ones" "refusing emulator $bin/qemu-system-x86_64" copy

echo "== hand-made"
handmade shell /bin/sh -c "echo pwned >$outside/pwned"
attack "/bin/sh as the program" "refusing emulator /bin/sh" shell
handmade bare qemu-system-x86_64
attack "a bare program name" "refusing emulator qemu-system-x86_64" bare
handmade addfd "" -add-fd fd=3,set=1,opaque=x
attack "-add-fd" "refusing -add-fd fd=3,set=1,opaque=x: " addfd
handmade plugin "" --plugin "$outside/victim-smug"
attack "-plugin" "refusing --plugin $outside/victim-smug: " plugin
handmade script "" -netdev tap,id=n0,ifname=mpx0,script=/bin/x
attack "tap script" "refusing -netdev tap,id=n0,ifname=mpx0,script=/bin/x: script= runs a program" script

# Every value-less option, then a chardev that writes to a victim: read
# right, the chardev is refused by name; an option wrongly taken to have a
# value would swallow "-chardev" and leave its value a stray argument.
echo "== value-less options"
flags=0
dashes=-
while read -r name shape action; do
    [ "$shape" = flag ] || continue
    flags=$((flags + 1))
    dashes=$([ "$dashes" = - ] && echo -- || echo -)
    opt="${dashes#-}$name"
    handmade smuggle "" "$opt" -chardev "file,id=smug2,path=$outside/victim-smug"
    if [ "$action" = refuse ]; then
        attack "$opt then a chardev" "refusing $opt: " smuggle
    else
        attack "$opt then a chardev" "refusing -chardev file,id=smug2,path=$outside/victim-smug: " smuggle
    fi
done < <("$top_builddir/tests/security/qemu-option-table")
[ "$flags" -ge 20 ] || mp_fail "only $flags value-less options in the table"

[ "$(mp_run_state "$MP_TMP/pol.qmp")" = running ] || mp_fail "the source VM does not run any more"
echo "PASS: $((flags + 12)) hostile command lines refused, nothing touched"
