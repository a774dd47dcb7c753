"""The README's promises: its code runs, its commands are the ones CI runs, every CLI
command is documented, and the public API is exactly what ``__all__`` says."""

from __future__ import annotations

import re
from pathlib import Path

import agentmem

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def test_readme_opens_with_the_two_commands_and_ci_runs_the_second() -> None:
    commands = [block.strip().splitlines()[-1] for block in _blocks("sh")[:2]]
    assert commands[0].endswith("agentmem demo")
    assert "torch==2.13.0" in commands[0] and "torch==2.13.0" in commands[1]
    assert commands[1].endswith("python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1] in ci


def test_every_cli_command_is_documented() -> None:
    from agentmem.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, command_parser in sub.choices.items():  # type: ignore[union-attr]
        nested = [a for a in command_parser._actions if a.dest == "action"]
        names = [f"{name} {inner}" for inner in nested[0].choices] if nested else [name]
        for full in names:
            assert f"agentmem {full}" in README, f"README does not document `agentmem {full}`"


def test_public_api_is_exactly_all() -> None:
    public = {name for name in dir(agentmem) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(agentmem, name)).__name__ == "module"}
    assert public - modules == set(agentmem.__all__) - {"__version__"}
    import inspect

    for name in agentmem.__all__:
        value = getattr(agentmem, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__doc__, f"{name} has no docstring"


def test_py_typed_ships() -> None:
    assert (ROOT / "agentmem" / "py.typed").exists()
