#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""How long the guest stands still in a live migration: bare QMP, the five
helpers and libvirt, side by side.

    bench/guest-pause.py BUILDDIR [--runs N] [--mem MIB] [--rate MIBPS]
                         [--bandwidth MIBPS] [--downtime-ms N] [--syscalls]
                         [--start-runs N] [--methods bare,helpers,libvirt,tmpfs]

Needs root, QEMU, certtool and, for the third method, libvirtd and virsh
(Debian's libvirt-daemon, libvirt-daemon-driver-qemu, libvirt-clients).

Migrates the project's test guest on this host N times by each of three
methods, alternated run by run so that machine noise falls on all three,
each on a fresh guest, with the same bandwidth and downtime limit:
  - bare QMP, the floor: migration-overhead.py's bare path (a script's
    fewest commands, events instead of polling);
  - the five helpers through `migphase-migrate --local`, with the test
    config and lab PKI of tests/integration/lib.sh (cookies signed), the
    stream in clear text like the other two;
  - libvirt: `virsh migrate --live` between two libvirtd on this machine,
    the second in UTS and mount namespaces of its own
    (tests/hooks/libvirt-lab.sh);
  - and, asked for with --methods, "tmpfs": the helpers again with their
    journal on a tmpfs, where no fsync reaches a disk. Not a setting to
    run with (the journal is what recovery reads after a crash): it shows
    what the journal's durability costs the time outside the stream.

A helpers run far above the others usually met the disk: a commit stalled
for 100 ms or more (Perform's before the stream, in two or three runs of
eleven here). On the machine this was written on, the root file system is
ext4 without a journal, so an fsync writes the file, its inode and its
directory one after another, and single 4 KiB writes of its virtual disk
took up to 35 ms (perf's block:block_rq_issue and block_rq_complete over
nine runs: 5198 requests, median 0.18 ms, 99th percentile 11 ms). The
medians are what to compare; the tmpfs method shows the disk's share.

The downtime limit is 30 ms unless --downtime-ms says otherwise: under
QEMU's default of 300 ms, QEMU's own downtime swings so widely from run to
run that it hides what each method adds to the pause.

