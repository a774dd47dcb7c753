"""The contract suite ships in the wheel: a third party runs it against its own store.

The test builds agentmem's wheel from this checkout (no network), installs it into a
fresh virtual environment layered on this interpreter's site-packages (for pytest,
numpy, ...), and runs ``examples/custom_store`` there, outside the repository, exactly
as someone who wrote their own store would.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

from agentmem.testing.stores import MemoryStoreContract

ROOT = Path(__file__).resolve().parent.parent
_BUILD_INPUTS = ("pyproject.toml", "README.md", "agentmem", "stores", "policies")
_JUNK = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")


def _setuptools_dir() -> str:
    """Where a setuptools new enough for ``pyproject.toml`` is installed (the ``test`` extra
    declares one; a venv's bundled copy may be older and first on the path)."""
    for dist in importlib.metadata.distributions(name="setuptools"):
        if int(dist.version.split(".")[0]) >= 77:
            return str(dist.locate_file(""))
    raise AssertionError("setuptools>=77 is needed to build the wheel: pip install -e '.[test]'")


def _run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env=None if env is None else {**os.environ, **env},
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_a_third_party_store_passes_the_shipped_suite(tmp_path: Path) -> None:
    source = tmp_path / "src"
    for name in _BUILD_INPUTS:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=_JUNK)
        else:
            source.mkdir(exist_ok=True)
            shutil.copy(path, source / name)
    wheels = tmp_path / "wheels"
    pip = (sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input")
    _run(
        *pip,
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "-w",
        wheels,
        ".",
        cwd=source,
        env={"PYTHONPATH": _setuptools_dir()},
    )
    wheel = next(wheels.glob("agentmem-*.whl"))

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    purelib = Path(
        _run(
            python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path
        ).strip()
    )
    # the wheel goes into the new environment; everything else comes from this one
    _run(*pip, "install", "--no-deps", "--no-index", "--target", purelib, wheel, cwd=tmp_path)
    layers = [*site.getsitepackages(), sysconfig.get_paths()["purelib"]]
    (purelib / "zz_layer.pth").write_text(
        "".join(f"import site; site.addsitedir({p!r})\n" for p in dict.fromkeys(layers))
    )

    where = _run(
        python,
        "-c",
        "import agentmem, agentmem.stores, agentmem.testing.stores as s; "
        "print(agentmem.__file__); print(agentmem.stores.__file__); print(s.__file__)",
        cwd=tmp_path,
    ).split()
    assert all(Path(w).is_relative_to(purelib) for w in where), where

    project = tmp_path / "third_party"
    shutil.copytree(ROOT / "examples" / "custom_store", project, ignore=_JUNK)
    out = _run(
        python,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        project,
        project,
        cwd=project,
    )
    suite = [name for name in dir(MemoryStoreContract) if name.startswith("test_")]
    assert f"{len(suite)} passed" in out, out
