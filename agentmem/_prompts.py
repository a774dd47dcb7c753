"""Prompt templates: files under ``agentmem/prompts/``, rendered at call time."""

from __future__ import annotations

import functools
import json
from importlib import resources
from string import Template

from agentmem._errors import UserError

__all__ = ["load_prompt", "quote_memory", "render_prompt"]


@functools.lru_cache(maxsize=32)
def load_prompt(name: str) -> Template:
    """The template ``agentmem/prompts/<name>.md``."""
    try:
        text = resources.files("agentmem.prompts").joinpath(f"{name}.md").read_text("utf-8")
    except FileNotFoundError as exc:
        msg = f"no prompt named {name!r} in agentmem/prompts/"
        raise UserError(msg) from exc
    return Template(text)


def render_prompt(name: str, **values: object) -> str:
    """Render a prompt; every ``$name`` in it must be given."""
    try:
        return load_prompt(name).substitute({k: str(v) for k, v in values.items()})
    except KeyError as exc:
        msg = f"prompt {name!r} needs the value {exc.args[0]!r}"
        raise UserError(msg) from exc


def quote_memory(text: str) -> str:
    """A memory's text as inert data for a prompt: one line, quoted, escaped, tag-safe.

    The text becomes a JSON string (quotes, backslashes and control characters escaped)
    on one line, and ``<`` / ``>`` become ``‹`` / ``›``, so no memory can close or open a
    block such as ``<memories>`` in any letter case, or pose as a new prompt line. Every
    prompt style quotes memories through here.
    """
    flat = " ".join(text.split())
    return json.dumps(flat, ensure_ascii=False).replace("<", "\u2039").replace(">", "\u203a")