For each: the median wall time; QEMU's downtime (query-migrate; libvirt:
the source's STOP event to its MIGRATION "completed" event, beside
domjobinfo --completed's own figure); the guest's pause end to end, from the source
QEMU's STOP event to the destination QEMU's RESUME event, both QMP event
timestamps on this one clock; and the time outside the stream (wall time
minus QEMU's total-time; libvirt: minus the source's MIGRATION events from
"setup" to "completed", on QEMU's clock too; virsh prints libvirt's event
times to the millisecond only). The pause beyond QEMU's downtime is what
each method's orchestration adds to it. Then the helpers' pause piece by
piece and their time outside the stream step by step beside the bare
path's, from the cookies' timing (Perform's lap also in three: the
hand-over of Prepare's cookie, its work before the stream, after it), and
each helper's start (--version):
wall time, CPU time and page faults, beside an empty C program's, compiled
here, and the same program linked with migphase-migrate's libraries, whose
difference is what loading them costs (migphase-migrate runs the helpers of
its own build without that exec: mp_proc_spawn_in_place). With --syscalls,
one more helpers run under `perf trace -s` (Debian's linux-perf) shows each
process's time in system calls by class beside its step's lap.

This is a benchmark, not a test: it asserts nothing.
"""

import datetime
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import siblings  # noqa: E402

overhead = siblings.load("migration-overhead.py")
METHODS = ["bare", "helpers", "libvirt", "tmpfs"]
DEFAULT_METHODS = ["bare", "helpers", "libvirt"]
LAB = os.path.join(SRCDIR, "tests", "hooks", "libvirt-lab.sh")
UUID = {"A": "1b1c6a2e-9d5f-4c3e-8a7b-0f2e4d6c8a11", "B": "2c2d7b3f-0e6a-4d4f-9b8c-1a3f5e7d9b12"}


def ram_kib(mem):
    # Not a multiple of 256 KiB, as start_guest gives it (tests/guest/README.md).
    return (mem + 32) * 1024 + 128


def event_us(event):
    return event["timestamp"]["seconds"] * 1000000 + event["timestamp"]["microseconds"]


# --- bare QMP --------------------------------------------------------------

class Limits:
    """The bandwidth (MiB/s, 0 for none) and downtime limit (ms) of the run."""
    bandwidth = 0
    downtime_ms = 30


class RecordingMonitor(overhead.BareMonitor):
    """The bare path's monitor, which also keeps every event it reads with
    its timestamp and the last query-migrate answer, and sets this bench's
    limits where the bare path sets its own (no bandwidth limit)."""

    seen = []  # (monitor path, event), in the order read
    last_query = {}

    def __init__(self, path):
        self.path = path
        super().__init__(path)

    def read_message(self):
        message = super().read_message()
        if "event" in message:
            RecordingMonitor.seen.append((self.path, message))
        return message

    def execute(self, command, arguments=None):
        if command == "migrate-set-parameters":
            arguments = {"max-bandwidth": (Limits.bandwidth << 20) or 2 ** 63 - 1,
                         "downtime-limit": Limits.downtime_ms}
        result = super().execute(command, arguments)
        if command == "query-migrate":
            RecordingMonitor.last_query = result
        return result


overhead.BareMonitor = RecordingMonitor


def bare_run(tmp, name, qmp):
    RecordingMonitor.seen = []
    total, stream, steps, dst_pid = overhead.bare_path(tmp, qmp, name)
    steps["perform"] -= stream
    stop = [event_us(e) for p, e in RecordingMonitor.seen if p == qmp and e["event"] == "STOP"]
    resume = [event_us(e) for p, e in RecordingMonitor.seen
              if p != qmp and e["event"] == "RESUME"]
    overhead.kill(dst_pid)
    return {"wall": total, "stream": stream,
            "downtime": RecordingMonitor.last_query["downtime"] / 1000.0,
            "passes": RecordingMonitor.last_query["ram"]["dirty-sync-count"],
            "pause": (resume[0] - stop[0]) / 1e6, "steps": steps}


# --- the helpers -----------------------------------------------------------

def cookie_attrs(path, element):
    text = open(path).read()
    match = re.search(r"<%s ([^>]*)/>" % element, text)
    if not match:
        return {}
    return {k: int(v) for k, v in re.findall(r'([a-z-]+)="(\d+)"', match.group(1))}


def helpers_run(build, tmp, name, qmp, wrap=(), journal_on_tmpfs=False):
    state = os.path.join(tmp, "state")
    if journal_on_tmpfs:
        os.mkdir(state, 0o755)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=64m", "migphase-bench",
                        state], check=True)
    try:
        return helpers_migrate(build, tmp, name, qmp, wrap, state)
    finally:
        # Lazily: the destination QEMU, killed a moment ago, may still hold
        # its pidfile there.
        if journal_on_tmpfs:
            subprocess.run(["umount", "--lazy", state], check=True)


def helpers_migrate(build, tmp, name, qmp, wrap, state):
    argv = list(wrap) + [os.path.join(build, "helpers", "migphase-migrate"), "--local", "--qmp", qmp,
            "--dest-qmp", os.path.join(tmp, name + "-dst.qmp"), "--state-dir", state,
            "--rewrite", "%s-serial=%s-dst-serial" % (name, name), "--no-tls",
            "--bandwidth", str(Limits.bandwidth), "--downtime-ms", str(Limits.downtime_ms),
            "--progress", "none"]
    start, start_us = time.monotonic(), time.time_ns() // 1000
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    wall = time.monotonic() - start
    end_us = time.time_ns() // 1000
    src, dst = os.path.join(state, "source", name), os.path.join(state, "destination", name)
    stats = cookie_attrs(os.path.join(dst, "finish-out.xml"), "statistics")
    # --converge auto (the default) may raise the downtime limit: then the
    # limit was not the other methods' any more, and the report says so.
    steered = cookie_attrs(os.path.join(src, "perform-out.xml"), "convergence")
    written = {step: cookie_attrs(os.path.join(side, step + "-out.xml"), "timing")["written-us"]
               for step, side in (("begin", src), ("prepare", dst), ("perform", src),
                                  ("finish", dst))}
    perform = cookie_attrs(os.path.join(src, "perform-out.xml"), "timing")
    finish = cookie_attrs(os.path.join(dst, "finish-out.xml"), "timing")
    # Each step from the previous cookie's writing to its own (the process
    # start and the hand-over included), the bare path's laps' boundaries.
    steps = {"begin": written["begin"] - start_us,
             "prepare": written["prepare"] - written["begin"],
             "perform": written["perform"] - written["prepare"] - stats["total-ms"] * 1000,
             "finish": written["finish"] - written["perform"],
             "confirm": end_us - written["finish"]}
    dst_pid = int(open(os.path.join(dst, "qemu.pid")).read().split()[0])
    overhead.kill(dst_pid)
    if not finish["stop-us"] or not finish["resume-us"]:
        # Perform or Finish did not catch QEMU's event: no pause to measure.
        print("(%s: the cookies lack QEMU's %s time; this run's pause is left out)" %
              (name, "STOP" if not finish["stop-us"] else "RESUME"), flush=True)
        return {"wall": wall, "stream": stats["total-ms"] / 1000.0,
                "downtime": stats["downtime-ms"] / 1000.0, "pause": None,
                "passes": stats["iterations"],
                "escalations": steered.get("escalations", 0),
                "steps": {k: v / 1e6 for k, v in steps.items()}}
    return {"wall": wall, "stream": stats["total-ms"] / 1000.0,
            "downtime": stats["downtime-ms"] / 1000.0,
            "passes": stats["iterations"],
            # Both QEMU's event timestamps, on this host's one clock.
            "pause": (finish["resume-us"] - finish["stop-us"]) / 1e6,
            "escalations": steered.get("escalations", 0),
            # What the Finish cookie says: the clocks' offset estimated.
            "cookie pause": stats["pause-us"] / 1e6,
            "cookie uncertainty": stats["pause-uncertainty-us"] / 1e6,
            # The pause, piece by piece.
            "STOP to Perform's cookie": (perform["written-us"] - perform["stop-us"]) / 1e6,
            "Perform's cookie to Finish's read": (finish["read-us"] - perform["written-us"]) / 1e6,
            "Finish's read to RESUME": (finish["resume-us"] - finish["read-us"]) / 1e6,
            "steps": {k: v / 1e6 for k, v in steps.items()},
            "perform pieces": perform_pieces(written["prepare"], perform, stats)}


def perform_pieces(prepare_written_us, perform, stats):
    """Perform's lap outside the stream in three: Prepare's cookie handed
    over (written to read), Perform's work before the stream (read to the
    source's STOP, less QEMU's time from the stream's start to its STOP:
    total-time minus downtime) and after it (STOP to the cookie written,
    less the downtime)."""
    stream_to_stop_us = (stats["total-ms"] - stats["downtime-ms"]) * 1000
    return {"hand-over": (perform["read-us"] - prepare_written_us) / 1e6,
            "before the stream": (perform["stop-us"] - perform["read-us"] - stream_to_stop_us) / 1e6,
            "after the stream": (perform["written-us"] - perform["stop-us"]
                                 - stats["downtime-ms"] * 1000) / 1e6}


# --- libvirt ---------------------------------------------------------------

def lab(*args):
    """Run a function of tests/hooks/libvirt-lab.sh."""
    return subprocess.run(["bash", "-c", '. "$0"; "$@"', LAB] + list(args), check=True,
                          stdout=subprocess.PIPE, text=True).stdout.strip()


class Libvirt:
    def __init__(self, tmp):
        self.dirs = {d: os.path.join(tmp, "libvirt-" + d) for d in "AB"}
        self.uri = {d: lab("lv_uri", self.dirs[d]) for d in "AB"}
        lab("lv_start_daemon", self.dirs["A"], "", UUID["A"], "", "", "")
        lab("lv_start_daemon", self.dirs["B"], "pause-b", UUID["B"], "", "", "", "--uts")

    def stop(self):
        for d in "AB":
            subprocess.run(["bash", "-c", '. "$0"; lv_stop_daemon "$1"', LAB, self.dirs[d]])

    def virsh(self, d, *args):
        return subprocess.run(["timeout", "120", "virsh", "-q", "-c", self.uri[d]] + list(args),
                              check=True, stdout=subprocess.PIPE, text=True).stdout

    def start_guest(self, tmp, name, build, mem, rate, accel):
        serial = os.path.join(tmp, name + "-serial.log")
        xml = os.path.join(tmp, name + ".xml")
        with open(xml, "w") as f:
            f.write("""<domain type='qemu'>
  <name>%s</name>
  <memory unit='KiB'>%d</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>%s</kernel>
    <cmdline>mem=%d rate=%d</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>%s</emulator>
    <serial type='file'><source path='%s'/></serial>
    <video><model type='none'/></video>
    <memballoon model='none'/>
  </devices>
</domain>
""" % (name, ram_kib(mem), os.path.join(build, "tests/guest/migphase-guest.elf"), mem, rate,
                shutil.which("qemu-system-x86_64"), serial))
        self.virsh("A", "create", xml)
        deadline = time.monotonic() + 120
        while "tick 2 " not in open(serial, errors="replace").read():
            if time.monotonic() > deadline:
                raise RuntimeError("the libvirt guest did not start")
            time.sleep(0.1)

    def run(self, tmp, name, port):
        self.virsh("A", "migrate-setmaxdowntime", name, str(Limits.downtime_ms))
        params = self.virsh("A", "qemu-monitor-command", name,
                            '{"execute":"query-migrate-parameters"}')
        if '"downtime-limit":%d,' % Limits.downtime_ms not in params:
            raise RuntimeError("libvirt did not set the downtime limit: %s" % params)
        listeners = {}
        for d, args in (("A", ["--domain", name]), ("B", [])):
            out = open(os.path.join(tmp, "events-" + d), "w")
            listeners[d] = subprocess.Popen(
                ["virsh", "-c", self.uri[d], "qemu-monitor-event", "--timestamp", "--loop"] + args,
                stdout=out, stderr=subprocess.STDOUT)
        time.sleep(1)  # both listening before the migration starts
        argv = ["virsh", "-c", self.uri["A"], "migrate", "--live", name, self.uri["B"],
                "--migrateuri", "tcp:127.0.0.1:%d" % port]
        if Limits.bandwidth:
            argv += ["--bandwidth", str(Limits.bandwidth)]
        start = time.monotonic()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        wall = time.monotonic() - start
        deadline = time.monotonic() + 10
        while "RESUME" not in open(os.path.join(tmp, "events-B")).read():
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        for p in listeners.values():
            p.terminate()
            p.wait()
        events = {d: parse_virsh_events(os.path.join(tmp, "events-" + d)) for d in "AB"}
        info = self.virsh("B", "domjobinfo", "--completed", name)
        # libvirt's own figure: from the source's pause to the destination's
        # resume as libvirt saw them, not QEMU's downtime.
        libvirt_downtime = float(re.search(r"Total downtime:\s+(\d+)\s+ms", info).group(1)) / 1000
        self.virsh("B", "destroy", name)
        stop = first(events["A"], "STOP")
        resume = first(events["B"], "RESUME")
        setup = first(events["A"], "MIGRATION", '"status":"setup"')
        completed = first(events["A"], "MIGRATION", '"status":"completed"')
        # QEMU's downtime, as QEMU counts it: from stopping the VM to the
        # stream's completion (here with libvirt's pre-switchover wait in it).
        passes = [int(m) for t, n, d in events["A"] if n == "MIGRATION_PASS"
                  for m in re.findall(r'"pass":(\d+)', d)]
        return {"wall": wall, "stream": completed - setup, "downtime": completed - stop,
                "libvirt downtime": libvirt_downtime, "pause": resume - stop,
                "passes": max(passes) if passes else None}


def parse_virsh_events(path):
    """virsh qemu-monitor-event --timestamp: 'DATE TIME.mmm+0000: event NAME
    for domain 'D': DATA' per line, the time QEMU's own (its event's
    timestamp), which virsh prints to the millisecond only."""
    out = []
    for line in open(path):
        m = re.match(r"(\S+ \S+): event (\S+) for domain '[^']*': (.*)", line)
        if m:
            when = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f%z")
            out.append((when.timestamp(), m.group(2), m.group(3).replace(" ", "")))
    return out


def first(events, name, data=None):
    for t, n, d in events:
        if n == name and (data is None or data in d):
            return t
    raise RuntimeError("no %s %s event in %r" % (name, data or "", events))


# --- the helpers' system calls ---------------------------------------------

SYSCALL_CLASSES = [
    ("journal sync", {"fsync", "fdatasync", "sync_file_range", "syncfs"}),
    ("waits (poll, children)", {"poll", "ppoll", "select", "pselect6", "epoll_wait",
                                "epoll_pwait", "wait4", "waitid", "nanosleep",
                                "clock_nanosleep"}),
    ("sockets and pipes", {"read", "write", "sendto", "recvfrom", "sendmsg", "recvmsg",
                           "connect", "socket", "getsockopt", "setsockopt", "pipe2"}),
    ("files and directories", {"openat", "close", "newfstatat", "fstat", "statx", "renameat",
                               "renameat2", "unlinkat", "getdents64", "access", "faccessat2",
                               "readlink", "readlinkat", "fcntl", "lseek", "mkdir", "mkdirat",
                               "flock", "fchown", "fchmod", "chdir", "pread64", "dup2",
                               "fstatfs", "statfs"}),
    ("memory", {"mmap", "munmap", "mprotect", "brk", "madvise", "mremap"}),
    ("processes, signals, privileges", {"clone", "clone3", "execve", "kill", "pidfd_open",
                                        "prctl", "setpgid", "rt_sigaction", "rt_sigprocmask",
                                        "capget", "capset", "setresuid", "setresgid",
                                        "setgroups", "exit_group", "prlimit64"}),
]
# perf shows a process by its name cut to 15 characters.
PROCESS_OF = {"migphase-migrat": "migrate", "migphase-begin": "begin",
              "migphase-prepar": "prepare", "migphase-perfor": "perform",
              "migphase-finish": "finish", "migphase-confir": "confirm"}


def syscall_class(name):
    for cls, names in SYSCALL_CLASSES:
        if name in names:
            return cls
    return "other"


def parse_perf_summary(path):
    """perf trace -s's summary: {process: {class: ms}}, the processes of a
    name summed (Prepare's launch forks a middle child)."""
    out, current = {}, None
    for line in open(path):
        head = re.match(r"^ (\S+) \((\d+)\), \d+ events", line)
        if head:
            current = PROCESS_OF.get(head.group(1))
            continue
        row = re.match(r"^\s+([a-z_0-9]+)\s+(\d+)\s+(\d+)\s+([\d.]+)\s", line)
        if row and current:
            by_class = out.setdefault(current, {})
            cls = syscall_class(row.group(1))
            by_class[cls] = by_class.get(cls, 0.0) + float(row.group(4))
    return out


def syscall_profile(build, root, args):
    """One more helpers run under `perf trace -s`: each process's time in
    system calls, by class. None without perf."""
    if not shutil.which("perf"):
        print("(--syscalls: no perf here; Debian's linux-perf has it)")
        return None
    tmp = tempfile.mkdtemp(prefix="run.", dir=root)
    os.chmod(tmp, 0o770)
    shutil.chown(tmp, group="migphase-qemu")
    summary = os.path.join(root, "perf-trace.txt")
    try:
        qmp = overhead.start_guest(tmp, "syscalls", build, args.mem, args.rate, args.accel)
        r = helpers_run(build, tmp, "syscalls", qmp,
                        wrap=["perf", "trace", "-s", "-o", summary, "--"])
        return r, parse_perf_summary(summary)
    finally:
        subprocess.run(["pkill", "-KILL", "-f", tmp])
        shutil.rmtree(tmp, ignore_errors=True)


def report_syscalls(profile):
    r, by_process = profile
    procs = ["migrate"] + overhead.STEPS
    print("one more helpers run under perf trace -s (slower than the others): each process's "
          "time in system calls by class, ms")
    print("  %-32s" % "class" + "".join("%9s" % p for p in procs))
    classes = [c for c, _ in SYSCALL_CLASSES] + ["other"]
    for cls in classes:
        print("  %-32s" % cls + "".join("%9.1f" % by_process.get(p, {}).get(cls, 0.0)
                                         for p in procs))
    print("  %-32s" % "all" + "".join("%9.1f" % sum(by_process.get(p, {}).values())
                                       for p in procs))
    print("  %-32s" % "that step's lap, outside the stream" + "%9s" % "" +
          "".join("%9.1f" % ms(r["steps"][s]) for s in overhead.STEPS))
    print("  (Perform's waits hold the stream, and Finish's reads its wait for Perform's "
          "cookie; what a lap holds beyond its calls is work in user space and waiting for "
          "a core)")
    print()


def run_laps(result):
    """One run's laps outside the stream: the medians of the report hide
    which step a slow run lost its time in."""
    laps = result.get("steps")
    if not laps:
        return ""
    pieces = result.get("perform pieces")
    detail = {"perform": " (%s)" % " + ".join("%.1f" % ms(v) for v in pieces.values())
              if pieces else ""}
    return "; outside %.1f ms: %s" % (
        ms(sum(laps.values())), ", ".join("%s %.1f%s" % (s, ms(laps[s]), detail.get(s, ""))
                                          for s in overhead.STEPS))


# --- process start ---------------------------------------------------------

BARE_SCRIPT_START = "python3, json, socket"
EMPTY_LINKED = "empty C, linked"
SYSTEM_PYTHON = "/usr/bin/python3"

def linked_libraries(program):
    """The shared libraries program names as NEEDED, by soname."""
    out = subprocess.run(["readelf", "-d", program], check=True, stdout=subprocess.PIPE,
                         text=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^]]+)\]", out)


