#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""How fast the migration stream moves: one stream, --parallel 2, 4 and 8,
and what loopback TCP itself carries (iperf3), in the same run.

    bench/stream-throughput.py BUILDDIR [--runs N] [--mem MIB] [--rate MIBPS]
                               [--parallel 2,4,8] [--compress none|zlib|zstd]
                               [--tls] [--iperf-seconds S]

Needs root (the helpers), QEMU and iperf3.

Each round migrates a fresh copy of the project's test guest (MIB of test
region, rewritten at MIBPS) with `migphase-migrate --local` once per
configuration, the configurations taking turns (reversed every other round)
so that machine noise falls on all of them, and runs iperf3 against
127.0.0.1 for S seconds, one stream and as many as the largest --parallel.
The stream's throughput is what QEMU says it sent over its own stream time
(the summary line: "stream T s ... M MiB sent"), so the helpers' start-up is
left out. Prints, for each, the median and the spread (lowest-highest) in
MiB/s.

Both ends are this host (loopback): the figures show what QEMU's threads
get out of this machine's cores, not a network link. Under TCG the guest's
vCPU competes with the stream's threads for the same cores.

This is a benchmark, not a test: it asserts nothing.
"""

import json
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
    """Boot one guest; the emulator by its absolute path (Prepare's policy)."""
    subprocess.run(
        # Not a multiple of 256 KiB: QEMU 7.2's TCG loses dirty pages of such
        # guests during migration (tests/guest/README.md).
        [shutil.which("qemu-system-x86_64") or "qemu-system-x86_64", "-accel", accel,
         "-m", "%dk" % ((mem + 32) * 1024 + 128), "-name", name,
         "-kernel", os.path.join(build, "tests/guest/migphase-guest.elf"),
         "-append", "mem=%d rate=%d" % (mem, rate), "-display", "none", "-nodefaults",
         "-no-user-config", "-qmp", "unix:%s/%s-src.qmp,server=on,wait=off" % (tmp, name),
         "-serial", "file:%s/%s-src-serial.log" % (tmp, name),
         "-daemonize", "-pidfile", "%s/%s-src.pid" % (tmp, name)],
        check=True)
    log = "%s/%s-src-serial.log" % (tmp, name)
    deadline = time.monotonic() + 120
    while not os.path.exists(log) or "tick 2 " not in open(log).read():
        if time.monotonic() > deadline:
            raise RuntimeError("guest %s did not start" % name)
        time.sleep(0.1)


def write_config(tmp, build):
    path = os.path.join(tmp, "migphase.conf")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("allowed-paths = %s %s /dev/null /dev/urandom\n" % (tmp, build))
        f.write("listen = 127.0.0.1\nqemu-user = root\nvm-users = root\n")
    return path


def migrate(build, args, parallel, label):
    """MiB/s of one migration with --parallel (0: one stream), or None."""
    tmp = tempfile.mkdtemp(prefix="migphase-tput.")
    try:
        name = "tput"
        start_guest(tmp, name, build, args.mem, args.rate, args.accel)
        argv = [os.path.join(build, "helpers", "migphase-migrate"),
                "--config", write_config(tmp, build), "--state-dir", os.path.join(tmp, "state"),
                "--local", "--qmp", "%s/%s-src.qmp" % (tmp, name),
                "--dest-qmp", "%s/%s-dst.qmp" % (tmp, name),
                "--rewrite", "%s/%s-src-=%s/%s-dst-" % (tmp, name, tmp, name),
                "--progress", "none", "--timeout", "600"]
        if parallel:
            argv += ["--parallel", str(parallel), "--compress", args.compress]
        if not args.tls:
            argv.append("--no-tls")
        proc = subprocess.run(argv, stderr=subprocess.PIPE, text=True)
        m = re.search(r"stream ([0-9.]+) s, .*?([0-9.]+) MiB sent", proc.stderr)
        if proc.returncode != 0 or not m:
            print("%s: exited %d, not counted: %s" % (label, proc.returncode,
                                                      proc.stderr.strip()[-300:]), flush=True)
            return None
        seconds, mib = float(m.group(1)), float(m.group(2))
        print("%s: %.1f MiB in %.2f s: %.1f MiB/s" % (label, mib, seconds, mib / seconds),
              flush=True)
        return mib / seconds
    finally:
        subprocess.run(["pkill", "-KILL", "-f", tmp])
        time.sleep(0.5)
        shutil.rmtree(tmp, ignore_errors=True)


def iperf(seconds, streams, port=5299):
    """MiB/s iperf3 receives over loopback with that many streams."""
    server = subprocess.Popen(["iperf3", "-s", "-1", "-p", str(port), "-B", "127.0.0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        out = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds),
                              "-P", str(streams), "-J"], capture_output=True, text=True,
                             check=True).stdout
        bps = json.loads(out)["end"]["sum_received"]["bits_per_second"]
        return bps / 8 / (1 << 20)
    finally:
        server.wait(timeout=10)


def main():
    ap = siblings.guest_arguments(__doc__, runs=3, mem=512, rate=1)
    ap.add_argument("--parallel", default="2,4,8")
    ap.add_argument("--compress", default="none", choices=["none", "zlib", "zstd"])
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--iperf-seconds", type=int, default=3)
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    configs = [0] + [int(p) for p in args.parallel.split(",")]
    most = max(configs)
    names = {p: ("one stream" if p == 0 else "--parallel %d" % p) for p in configs}
    names["iperf1"] = "iperf3, 1 stream"
    names["iperfN"] = "iperf3, %d streams" % most
    results = {k: [] for k in names}

    for run in range(args.runs):
        order = configs if run % 2 == 0 else list(reversed(configs))
        for p in order:
            v = migrate(build, args, p, "round %d %s" % (run + 1, names[p]))
            if v is not None:
                results[p].append(v)
        results["iperf1"].append(iperf(args.iperf_seconds, 1))
        results["iperfN"].append(iperf(args.iperf_seconds, most))
        print("round %d iperf3: %.0f MiB/s (1 stream), %.0f MiB/s (%d streams)" %
              (run + 1, results["iperf1"][-1], results["iperfN"][-1], most), flush=True)

    print()
    print("guest %d MiB rewritten at %d MiB/s, accel %s, %s, compress %s, %d runs, %d cores" %
          (args.mem, args.rate, args.accel, "TLS" if args.tls else "no TLS", args.compress,
           args.runs, os.cpu_count()))
    print("%-20s %14s %22s" % ("", "median MiB/s", "spread (min-max)"))
    for key, label in names.items():
        v = results[key]
        if not v:
            print("%-20s %14s" % (label, "no run"))
            continue
        print("%-20s %14.1f %13.1f-%.1f" % (label, statistics.median(v), min(v), max(v)))


if __name__ == "__main__":
    main()
