"""Test configuration: real models are forbidden unless a test is marked ``real_models``."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from agentmem.testing import set_model_loads_allowed  # noqa: E402


@pytest.fixture(autouse=True)
def _forbid_real_models(request: pytest.FixtureRequest) -> Iterator[None]:
    allowed = request.node.get_closest_marker("real_models") is not None
    previous = set_model_loads_allowed(allowed)
    yield
    set_model_loads_allowed(previous)


from tests.postgres_server import pg_schema, postgres_url  # noqa: E402, F401
