#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A QMP proxy that makes a monitor slow, silent or forgetful, on purpose.

    qmp-proxy.py LISTEN UPSTREAM [--delay-active S] [--hide-capability NAME ...]
                 [--silent-after COMMAND] [--postcopy-completed-after N]

Listens on the unix socket LISTEN and relays each client to QEMU's monitor at
UPSTREAM, one client at a time as QEMU itself serves them. What it changes:

  --delay-active S       holds back every reply to query-migrate that says the
                         stream is active, and everything QEMU sends after it,
                         for S seconds: a main loop starved by a vCPU that
                         holds the big lock, as seen under TCG.
  --hide-capability NAME removes NAME from query-migrate-capabilities, and
                         answers migrate-set-capabilities naming it with the
                         error QEMU gives for a capability it lacks.
  --silent-after COMMAND relays QEMU's reply to COMMAND, then goes silent as
                         on SIGUSR1: a helper caught right after it.
  --postcopy-completed-after N
                         relays N replies to query-migrate that say
                         postcopy-active, then says "completed" in their
                         place: a destination that saw its last page while
                         its source has not heard so yet.
  SIGUSR1                goes silent: nothing more reaches the client until
  SIGUSR2                lets it all through again.

Kept to the standard library, like tests/guest/qmp.py.
"""

import argparse
import json
import os
import signal
import socket
import threading
import time

silent = threading.Event()
postcopy_replies = [0]  # replies to query-migrate that said postcopy-active


def on_signal(signum, _frame):
    if signum == signal.SIGUSR1:
        silent.set()
    else:
        silent.clear()


class Relay:
    """One client and its upstream connection."""

    def __init__(self, client, upstream_path, args):
        self.client = client
        self.args = args
        self.upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.upstream.connect(upstream_path)
        self.commands = {}  # reply id -> command name
        self.lock = threading.Lock()
        self.release_at = 0.0  # nothing goes out before this (monotonic)
        self.out = []  # (release time, line), in order
        self.cond = threading.Condition(self.lock)
        self.done = False

    def run(self):
        threads = [threading.Thread(target=f, daemon=True)
                   for f in (self.from_client, self.from_upstream, self.to_client)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.client.close()
        self.upstream.close()

    def finish(self):
        with self.cond:
            self.done = True
            self.cond.notify_all()
        for s in (self.client, self.upstream):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def from_client(self):
        reader = self.client.makefile("rb")
        for line in reader:
            try:
                msg = json.loads(line)
            except ValueError:
                msg = {}
            name = msg.get("execute")
            if name and "id" in msg:
                with self.lock:
                    self.commands[json.dumps(msg["id"])] = name
            if name == "migrate-set-capabilities" and self.refused(msg):
                self.send_later(json.dumps({"id": msg.get("id"), "error": {
                    "class": "GenericError",
                    "desc": "Capability '%s' is not supported here" % self.refused(msg)}}))
                continue
            self.upstream.sendall(line)
        self.finish()

    def refused(self, msg):
        caps = msg.get("arguments", {}).get("capabilities", [])
        for cap in caps:
            if cap.get("capability") in self.args.hide_capability and cap.get("state"):
                return cap["capability"]
        return None

    def from_upstream(self):
        reader = self.upstream.makefile("rb")
        for line in reader:
            self.send_later(self.rewrite(line))
        self.finish()

    def rewrite(self, line):
        """The line to relay, and whether it is a reply to delay."""
        try:
            msg = json.loads(line)
        except ValueError:
            return line.decode(errors="replace").rstrip("\n"), False, False
        with self.lock:
            command = self.commands.pop(json.dumps(msg.get("id")), None)
        ret = msg.get("return")
        if command == "query-migrate-capabilities" and isinstance(ret, list):
            msg["return"] = [c for c in ret if c.get("capability") not in self.args.hide_capability]
        if (command == "query-migrate" and isinstance(ret, dict) and
                ret.get("status") == "postcopy-active" and
                self.args.postcopy_completed_after is not None):
            with self.lock:
                postcopy_replies[0] += 1
                if postcopy_replies[0] > self.args.postcopy_completed_after:
                    ret["status"] = "completed"
        delay = (command == "query-migrate" and isinstance(ret, dict) and
                 ret.get("status") == "active" and self.args.delay_active > 0)
        return json.dumps(msg), delay, command is not None and command == self.args.silent_after

    def send_later(self, item):
        text, delay, hush = item if isinstance(item, tuple) else (item, False, False)
        with self.cond:
            now = time.monotonic()
            if delay:
                self.release_at = max(self.release_at, now + self.args.delay_active)
            self.out.append((max(self.release_at, now), text + "\n", hush))
            self.cond.notify_all()

    def to_client(self):
        while True:
            with self.cond:
                while not self.done and (not self.out or silent.is_set() or
                                         self.out[0][0] > time.monotonic()):
                    wait = self.out[0][0] - time.monotonic() if self.out else None
                    self.cond.wait(0.1 if wait is None or silent.is_set() else max(wait, 0.001))
                if self.done:
                    return
                _, text, hush = self.out.pop(0)
            try:
                self.client.sendall(text.encode())
            except OSError:
                self.finish()
                return
            if hush:
                silent.set()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("listen")
    parser.add_argument("upstream")
    parser.add_argument("--delay-active", type=float, default=0.0)
    parser.add_argument("--hide-capability", action="append", default=[])
    parser.add_argument("--silent-after", default=None)
    parser.add_argument("--postcopy-completed-after", type=int, default=None)
    args = parser.parse_args()
    signal.signal(signal.SIGUSR1, on_signal)
    signal.signal(signal.SIGUSR2, on_signal)
    if os.path.exists(args.listen):
        os.unlink(args.listen)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(args.listen)
    server.listen(4)
    while True:
        client, _ = server.accept()
        try:
            Relay(client, args.upstream, args).run()
        except OSError:
            client.close()


if __name__ == "__main__":
    main()
