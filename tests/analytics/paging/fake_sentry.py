"""A real local HTTP endpoint standing in for Sentry: it keeps the envelopes sentry-sdk POSTs."""

from __future__ import annotations

import gzip
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeSentry(ThreadingHTTPServer):
    """Collects the envelopes sentry-sdk POSTs, decompressed."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.bodies: list[bytes] = []
        self.paths: list[str] = []

    @property
    def dsn(self) -> str:
        return f"http://publickey@127.0.0.1:{self.server_address[1]}/1"

    def events(self) -> list[dict[str, Any]]:
        return [payload for body in self.bodies for kind, payload in parse_envelope(body) if kind == "event"]


class _Handler(BaseHTTPRequestHandler):
    server: FakeSentry

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "br":
            import brotli  # only present when sentry-sdk could have chosen it

            body = brotli.decompress(body)
        self.server.paths.append(self.path)
        self.server.bodies.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


def parse_envelope(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(item type, JSON payload) of each item: a header line, then per item a header line and its payload."""
    items = []
    position = raw.index(b"\n") + 1
    while position < len(raw):
        end = raw.find(b"\n", position)
        header = json.loads(raw[position : end if end != -1 else len(raw)])
        position = end + 1
        if "length" in header:
            payload, position = raw[position : position + header["length"]], position + header["length"] + 1
        else:
            end = raw.find(b"\n", position)
            end = len(raw) if end == -1 else end
            payload, position = raw[position:end], end + 1
        items.append((header["type"], json.loads(payload)))
    return items
