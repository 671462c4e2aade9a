"""Entry point of the frozen ``binaries/oibus``: the engine, or a worker when called as ``oibus -m engine.worker``.

The engine starts its workers as ``sys.executable -m engine.worker <key>``. Frozen, ``sys.executable`` is this
program, so it answers to the same ``-m`` spelling as a Python interpreter and no engine code has to know
whether it runs frozen.
"""

from __future__ import annotations

import multiprocessing
import runpy
import sys

_MODULES = ("engine", "engine.worker")


def main() -> None:
    """Run ``-m <module>`` like Python does (for the modules above), else the engine command line."""
    multiprocessing.freeze_support()
    argv = sys.argv[1:]
    if len(argv) >= 2 and argv[0] == "-m":
        if argv[1] not in _MODULES:
            sys.exit(f"oibus: cannot run module {argv[1]!r} (only {', '.join(_MODULES)})")
        sys.argv = [sys.argv[0], *argv[2:]]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        return
    from engine.cli import main as engine_main

    engine_main()


if __name__ == "__main__":
    main()
