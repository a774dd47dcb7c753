"""The HTTP API against a real uvicorn server on 127.0.0.1, through httpx."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from tests.server.conftest import Live


def add(client: httpx.Client, text: str, user: str = "alice", **extra: Any) -> dict[str, Any]:
    response = client.post("/v1/memories", json={"text": text, "user_id": user, **extra})
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_add_returns_the_stored_memory(live: Live) -> None:
    body = add(
        live.alice,
        "Alice moved to Lisbon",
        session_id="s1",
        created_at="2024-01-01T08:00:00Z",
        metadata={"turn": "D1:3"},
    )
    assert body["text"] == "Alice moved to Lisbon"
    assert body["scope"] == {"user_id": "alice", "agent_id": None, "session_id": "s1"}
    assert body["created_at"].startswith("2024-01-01T08:00:00")
    assert body["metadata"] == {"turn": "D1:3"}
    stored = live.memory.get(body["id"])
    assert stored.text == "Alice moved to Lisbon"


def test_batch_add_get_list_search(live: Live) -> None:
    response = live.alice.post(
        "/v1/memories/batch",
        json={
            "memories": [
                {"text": "Alice likes green tea", "user_id": "alice"},
                {"text": "Alice plays the cello on Sundays", "user_id": "alice"},
            ]
        },
    )
    assert response.status_code == 201, response.text
    made = response.json()
    assert [m["text"] for m in made] == [
        "Alice likes green tea",
        "Alice plays the cello on Sundays",
    ]
    got = live.alice.get(f"/v1/memories/{made[1]['id']}")
    assert got.status_code == 200 and got.json()["text"] == "Alice plays the cello on Sundays"
    listed = live.alice.get("/v1/memories", params={"user_id": "alice"}).json()
    assert {m["id"] for m in listed} == {m["id"] for m in made}
    hits = live.alice.get(
        "/v1/memories/search",
        params={"user_id": "alice", "q": "what does alice play cello", "k": 1},
    ).json()
    assert len(hits) == 1
    assert hits[0]["item"]["id"] == made[1]["id"]
    assert hits[0]["score"] > 0 and hits[0]["signal"] and hits[0]["store"] == "vector"
    assert live.memory.get(made[1]["id"]).access_count == 1  # a search is a recall
    live.alice.get(
        "/v1/memories/search",
        params={"user_id": "alice", "q": "cello", "record_access": "false"},
    )
    assert live.memory.get(made[1]["id"]).access_count == 1


def test_update_history_events_and_closed_memories(live: Live) -> None:
    item = add(live.alice, "Alice lives in Porto")
    response = live.alice.patch(
        f"/v1/memories/{item['id']}", json={"text": "Alice lives in Lisbon", "importance": 0.9}
    )
    assert response.status_code == 200, response.text
    assert response.json()["text"] == "Alice lives in Lisbon"
    assert live.memory.get(item["id"]).importance == 0.9
    history = live.alice.get(f"/v1/memories/{item['id']}/history").json()
    assert [e["op"] for e in history] == ["add", "update"]
    assert history[1]["before"]["text"] == "Alice lives in Porto"
    assert history[1]["reason"] == "updated through the API"
    live.clock.advance(timedelta(hours=1))
    closed = live.alice.patch(
        f"/v1/memories/{item['id']}", json={"valid_to": "2024-01-01T09:30:00Z"}
    )
    assert closed.status_code == 200 and closed.json()["valid_to"] is not None
    assert live.alice.get("/v1/memories", params={"user_id": "alice"}).json() == []
    everything = live.alice.get(
        "/v1/memories", params={"user_id": "alice", "include_closed": "true"}
    ).json()
    assert [m["id"] for m in everything] == [item["id"]]
    events = live.alice.get("/v1/events", params={"user_id": "alice"}).json()
    assert [e["op"] for e in events] == ["add", "update", "update"]
    assert all(e["user_id"] == "alice" for e in events)


def test_forget_one_and_forget_user(live: Live) -> None:
    first = add(live.alice, "Alice's passport number is X123")
    add(live.alice, "Alice likes jazz")
    response = live.alice.delete(f"/v1/memories/{first['id']}")
    assert response.status_code == 200 and response.json() == {"forgotten": 1}
    assert live.alice.get(f"/v1/memories/{first['id']}").status_code == 404
    assert live.memory.count(user_id="alice") == 1
    history = live.alice.get(f"/v1/memories/{first['id']}/history").json()
    assert [e["op"] for e in history] == ["add", "forget"]  # history outlives the memory
    response = live.alice.delete("/v1/users/alice/memories")
    assert response.status_code == 200 and response.json() == {"forgotten": 1}
    assert live.memory.count(user_id="alice") == 0


def test_policy_preview_apply_undo_touch_only_the_users_memories(live: Live) -> None:
    old_alice = add(live.alice, "Alice had toast", importance=0.1)
    old_bob = add(live.bob, "Bob had toast", user="bob", importance=0.1)
    live.clock.advance(timedelta(days=60))
    fresh = add(live.alice, "Alice had soup")
    spec = {"user_id": "alice", "policy": "ttl:ttl=30d"}
    preview = live.alice.post("/v1/policy/preview", json=spec)
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert [d["action"] for d in body["decisions"]] == ["forget"]
    assert body["decisions"][0]["item_ids"] == [old_alice["id"]]
    assert body["decisions"][0]["reason"]
    assert set(body["items"]) == {old_alice["id"]}
    assert live.memory.count() == 3  # a preview changes nothing
    applied = live.alice.post("/v1/policy/apply", json=spec)
    assert applied.status_code == 200, applied.text
    assert [m["id"] for m in applied.json()["forgotten"]] == [old_alice["id"]]
    assert live.memory.get(old_bob["id"])  # bob's old memory is not alice's to expire
    assert live.memory.get(fresh["id"])
    event_id = applied.json()["events"][0]["id"]
    undone = live.alice.post("/v1/policy/undo", json={"event_id": event_id})
    assert undone.status_code == 200, undone.text
    assert live.memory.get(old_alice["id"]).text == "Alice had toast"
    server_default = live.alice.post("/v1/policy/preview", json={"user_id": "alice"})
    assert server_default.status_code == 200 and server_default.json()["decisions"] == []


def test_users_lists_what_the_key_may_see(live: Live) -> None:
    add(live.alice, "Alice note")
    add(live.bob, "Bob note", user="bob")
    assert live.alice.get("/v1/users").json() == {"users": ["alice"], "admin": False}
    assert live.admin.get("/v1/users").json() == {"users": ["alice", "bob"], "admin": True}
    assert len(live.admin.get("/v1/events").json()) == 2
    assert live.alice.get("/v1/events").status_code == 422


def test_chat_without_a_model_is_501(live: Live) -> None:
    response = live.alice.post("/v1/chat", json={"message": "hello", "user_id": "alice"})
    assert response.status_code == 501
    assert "--llm-url" in response.json()["detail"]


def test_openapi_docs_and_inspector_are_served_offline(live: Live) -> None:
    schema = live.anonymous.get("/openapi.json").json()
    for path in ("/v1/memories", "/v1/memories/search", "/v1/memories/{item_id}/history"):
        assert path in schema["paths"]
    assert "MemoryItem" in schema["components"]["schemas"]
    for page, asset in (
        ("/docs", "/_docs/swagger-ui-bundle.js"),
        ("/redoc", "/_docs/redoc.standalone.js"),
    ):
        html = live.anonymous.get(page).text
        assert asset in html
        assert "cdn" not in html.lower() and "fonts.googleapis" not in html
        assert live.anonymous.get(asset).status_code == 200
    page = live.anonymous.get("/")
    assert page.status_code == 200 and "agentmem inspector" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset in ("inspector.js", "inspector.css"):
        assert live.anonymous.get(f"/{asset}").status_code == 200
    for asset in ("/", "/inspector.js", "/inspector.css"):
        text = live.anonymous.get(asset).text
        assert "http://" not in text and "https://" not in text  # nothing fetched from elsewhere
