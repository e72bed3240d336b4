# SPDX-License-Identifier: LGPL-2.1-or-later
"""The bench scripts' way to use one another: their file names (with a
dash) are no module names."""

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
