#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""How much the five helpers add to a live migration, against QEMU alone.

    bench/migration-overhead.py BUILDDIR [--runs N] [--mem MIB] [--rate MIBPS]

Migrates the project's test guest on this host, N times through the five
helpers (begin, prepare, perform, finish, confirm, each a separate process
exchanging cookies through pipes) and N times with the bare QMP commands a
script would issue (start the destination with -incoming, set the same
parameters, migrate, wait for QEMU's event, cont, quit), alternating the two
so that machine noise falls on both. Prints the median wall time of each path
and their ratio; what the helpers add outside the stream, in ms and as a share
of the bare migration; and each step's median time beside its bare
counterpart, with each helper's peak RSS.

The bare path is the fastest a script could be: compact JSON without ids
(QEMU reads a command a byte at a time), events instead of polling.

This is a benchmark, not a test: it asserts nothing.
"""

import json
import os
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "guest"))
import siblings  # noqa: E402
from qmp import Monitor  # noqa: E402  (the test guest's own QMP client)

STEPS = ["begin", "prepare", "perform", "finish", "confirm"]
GNU_TIME = "/usr/bin/time"


def start_guest(tmp, name, build, mem, rate, accel):
    qmp = os.path.join(tmp, name + ".qmp")
    subprocess.run(
        # Not a multiple of 256 KiB: QEMU 7.2's TCG loses dirty pages of such
        # guests during migration (tests/guest/README.md).
        ["qemu-system-x86_64", "-accel", accel, "-m", "%dk" % ((mem + 32) * 1024 + 128),
         "-name", name,
         "-kernel", os.path.join(build, "tests/guest/migphase-guest.elf"),
         "-append", "mem=%d rate=%d" % (mem, rate), "-display", "none", "-nodefaults",
         "-no-user-config", "-qmp", "unix:%s,server=on,wait=off" % qmp,
         "-serial", "file:" + os.path.join(tmp, name + "-serial.log"),
         "-daemonize", "-pidfile", os.path.join(tmp, name + ".pid")],
        check=True)
    log = os.path.join(tmp, name + "-serial.log")
    deadline = time.monotonic() + 60
    while "tick 2 " not in open(log).read():
        if time.monotonic() > deadline:
            raise RuntimeError("guest did not start")
        time.sleep(0.1)
    return qmp


def run_measured(argv, stdin_data, env, rss_file=None):
    """Run one helper; return (stdout, wall seconds). With rss_file, run it
    under GNU time, which writes the helper's peak RSS (KiB) there: wait4's
    own figure counts the memory of the Python process it was forked from."""
    if rss_file:
        argv = [GNU_TIME, "-f", "%M", "-o", rss_file] + argv
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    proc.stdin.write(stdin_data)
    proc.stdin.close()
    out = proc.stdout.read()
    proc.wait()
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise RuntimeError("%s exited %d" % (argv[0], proc.returncode))
    return out, wall


def helpers_path(build, tmp, qmp, name, measure_rss=False):
    env = dict(os.environ)
    state = os.path.join(tmp, "state")
    common = ["--state-dir", state]
    argvs = {
        "begin": ["--qmp", qmp],
        "prepare": ["--qmp", os.path.join(tmp, name + "-dst.qmp"), "--listen", "127.0.0.1",
                    "--rewrite", "%s-serial=%s-dst-serial" % (name, name)],
        "perform": ["--progress", "none"],
        "finish": [],
        "confirm": [],
    }
    times, rss = {}, {}
    cookie = b""
    start = time.monotonic()
    for step in STEPS:
        argv = [os.path.join(build, "helpers", "migphase-" + step)] + common + argvs[step]
        rss_file = os.path.join(tmp, step + ".rss") if measure_rss else None
        cookie, times[step] = run_measured(argv, cookie, env, rss_file)
        if rss_file:
            rss[step] = int(open(rss_file).read().split()[-1])
    total = time.monotonic() - start
    dst_pid = int(open(os.path.join(state, "destination", name, "qemu.pid")).read())
    perform = open(os.path.join(state, "source", name, "perform-out.xml")).read()
    stream = int(perform.split('total-ms="', 1)[1].split('"', 1)[0]) / 1000.0
    return total, stream, times, rss, dst_pid


class BareMonitor(Monitor):
    """The least a script can send: compact JSON without ids (QEMU reads a
    command a byte at a time), and events kept for the caller, so that the
    end of the stream is seen the moment QEMU says so, as Perform sees it."""

    def __init__(self, path):
        self.events = []
        super().__init__(path, 60)

    def execute(self, command, arguments=None):
        request = {"execute": command}
        if arguments:
            request["arguments"] = arguments
        self.sock.sendall(json.dumps(request, separators=(",", ":")).encode() + b"\n")
        while True:
            reply = self.read_message()
            if "event" in reply:
                self.events.append(reply)
            elif "error" in reply:
                raise RuntimeError("%s: %s" % (command, reply["error"].get("desc")))
            else:
                return reply.get("return")

    def wait_migration_end(self):
        while True:
            event = self.events.pop(0) if self.events else self.read_message()
            if event.get("event") == "MIGRATION" and \
                    event["data"]["status"] in ("completed", "failed", "cancelled"):
                return event["data"]["status"]


def bare_path(tmp, qmp, name):
    """What a script without migphase does, with the same settings, step by
    step beside the helper each step compares with."""
    times = {}
    mark = time.monotonic()

    def lap(step):
        nonlocal mark
        now = time.monotonic()
        times[step] = now - mark
        mark = now

    start = mark
    src = BareMonitor(qmp)
    src_pid = int(open(os.path.join(tmp, name + ".pid")).read())
    argv = open("/proc/%d/cmdline" % src_pid, "rb").read().split(b"\0")[:-1]
    lap("begin")
    dst_qmp = os.path.join(tmp, name + "-bare.qmp")
    port = free_port()
    dst_argv = [a.decode() for a in argv if a not in (b"-daemonize",)]
    dst_argv = drop_options(dst_argv, {"-qmp", "-pidfile", "-serial"})
    dst_argv += ["-qmp", "unix:%s,server=on,wait=off" % dst_qmp, "-serial", "null",
                 "-incoming", "tcp:127.0.0.1:%d" % port, "-S",
                 "-daemonize", "-pidfile", os.path.join(tmp, name + "-bare.pid")]
    subprocess.run(dst_argv, check=True)
    dst = BareMonitor(dst_qmp)
    dst.execute("migrate-set-capabilities", {"capabilities": [{"capability": "events", "state": True}]})
    lap("prepare")
    src.execute("migrate-set-capabilities", {"capabilities": [{"capability": "events", "state": True}]})
    src.execute("migrate-set-parameters", {"max-bandwidth": 2 ** 63 - 1})
    src.execute("migrate", {"uri": "tcp:127.0.0.1:%d" % port})
    if src.wait_migration_end() != "completed":
        raise RuntimeError("the bare migration failed")
    info = src.execute("query-migrate")
    while not info.get("total-time"):  # filled in a moment after "completed"
        time.sleep(0.001)
        info = src.execute("query-migrate")
    stream = info["total-time"] / 1000.0
    lap("perform")
    if dst.wait_migration_end() != "completed":
        raise RuntimeError("the bare migration failed on the destination")
    dst.execute("cont")
    lap("finish")
    # Gone as Confirm means it: every thread, not just the main one, whose
    # zombie comes milliseconds before the rest lets go of memory and locks.
    src_fd = os.pidfd_open(src_pid)
    try:
        src.execute("quit")
    except (ConnectionError, OSError):
        pass
    select.select([src_fd], [], [], 30)
    os.close(src_fd)
    lap("confirm")
    total = time.monotonic() - start
    return total, stream, times, int(open(os.path.join(tmp, name + "-bare.pid")).read())


def drop_options(argv, names):
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in names:
            skip = True
            continue
        out.append(a)
    return out


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def kill(pid):
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass


def main():
    ap = siblings.guest_arguments(__doc__, runs=5, mem=256, rate=64)
    args = ap.parse_args()
    build = os.path.abspath(args.build)

    # The stream's own length (QEMU's total-time) varies from run to run with
    # how the guest's writes meet the passes, by more than the helpers cost;
    # what the helpers add is the time outside the stream: wall time minus it.
    totals = {"helpers": [], "bare": []}
    outside = {"helpers": [], "bare": []}
    step_times = {path: {s: [] for s in STEPS} for path in totals}
    for run in range(args.runs):
        for path in ("helpers", "bare") if run % 2 == 0 else ("bare", "helpers"):
            tmp = tempfile.mkdtemp(prefix="migphase-bench.")
            name = "bench%d%s" % (run, path[0])
            try:
                qmp = start_guest(tmp, name, build, args.mem, args.rate, args.accel)
                # The file system is mounted with discard here: the blocks the
                # last run freed are discarded in the next journal commit, and
                # Begin's fsync paid up to 0.6 s for them. Neither path pays
                # for what another run left.
                os.sync()
                if path == "helpers":
                    total, stream, times, _, dst_pid = helpers_path(build, tmp, qmp, name)
                else:
                    total, stream, times, dst_pid = bare_path(tmp, qmp, name)
                totals[path].append(total)
                outside[path].append(total - stream)
                times["perform"] -= stream
                for s in STEPS:
                    step_times[path][s].append(times[s])
                kill(dst_pid)
                print("run %d %-7s %.3f s (stream %.3f s)" % (run + 1, path, total, stream),
                      flush=True)
            finally:
                subprocess.run(["pkill", "-KILL", "-f", tmp])
                shutil.rmtree(tmp, ignore_errors=True)
    report(args, totals, outside, step_times, peak_rss(build, args), process_start(build))


def process_start(build):
    """The machine's pace, to read the rest by: the median time to start a
    helper that does nothing (--version), five of which every migration pays."""
    walls = []
    for _ in range(21):
        start = time.monotonic()
        subprocess.run([os.path.join(build, "helpers", "migphase-begin"), "--version"],
                       stdout=subprocess.DEVNULL, check=True)
        walls.append(time.monotonic() - start)
    return statistics.median(walls)


def peak_rss(build, args):
    """Each helper's peak RSS, from one more migration run under GNU time
    (not timed: time's own fork and exec would count as the helper's)."""
    if not os.access(GNU_TIME, os.X_OK):
        return None
    tmp = tempfile.mkdtemp(prefix="migphase-bench.")
    try:
        qmp = start_guest(tmp, "benchrss", build, args.mem, args.rate, args.accel)
        _, _, _, rss, dst_pid = helpers_path(build, tmp, qmp, "benchrss", measure_rss=True)
        kill(dst_pid)
        return rss
    finally:
        subprocess.run(["pkill", "-KILL", "-f", tmp])
        shutil.rmtree(tmp, ignore_errors=True)


def ms(seconds):
    return seconds * 1000


def report(args, totals, outside, step_times, rss, start):
    med = statistics.median
    h, b = med(totals["helpers"]), med(totals["bare"])
    added = med(outside["helpers"]) - med(outside["bare"])
    print()
    print("guest: %d MiB rewritten at %d MiB/s, accel %s, %d runs each" %
          (args.mem, args.rate, args.accel, args.runs))
    print("median wall time, five helpers: %.3f s" % h)
    print("median wall time, bare QMP:     %.3f s" % b)
    print("helpers / bare, medians of the wall times: %.3f (%+.1f ms; the stream's swing "
          "from run to run is in this)" % (h / b, ms(h - b)))
    print("median time outside the stream: helpers %.1f ms, bare %.1f ms" %
          (ms(med(outside["helpers"])), ms(med(outside["bare"]))))
    print("the helpers add %+.1f ms, %+.1f %% of the bare migration's median wall time "
          "(goal: under 50 ms and under 5 %%)" % (ms(added), 100 * added / b))
    # QEMU's own start, in Prepare, swings by 20 ms from run to run and
    # drags the totals with it; each step's median alone is steadier.
    by_step = sum(med(step_times["helpers"][s]) - med(step_times["bare"][s]) for s in STEPS)
    print("the same from each step's median (below): %+.1f ms, %+.1f %%" %
          (ms(by_step), 100 * by_step / b))
    print()
    print("%-29s %10s %10s %10s %12s" % ("step (median)", "helper", "bare", "added", "helper RSS"))
    for s in STEPS:
        hs, bs = med(step_times["helpers"][s]), med(step_times["bare"][s])
        label = s + (", outside the stream" if s == "perform" else "")
        print("%-29s %7.1f ms %7.1f ms %+7.1f ms %12s" %
              (label, ms(hs), ms(bs), ms(hs - bs), "%d KiB" % rss[s] if rss else "-"))
    if not rss:
        print("(peak RSS needs GNU time at %s: apt-get install time)" % GNU_TIME)
    print("starting a helper that does nothing (--version) takes %.1f ms here" % ms(start))


if __name__ == "__main__":
    main()