def empty_programs(build, tmp):
    """An empty C program, and the same linked with migphase-migrate's
    libraries: between the two is what loading those libraries costs each
    helper started on its own (the steps that migphase-migrate forks share
    its loaded copy)."""
    source = os.path.join(tmp, "empty.c")
    with open(source, "w") as f:
        f.write("int main(void) { return 0; }\n")
    empty, linked = os.path.join(tmp, "empty"), os.path.join(tmp, "empty-linked")
    subprocess.run(["cc", "-O2", "-o", empty, source], check=True)
    libs = [l for l in linked_libraries(os.path.join(build, "helpers", "migphase-migrate"))
            if not l.startswith(("libc.so", "ld-linux"))]
    subprocess.run(["cc", "-O2", "-o", linked, source, "-Wl,--no-as-needed"] +
                   ["-l:" + l for l in libs], check=True)
    return {"empty C program": [empty], EMPTY_LINKED: [linked]}


def start_times(build, tmp, n):
    """Each helper with --version, the empty C programs and a bare Python,
    spawned and reaped in turn, n times each: the median wall time, CPU time
    (user and system) and minor page faults of each."""
    progs = empty_programs(build, tmp)
    # Bare QMP runs inside this benchmark's own Python, started once: a bare
    # script of its own would first pay this. The system's Python, isolated
    # (-I): neither a pyenv shim nor a PYTHON* variable of this shell makes
    # it slower than a host's.
    progs[BARE_SCRIPT_START] = [SYSTEM_PYTHON if os.path.exists(SYSTEM_PYTHON)
                                else sys.executable, "-I", "-c", "import json, socket"]
    for step in overhead.STEPS + ["migrate"]:
        progs["migphase-" + step] = [os.path.join(build, "helpers", "migphase-" + step),
                                     "--version"]
    runs = {k: [] for k in progs}
    devnull = os.open(os.devnull, os.O_WRONLY)
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 1)]
    for _ in range(n):
        for k, argv in progs.items():
            start = time.monotonic()
            pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
            _, _, usage = os.wait4(pid, 0)
            runs[k].append((time.monotonic() - start, usage.ru_utime + usage.ru_stime,
                            usage.ru_minflt))
    os.close(devnull)
    return {k: tuple(statistics.median(r[i] for r in v) for i in range(3))
            for k, v in runs.items()}


