"""Where the public evaluation data lives: ``../shared/data`` beside the repository.

The project commits none of that data. ``AGENTMEM_SHARED_DATA`` points elsewhere (for
example from a git worktree); otherwise ``../shared/data`` is looked for relative to the
current directory and to the repository this package was installed from.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

from agentmem.eval.loaders import DatasetError

__all__ = ["SHARED_DATA_ENV", "load_bundled", "load_vocabulary", "shared_data_dir", "shared_path"]

SHARED_DATA_ENV = "AGENTMEM_SHARED_DATA"


def shared_data_dir() -> Path | None:
    """The shared data folder, or ``None`` when there is none."""
    override = os.environ.get(SHARED_DATA_ENV)
    if override:
        return Path(override).expanduser()
    repo = Path(__file__).resolve().parents[2]
    for candidate in (Path.cwd() / ".." / "shared" / "data", repo / ".." / "shared" / "data"):
        if candidate.is_dir():
            return candidate.resolve()
    return None


def shared_path(*parts: str) -> Path:
    """A path under the shared data folder; raises DatasetError saying how to fix a miss."""
    base = shared_data_dir()
    path = None if base is None else base.joinpath(*parts)
    if path is None or not path.exists():
        msg = (
            f"public data {'/'.join(parts)!r} not found (looked in {base or '../shared/data'}); "
            f"set {SHARED_DATA_ENV}=/path/to/shared/data or pass the file's path"
        )
        raise DatasetError(msg)
    return path


def load_bundled(name: str) -> Any:
    """A JSON file shipped in ``agentmem/eval/data/``."""
    text = resources.files("agentmem.eval").joinpath("data", name).read_text("utf-8")
    return json.loads(text)


def load_vocabulary(path: str | os.PathLike[str] | None = None) -> dict[str, list[str]]:
    """A ``category -> values`` vocabulary: ``path`` (e.g. PI-LLM's) or the bundled one."""
    if path is None:
        data = load_bundled("vocabulary.json")
    else:
        try:
            data = json.loads(Path(path).read_text("utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            msg = f"cannot read the vocabulary {path}: {exc}"
            raise DatasetError(msg) from exc
    if not isinstance(data, dict) or not all(
        isinstance(v, list) and len(v) >= 2 and all(isinstance(x, str) for x in v)
        for v in data.values()
    ):
        msg = f"vocabulary {path or 'bundled'} must map each category to 2+ strings"
        raise DatasetError(msg)
    return {str(k): list(v) for k, v in data.items()}
