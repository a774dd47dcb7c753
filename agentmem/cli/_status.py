"""A status line on stderr while something slow happens (loading models, thinking).

On a terminal it is a spinner with the seconds elapsed, erased when done; elsewhere
(a pipe, a log file, a test) it is one plain line, so logs stay readable.
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

__all__ = ["status"]

_FRAMES = "|/-\\"


@contextmanager
def status(text: str, *, stream: TextIO | None = None, done: str | None = None) -> Iterator[None]:
    """Show ``text`` until the block ends; then ``done`` (with the seconds) if given."""
    out = stream if stream is not None else sys.stderr
    started = time.perf_counter()
    if not out.isatty():
        print(f"{text}...", file=out, flush=True)
        yield
        if done:
            print(f"{done} ({time.perf_counter() - started:.1f} s)", file=out, flush=True)
        return
    stop = threading.Event()

    def spin() -> None:
        for frame in itertools.cycle(_FRAMES):
            elapsed = time.perf_counter() - started
            out.write(f"\r{frame} {text} ({elapsed:.0f} s)")
            out.flush()
            if stop.wait(0.2):
                break

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    try:
        yield
    finally:
        stop.set()
        spinner.join()
        out.write("\r\033[K")
        if done:
            out.write(f"{done} ({time.perf_counter() - started:.1f} s)\n")
        out.flush()
