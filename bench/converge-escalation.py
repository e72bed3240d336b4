#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""What each escalation step costs a guest that does not converge: the
migration's time, whether it completed, and the guest's pause.

    bench/converge-escalation.py BUILDDIR [--runs N] [--mem MIB] [--rate MIBPS]
                                 [--bandwidth MIBPS] [--timeout S] [--bound S]
                                 [--configs none,auto,...] [--accel ACCEL]

Needs root (the helpers' test user and lab PKI, tests/integration/lib.sh's
mp_init), QEMU, certtool, and vm.unprivileged_userfaultfd in /proc: the
destination QEMU runs as migphase-qemu, and QEMU 7.2 opens userfaultfd with
the syscall, so the sysctl is 1 while the bench runs, and its previous
value is put back after it, once no other migration that may need it runs
(see Userfaultfd: other tests set it too).

The guest is tests/integration/converge.sh's: MIB of test region (default 32)
rewritten at MIBPS (24), faster than the stream may carry it (--bandwidth,
16 MiB/s). Each round migrates a fresh guest with `migphase-migrate --local
--listen 127.0.0.1 --progress json` once per configuration, the order
reversed every other round so that machine noise falls on all of them:
  none        --converge none --timeout S: plain pre-copy, which the bound
              cancels (default 10 s), the source running on;
  auto        --converge auto: the downtime limit raised, up to the default
              ceiling (2000 ms);
  auto-400    the same with --downtime-ceiling-ms 400: then the guest's
              throttle released;
  auto-400-pc the same with --postcopy: then, two passes into the throttle
              (or at three quarters of the bound), postcopy;
  pc-after    --postcopy-after-precopy: postcopy once the first pass is sent.
The escalating ones are bounded too (--bound, default 120 s), in case one
does not end.

For each: the wall time of migphase-migrate; the outcome (completed,
completed by postcopy: QEMU reached postcopy-active, cancelled at the
bound, failed); the steps Perform took, from its "converge",
"postcopy" and "timeout" progress events, with when they came (ms into the
stream); and, for a completed migration, the "pause" event migphase-migrate
prints from Finish's cookie: the guest's pause from the source QEMU's STOP
event to the destination QEMU's RESUME event (pause_ms), QEMU's downtime as
Perform read it (downtime_ms) and the difference (added_ms); and the same
pause from the QEMU events' own times in Finish's cookie, both on this
host's one clock, which the "pause" event does not assume (it estimates the
hosts' clock offset, and is off by up to its uncertainty). Under postcopy
these mean something else: STOP comes at the switch and RESUME at Finish's
cont right after it, so the pause is the switch's own blackout, not the
stalls of the vCPU on pages it then faults in over the stream; and Perform
reads QEMU's figures at "postcopy-active", before QEMU reports any downtime
(query-migrate gives it only once "completed"), so downtime_ms is 0 there
and added_ms the whole pause. Prints the median and the spread (min-max)
per configuration, and which step sequences each took.

Both ends are this host (loopback), under TCG on shared cores. QEMU keeps
to --bandwidth during the passes but lifts the limit for the last
stop-and-copy, so the remainder goes at loopback speed: the downtime here is
far below the limit QEMU switched over under (which assumes the limited
rate), and below what a link of that bandwidth would take. The throttle
goes up by the default step (10% a pass; converge.sh uses 20 to be quick).

