#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""How long evacuating a host of eight guests takes, with 1, 2, 4 and 8 jobs.

    bench/evacuation.py BUILDDIR [--runs N] [--guests G] [--mem MIB] [--rate MIBPS]
                        [--jobs 1,2,4,8] [--bandwidth MIB_PER_S] [--no-tls]
                        [--qmp-timeout-ms N]

Boots G copies of the project's test guest on this host, then moves them all
with one `migphase-migrate --local --all --jobs J` (the five helpers for
each guest, J guests at once) and times that command alone, from its start
to its exit. Each run boots fresh guests; the values of J take turns within
each round, so that machine noise falls on all of them. Prints, for each J,
the median wall time, the spread (lowest and highest) and the speed-up of
the median over J=1, and the median of the guests' own stream times.

Both "hosts" are this one (--local, loopback): the figures show what running
migrations at once gains on this machine's cores and memory bandwidth, not on
a network link. A --bandwidth is the total, shared by the jobs.

A run that does not move every guest (on two cores, eight destination QEMUs
starting at once can miss QMP's bound: hence --qmp-timeout-ms 30000 here) is
reported and left out of the figures.

This is a benchmark, not a test: it asserts nothing.
"""

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import siblings  # noqa: E402


def start_guest(tmp, name, build, mem, rate, accel):
    """Boot one guest with its socket at tmp/src/NAME.qmp. The emulator by
    its absolute path: Prepare runs only the emulators its policy names."""
    subprocess.run(
        # Not a multiple of 256 KiB: QEMU 7.2's TCG loses dirty pages of such
        # guests during migration (tests/guest/README.md).
        [shutil.which("qemu-system-x86_64") or "qemu-system-x86_64", "-accel", accel, "-m", "%dk" % ((mem + 32) * 1024 + 128),
         "-name", name,
         "-kernel", os.path.join(build, "tests/guest/migphase-guest.elf"),
         "-append", "mem=%d rate=%d" % (mem, rate), "-display", "none", "-nodefaults",
         "-no-user-config", "-qmp", "unix:%s/src/%s.qmp,server=on,wait=off" % (tmp, name),
         "-serial", "file:%s/%s-src-serial.log" % (tmp, name),
         "-daemonize", "-pidfile", "%s/%s-src.pid" % (tmp, name)],
        check=True)


def wait_ticking(tmp, names):
    deadline = time.monotonic() + 120
    for name in names:
        log = "%s/%s-src-serial.log" % (tmp, name)
        while "tick 2 " not in open(log).read():
            if time.monotonic() > deadline:
                raise RuntimeError("guest %s did not start" % name)
            time.sleep(0.1)


def write_config(tmp, build):
    """The destination's policy for this run: the guests' files are under
    tmp and the build, the destination VMs run as root (as the source ones
    do here), the stream on loopback."""
    path = os.path.join(tmp, "migphase.conf")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("allowed-paths = %s %s /dev/null /dev/urandom\n" % (tmp, build))
        f.write("listen = 127.0.0.1\nqemu-user = root\nvm-users = root\n")
    return path


def evacuate(build, args, jobs, run):
    tmp = tempfile.mkdtemp(prefix="migphase-evac.")
    try:
        os.mkdir(os.path.join(tmp, "src"))
        os.mkdir(os.path.join(tmp, "dst"))
        names = ["evac%d" % i for i in range(1, args.guests + 1)]
        for name in names:
            start_guest(tmp, name, build, args.mem, args.rate, args.accel)
        wait_ticking(tmp, names)
        config = write_config(tmp, build)
        argv = [os.path.join(build, "helpers", "migphase-migrate"), "--config", config,
                "--state-dir", os.path.join(tmp, "state"), "--local",
                "--qmp-dir", os.path.join(tmp, "src"), "--dest-qmp-dir", os.path.join(tmp, "dst"),
                "--rewrite", "%s/%%d-src-=%s/%%d-dst-" % (tmp, tmp), "--all",
                "--jobs", str(jobs), "--progress", "none",
                "--qmp-timeout-ms", str(args.qmp_timeout_ms)]
        if args.bandwidth:
            argv += ["--bandwidth", str(args.bandwidth)]
        if args.no_tls:
            argv.append("--no-tls")
        # Neither value of J pays for what another run left to the disk.
        os.sync()
        start = time.monotonic()
        proc = subprocess.run(argv, stderr=subprocess.PIPE, text=True)
        wall = time.monotonic() - start
        if proc.returncode != 0:
            # A run that did not move every guest counts in no figure.
            print("round %d --jobs %d: exited %d after %.2f s, not counted:\n%s" %
                  (run + 1, jobs, proc.returncode, wall,
                   "\n".join(l for l in proc.stderr.splitlines() if ": FAILED" in l or
                             ": REFUSED" in l)), flush=True)
            return None, []
        streams = [float(s) for s in re.findall(r"stream ([0-9.]+) s", proc.stderr)]
        if len(streams) != args.guests:
            raise RuntimeError("--jobs %d: %d summaries of %d guests:\n%s" %
                               (jobs, len(streams), args.guests, proc.stderr))
        print("round %d --jobs %d: %.2f s (streams: median %.2f s, longest %.2f s)" %
              (run + 1, jobs, wall, statistics.median(streams), max(streams)), flush=True)
        return wall, streams
    finally:
        subprocess.run(["pkill", "-KILL", "-f", tmp])
        time.sleep(0.5)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = siblings.guest_arguments(__doc__, runs=3, mem=64, rate=8)
    ap.add_argument("--guests", type=int, default=8)
    ap.add_argument("--jobs", default="1,2,4,8")
    ap.add_argument("--bandwidth", type=int, default=0)
    ap.add_argument("--no-tls", action="store_true")
    # Eight TCG guests starting on two cores can take longer than QMP's
    # default bound of 10 s to answer Prepare.
    ap.add_argument("--qmp-timeout-ms", type=int, default=30000)
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    values = [int(j) for j in args.jobs.split(",")]

    walls = {j: [] for j in values}
    streams = {j: [] for j in values}
    failed = {j: 0 for j in values}
    for run in range(args.runs):
        order = values if run % 2 == 0 else list(reversed(values))
        for jobs in order:
            wall, s = evacuate(build, args, jobs, run)
            if wall is None:
                failed[jobs] += 1
                continue
            walls[jobs].append(wall)
            streams[jobs].extend(s)

    med = statistics.median
    values = [j for j in values if walls[j]]
    if not values:
        print("no run moved every guest")
        return
    base = med(walls[values[0]])
    print()
    print("%d guests of %d MiB rewritten at %d MiB/s, accel %s, %s, %s, %d runs each, "
          "%d cores" % (args.guests, args.mem, args.rate, args.accel,
                        "bandwidth %d MiB/s in all" % args.bandwidth if args.bandwidth
                        else "no bandwidth limit",
                        "no TLS" if args.no_tls else "TLS as configured", args.runs,
                        os.cpu_count()))
    print("%-8s %12s %20s %10s %16s %8s" % ("jobs", "median", "spread (min-max)", "speed-up",
                                              "median stream", "failed"))
    for j in values:
        print("%-8d %10.2f s %9.2f-%.2f s %9.2fx %14.2f s %8d" %
              (j, med(walls[j]), min(walls[j]), max(walls[j]), base / med(walls[j]),
               med(streams[j]), failed[j]))


if __name__ == "__main__":
    main()
