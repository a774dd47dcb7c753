"""`agentmem serve` as a user runs it: a subprocess on 127.0.0.1, two workers, chat on a model."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from agentmem import Memory
from agentmem.cli import main
from agentmem.testing import HashEmbedder
from tests.chat_server import chat_server
from tests.server.live import ALICE_KEY, BOB_KEY, auth, serve_cli


def test_serve_two_workers_and_chat_through_a_model(tmp_path: Path) -> None:
    folder = tmp_path / "memory"
    with chat_server() as model:
        model.say(*["Nice to meet you, Alice!", "NONE"] * 3)
        with serve_cli(folder, "--workers", "2", "--llm-url", model.url) as url:
            alice = httpx.Client(base_url=url, headers=auth(ALICE_KEY), timeout=30)
            bob = httpx.Client(base_url=url, headers=auth(BOB_KEY), timeout=30)
            with alice, bob:
                made = [
                    alice.post("/v1/memories", json={"text": f"Alice note {n}", "user_id": "alice"})
                    for n in range(6)
                ]
                assert all(r.status_code == 201 for r in made)
                # every worker sees every write: fresh connections land on either worker
                for _ in range(6):
                    with httpx.Client(base_url=url, headers=auth(ALICE_KEY)) as fresh:
                        listed = fresh.get("/v1/memories", params={"user_id": "alice"})
                        assert len(listed.json()) == 6
                reply = alice.post(
                    "/v1/chat", json={"message": "Hi, I am Alice", "user_id": "alice"}
                )
                assert reply.status_code == 200, reply.text
                assert reply.json()["text"] == "Nice to meet you, Alice!"
                assert any(m["text"] == "Hi, I am Alice" for m in reply.json()["written"])
                assert (
                    bob.post("/v1/chat", json={"message": "x", "user_id": "alice"}).status_code
                    == 403
                )
                page = httpx.get(f"{url}/docs")
                assert page.status_code == 200 and "/_docs/swagger-ui-bundle.js" in page.text
    with Memory.default(folder, embedder=HashEmbedder(64)) as memory:
        assert memory.count(user_id="alice") == 7


def test_serve_refuses_bad_setups(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys = tmp_path / "keys.json"
    assert main(["serve", "--db", str(tmp_path / "m"), "--keys", str(keys)]) == 2
    assert "no keys file" in capsys.readouterr().err
    keys.write_text('{"short": ["alice"]}')
    assert main(["serve", "--db", str(tmp_path / "m"), "--keys", str(keys)]) == 2
    assert "shorter than 16" in capsys.readouterr().err
    keys.write_text('{"' + "k" * 20 + '": ["alice"]}')
    assert main(["serve", "--db", str(tmp_path / "m"), "--keys", str(keys), "--workers", "0"]) == 2
    assert "--workers" in capsys.readouterr().err


def test_the_example_runs() -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, str(root / "examples" / "memory_service.py"), "--embedder", "hash"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert 'search: [("Alice\'s sister is called Maria"' in done.stdout
    assert "bob reads alice: 403" in done.stdout
    assert "forgot: 1 left:" in done.stdout and "Lisbon" not in done.stdout.split("left:")[1]


def test_the_library_and_cli_load_without_the_server_extra() -> None:
    import subprocess
    import sys

    code = """
import sys
for name in ("fastapi", "uvicorn", "mcp", "fastapi_offline"):
    sys.modules[name] = None  # as if not installed
import agentmem
from agentmem.cli import build_parser, main
build_parser()
assert not any(m in sys.modules and sys.modules[m] for m in ("fastapi", "uvicorn"))
try:
    import agentmem.server
except ImportError as exc:
    assert isinstance(exc, agentmem.MissingDependencyError), type(exc)
    print(exc)
else:
    raise SystemExit("agentmem.server imported without fastapi")
sys.exit(main(["serve", "--db", "x", "--keys", "k.json"]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert 'pip install "agentmem[server]"' in done.stdout, done.stderr
    assert done.returncode == 2
    assert 'pip install "agentmem[server]"' in done.stderr


def test_serve_a_postgresql_memory_with_two_workers(
    tmp_path: Path, postgres_url: str, pg_schema: str
) -> None:
    db = f"{postgres_url}{'&' if '?' in postgres_url else '?'}schema={pg_schema}"
    with serve_cli(tmp_path / "pg", "--workers", "2", db=db) as url:
        alice = httpx.Client(base_url=url, headers=auth(ALICE_KEY), timeout=30)
        bob = httpx.Client(base_url=url, headers=auth(BOB_KEY), timeout=30)
        with alice, bob:
            made = alice.post("/v1/memories", json={"text": "Alice likes figs", "user_id": "alice"})
            assert made.status_code == 201, made.text
            item_id = made.json()["id"]
            hits = alice.get("/v1/memories/search", params={"user_id": "alice", "q": "figs"})
            assert [hit["item"]["id"] for hit in hits.json()] == [item_id]
            assert bob.get(f"/v1/memories/{item_id}").status_code == 403
            assert bob.delete(f"/v1/memories/{item_id}").status_code == 403
            history = alice.get(f"/v1/memories/{item_id}/history").json()
            assert [event["op"] for event in history] == ["add", "access"]
            assert alice.delete(f"/v1/memories/{item_id}").json() == {"forgotten": 1}
