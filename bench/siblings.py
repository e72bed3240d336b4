# SPDX-License-Identifier: LGPL-2.1-or-later
"""The bench scripts' way to use one another: their file names (with a
dash) are no module names."""

import argparse
import importlib.util
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def load(filename):
    """The bench script bench/FILENAME, loaded as a module."""
    name = os.path.splitext(filename)[0].replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, filename))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def guest_arguments(doc, runs, mem, rate):
    """The options every bench script takes, with its own defaults: the
    build directory, how many runs, the test guest's memory (MiB) and
    rewrite rate (MiB/s), and the accelerator (MIGPHASE_ACCEL, else tcg).
    The caller adds its own and parses."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("build")
    ap.add_argument("--runs", type=int, default=runs)
    ap.add_argument("--mem", type=int, default=mem)
    ap.add_argument("--rate", type=int, default=rate)
    ap.add_argument("--accel", default=os.environ.get("MIGPHASE_ACCEL", "tcg"))
    return ap
