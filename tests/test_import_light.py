"""``import agentmem`` stays light: heavy libraries load only when a feature needs them."""

from __future__ import annotations

import json
import subprocess
import sys

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
