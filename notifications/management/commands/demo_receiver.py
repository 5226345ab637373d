"""A small local webhook receiver for the demo: verifies signatures, logs deliveries.

    python manage.py demo_receiver --port 8001 [--host 127.0.0.1] [--secret whsec_…] [--subscribe [CUSTOMER]]

``--subscribe`` first subscribes this receiver (``http://HOST:PORT/webhooks``)
for the demo customer (or the given account number or name), as
``seed_demo_notifications`` does, so one Procfile line is the whole demo.

Without ``--secret`` it verifies with the secrets of the endpoints subscribed
at this host and port (read from the database, re-read when a signature does
not match, so a rotation is picked up). It answers 204 to a verified delivery
and 401 otherwise, like a customer's receiver should.
"""

from __future__ import annotations

import http.server
import logging
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections
from django.db.models import Q
from standardwebhooks import Webhook, WebhookVerificationError

from notifications.models import WebhookEndpoint

logger = logging.getLogger("notifications.demo_receiver")
MAX_BODY = 10 * 1024 * 1024


def _secrets_for(host: str, port: int) -> list[str]:
    close_old_connections()
    prefixes = [f"http://{name}:{port}/" for name in {host, "127.0.0.1", "localhost"}]
    query = Q()
    for prefix in prefixes:
        query |= Q(url__startswith=prefix)
    found: list[str] = []
    for endpoint in WebhookEndpoint.objects.filter(query):
        found.append(endpoint.secret)
        if endpoint.previous_secret:
            found.append(endpoint.previous_secret)
    return found


def _summary(items: list[dict]) -> str:
    parts = []
    for item in items[:5]:
        gluey = item.get("event", {}).get("codes", {}).get("gluey", {})
        parts.append(
            f"{item.get('carrier_tracking_id')} {gluey.get('milestone')}/{gluey.get('code')}/{gluey.get('sub_code')}"
        )
    more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
    return "; ".join(parts) + more


class Command(BaseCommand):
    help = "Run a local receiver that verifies Standard Webhooks signatures and logs each delivery."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8001)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--secret", action="append", default=[], help="whsec_… (repeatable); default: from the DB")
        parser.add_argument(
            "--subscribe",
            nargs="?",
            const="Demo Shop",
            metavar="CUSTOMER",
            help="subscribe this receiver for the customer first (default: Demo Shop)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host, port = options["host"], options["port"]
        if options["subscribe"]:
            from django.core.management import call_command

            call_command(
                "seed_demo_notifications",
                "--customer",
                options["subscribe"],
                "--receiver-url",
                f"http://{host}:{port}/webhooks",
                stdout=self.stdout,
            )
        fixed = list(options["secret"])
        state: dict[str, Any] = {"secrets": fixed or _secrets_for(host, port), "count": 0}
        lock = threading.Lock()
        out = self.stdout

        def verify(body: bytes, headers: dict[str, str]) -> list[dict] | None:
            for attempt in range(2):
                for secret in state["secrets"]:
                    try:
                        return Webhook(secret).verify(body, headers)
                    except WebhookVerificationError:
                        continue
                if fixed or attempt:
                    return None
                with lock:
                    state["secrets"] = _secrets_for(host, port)
            return None

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def _answer(self, status: int, body: bytes = b"") -> None:
                self.send_response(status)
                self.send_header("content-length", str(len(body)))
                if body:
                    self.send_header("content-type", "text/plain; charset=utf-8")
                self.end_headers()
                if body:
                    self.wfile.write(body)

            def do_GET(self) -> None:
                self._answer(200, f"Gluey demo receiver: {state['count']} deliveries verified\n".encode())

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length > MAX_BODY:
                    self._answer(413)
                    return
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                items = verify(body, headers)
                msg_id = headers.get("webhook-id", "?")
                if items is None:
                    out.write(f"✗ {msg_id}: signature did not verify — refused (401)")
                    self._answer(401, b"signature did not verify\n")
                    return
                with lock:
                    state["count"] += 1
                count = len(items) if isinstance(items, list) else 1
                out.write(
                    f"✓ {msg_id}: {count} event(s) verified — {_summary(items if isinstance(items, list) else [])}"
                )
                self._answer(204)

            def log_message(self, *args: object) -> None:
                pass

        try:
            server = http.server.ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{port}: {exc}") from None
        server.daemon_threads = True
        known = len(state["secrets"])
        out.write(
            f"Demo webhook receiver on http://{host}:{port}/ — verifying with {known} secret(s)"
            + ("" if known else " (none subscribed yet: run seed_demo_notifications)")
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