This is a benchmark, not a test: it asserts nothing.
"""

import collections
import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


sys.path.insert(0, HERE)
import siblings  # noqa: E402

pause = siblings.load("guest-pause.py")  # setup_lab
overhead = pause.overhead  # start_guest, kill, and the test guest's Monitor
UFFD = "/proc/sys/vm/unprivileged_userfaultfd"
CONFIGS = ["none", "auto", "auto-400", "auto-400-pc", "pc-after"]


def config_argv(config, args):
    """The options that make the configuration, and its time bound."""
    bound = ["--timeout", str(args.bound)]
    return {
        "none": ["--converge", "none", "--timeout", str(args.timeout)],
        "auto": ["--converge", "auto"] + bound,
        "auto-400": ["--converge", "auto", "--downtime-ceiling-ms", "400"] + bound,
        "auto-400-pc": ["--converge", "auto", "--downtime-ceiling-ms", "400", "--postcopy"] + bound,
        "pc-after": ["--postcopy-after-precopy"] + bound,
    }[config]


def uses_postcopy(config):
    return config in ("auto-400-pc", "pc-after")


class Userfaultfd:
    """vm.unprivileged_userfaultfd=1 for the destination QEMU (migphase-qemu),
    as tests/integration/postcopy.sh sets it, for the whole bench, and put
    back after it. The sysctl is the host's, and tests beside this bench may
    set it too: one that started meanwhile took this bench's 1 for the
    host's value and puts it back when it ends, and one still running may
    need it. So the previous value goes back only once no other migration
    that may use postcopy runs (a QEMU as migphase-qemu, a command naming
    postcopy), and not over a value someone else wrote."""

    def __enter__(self):
        self.before = read_sysctl()
        write_sysctl("1")

    def __exit__(self, *exc):
        if self.before == "1" or read_sysctl() != "1":
            return
        deadline = time.monotonic() + 900
        while others_using_userfaultfd():
            if time.monotonic() > deadline:
                print("%s left at 1: another migration still runs; put %s back once it "
                      "ends" % (UFFD, self.before), flush=True)
                return
            time.sleep(2)
        if read_sysctl() == "1":
            write_sysctl(self.before)


def read_sysctl():
    return open(UFFD).read().strip()


def write_sysctl(value):
    with open(UFFD, "w") as f:
        f.write(value + "\n")


def others_using_userfaultfd():
    """Whether a process not this bench's may need the sysctl (read only)."""
    qemu_uid = pwd.getpwnam("migphase-qemu").pw_uid
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = open("/proc/%s/cmdline" % entry, "rb").read()
            uid = int(re.search(r"\nUid:\s+(\d+)", open("/proc/%s/status" % entry).read()).group(1))
        except (OSError, AttributeError):
            continue
        if b"postcopy" in cmdline or (uid == qemu_uid and b"qemu-system" in cmdline):
            return True
    return False


# --- the processes of a run ------------------------------------------------

def run_pids(tmp, name):
    """The QEMUs of a run, from their pid files (the destination's "PID
    START", as Prepare writes it), and any process still naming the run's
    directory, which is this bench's own (mkdtemp): a QEMU Prepare started
    before it wrote its pid down, a helper left by an interrupt."""
    pids = set()
    for path in (os.path.join(tmp, name + ".pid"),
                 os.path.join(tmp, "state", "destination", name, "qemu.pid")):
        try:
            pids.add(int(open(path).read().split()[0]))
        except (OSError, ValueError, IndexError):
            pass
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = open("/proc/%s/cmdline" % entry, "rb").read()
        except OSError:
            continue
        if tmp.encode() + b"/" in cmdline:
            pids.add(int(entry))
    return pids


def kill_run(tmp, name):
    """SIGKILL each process of the run by its pid, and wait until gone."""
    pids = run_pids(tmp, name)
    for pid in pids:
        overhead.kill(pid)
    deadline = time.monotonic() + 10
    while any(os.path.exists("/proc/%d" % p) and not zombie(p) for p in pids):
        if time.monotonic() > deadline:
            print("(processes %s of %s outlived SIGKILL)" % (sorted(pids), tmp), flush=True)
            return
        time.sleep(0.05)


def zombie(pid):
    try:
        return "\nState:\tZ" in open("/proc/%d/status" % pid).read()
    except OSError:
        return True


def run_state(socket_path):
    """QEMU's run state through its monitor, "gone" when nobody answers."""
    try:
        return overhead.Monitor(socket_path, 2).execute("query-status")["status"]
    except (OSError, ConnectionError, RuntimeError, ValueError):
        return "gone"


