"""Give the demo customer a webhook endpoint (the demo receiver) and an sFTP destination.

    python manage.py seed_demo_notifications [--customer ACCOUNT_OR_NAME]
        [--receiver-url http://127.0.0.1:8001/webhooks] [--sftp-config FILE.json]

The sFTP settings come from ``--sftp-config`` (a JSON object: host, port,
username, password, host_key(s), remote_dir, format, interval_minutes) or,
when absent, from ``var/demo_sftp.json`` if the carrier simulator wrote one.
Prints JSON. Idempotent: an existing endpoint keeps its secret.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from notifications.services import InvalidDestination, InvalidEndpoint
from notifications.services.demo import demo_notifications_seed
from tracking.models import Customer

DEMO_CUSTOMER = "Demo Shop"
DEFAULT_RECEIVER = "http://127.0.0.1:8001/webhooks"


class Command(BaseCommand):
    help = "Subscribe the demo receiver for the demo customer and point an sFTP destination at the simulator."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customer", default=DEMO_CUSTOMER, help="account number or name (default: Demo Shop)")
        parser.add_argument("--receiver-url", default=DEFAULT_RECEIVER)
        parser.add_argument("--sftp-config", type=Path, help="JSON file with the demo sFTP server's settings")

    def handle(self, *args: Any, **options: Any) -> None:
        ident = options["customer"]
        customer = Customer.objects.filter(Q(account_number=ident) | Q(name=ident)).first()
        if customer is None:
            raise CommandError(f"no customer with account number or name {ident!r} (run seed_demo first)")
        sftp = None
        path = options["sftp_config"] or (settings.VAR_DIR / "demo_sftp.json")
        if options["sftp_config"] is not None or path.exists():
            try:
                sftp = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise CommandError(f"cannot read the sFTP settings {path}: {exc}") from None
            if not isinstance(sftp, dict):
                raise CommandError(f"{path} must hold a JSON object")
        try:
            seed = demo_notifications_seed(customer=customer, receiver_url=options["receiver_url"], sftp=sftp)
        except InvalidEndpoint as exc:
            hint = " (set WEBHOOK_ALLOWED_NETWORKS=127.0.0.0/8 for the local demo)" if exc.not_public else ""
            raise CommandError(f"{exc}{hint}") from None
        except InvalidDestination as exc:
            raise CommandError(f"sFTP destination {exc}") from None
        out = {
            "account_number": customer.account_number,
            "webhook_endpoint": seed.endpoint.url,
            "webhook_secret": seed.secret,
            "sftp_destination": str(seed.destination) if seed.destination else None,
        }
        self.stdout.write(json.dumps(out))