# --- the report ------------------------------------------------------------

def ms(seconds):
    return seconds * 1000


def median_difference_interval(a, b, resamples=4000):
    """A 95% bootstrap interval, in ms, of median(a) - median(b): how far
    apart the medians of nine runs may fall by chance alone. Seeded, so that
    one run's report is reproducible from its figures."""
    rng = random.Random(15)
    diffs = sorted(statistics.median(rng.choices(a, k=len(a))) -
                   statistics.median(rng.choices(b, k=len(b))) for _ in range(resamples))
    return ms(diffs[int(0.025 * resamples)]), ms(diffs[int(0.975 * resamples) - 1])


def spread(values):
    """Median, and the spread as min-max and interquartile range, in ms, of
    the runs that measured it."""
    values = [v for v in values if v is not None]
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return "%8.1f %8.1f-%-8.1f %7.1f" % (ms(statistics.median(values)), ms(min(values)),
                                         ms(max(values)), ms(q[2] - q[0]))


def report(args, results, starts):
    med = statistics.median
    print()
    print("guest: %d MiB (RAM %d KiB) rewritten at %d MiB/s, accel %s; bandwidth %s, "
          "downtime limit %d ms; %d runs each, alternated" %
          (args.mem, ram_kib(args.mem), args.rate, args.accel,
           "%d MiB/s" % args.bandwidth if args.bandwidth else "unlimited", args.downtime_ms,
           args.runs))
    rows = [("wall time", "wall"), ("QEMU's total-time (stream)", "stream"),
            ("outside the stream", "outside"), ("QEMU's downtime", "downtime"),
            ("guest pause STOP->RESUME", "pause"), ("pause beyond the downtime", "beyond")]
    for r in results.values():
        for run in r:
            run["outside"] = run["wall"] - run["stream"]
            # QEMU's downtime swings with how the guest's writes meet the last
            # pass, by more than the methods differ; what follows it is theirs.
            run["beyond"] = run["pause"] - run["downtime"] if run["pause"] is not None else None
    if results["helpers"]:
        raised = [r for r in results["helpers"] if r["escalations"]]
        print("helpers' runs whose downtime limit --converge auto raised: %d of %d" %
              (len(raised), len(results["helpers"])))
    print()
    print("%-28s %-8s %8s %-17s %7s" % ("ms", "method", "median", "min-max", "IQR"))
    for label, key in rows:
        for m in METHODS:
            if results[m]:
                print("%-28s %-8s %s" % (label, m, spread([r[key] for r in results[m]])))
        print()
    if results["libvirt"]:
        print("%-28s %-8s %s" % ("libvirt's own downtime", "libvirt",
                                 spread([r["libvirt downtime"] for r in results["libvirt"]])))
        print()
    h = results["helpers"]
    unmeasured = [r for r in h if r["pause"] is None]
    if unmeasured:
        print("(%d of %d helper runs left out of the pause: their cookies lack QEMU's "
              "STOP or RESUME time)" % (len(unmeasured), len(h)))
        print()
    h_paused = [r for r in h if r["pause"] is not None]
    if h_paused:
        print("the helpers' pause, piece by piece (median, ms):")
        for key in ("STOP to Perform's cookie", "Perform's cookie to Finish's read",
                    "Finish's read to RESUME"):
            print("  %-36s %s" % (key, spread([r[key] for r in h_paused])))
        print("  %-36s %s" % ("Finish cookie's pause-us",
                              spread([r["cookie pause"] for r in h_paused])))
        print("  %-36s %s" % ("  its pause-uncertainty-us",
                              spread([r["cookie uncertainty"] for r in h_paused])))
        print()
    if results["bare"] and h:
        b = results["bare"]
        t = results["tmpfs"]
        print("time outside the stream by step (median, ms; Perform without the stream):")
        print("  %-10s %8s %8s %8s" % ("step", "helpers", "bare", "added") +
              ("%14s %10s" % ("journal tmpfs", "its fsyncs") if t else ""))
        for step in overhead.STEPS:
            hs = med([r["steps"][step] for r in h])
            bs = med([r["steps"][step] for r in b])
            ts = med([r["steps"][step] for r in t]) if t else None
            print("  %-10s %8.1f %8.1f %+8.1f" % (step, ms(hs), ms(bs), ms(hs - bs)) +
                  ("%14.1f %+10.1f" % (ms(ts), ms(hs - ts)) if t else ""))
        print()
        pieced = [r["perform pieces"] for r in h if r.get("perform pieces")]
        if pieced:
            # A run's Perform lap far above the others' went here: a slow
            # commit before the stream shows as "before the stream".
            print("the helpers' Perform lap, piece by piece (ms; the run laps above add them up):")
            for piece in pieced[0]:
                print("  %-36s %s" % (piece, spread([p[piece] for p in pieced])))
            print()
        def diff(key, runs):
            a, c = [r[key] for r in runs], [r[key] for r in b]
            return med(a) - med(c), median_difference_interval(a, c)
        d_pause, i_pause = diff("pause", h_paused)
        d_beyond, i_beyond = diff("beyond", h_paused)
        d_down, i_down = diff("downtime", h_paused)
        d_out, i_out = diff("outside", h)
        if t:
            outside = [r["outside"] for r in t]
            d_sync = med([r["outside"] for r in h]) - med(outside)
            i_sync = median_difference_interval([r["outside"] for r in h], outside)
            print("the journal's durability (helpers minus tmpfs, outside the stream): "
                  "%+.1f ms (%+.1f .. %+.1f)" % (ms(d_sync), i_sync[0], i_sync[1]))
        print("helpers minus bare, medians, ms (95% bootstrap interval of the difference):")
        for what, d, i in (("guest pause", d_pause, i_pause), ("QEMU's downtime", d_down, i_down),
                           ("pause beyond the downtime", d_beyond, i_beyond),
                           ("outside the stream", d_out, i_out)):
            print("  %-28s %+8.1f  (%+.1f .. %+.1f)" % (what, ms(d), i[0], i[1]))
        print("goal: helpers' pause within 5 ms of bare QMP's (medians): %+.1f ms, %s" %
              (ms(d_pause), "met" if ms(d_pause) <= 5 else "NOT met"))
        if i_pause[1] - i_pause[0] > 10:
            print("      undecided at this many runs: QEMU's downtime alone moves the medians' "
                  "difference over %.0f ms by chance" % (i_pause[1] - i_pause[0]))
        print("      the same beyond QEMU's downtime (which swings by itself): %+.1f ms" %
              ms(d_beyond))
        print("goal: helpers' time outside the stream within 30 ms of bare's: %+.1f ms, %s" %
              (ms(d_out), "met" if ms(d_out) <= 30 else "NOT met"))
        if results["libvirt"]:
            report_libvirt_goals(h, results["libvirt"])
        print()
    if starts:
        report_starts(args, starts)


