"""Authentication, tenancy, bad bodies, limits and error bodies, against a real server."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentmem import ManualClock, Memory, StoreError
from agentmem.server import Keys, create_app
from agentmem.testing import HashEmbedder
from tests.helpers import T0
from tests.server.conftest import Live
from tests.server.live import ALICE_KEY, BOB_KEY, KEYS, auth, serve_in_thread


def snapshot(memory: Memory) -> tuple[list[str], int]:
    """Everything a refused request must leave alone: every memory and the audit length."""
    items = memory.items(include_closed=True)
    return [item.model_dump_json() for item in items], len(memory.events())


def test_no_key_and_bad_keys_get_401(live: Live) -> None:
    before = snapshot(live.memory)
    body = {"text": "x", "user_id": "alice"}
    for headers in (
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": f"Bearer {ALICE_KEY}x"},
        {"Authorization": f"Bearer {ALICE_KEY[:-1]}"},
        {"Authorization": f"Basic {ALICE_KEY}"},
        {"Authorization": "Bearer"},
    ):
        for method, path, kwargs in (
            ("POST", "/v1/memories", {"json": body}),
            ("GET", "/v1/memories", {"params": {"user_id": "alice"}}),
            ("GET", "/v1/users", {}),
        ):
            response = live.anonymous.request(method, path, headers=headers, **kwargs)
            assert response.status_code == 401, (headers, path)
            assert response.headers["www-authenticate"] == "Bearer"
            assert ALICE_KEY not in response.text
    assert snapshot(live.memory) == before


def test_every_cross_tenant_attempt_is_refused_and_changes_nothing(live: Live) -> None:
    bobs = live.bob.post("/v1/memories", json={"text": "Bob's secret", "user_id": "bob"}).json()
    item_id = bobs["id"]
    event_id = live.memory.events(user_id="bob")[0].id
    before = snapshot(live.memory)
    attempts: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/v1/memories", {"json": {"text": "hi", "user_id": "bob"}}),
        ("POST", "/v1/memories/batch", {"json": {"memories": [
            {"text": "mine", "user_id": "alice"}, {"text": "theirs", "user_id": "bob"}]}}),
        ("GET", "/v1/memories", {"params": {"user_id": "bob"}}),
        ("GET", "/v1/memories/search", {"params": {"user_id": "bob", "q": "secret"}}),
        ("GET", f"/v1/memories/{item_id}", {}),
        ("PATCH", f"/v1/memories/{item_id}", {"json": {"text": "hacked"}}),
        ("GET", f"/v1/memories/{item_id}/history", {}),
        ("DELETE", f"/v1/memories/{item_id}", {}),
        ("DELETE", "/v1/users/bob/memories", {}),
        ("GET", "/v1/events", {"params": {"user_id": "bob"}}),
        ("POST", "/v1/policy/preview", {"json": {"user_id": "bob", "policy": "ttl:ttl=1s"}}),
        ("POST", "/v1/policy/apply", {"json": {"user_id": "bob", "policy": "ttl:ttl=1s"}}),
        ("POST", "/v1/policy/undo", {"json": {"event_id": event_id}}),
        ("POST", "/v1/chat", {"json": {"message": "hi", "user_id": "bob"}}),
    ]  # fmt: skip
    for method, path, kwargs in attempts:
        response = live.alice.request(method, path, **kwargs)
        assert response.status_code == 403, (method, path, response.text)
        assert "Bob's secret" not in response.text
        assert "bob" in response.json()["detail"]
    assert snapshot(live.memory) == before
    assert live.memory.get(item_id).text == "Bob's secret"
    # the admin key may, and bob himself may
    assert live.admin.get(f"/v1/memories/{item_id}").status_code == 200
    assert live.bob.get(f"/v1/memories/{item_id}").status_code == 200


def test_a_forgotten_memorys_history_stays_private(live: Live) -> None:
    item_id = live.bob.post("/v1/memories", json={"text": "Bob note", "user_id": "bob"}).json()[
        "id"
    ]
    assert live.bob.delete(f"/v1/memories/{item_id}").status_code == 200
    assert live.alice.get(f"/v1/memories/{item_id}/history").status_code == 403
    assert live.bob.get(f"/v1/memories/{item_id}/history").status_code == 200
    assert live.alice.get("/v1/memories/nothing-here/history").status_code == 404


def note(**fields: Any) -> dict[str, Any]:
    return {"json": {"text": "x", "user_id": "alice", **fields}}


def policy(spec: str) -> dict[str, Any]:
    return {"json": {"user_id": "alice", "policy": spec}}


BROKEN_JSON = {"content": b"{not json", "headers": {"Content-Type": "application/json"}}
ADD = ("POST", "/v1/memories")
SEARCH = ("GET", "/v1/memories/search")
PREVIEW = ("POST", "/v1/policy/preview")


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "needle"),
    [
        (*ADD, BROKEN_JSON, 422, "JSON"),
        (*ADD, {"json": {"user_id": "alice"}}, 422, "text: Field required"),
        (*ADD, note(text=""), 422, "empty"),
        (*ADD, note(kind="poem"), 422, "kind"),
        (*ADD, note(created_at="soon"), 422, "created_at"),
        (*ADD, note(extra=1), 422, "extra"),
        (*ADD, note(importance=-1), 422, "importance"),
        (*ADD, {"json": ["not", "an", "object"]}, 422, "body"),
        ("POST", "/v1/memories/batch", {"json": {"memories": []}}, 422, "memories"),
        (*SEARCH, {"params": {"user_id": "alice", "q": "x", "k": 0}}, 422, "k"),
        (*SEARCH, {"params": {"user_id": "alice"}}, 422, "q"),
        ("PATCH", "/v1/memories/{id}", {"json": {}}, 422, "at least one"),
        (*PREVIEW, policy("ttl:bogus=1"), 422, "bogus"),
        (*PREVIEW, policy("nosuch"), 422, "nosuch"),
        ("POST", "/v1/policy/undo", {"json": {"event_id": 999999}}, 404, "999999"),
        ("GET", "/v1/memories/0123456789abcdef", {}, 404, "no memory"),
    ],
)
def test_bad_requests_get_clear_errors_and_change_nothing(
    live: Live, method: str, path: str, kwargs: dict[str, Any], status: int, needle: str
) -> None:
    item = live.alice.post("/v1/memories", json={"text": "Alice note", "user_id": "alice"}).json()
    before = snapshot(live.memory)
    response = live.alice.request(method, path.replace("{id}", item["id"]), **kwargs)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and needle.lower() in detail.lower(), detail
    assert "Traceback" not in response.text and 'File "' not in response.text
    assert snapshot(live.memory) == before


def test_library_messages_reach_the_client(live: Live) -> None:
    live.memory.max_text_bytes = 100
    response = live.alice.post("/v1/memories", json={"text": "x" * 200, "user_id": "alice"})
    assert response.status_code == 422
    assert "bytes" in response.json()["detail"]  # Memory's own message about its size limit


def test_body_size_limit(tmp_path: Path) -> None:
    memory = Memory.default(tmp_path / "m", embedder=HashEmbedder(64), clock=ManualClock(T0))
    app = create_app(memory, KEYS, max_body_bytes=2_000, close_memory=True)
    with serve_in_thread(app) as url, httpx.Client(base_url=url, headers=auth(ALICE_KEY)) as client:
        small = client.post("/v1/memories", json={"text": "a" * 1000, "user_id": "alice"})
        assert small.status_code == 201
        big = client.post("/v1/memories", json={"text": "a" * 3000, "user_id": "alice"})
        assert big.status_code == 413 and "2000 bytes" in big.json()["detail"]

        def chunks() -> Any:  # no Content-Length: counted as it streams
            for _ in range(10):
                yield b'{"text": "' + b"b" * 400 if _ == 0 else b"b" * 400
            yield b'", "user_id": "alice"}'

        streamed = client.post(
            "/v1/memories", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
        assert memory.count(user_id="alice") == 1


def test_rate_limit_per_key(tmp_path: Path) -> None:
    memory = Memory.default(tmp_path / "m", embedder=HashEmbedder(64), clock=ManualClock(T0))
    app = create_app(memory, KEYS, rate=0.5, burst=3, close_memory=True)
    with serve_in_thread(app) as url:
        alice = httpx.Client(base_url=url, headers=auth(ALICE_KEY))
        bob = httpx.Client(base_url=url, headers=auth(BOB_KEY))
        with alice, bob:
            codes = [alice.get("/v1/users").status_code for _ in range(5)]
            assert codes == [200, 200, 200, 429, 429]
            limited = alice.get("/v1/users")
            assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
            assert bob.get("/v1/users").status_code == 200  # another key has its own bucket


def test_store_errors_are_503_and_unexpected_errors_500_without_a_trace(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Failing(Memory):
        def items(self, **kwargs: Any) -> Any:
            msg = "disk I/O error in vector.sqlite"
            raise StoreError(msg)

        def count(self, **kwargs: Any) -> int:
            msg = "secret internal detail"
            raise RuntimeError(msg)

    inner = Memory.default(tmp_path / "m", embedder=HashEmbedder(64), clock=ManualClock(T0))
    failing = Failing(inner.stores, audit=inner.audit, clock=inner.clock)
    app = create_app(failing, KEYS, close_memory=True)

    from fastapi import APIRouter

    extra = APIRouter()

    @extra.get("/v1/boom")
    def boom() -> int:
        return failing.count()

    app.router.routes.insert(0, extra.routes[0])
    with serve_in_thread(app) as url, httpx.Client(base_url=url, headers=auth(ALICE_KEY)) as client:
        response = client.get("/v1/memories", params={"user_id": "alice"})
        assert response.status_code == 503
        assert response.json() == {"detail": "disk I/O error in vector.sqlite"}
        with caplog.at_level(logging.ERROR, logger="agentmem.server"):
            crash = client.get("/v1/boom")
        assert crash.status_code == 500
        assert "secret" not in crash.text and "Traceback" not in crash.text
        assert json.loads(crash.text)["detail"].startswith("internal server error")


def test_keys_file_checks_and_keys_are_never_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ValueError, match="shorter than 16"):
        Keys({"short": ["alice"]})
    with pytest.raises(ValueError, match="user ids"):
        Keys({"k" * 20: []})
    path = tmp_path / "keys.json"
    path.write_text('{"' + "k" * 20 + '": "*"}')
    admin = Keys.load(path).authenticate("k" * 20)
    assert admin is not None and admin.admin and admin.allows("anyone")
    assert Keys.load(path).authenticate("k" * 19) is None
    memory = Memory.default(tmp_path / "m", embedder=HashEmbedder(64), clock=ManualClock(T0))
    with caplog.at_level(logging.DEBUG):
        app = create_app(memory, KEYS, close_memory=True)
        with serve_in_thread(app) as url:
            httpx.get(f"{url}/v1/users", headers=auth(ALICE_KEY))
            httpx.get(f"{url}/v1/users", headers=auth(ALICE_KEY + "wrong"))
    assert ALICE_KEY not in caplog.text
