"""A stand-in for the notify service's HTTP API in the console's tests: a real HTTP server on a free port that
answers `GET /channels`, `GET /preferences` and `PUT /preferences` as the test sets them."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHANNELS = {"channels": [
    {"name": "inbox", "label_vi": "Hộp thông báo", "label_en": "Inbox", "target": None},
    {"name": "email", "label_vi": "Thư điện tử", "label_en": "Email", "target": "email"},
    {"name": "zalo", "label_vi": "Tin nhắn Zalo", "label_en": "Zalo message", "target": "phone"},
]}


@dataclass
class StandIn:
    url: str = ""
    # path -> (status, JSON body); a path not listed answers 404 with the contract's error body
    answers: dict[str, tuple[int, Any]] = field(default_factory=dict)
    seen: list[tuple[str, str, str | None, Any]] = field(default_factory=list)  # method, path, authorization, body


def _handler(stand_in: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, method: str) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            path = self.path.split("?", 1)[0]
            stand_in.seen.append((method, path, self.headers.get("authorization"), body))
            status, payload = stand_in.answers.get(f"{method} {path}", (
                404, {"error": {"code": "not_found", "message": "no such path"}}))
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_PUT(self) -> None:
            self._answer("PUT")

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextlib.contextmanager
def notify_stand_in() -> Iterator[StandIn]:
    stand_in = StandIn()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stand_in))
    stand_in.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stand_in
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
