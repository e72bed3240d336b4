#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Whoever answers on a QMP socket gets its "VM" described in a Begin cookie,
# and a destination starts what that cookie says. So Begin looks at the
# process behind the socket (SO_PEERCRED, /proc/PID/exe) and describes only
# one of the host's emulators run as one of its VM users. Refused, each with
# exit 2, one line, no cookie, no journal record, the "VM" as it was:
#   - a fake QMP server (python3, speaking enough QMP) run by nobody;
#   - the same server run by root: root, but not an emulator;
#   - the real test guest run by nobody: an emulator, but not a VM user.
# And the real test guest run by root is described.
# shellcheck source=tests/security/lib.sh disable=SC2154
. "$top_srcdir/tests/security/lib.sh"
mp_require_qemu
mp_require_root
command -v setpriv >/dev/null || mp_skip "setpriv (util-linux) is not installed"
id nobody >/dev/null 2>&1 || mp_skip "there is no user nobody"
# The system's python3: one that nobody may run (a pyenv shim may not be).
py=$(command -v /usr/bin/python3 || command -v python3)
mp_init

H="$MP_HELPERS"
S=(--state-dir "$MP_STATE")
as_nobody=(setpriv --reuid=nobody --regid="$(id -gn nobody)" --clear-groups)
"${as_nobody[@]}" "$py" -c pass || mp_skip "nobody cannot run $py"
nobody_uid=$(id -u nobody)
# nobody's own directory, where it may create its socket. The test's
# directory stays closed to it, but it may pass through.
chmod 0711 "$MP_TMP"
install -d -o nobody -g "$(id -gn nobody)" -m 0755 "$MP_TMP/nobody"

# The fake QEMU: a greeting, qmp_capabilities, and answers to what Begin
# asks, for a running VM named impostor, on a socket anyone may connect to
# (what an impostor wants). stop, cont and quit act on its state, so that
# the test would see if Begin did. Every command goes to LOG.
fake_qmp='
import json, os, socket, sys, threading
path, log = sys.argv[1], sys.argv[2]
state = {"status": "running"}
def set_status(s):
    state["status"] = s
    return {}
answers = {
    "qmp_capabilities": lambda: {},
    "query-status": lambda: {"status": state["status"], "running": state["status"] == "running",
                             "singlestep": False},
    "query-migrate": lambda: {},
    "query-name": lambda: {"name": "impostor"},
    "query-uuid": lambda: {"UUID": "0b2e7c1a-1d7e-4b7e-9e57-3f3a3c1f0d11"},
    "query-kvm": lambda: {"enabled": False, "present": False},
    "query-memory-size-summary": lambda: {"base-memory": 50462720},
    "query-version": lambda: {"qemu": {"major": 7, "minor": 2, "micro": 0}, "package": ""},
    "stop": lambda: set_status("paused"),
    "cont": lambda: set_status("running"),
    "quit": lambda: set_status("shutdown"),
}
greeting = {"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}, "package": ""},
                    "capabilities": []}}
def serve(conn):
    conn.sendall(json.dumps(greeting).encode() + b"\r\n")
    buf, dec = "", json.JSONDecoder()
    while True:
        data = conn.recv(65536)
        if not data:
            return
        buf += data.decode()
        while buf.strip():
            try:
                req, end = dec.raw_decode(buf.lstrip())
            except ValueError:
                break
            buf = buf.lstrip()[end:]
            cmd = req.get("execute")
            with open(log, "a") as f:
                f.write("%s\n" % cmd)
            if cmd in answers:
                reply = {"return": answers[cmd]()}
            else:
                reply = {"error": {"class": "CommandNotFound", "desc": "no %s here" % cmd}}
            if "id" in req:
                reply["id"] = req["id"]
            conn.sendall(json.dumps(reply).encode() + b"\r\n")
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
os.chmod(path, 0o777)
srv.listen(8)
while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
'

# start_fake SOCKET LOG [PREFIX...]: run the fake server, wait for its socket.
# (In a subshell: not a job of this shell, whose end mp_cleanup would report.)
start_fake() {
    local socket=$1 log=$2 _
    shift 2
    ("$@" "$py" -c "$fake_qmp" "$socket" "$log" &)
    for _ in $(seq 100); do
        [ -S "$socket" ] && return 0
        sleep 0.1
    done
    mp_fail "the fake QMP server did not create $socket"
}

# owner_of SOCKET: the uid of the fake server serving SOCKET (named on its
# command line).
owner_of() {
    local pid
    pid=$(pgrep -f -- "$1")
    stat -c %u "/proc/$pid"
}

# The fake answered only questions: Begin asked, and changed nothing.
only_questions() { # LOG WHAT
    [ -s "$1" ] || mp_fail "$2: Begin never spoke to the server"
    ! grep -qvE '^(qmp_capabilities|query-[a-z-]+)$' "$1" ||
        mp_fail "$2: Begin sent $(grep -vE '^(qmp_capabilities|query-)' "$1" | tr '\n' ' ')"
}

# No cookie and no record: the refused Begin leaves the journal empty.
no_record() {
    [ -z "$(find "$MP_STATE" -name record 2>/dev/null)" ] || mp_fail "$1: a journal record was written"
}

echo "== a fake QMP server run by nobody"
fake="$MP_TMP/nobody/impostor.qmp"
start_fake "$fake" "$MP_TMP/nobody/impostor.log" "${as_nobody[@]}"
[ "$(owner_of "$fake")" = "$nobody_uid" ] || mp_fail "the fake server does not run as nobody"
sec_expect_state "$fake" running "the fake server, before"
: >"$MP_TMP/nobody/impostor.log"
sec_refused "Begin, fake QMP run by nobody" "which is not one of the emulators" \
    "$H/migphase-begin" "${S[@]}" --qmp "$fake" --out "$MP_TMP/$SEC_OUT_NAME"
grep -qF "refusing to describe process" "$MP_TMP/err" || mp_fail "not the refusal of the process"
grep -qF "it runs $(readlink -f "$py")," "$MP_TMP/err" || mp_fail "the message does not name $py"
only_questions "$MP_TMP/nobody/impostor.log" "fake run by nobody"
no_record "fake run by nobody"
sec_expect_state "$fake" running "the fake server run by nobody, after Begin"

echo "== the same server run by root: still not an emulator"
fake="$MP_TMP/root-impostor.qmp"
start_fake "$fake" "$MP_TMP/root-impostor.log"
[ "$(owner_of "$fake")" = 0 ] || mp_fail "the fake server does not run as root"
: >"$MP_TMP/root-impostor.log"
sec_refused "Begin, fake QMP run by root" "it runs $(readlink -f "$py"), which is not one of the emulators" \
    "$H/migphase-begin" "${S[@]}" --qmp "$fake" --out "$MP_TMP/$SEC_OUT_NAME"
only_questions "$MP_TMP/root-impostor.log" "fake run by root"
no_record "fake run by root"
sec_expect_state "$fake" running "the fake server run by root, after Begin"

echo "== the real test guest run by nobody: an emulator, but not a VM user"
# As mp_start_guest does, in nobody's directory, under TCG (nobody may not
# open /dev/kvm), its socket then opened to all by nobody (QEMU makes it 0750).
mem=16
n="$MP_TMP/nobody/imp"
"${as_nobody[@]}" qemu-system-x86_64 -accel tcg -m $(((mem + 32) * 1024 + 128))k -name imp \
    -kernel "$MP_GUEST" -append "mem=$mem rate=4" -display none -nodefaults -no-user-config \
    -qmp "unix:$n-src.qmp,server=on,wait=off" -serial "file:$n-src-serial.log" \
    -daemonize -pidfile "$n-src.pid"
mp_wait_ticks "$n-src-serial.log" 1 60
"${as_nobody[@]}" chmod 0777 "$n-src.qmp"
[ "$(stat -c %u "/proc/$(cat "$n-src.pid")")" = "$nobody_uid" ] || mp_fail "QEMU does not run as nobody"
sec_refused "Begin, QEMU run by nobody" "it runs as uid $nobody_uid, not as a user this host allows" \
    "$H/migphase-begin" "${S[@]}" --qmp "$n-src.qmp" --out "$MP_TMP/$SEC_OUT_NAME"
no_record "QEMU run by nobody"
sec_expect_state "$n-src.qmp" running "QEMU run by nobody, after Begin"

echo "== the real test guest run by root is described"
mp_start_guest real $mem 4
rc=0
"$H/migphase-begin" "${S[@]}" --qmp "$MP_TMP/real-src.qmp" --out "$MP_TMP/begin.xml" 2>"$MP_TMP/err" || rc=$?
cat "$MP_TMP/err"
mp_expect_status 0 "$rc" "Begin of the real guest"
grep -qF "<arg>$MP_GUEST</arg>" "$MP_TMP/begin.xml" || mp_fail "the cookie does not describe the guest"
[ -f "$MP_STATE/source/real/record" ] || mp_fail "Begin of the real guest wrote no record"
sec_expect_state "$MP_TMP/real-src.qmp" running "the real guest, after Begin"
echo "PASS: Begin describes the host's emulators run by its VM users, and refuses impostors"
