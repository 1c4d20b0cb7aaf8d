"""SIGTERM and Ctrl-C from the first instant: a stop asked for before the show's event loop takes the signals over
is remembered, and the show stops as soon as it has started (its recording closed and playable); a second signal
exits at once. Imports nothing heavy: the entry points install it before anything else is loaded."""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

#: The signals received before the show took them over (first one first).
received: list[int] = []
#: True in a process started from an entry point (``run_stream.py``, ``python -m streamer``): it owns its exit.
installed = False


def _remember(signum: int, frame: FrameType | None) -> None:
    if received:
        # Asked twice: the operator means it. Nothing is on air yet, so nothing is left half-written.
        os._exit(128 + signum)
    received.append(signum)
    print(f"{signal.Signals(signum).name}: stopping as soon as the show has started", file=sys.stderr, flush=True)


def install() -> None:
    """Catch the stop signals in this (main) thread until the show's event loop installs its own handlers."""
    global installed
    installed = True
    for sig in STOP_SIGNALS:
        signal.signal(sig, _remember)


def main() -> int:
    """The ``livehost`` command: stop signals caught first, then the command line."""
    install()
    from streamer.cli import main as cli_main

    return cli_main()
