#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""What a QMP command's length costs: QEMU reads a command from its monitor
one byte per turn of its main loop, so every byte a helper sends stands on
the way to the stream (or on the guest's pause) for that turn.

    bench/qmp-command-cost.py BUILDDIR [--runs N] [--mem MIB] [--rate MIBPS]

Times the round trip of query-status padded with 0 to 400 bytes of
whitespace (the same command to QEMU, only longer) on two QEMUs of this
host: the project's test guest rewriting its memory (a source, as Begin,
Perform and Confirm meet it) and an incoming QEMU started with -incoming
defer -S (a destination, as Prepare and Finish meet it). Prints each
length's median, 10th and 90th percentile, and the cost of a byte (the
least-squares slope of the medians), for the closing notes' arithmetic:
the bytes a step sends times that cost.

This is a benchmark, not a test: it asserts nothing.
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import siblings  # noqa: E402

overhead = siblings.load("migration-overhead.py")  # start_guest, the test guest's Monitor
PADDINGS = [0, 50, 100, 200, 400]


def round_trip(mon, command):
    """Seconds from sending command's bytes as they are to QEMU's answer."""
    start = time.perf_counter()
    mon.sock.sendall(command)
    while True:
        reply = mon.read_message()
        if "return" in reply or "error" in reply:
            return time.perf_counter() - start


def start_incoming(tmp, accel):
    qmp = os.path.join(tmp, "incoming.qmp")
    subprocess.run(["qemu-system-x86_64", "-accel", accel, "-m", "1024", "-display", "none",
                    "-nodefaults", "-no-user-config", "-qmp", "unix:%s,server=on,wait=off" % qmp,
                    "-incoming", "defer", "-S", "-daemonize",
                    "-pidfile", os.path.join(tmp, "incoming.pid")], check=True)
    return qmp


def measure(qmp, runs):
    """{padding: [seconds]} over runs rounds, the lengths interleaved."""
    mon = overhead.Monitor(qmp, 30)
    times = {pad: [] for pad in PADDINGS}
    try:
        for _ in range(runs):
            for pad in PADDINGS:
                command = b'{"execute":"query-status"' + b" " * pad + b"}\n"
                times[pad].append(round_trip(mon, command))
    finally:
        mon.sock.close()
    return times


def slope_us_per_byte(times):
    xs = PADDINGS
    ys = [statistics.median(times[p]) * 1e6 for p in xs]
    mx, my = statistics.mean(xs), statistics.mean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def report(name, times):
    base = len(b'{"execute":"query-status"}\n')
    print("%s:" % name)
    print("  bytes   median ms   p10-p90 ms")
    for pad in PADDINGS:
        ts = sorted(t * 1000 for t in times[pad])
        p10, p90 = ts[len(ts) // 10], ts[len(ts) * 9 // 10]
        print("  %5d   %9.3f   %.3f-%.3f" % (base + pad, statistics.median(ts), p10, p90))
    print("  a byte costs %.1f us (least squares over the medians)" % slope_us_per_byte(times))


def main():
    ap = siblings.guest_arguments(__doc__, runs=40, mem=1024, rate=64)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="qmp-cost.")
    try:
        busy = overhead.start_guest(tmp, "busy", os.path.abspath(args.build), args.mem, args.rate,
                                    args.accel)
        incoming = start_incoming(tmp, args.accel)
        report("the test guest, %d MiB rewritten at %d MiB/s (a source)" % (args.mem, args.rate),
               measure(busy, args.runs))
        report("an incoming QEMU, -incoming defer -S (a destination)", measure(incoming, args.runs))
    finally:
        subprocess.run(["pkill", "-KILL", "-f", tmp])
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
