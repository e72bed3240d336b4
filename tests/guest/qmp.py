#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Run one QMP command against a QEMU monitor socket and print its result.

    qmp.py [--timeout S] [--get PATH] SOCKET COMMAND [NAME=VALUE ...]

VALUE is read as an integer if it is one (0x... allowed), else as JSON if it parses
(true, null, {...}), else as a string. The result is printed as JSON, or with --get
only the member at PATH (dotted, e.g. ram.transferred), bare if it is a string.
Exit status: 0 on success, 1 if QEMU answered with an error, 2 if it could not be asked.
Kept to the standard library: the tests use it on machines with nothing else installed.
"""

import argparse
import json
import socket
import sys
import time


def parse_value(text):
    try:
        return int(text, 0)
    except ValueError:
        pass
    try:
        return json.loads(text)
    except ValueError:
        return text


class Monitor:
    def __init__(self, path, timeout):
        deadline = time.monotonic() + timeout
        while True:
            # QEMU creates the socket shortly after it starts; callers need not poll.
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.settimeout(timeout)
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.reader = self.sock.makefile("r", encoding="utf-8")
        self.read_message()  # the greeting
        self.execute("qmp_capabilities")

    def read_message(self):
        line = self.reader.readline()
        if not line:
            raise ConnectionError("QEMU closed the monitor connection")
        return json.loads(line)

    def execute(self, command, arguments=None):
        request = {"execute": command, "id": command}
        if arguments:
            request["arguments"] = arguments
        self.sock.sendall(json.dumps(request).encode() + b"\n")
        while True:
            reply = self.read_message()
            if "event" in reply:
                continue
            if "error" in reply:
                raise RuntimeError("{}: {}".format(command, reply["error"].get("desc", reply)))
            return reply.get("return")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--get", metavar="PATH")
    parser.add_argument("socket")
    parser.add_argument("command")
    parser.add_argument("arguments", nargs="*", metavar="NAME=VALUE")
    args = parser.parse_args()

    arguments = {}
    for item in args.arguments:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error("argument {!r} is not NAME=VALUE".format(item))
        arguments[name] = parse_value(value)

    try:
        result = Monitor(args.socket, args.timeout).execute(args.command, arguments)
    except RuntimeError as e:
        print("qmp.py: {}".format(e), file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:
        print("qmp.py: {}: {}".format(args.socket, e), file=sys.stderr)
        return 2

    if args.get:
        for key in args.get.split("."):
            result = result.get(key) if isinstance(result, dict) else None
        if isinstance(result, str):
            print(result)
            return 0
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
