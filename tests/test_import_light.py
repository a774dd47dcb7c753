"""``import agentmem`` stays light: heavy libraries load only when a feature needs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

HEAVY = (
    "faiss",
    "langchain_core",
    "langsmith",
    "matplotlib",
    "sqlite_utils",
    "torch",
    "transformers",
    "sentence_transformers",
    "tqdm",
)

_PROBE = """
import json, sys
import agentmem
import agentmem.stores, agentmem.integrations
heavy = {heavy!r}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
"""


def _loaded_after(code: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=120
    )
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_agentmem_loads_no_heavy_library() -> None:
    assert _loaded_after(_PROBE.format(heavy=HEAVY)) == []


def test_the_probe_sees_a_heavy_library_when_a_store_is_used() -> None:
    # the same probe, after touching a store: proves the check above can fail
    code = _PROBE.replace("heavy =", "agentmem.stores.VectorStore\nheavy =")
    loaded = _loaded_after(code.format(heavy=HEAVY))
    assert "faiss" in loaded


def test_lazy_store_names_resolve() -> None:
    import agentmem.stores as stores

    for name in stores.__all__:
        assert getattr(stores, name) is not None
    assert "HybridStore" in dir(stores)


def test_a_missing_extra_names_its_pip_command() -> None:
    # as if langchain-core / matplotlib were not installed: the import is blocked
    code = """
import sys

import pytest
sys.modules["langchain_core"] = None
sys.modules["matplotlib"] = None
import agentmem
from agentmem import MissingDependencyError
for load in (lambda: agentmem.stores.LangChainStore,
             lambda: __import__("agentmem.integrations.langchain"),
             lambda: __import__("agentmem.eval.plots").eval.plots._figure()):
    try:
        load()
    except MissingDependencyError as exc:
        print(str(exc).split("pip install ")[1])
"""
    out = subprocess.run(
        [sys.executable, "-c", "import agentmem.stores\n" + code],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.split()
    assert out == ['"agentmem[langchain]"', '"agentmem[langchain]"', '"agentmem[eval]"']


def test_stores_and_policies_come_from_the_same_checkout_as_agentmem(tmp_path: Path) -> None:
    import agentmem.policies
    import agentmem.stores
    from agentmem._layout import check_same_checkout

    assert check_same_checkout(agentmem.stores.__file__, "stores")
    assert check_same_checkout(agentmem.policies.__file__, "policies")
    other = tmp_path / "other-checkout" / "stores" / "__init__.py"
    with pytest.warns(RuntimeWarning, match="two checkouts are mixed"):
        assert not check_same_checkout(str(other), "stores")


def test_a_second_checkout_never_mixes_in_silently(tmp_path: Path) -> None:
    """agentmem from another checkout (first on the path), stores from this one's install."""
    import shutil

    other = tmp_path / "other"
    shutil.copytree(
        ROOT / "agentmem", other / "agentmem", ignore=shutil.ignore_patterns("__pycache__")
    )
    done = subprocess.run(
        [sys.executable, "-c", "import agentmem.stores; print(agentmem.stores.__file__)"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={"PYTHONPATH": str(other), "PATH": ""},
    )
    if done.returncode == 0:  # a development install maps agentmem.stores to this checkout
        assert Path(done.stdout.strip()).parent == ROOT / "stores"
        assert "two checkouts are mixed" in done.stderr  # shown with the default filters
    else:  # a regular install: the other checkout has no stores at all, and says so
        assert "No module named 'agentmem.stores'" in done.stderr
