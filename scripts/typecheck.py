"""Run mypy (strict) on the installed layout: agentmem/ with stores/ and policies/ inside.

The distribution maps ``stores/`` and ``policies/`` to ``agentmem.stores`` and
``agentmem.policies``; mypy cannot follow that mapping, so this script builds a tree of
symbolic links shaped like the installed package and checks it.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    """Build the linked tree and run mypy on it; return mypy's exit code."""
    with tempfile.TemporaryDirectory(prefix="agentmem-typecheck-") as tmp:
        package = Path(tmp) / "agentmem"
        package.mkdir()
        for entry in (ROOT / "agentmem").iterdir():
            if entry.name != "__pycache__":
                (package / entry.name).symlink_to(entry)
        (package / "stores").symlink_to(ROOT / "stores")
        (package / "policies").symlink_to(ROOT / "policies")
        command = [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
            "-p",
            "agentmem",
        ]
        return subprocess.call(command, cwd=tmp, env={"MYPYPATH": tmp, "PATH": ""})


if __name__ == "__main__":
    sys.exit(main())
