"""An HTTP server shaped like DHL's Unified Tracking API, answering from simulated journeys."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


class _Handler(BaseHTTPRequestHandler):
    server: DhlLikeServer

    def log_message(self, fmt: str, *args: Any) -> None:  # keep the demo console readable
        return

    def _send(self, status: int, payload: dict[str, Any], content_type: str = "application/json") -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path != "/track/shipments":
            self._send(
                404, {"title": "Not Found", "status": 404, "detail": f"No route {url.path}"}, "application/problem+json"
            )
            return
        if self.headers.get("DHL-API-Key") != self.server.api_key:
            self._send(
                401, {"title": "Unauthorized", "status": 401, "detail": "Invalid API key"}, "application/problem+json"
            )
            return
        number = (parse_qs(url.query).get("trackingNumber") or [""])[0]
        shipment = self.server.lookup(number)
        if shipment is None:
            self._send(
                404,
                {
                    "title": "No result found",
                    "status": 404,
                    "detail": "No shipment with given tracking number found.",
                    "instance": f"/shipment/{number}",
                },
                "application/problem+json",
            )
            return
        self._send(200, {"shipments": [shipment]})


class DhlLikeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, api_key: str, lookup: Callable[[str], dict[str, Any] | None]) -> None:
        super().__init__((host, port), _Handler)
        self.api_key = api_key
        self.lookup = lookup
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        assert isinstance(host, str)  # an IPv4/IPv6 server address, not a Unix socket path
        return f"http://{host}:{port}"

    def start(self) -> DhlLikeServer:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
