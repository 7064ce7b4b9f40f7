"""HTTP for the fake: form-encoded requests in, JSON out, and the admin paths under /_fake/."""

from __future__ import annotations

import json
import re
import secrets
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from .errors import StripeFailure
from .faults import Fault

if TYPE_CHECKING:
    from .server import FakeStripe


class FakeServer(ThreadingHTTPServer):
    """The HTTP server behind FakeStripe: a thread per connection, and a backlog that never stalls a client."""

    daemon_threads = True
    # socketserver's default backlog is 5: a sixth client connecting at once waits for a SYN retry (about 1 s).
    request_queue_size = 256

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (timeout, lost response) is part of the game


def decode_form(text: str) -> dict[str, Any]:
    """`a[b][0][c]=v` → {"a": {"b": {"0": {"c": "v"}}}} (lists keep their digit keys)."""
    result: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        head, *rest = re.findall(r"[^\[\]]+|(?<=\[)(?=\])", key) or [key]
        path = [head, *rest]
        node = result
        for step in path[:-1]:
            node = node.setdefault(step, {})
            if not isinstance(node, dict):
                raise StripeFailure(400, f"Invalid parameter: {key}")
        node[path[-1]] = value
    return result


def handler_for(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        stripe = fake

    return Handler


class _Handler(BaseHTTPRequestHandler):
    stripe: FakeStripe
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in two writes

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if len(raw) < length:
            # The client died mid-request: like Stripe, never act on half a request.
            self.close_connection = True
            return
        body = raw.decode()
        if split.path.startswith("/_fake/"):
            self._admin(split.path, body)
            return
        try:
            params = decode_form(body if self.command == "POST" else split.query)
        except StripeFailure as failure:
            self._reply(failure.status, failure.body(), {})
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, payload, fault, extra = self.stripe.handle(self.command, split.path, params, headers, body)
        if fault and fault.kind == "drop":
            self.close_connection = True
            return
        if fault and fault.kind == "delay":
            time.sleep(fault.delay)
        self._reply(status, payload, extra)

    def _admin(self, path: str, body: str) -> None:
        """What tools running the fake in another process ask: counts, faults, an account built over time."""
        if path == "/_fake/stats":
            self._reply(200, self.stripe.stats(), {})
        elif path == "/_fake/faults" and self.command == "POST":
            self.stripe.inject(*(Fault(**f) for f in json.loads(body or "[]")))
            self._reply(200, {"ok": True}, {})
        elif path == "/_fake/seed" and self.command == "POST":
            self._reply(200, {"objects": self.stripe.seed(**json.loads(body or "{}"))}, {})
        else:
            self._reply(404, {"error": {"message": "unknown admin path"}}, {})

    def _reply(self, status: int, payload: dict[str, Any], extra: dict[str, str]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", "req_" + secrets.token_hex(7))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _serve
