#!/usr/bin/env python3
"""How much the five helpers add to a live migration, against QEMU alone.

    bench/migration-overhead.py BUILDDIR [--runs N] [--mem MIB] [--rate MIBPS]

Migrates the project's test guest on this host, N times through the five
helpers (begin, prepare, perform, finish, confirm, each a separate process
exchanging cookies through pipes) and N times with the bare QMP commands a
script would issue (start the destination with -incoming, set the same
parameters, migrate, wait, cont, quit), alternating the two so that machine
noise falls on both. Prints the median wall time of each path and their ratio,
and each helper's own wall time and peak RSS.

This is a benchmark, not a test: it asserts nothing.
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "guest"))
from qmp import Monitor  # noqa: E402  (the test guest's own QMP client)

STEPS = ["begin", "prepare", "perform", "finish", "confirm"]


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


def run_measured(argv, stdin_data, env):
    """Run one helper; return (stdout, wall seconds, peak RSS in KiB) of that
    process alone (wait4 gives its own rusage)."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    proc.stdin.write(stdin_data)
    proc.stdin.close()
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise RuntimeError("%s exited %d" % (argv[0], proc.returncode))
    return out, wall, usage.ru_maxrss


def helpers_path(build, tmp, qmp, name):
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
        cookie, times[step], rss[step] = run_measured(argv, cookie, env)
    total = time.monotonic() - start
    dst_pid = int(open(os.path.join(state, "destination", name, "qemu.pid")).read())
    perform = open(os.path.join(state, "source", name, "perform-out.xml")).read()
    stream = int(perform.split('total-ms="', 1)[1].split('"', 1)[0]) / 1000.0
    return total, stream, times, rss, dst_pid


def bare_path(tmp, qmp, name):
    """What a script without migphase does, with the same settings."""
    src = Monitor(qmp, 30)
    src_pid = int(open(os.path.join(tmp, name + ".pid")).read())
    argv = open("/proc/%d/cmdline" % src_pid, "rb").read().split(b"\0")[:-1]
    dst_qmp = os.path.join(tmp, name + "-bare.qmp")
    port = free_port()
    start = time.monotonic()
    dst_argv = [a.decode() for a in argv if a not in (b"-daemonize",)]
    dst_argv = drop_options(dst_argv, {"-qmp", "-pidfile", "-serial"})
    dst_argv += ["-qmp", "unix:%s,server=on,wait=off" % dst_qmp, "-serial", "null",
                 "-incoming", "tcp:127.0.0.1:%d" % port, "-S",
                 "-daemonize", "-pidfile", os.path.join(tmp, name + "-bare.pid")]
    subprocess.run(dst_argv, check=True)
    dst = Monitor(dst_qmp, 30)
    src.execute("migrate-set-capabilities", {"capabilities": [{"capability": "events", "state": True}]})
    src.execute("migrate-set-parameters", {"max-bandwidth": 2 ** 63 - 1, "downtime-limit": 300})
    src.execute("migrate", {"uri": "tcp:127.0.0.1:%d" % port})
    info = src.execute("query-migrate")
    # QEMU says completed a moment before it fills in total-time.
    while info["status"] not in ("completed", "failed", "cancelled") or not info.get("total-time"):
        time.sleep(0.01)
        info = src.execute("query-migrate")
    stream = info["total-time"] / 1000.0
    while dst.execute("query-migrate").get("status") != "completed":
        time.sleep(0.01)
    dst.execute("cont")
    try:
        src.execute("quit")
    except (ConnectionError, OSError):
        pass
    while os.path.exists("/proc/%d" % src_pid) and "Z" not in state_of(src_pid):
        time.sleep(0.005)
    total = time.monotonic() - start
    return total, stream, int(open(os.path.join(tmp, name + "-bare.pid")).read())


def state_of(pid):
    try:
        return open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


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
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--mem", type=int, default=256)
    ap.add_argument("--rate", type=int, default=64)
    ap.add_argument("--accel", default=os.environ.get("MIGPHASE_ACCEL", "tcg"))
    args = ap.parse_args()
    build = os.path.abspath(args.build)

    # The stream's own length (QEMU's total-time) varies from run to run with
    # how the guest's writes meet the passes; what the helpers add is the
    # time outside the stream, which is measured as wall time minus that.
    helper_totals, bare_totals = [], []
    helper_outside, bare_outside = [], []
    step_times = {s: [] for s in STEPS}
    step_rss = {s: 0 for s in STEPS}
    for run in range(args.runs):
        for path in ("helpers", "bare") if run % 2 == 0 else ("bare", "helpers"):
            tmp = tempfile.mkdtemp(prefix="migphase-bench.")
            name = "bench%d%s" % (run, path[0])
            try:
                qmp = start_guest(tmp, name, build, args.mem, args.rate, args.accel)
                if path == "helpers":
                    total, stream, times, rss, dst_pid = helpers_path(build, tmp, qmp, name)
                    helper_totals.append(total)
                    helper_outside.append(total - stream)
                    for s in STEPS:
                        step_times[s].append(times[s])
                        step_rss[s] = max(step_rss[s], rss[s])
                else:
                    total, stream, dst_pid = bare_path(tmp, qmp, name)
                    bare_totals.append(total)
                    bare_outside.append(total - stream)
                kill(dst_pid)
                print("run %d %-7s %.3f s (stream %.3f s)" % (run + 1, path, total, stream),
                      flush=True)
            finally:
                subprocess.run(["pkill", "-KILL", "-f", tmp])
                shutil.rmtree(tmp, ignore_errors=True)

    h, b = statistics.median(helper_totals), statistics.median(bare_totals)
    print()
    print("guest: %d MiB rewritten at %d MiB/s, accel %s, %d runs each" %
          (args.mem, args.rate, args.accel, args.runs))
    print("median wall time, five helpers: %.3f s" % h)
    print("median wall time, bare QMP:     %.3f s" % b)
    print("helpers / bare: %.3f (%+.1f ms)" % (h / b, (h - b) * 1000))
    ho, bo = statistics.median(helper_outside), statistics.median(bare_outside)
    print("median time outside the stream: helpers %.1f ms, bare %.1f ms: the helpers add %+.1f ms"
          % (ho * 1000, bo * 1000, (ho - bo) * 1000))
    print()
    print("%-8s %12s %14s" % ("helper", "median wall", "peak RSS"))
    for s in STEPS:
        print("%-8s %10.1f ms %10d KiB" % (s, statistics.median(step_times[s]) * 1000, step_rss[s]))


if __name__ == "__main__":
    main()