def report_libvirt_goals(h, lv):
    """The goals against libvirt, each with the 95% bootstrap interval of
    the medians' difference; the pause also beyond QEMU's downtime, which
    swings by itself run to run by more than the helpers add. libvirt's
    downtime there runs from STOP to the stream's completion, its
    pre-switchover wait included: beyond it, libvirt is counted short."""
    def compared(key):
        a = [r[key] for r in h if r[key] is not None]
        c = [r[key] for r in lv if r[key] is not None]
        ha, lc = statistics.median(a), statistics.median(c)
        lo, hi = median_difference_interval(a, c)
        return (ha < lc, "%.1f ms vs %.1f ms" % (ms(ha), ms(lc)),
                "(difference %+.1f, %+.1f .. %+.1f)" % (ms(ha - lc), lo, hi))

    for key, what in (("pause", "pause"), ("outside", "time outside the stream")):
        met, figures, difference = compared(key)
        print("goal: helpers' %s below libvirt's: %s, %s %s" %
              (what, figures, "met" if met else "NOT met", difference))
        if key == "pause":
            _, figures, difference = compared("beyond")
            print("      the same beyond QEMU's downtime: %s %s" % (figures, difference))


def report_starts(args, starts):
    print("process start, spawn to reap, median of %d:" % args.start_runs)
    print("  %-22s %8s %8s %12s" % ("", "wall ms", "CPU ms", "page faults"))
    for k, (wall, cpu, faults) in starts.items():
        print("  %-22s %8.2f %8.2f %12d" % (k, ms(wall), ms(cpu), faults))
    empty, linked = starts["empty C program"], starts[EMPTY_LINKED]
    print("  ('%s' is the empty program linked with migphase-migrate's libraries: loading "
          "them costs %.1f ms and %d page faults more, %.1f us a fault)" %
          (EMPTY_LINKED, ms(linked[0] - empty[0]), linked[2] - empty[2],
           1e6 * (linked[0] - empty[0]) / max(1, linked[2] - empty[2])))
    print("  (bare QMP's laps start inside this benchmark's running Python: run as a script "
          "of its own, it would first pay the %.1f ms of '%s'; the helpers' laps include "
          "migphase-migrate's start)" % (ms(starts[BARE_SCRIPT_START][0]), BARE_SCRIPT_START))


