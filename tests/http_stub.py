"""A small HTTP server on loopback for tests that talk to a service the sandbox cannot reach (PDOK's
Locatieserver, a map tile server): it records every GET and answers with what the test's function
returns for it."""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class StubRequest:
    path: str
    query: dict[str, list[str]]


@dataclass(frozen=True)
class StubAnswer:
    status: int = 200
    body: bytes = b""
    content_type: str | None = None


class StubServer:
    """Serves GET requests on `host` (any free port) with `answer(request)` until closed."""

    def __init__(self, answer: Callable[[StubRequest], StubAnswer], host: str = "127.0.0.1") -> None:
        self.requests: list[StubRequest] = []
        recorded = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                url = urlsplit(self.path)
                request = StubRequest(url.path, parse_qs(url.query))
                recorded.append(request)
                reply = answer(request)
                self.send_response(reply.status)
                if reply.content_type:
                    self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, *args):  # keep the test output clean
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.origin = f"http://{host}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
