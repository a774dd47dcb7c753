"""The README runs as written: every code block, top to bottom, its output as shown.

Conventions (also in the notice board of the project):

- every ``python`` and ``sh`` block runs, in order, in one temporary folder that is also
  ``$HOME`` (so ``~/.agentmem/...`` lands there); each python block gets a fresh namespace;
  an ``sh`` block runs line by line, each ``agentmem ...`` line through
  ``agentmem.cli.main``;
- a ``text`` block right after a code block is what the code prints (stdout), compared line
  by line with trailing spaces ignored; a line ``...`` stands for any number of lines. A
  block that prints with no ``text`` block after it fails;
- an HTML comment ``<!-- readme-test: KEY[=VALUE] ... -->`` right before a block says how
  it runs: ``needs=real_models`` (only in the real-models test), ``needs=postgres`` (the
  URL ``postgresql://localhost/agentmem`` becomes the test server's), ``needs=openai`` (a
  scripted OpenAI-compatible server replaces ``http://localhost:11434/v1``; it answers
  every request with ``OPENAI_REPLY``), ``needs=server`` (``agentmem serve`` on a free
  port replaces ``http://localhost:8000``), ``needs=shared_data`` (the public data sets;
  skipped without them, as in ``tests/eval``), ``skip=REASON`` (install commands only).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
OPENAI_REPLY = "Hello from the model server."
_FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
_DIRECTIVE = re.compile(r"<!--\s*readme-test:(.*?)-->", re.S)
_KNOWN_NEEDS = {"real_models", "postgres", "openai", "server", "shared_data"}


@dataclass
class Block:
    """One runnable block of the README, with the output it promises."""

    language: str
    code: str
    line: int
    expected: str | None = None
    options: dict[str, str] = field(default_factory=dict)

    @property
    def needs(self) -> set[str]:
        return set(filter(None, self.options.get("needs", "").split(",")))

    @property
    def id(self) -> str:
        return f"{self.language}-line{self.line}"


def parse(text: str) -> list[Block]:
    """The README's python and sh blocks, each with its directive and expected output."""
    blocks: list[Block] = []
    previous_end = 0
    last: Block | None = None
    for match in _FENCE.finditer(text):
        language, body = match.group(1), match.group(2)
        between = text[previous_end : match.start()]
        previous_end = match.end()
        line = text.count("\n", 0, match.start()) + 1
        if language == "text" and last is not None and not between.strip():
            last.expected = body
            last = None
            continue
        last = None
        if language not in ("python", "sh"):
            continue
        options: dict[str, str] = {}
        directive = _DIRECTIVE.findall(between.strip().splitlines()[-1] if between.strip() else "")
        for found in directive:
            found, _, reason = found.partition("skip=")
            if reason.strip():
                options["skip"] = reason.strip()  # the reason is free text
            for token in shlex.split(found):
                key, _, value = token.partition("=")
                options[key] = value
        last = Block(language, body, line, None, options)
        blocks.append(last)
    return blocks


BLOCKS = parse(README.read_text(encoding="utf-8"))


def matches(actual: str, expected: str) -> bool:
    """Whether ``actual`` output fits ``expected``, where a line ``...`` is any lines."""
    got = [line.rstrip() for line in actual.rstrip("\n").splitlines()]
    want = [line.rstrip() for line in expected.rstrip("\n").splitlines()]

    def fit(i: int, j: int) -> bool:
        if j == len(want):
            return i == len(got)
        if want[j] == "...":
            return any(fit(k, j + 1) for k in range(i, len(got) + 1))
        return i < len(got) and got[i] == want[j] and fit(i + 1, j + 1)

    return fit(0, 0)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("readme")


@contextlib.contextmanager
def _in(folder: Path) -> Iterator[None]:
    before = (os.getcwd(), os.environ.get("HOME"))
    os.chdir(folder)
    os.environ["HOME"] = str(folder)
    try:
        yield
    finally:
        os.chdir(before[0])
        if before[1] is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = before[1]


def _substitute(block: Block, request: pytest.FixtureRequest) -> str:
    code = block.code
    if "postgres" in block.needs:
        url = str(request.getfixturevalue("postgres_url"))
        code = code.replace("postgresql://localhost/agentmem", url)
    if "openai" in block.needs:
        server = request.getfixturevalue("openai_server")
        code = code.replace("http://localhost:11434/v1", server.url)
    if "server" in block.needs:
        code = code.replace(
            "http://localhost:8000", str(request.getfixturevalue("agentmem_server"))
        )
    return code


@pytest.fixture
def openai_server() -> Iterator[object]:
    from tests.chat_server import chat_server

    with chat_server() as server:
        server.say(*[OPENAI_REPLY] * 50)
        yield server


def run_block(block: Block, workdir: Path, request: pytest.FixtureRequest) -> str:
    """Run one block in ``workdir``; return what it printed."""
    from agentmem.cli import main

    if "shared_data" in block.needs:
        from agentmem.eval.shared_data import shared_data_dir

        if shared_data_dir() is None:  # the public data is not in the repo (as tests/eval)
            pytest.skip("the shared data folder is missing (set AGENTMEM_SHARED_DATA)")

    code = _substitute(block, request)
    out = io.StringIO()
    with _in(workdir), contextlib.redirect_stdout(out):
        if block.language == "python":
            exec(compile(code, f"README.md:{block.line}", "exec"), {"__name__": "__readme__"})  # noqa: S102
        else:
            for raw in code.splitlines():
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                assert line.startswith("agentmem "), (
                    f"README.md:{block.line}: only agentmem lines run"
                )
                assert main(shlex.split(line)[1:]) == 0, f"README.md:{block.line}: {line} failed"
    return out.getvalue()


def _check(block: Block, printed: str) -> None:
    if block.expected is None:
        assert not printed.strip(), (
            f"README.md:{block.line} prints output but shows none; add a ```text block:\n{printed}"
        )
        return
    assert matches(printed, block.expected), (
        f"README.md:{block.line}: the output differs from the README.\n"
        f"--- printed\n{printed}\n--- README\n{block.expected}"
    )


FAST = [b for b in BLOCKS if "skip" not in b.options and "real_models" not in b.needs]
REAL = [b for b in BLOCKS if "skip" not in b.options and "real_models" in b.needs]


def test_the_readme_has_blocks_and_every_directive_is_known() -> None:
    assert len(FAST) >= 5 and REAL
    for block in BLOCKS:
        assert set(block.options) <= {"needs", "skip"}, f"README.md:{block.line}: {block.options}"
        assert block.needs <= _KNOWN_NEEDS, f"README.md:{block.line}: unknown needs {block.needs}"
        if "skip" in block.options:
            assert block.options["skip"], f"README.md:{block.line}: skip needs a reason"


@pytest.mark.parametrize("block", FAST, ids=[b.id for b in FAST])
def test_readme_block(block: Block, workdir: Path, request: pytest.FixtureRequest) -> None:
    _check(block, run_block(block, workdir, request))


@pytest.mark.real_models
@pytest.mark.parametrize("block", REAL, ids=[b.id for b in REAL])
def test_readme_block_on_real_models(
    block: Block, workdir: Path, request: pytest.FixtureRequest
) -> None:
    import torch

    torch.manual_seed(0)
    _check(block, run_block(block, workdir, request))


def test_matches_understands_ellipsis() -> None:
    assert matches("a\nb\nc\n", "a\n...\nc")
    assert matches("a\nc", "a\n...\nc")
    assert not matches("a\nb", "a\nc")
    assert not matches("a\nb\nc", "a\nb")