# --- one migration ---------------------------------------------------------

def migrate(build, args, tmp, name, config):
    """Run migphase-migrate once; its wall time, exit status and stderr."""
    qmp = os.path.join(tmp, name + ".qmp")
    argv = [os.path.join(build, "helpers", "migphase-migrate"), "--local",
            "--listen", "127.0.0.1", "--progress", "json",
            "--qmp", qmp, "--dest-qmp", os.path.join(tmp, name + "-dst.qmp"),
            "--state-dir", os.path.join(tmp, "state"),
            "--rewrite", "%s-serial=%s-dst-serial" % (name, name),
            "--bandwidth", str(args.bandwidth)] + config_argv(config, args)
    start = time.monotonic()
    # A session of its own, which an interrupt of this bench (Ctrl-C or
    # SIGTERM) reaches only as below: once, for each of its steps.
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        _, err = proc.communicate()
    except BaseException:
        # migphase-migrate cancels the stream and undoes the rest on SIGINT:
        # let it, for a while.
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        raise
    return time.monotonic() - start, proc.returncode, err


def parse(err):
    """The progress events of interest, from migphase-migrate's stderr."""
    events, other = [], []
    for line in err.splitlines():
        if not line.startswith("{"):
            other.append(line)
            continue
        try:
            events.append(json.loads(line))
        except ValueError:
            other.append(line)
    return events, other


def step_name(event):
    """One escalation step in a few words."""
    kind, detail = event["event"], event.get("detail", "")
    if kind == "converge":
        m = re.search(r"downtime limit (\d+) -> (\d+) ms", detail)
        if m:
            return "downtime %s->%s" % m.groups()
        if "throttling the guest" in detail:
            return "throttle"
    return kind  # postcopy, timeout


def cookie_convergence(tmp, name):
    """Perform's own record of its steps, the <convergence> of its cookie."""
    try:
        text = open(os.path.join(tmp, "state", "source", name, "perform-out.xml")).read()
    except OSError:
        return "-"
    m = re.search(r"<convergence ([^>]*)/>", text)
    return m.group(1) if m else "-"


def one_clock_pause(tmp, name):
    """The pause from the two QEMU events' own times in Finish's cookie (ms),
    as guest-pause.py takes it: both on this host's one clock. The "pause"
    event's figure estimates the clocks' offset from the cookies' travel
    times instead, as between two hosts, and is off by up to its
    uncertainty_ms, here tens of ms."""
    try:
        t = pause.cookie_attrs(os.path.join(tmp, "state", "destination", name,
                                            "finish-out.xml"), "timing")
    except (OSError, AttributeError):
        return None
    if not t.get("stop-us") or not t.get("resume-us"):
        return None
    return (t["resume-us"] - t["stop-us"]) / 1000.0


def qemu_log_tail(tmp, name):
    try:
        lines = open(os.path.join(tmp, "state", "destination", name, "qemu.log")).read()
    except OSError:
        return []
    return ["destination QEMU: " + line for line in lines.splitlines()[-2:]]


