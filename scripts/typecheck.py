"""Run mypy (strict) on the installed layout: agentmem/ with stores/ and policies/ inside.

The distribution maps ``stores/`` and ``policies/`` to ``agentmem.stores`` and
``agentmem.policies`` (``[tool.setuptools.package-dir]``); this script builds a tree of
symbolic links shaped like the installed package and checks it. Why mypy cannot be
pointed at the checkout directly (each tried with mypy 2.4):

- ``mypy_path`` and ``explicit_package_bases`` only say where package roots are: a
  module's name still comes from its folders, so ``stores/hybrid.py`` is ``stores.hybrid``
  (mypy then reports ``agentmem.stores`` as missing, and the stores' own imports of
  ``agentmem.stores._x`` resolve nowhere). mypy has no setting that renames a folder.
- ``mypy -p agentmem.stores`` on the development install finds nothing ("Can't find
  package"): an editable install of a remapped package is an import hook (setuptools'
  ``__editable__`` finder), and mypy reads only plain path entries, never runs hooks.
- Checking a real (non-editable) install works, but needs a wheel built first, and
  every error then points into the installed copy instead of the file to fix.

The links cost nothing and keep errors on the checkout's paths.
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