def setup_lab(build):
    """tests/integration/lib.sh's mp_init: a test directory (group
    migphase-qemu), the user, the config and the lab PKI. Returns the
    directory and the environment the helpers need."""
    script = ('. "$top_srcdir/tests/integration/lib.sh"; mp_init; trap - EXIT; '
              'echo "$MP_TMP"; echo "$MIGPHASE_CONFIG"; echo "$MIGPHASE_PKI_DIR"')
    env = dict(os.environ, top_srcdir=SRCDIR, top_builddir=build)
    out = subprocess.run(["bash", "-c", script], env=env, check=True, stdout=subprocess.PIPE,
                         text=True).stdout.split("\n")
    os.environ["MIGPHASE_CONFIG"], os.environ["MIGPHASE_PKI_DIR"] = out[1], out[2]
    os.environ["MIGPHASE_HELPER_DIR"] = os.path.join(build, "helpers")
    return out[0]


def main():
    ap = siblings.guest_arguments(__doc__, runs=9, mem=1024, rate=64)
    ap.add_argument("--bandwidth", type=int, default=0, help="MiB/s, 0 for none")
    # Not QEMU's 300: with it QEMU's downtime alone swung from 12 to 251 ms
    # run to run, and the pauses' medians could not be told apart in 9
    # runs; with 30 it stayed within 5-17 ms, and they could.
    ap.add_argument("--downtime-ms", type=int, default=30)
    ap.add_argument("--start-runs", type=int, default=300,
                    help="spawns of each program whose start is timed, 0 for none")
    ap.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                    help="of %s" % ",".join(METHODS))
    ap.add_argument("--syscalls", action="store_true",
                    help="one more helpers run under perf trace: time in system calls by class")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("guest-pause.py: needs root (the helpers' test user, libvirt's namespaces)")
    build = os.path.abspath(args.build)
    Limits.bandwidth, Limits.downtime_ms = args.bandwidth, args.downtime_ms
    methods = args.methods.split(",")
    root = setup_lab(build)
    libvirt = None
    results = {m: [] for m in METHODS}
    try:
        if "libvirt" in methods:
            libvirt = Libvirt(root)
        port = 49300
        for run in range(args.runs):
            order = methods[run % len(methods):] + methods[:run % len(methods)]
            for method in order:
                tmp = tempfile.mkdtemp(prefix="run.", dir=root)
                os.chmod(tmp, 0o770)
                shutil.chown(tmp, group="migphase-qemu")
                name = "pause%d%s" % (run, method[0])
                port += 1
                try:
                    if method == "libvirt":
                        libvirt.start_guest(tmp, name, build, args.mem, args.rate, args.accel)
                    else:
                        qmp = overhead.start_guest(tmp, name, build, args.mem, args.rate,
                                                   args.accel)
                    os.sync()  # see migration-overhead.py: no run pays for another's discards
                    if method == "bare":
                        r = bare_run(tmp, name, qmp)
                    elif method in ("helpers", "tmpfs"):
                        r = helpers_run(build, tmp, name, qmp,
                                        journal_on_tmpfs=method == "tmpfs")
                    else:
                        r = libvirt.run(tmp, name, port)
                    results[method].append(r)
                    print("run %d %-7s wall %.3f s, stream %.3f s, %s passes, downtime %.0f ms, "
                          "pause %s%s" %
                          (run + 1, method, r["wall"], r["stream"], r["passes"] or "?",
                           ms(r["downtime"]),
                           "%.1f ms" % ms(r["pause"]) if r["pause"] is not None else "-",
                           run_laps(r)),
                          flush=True)
                finally:
                    subprocess.run(["pkill", "-KILL", "-f", tmp])
                    shutil.rmtree(tmp, ignore_errors=True)
        starts = start_times(build, root, args.start_runs) if args.start_runs > 0 else None
        profile = syscall_profile(build, root, args) if args.syscalls else None
    finally:
        if libvirt:
            libvirt.stop()
        subprocess.run(["pkill", "-KILL", "-f", root])
        shutil.rmtree(root, ignore_errors=True)
    report(args, results, starts)
    if profile:
        report_syscalls(profile)


if __name__ == "__main__":
    main()
