"""The HTTP plumbing the contract stand-ins share: a server on 127.0.0.1 (a free port)
that checks the auth header, records every request and dispatches it to routes.

A recorded request keeps the method, path, query, headers and JSON body; the
Authorization header is not kept (only whether it was right), so assertions and
failure output never show a token.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

HOST = "127.0.0.1"
Answer = tuple[int, Any]  # HTTP status, JSON payload (None: no body)
Route = tuple[str, re.Pattern[str], Callable[..., Answer]]


@dataclass
class Recorded:
    """One request as the stand-in received it (no secret in it)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    authorized: bool
    json: Any = None
    body: bytes = field(default=b"", repr=False)


class FakeServer:
    """A stand-in API: subclasses set ``auth_scheme`` and ``routes()``."""

    auth_scheme = "token"

    def __init__(self, token: str) -> None:
        self.token = token
        self.requests: list[Recorded] = []
        self.fail: int | None = None  # answer every authorized request with this status
        self.fail_echo = False  # ... with the request's headers in the body (a leaky proxy)
        self.delay = 0.0  # seconds each request waits before it is answered (races)
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    # -- life cycle

    def start(self) -> FakeServer:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://{HOST}:{self._server.server_address[1]}"

    # -- what subclasses provide

    def routes(self) -> list[Route]:
        raise NotImplementedError

    # -- queries for tests

    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        """The recorded requests, optionally of one method and a path matching a regex."""
        return [r for r in self.requests if (method is None or r.method == method)
                and (path is None or re.search(path, r.path))]

    # -- dispatch

    def answer(self, request: Recorded) -> Answer:
        if self.delay:
            time.sleep(self.delay)
        if not request.authorized:
            return 401, {"message": "Unauthorized"}
        if self.fail is not None:
            echo = ({"Authorization": f"{self.auth_scheme} {self.token}", **request.headers}
                    if self.fail_echo else {})
            return self.fail, {"message": f"injected failure {json.dumps(echo)}"}
        for method, pattern, handler in self.routes():
            match = pattern.fullmatch(request.path)
            if match and method == request.method:
                with self.lock:
                    return handler(request, *[unquote(g) for g in match.groups()])
        if any(p.fullmatch(request.path) for _, p, _ in self.routes()):
            return 405, {"message": "Method Not Allowed"}
        return 404, {"message": "Not Found"}


class _Handler(BaseHTTPRequestHandler):
    owner: FakeServer
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = None
        expected = f"{self.owner.auth_scheme} {self.owner.token}"
        request = Recorded(
            method=self.command, path=split.path,
            query={k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()},
            headers={k: v for k, v in self.headers.items() if k.lower() != "authorization"},
            authorized=self.headers.get("Authorization") == expected, json=payload, body=body)
        with self.owner.lock:
            self.owner.requests.append(request)
        status, data = self.owner.answer(request)
        out = b"" if data is None else json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass
