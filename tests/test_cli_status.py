"""The status line the CLI shows while models load: plain lines off a terminal, a spinner on one."""

from __future__ import annotations

import io
import time

from agentmem.cli._status import status


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    with status("loading the models", stream=out, done="ready"):
        pass
    lines = out.getvalue().splitlines()
    assert lines[0] == "loading the models..." and lines[1].startswith("ready (")


def test_spinner_on_a_terminal_is_erased_when_done() -> None:
    out = Tty()
    with status("loading", stream=out, done="ready"):
        time.sleep(0.5)
    text = out.getvalue()
    assert "\r| loading (0 s)" in text or "\r| loading (1 s)" in text
    assert text.rstrip().endswith("s)") and "\r\x1b[K" in text and "ready (" in text
