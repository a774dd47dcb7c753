"""A scripted OpenAI-compatible chat server on 127.0.0.1, for tests of remote models."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DROP = object()  # a reply that closes the connection without answering


class ChatServer:
    """Answers ``POST .../chat/completions`` with the replies a test queues, in order.

    ``replies`` holds ``(status, payload)`` pairs or ``(status, payload, options)``
    triples (a str payload is sent verbatim; ``DROP`` closes the connection unanswered).
    Options: ``headers`` (extra response headers), ``delay`` (seconds to wait first),
    ``stream`` (a list of text chunks sent as server-sent events).
    ``seen`` keeps each request's path, JSON body and Authorization header.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.replies: list[tuple[Any, ...]] = []
        self.seen: list[dict[str, Any]] = []

    def say(self, *texts: str) -> None:
        """Queue plain successful replies."""
        self.replies += [(200, {"choices": [{"message": {"content": t}}]}) for t in texts]

    def fail(self, status: int, *, retry_after: str | None = None, body: str = "busy") -> None:
        """Queue an error reply, optionally with a ``Retry-After`` header."""
        headers = {} if retry_after is None else {"Retry-After": retry_after}
        self.replies.append((status, {"error": {"message": body}}, {"headers": headers}))

    def drop(self) -> None:
        """Queue a dropped connection: the server closes it without a reply."""
        self.replies.append((0, DROP))

    def stall(self, seconds: float, text: str) -> None:
        """Queue a reply that comes only after ``seconds``."""
        payload = {"choices": [{"message": {"content": text}}]}
        self.replies.append((200, payload, {"delay": seconds}))

    def stream(self, *chunks: str, cut: bool = False) -> None:
        """Queue a streamed reply: one server-sent event per chunk, then ``[DONE]``.

        ``cut=True`` drops the connection after the chunks instead of finishing.
        """
        self.replies.append((200, None, {"stream": list(chunks), "cut": cut}))

    @property
    def messages(self) -> list[list[dict[str, Any]]]:
        """The messages of every request so far."""
        return [request["body"]["messages"] for request in self.seen]


@contextmanager
def chat_server() -> Iterator[ChatServer]:
    """Run a :class:`ChatServer` for the duration of the block."""
    server: ChatServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers do

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            server.seen.append(
                {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
            )
            status, payload, *rest = server.replies.pop(0)
            options: dict[str, Any] = rest[0] if rest else {}
            if payload is DROP:
                self.close_connection = True
                self.connection.shutdown(2)
                return
            time.sleep(options.get("delay", 0))
            try:
                if "stream" in options:
                    self._stream(options["stream"], cut=options.get("cut", False))
                    return
                data = (
                    payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                )
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in options.get("headers", {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (a timeout test)

        def _stream(self, chunks: list[str], *, cut: bool) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            for chunk in chunks:
                event = {"choices": [{"index": 0, "delta": {"content": chunk}}]}
                self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                self.wfile.flush()
            if cut:
                self.connection.shutdown(2)
                return
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    server = ChatServer(f"http://127.0.0.1:{httpd.server_address[1]}/v1")
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