def one_run(build, args, tmp, name, config):
    wall, status, err = migrate(build, args, tmp, name, config)
    events, other = parse(err)
    steps = [(step_name(e), e["elapsed_ms"]) for e in events
             if e["event"] in ("converge", "postcopy", "timeout")]
    done = [e for e in events if e["event"] == "done"]
    paused = [e for e in events if e["event"] == "pause"]
    summary = [line for line in other if "completed:" in line]
    last = done[-1]["status"] if done else "-"
    # The "postcopy" event says Perform asked for the switch; the stream's
    # last status whether QEMU made it (Perform's part ends at postcopy-active).
    if status == 0 and last.startswith("postcopy-"):
        outcome = "completed by postcopy"
    elif status == 0:
        outcome = "completed"
    elif any(s == "timeout" for s, _ in steps):
        outcome = "cancelled"
    else:
        outcome = "failed (exit %d)" % status
    r = {"wall": wall, "outcome": outcome, "steps": steps,
         "last status": last, "cookie": cookie_convergence(tmp, name),
         # Where the guest runs now: the source (cancelled) or the destination.
         "source": run_state(os.path.join(tmp, name + ".qmp")),
         "destination": run_state(os.path.join(tmp, name + "-dst.qmp"))}
    if paused:
        r.update(pause=paused[-1]["pause_ms"], downtime=paused[-1]["downtime_ms"],
                 added=paused[-1]["added_ms"], uncertainty=paused[-1]["uncertainty_ms"])
        clock = one_clock_pause(tmp, name)
        if clock is not None:
            r.update(clock=clock, clock_added=clock - r["downtime"])
    m = re.search(r"stream ([0-9.]+) s, downtime \d+ ms, ([0-9.]+) MiB sent of [0-9.]+ MiB RAM, "
                  r"(\d+) passes", summary[-1]) if summary else None
    if m:
        r.update(stream=float(m.group(1)), sent=float(m.group(2)), passes=int(m.group(3)))
    if outcome.startswith("failed"):
        # The helpers' last words, and the destination QEMU's: a QEMU that
        # died says why only in the log Prepare keeps.
        r["why"] = " | ".join(other[-3:] + qemu_log_tail(tmp, name))
    return r


def describe(r):
    """One run on one line."""
    steps = ", ".join("%s @%.1f s" % (s, ms / 1000) for s, ms in r["steps"]) or "no step"
    text = "%s in %.1f s (last status %s; source %s, destination %s); %s" % (
        r["outcome"], r["wall"], r["last status"], r["source"], r["destination"], steps)
    if "pause" in r:
        text += "; pause %.1f ms (within %.1f), downtime %d ms, added %.1f ms" % (
            r["pause"], r["uncertainty"], r["downtime"], r["added"])
    if "clock" in r:
        text += "; one clock: pause %.1f ms, added %.1f ms" % (r["clock"], r["clock_added"])
    if "stream" in r:
        text += "; stream %.2f s, %.1f MiB sent, %d passes" % (r["stream"], r["sent"], r["passes"])
    if "why" in r:
        text += "; " + r["why"]
    text += "; cookie: " + r["cookie"]
    if "note" in r:
        text += "; " + r["note"]
    return text


def run_config(build, args, root, rnd, config):
    tmp = tempfile.mkdtemp(prefix="run.", dir=root)
    os.chmod(tmp, 0o770)  # the destination QEMU (migphase-qemu) writes its serial log here
    shutil.chown(tmp, group="migphase-qemu")
    name = "esc%d%s" % (rnd, CONFIGS.index(config))
    try:
        overhead.start_guest(tmp, name, build, args.mem, args.rate, args.accel)
        os.sync()  # see migration-overhead.py: no run pays for another's discards
        r = one_run(build, args, tmp, name, config)
        if uses_postcopy(config) and read_sysctl() != "1":
            # A test beside this bench lowered it: Prepare may have refused.
            r["note"] = "%s was %s at the run's end" % (UFFD, read_sysctl())
        return r
    finally:
        kill_run(tmp, name)
        shutil.rmtree(tmp, ignore_errors=True)


# --- the report ------------------------------------------------------------

def spread(values, fmt):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    return "%s (%s-%s)" % (fmt % statistics.median(values), fmt % min(values), fmt % max(values))


