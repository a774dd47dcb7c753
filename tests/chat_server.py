"""A scripted OpenAI-compatible chat server on 127.0.0.1, for tests of remote models."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any


class ChatServer:
    """Answers ``POST .../chat/completions`` with the replies a test queues, in order.

    ``replies`` holds ``(status, payload)`` pairs (a str payload is sent verbatim);
    ``seen`` keeps each request's path, JSON body and Authorization header.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.replies: list[tuple[int, Any]] = []
        self.seen: list[dict[str, Any]] = []

    def say(self, *texts: str) -> None:
        """Queue plain successful replies."""
        self.replies += [(200, {"choices": [{"message": {"content": t}}]}) for t in texts]

    @property
    def messages(self) -> list[list[dict[str, Any]]]:
        """The messages of every request so far."""
        return [request["body"]["messages"] for request in self.seen]


@contextmanager
def chat_server() -> Iterator[ChatServer]:
    """Run a :class:`ChatServer` for the duration of the block."""
    server: ChatServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            server.seen.append(
                {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
            )
            status, payload = server.replies.pop(0)
            data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    server = ChatServer(f"http://127.0.0.1:{httpd.server_address[1]}/v1")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