def report(args, results):
    print()
    print("guest %d MiB rewritten at %d MiB/s, bandwidth %d MiB/s, accel %s; bound %d s for "
          "none, %d s for the rest; %d rounds, %d cores" %
          (args.mem, args.rate, args.bandwidth, args.accel, args.timeout, args.bound,
           args.runs, os.cpu_count()))
    print("median (min-max) of the runs that did not fail")
    print("pause: the \"pause\" event's (clocks' offset estimated); 1 clock: from the QEMU "
          "events' times in Finish's cookie; added: the 1-clock pause less QEMU's downtime")
    print("%-12s %-18s %-22s %-22s %-18s %-20s %s" %
          ("config", "wall s", "pause ms", "1-clock pause ms", "QEMU downtime ms", "added ms",
           "outcomes"))
    for config in CONFIGS:
        rs = results[config]
        if not rs:
            continue
        outcomes = collections.Counter(r["outcome"] for r in rs)
        # A failed run (a refused Prepare) measured nothing of the escalation.
        ok = [r for r in rs if not r["outcome"].startswith("failed")]
        print("%-12s %-18s %-22s %-22s %-18s %-20s %s" % (
            config, spread([r["wall"] for r in ok], "%.1f"),
            spread([r.get("pause") for r in ok], "%.1f"),
            spread([r.get("clock") for r in ok], "%.1f"),
            spread([r.get("downtime") for r in ok], "%.0f"),
            spread([r.get("clock_added") for r in ok], "%.1f"),
            ", ".join("%d %s" % (n, o) for o, n in outcomes.items())))
    print()
    print("steps taken (runs: sequence, the first step's time into the stream median)")
    for config in CONFIGS:
        rs = results[config]
        sequences = collections.Counter(" > ".join(s for s, _ in r["steps"]) or "none"
                                        for r in rs)
        for seq, n in sequences.items():
            firsts = [r["steps"][0][1] / 1000 for r in rs
                      if (" > ".join(s for s, _ in r["steps"]) or "none") == seq and r["steps"]]
            when = " (first at %.1f s)" % statistics.median(firsts) if firsts else ""
            print("  %-12s %d/%d: %s%s" % (config, n, len(rs), seq, when))
    runs = [r for rs in results.values() for r in rs]
    post = [r for r in runs if r["outcome"] == "completed by postcopy"]
    asked = [r for r in runs if r["outcome"] == "completed"
             and any(s == "postcopy" for s, _ in r["steps"])]
    print()
    print("%d runs completed by postcopy: their pause is the source's STOP at the switch to "
          "the destination's RESUME at Finish's cont, the switch's blackout, not the vCPU's "
          "stalls on the pages it faults in afterwards; Perform reads QEMU's figures at "
          "postcopy-active, before QEMU reports a downtime: 0, and added = pause." % len(post))
    if asked:
        print("%d runs asked for postcopy (a \"postcopy\" event) and yet completed in "
              "pre-copy (last status \"completed\"): their pause is a pre-copy one." % len(asked))


def main():
    ap = siblings.guest_arguments(__doc__, runs=3, mem=32, rate=24)
    ap.add_argument("--bandwidth", type=int, default=16, help="MiB/s")
    ap.add_argument("--timeout", type=int, default=10, help="s, the bound of --converge none")
    ap.add_argument("--bound", type=int, default=120, help="s, the bound of the others")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    args = ap.parse_args()
    configs = [c for c in CONFIGS if c in args.configs.split(",")]
    if os.geteuid() != 0:
        sys.exit("converge-escalation.py: needs root (the helpers' test user, the sysctl)")
    if not os.path.exists(UFFD):
        sys.exit("converge-escalation.py: no %s here, which postcopy needs" % UFFD)
    build = os.path.abspath(args.build)
    # SIGTERM unwinds like Ctrl-C (SIGINT, even where a shell's background
    # job ignores it): every finally below kills what it started.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    root = pause.setup_lab(build)
    results = {c: [] for c in CONFIGS}
    uffd = Userfaultfd() if any(uses_postcopy(c) for c in configs) else contextlib.nullcontext()
    try:
        with uffd:
            for rnd in range(args.runs):
                order = configs if rnd % 2 == 0 else list(reversed(configs))
                for config in order:
                    r = run_config(build, args, root, rnd, config)
                    results[config].append(r)
                    print("round %d %-12s %s" % (rnd + 1, config, describe(r)), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report(args, results)


if __name__ == "__main__":
    main()
