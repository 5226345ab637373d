import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from carriers.services import CarrierSetupError, carrier_create


class Command(BaseCommand):
    help = "Create a carrier; prints carrier_id, webhook_url and webhook_secret as JSON."

    def add_arguments(self, parser):
        parser.add_argument("carrier_id")
        parser.add_argument("--adapter", required=True)
        parser.add_argument("--config", help="JSON file with the carrier's settings (same fields as the admin form)")

    def handle(self, *args, carrier_id: str, adapter: str, config: str | None, **options):
        data = {}
        if config:
            path = Path(config)
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise CommandError(f"config file {config} does not exist") from None
            except (ValueError, UnicodeDecodeError) as exc:
                raise CommandError(f"config file {config} is not valid JSON: {exc}") from None
            if not isinstance(data, dict):
                raise CommandError(f"config file {config} must hold a JSON object")
        try:
            carrier = carrier_create(carrier_id=carrier_id, adapter=adapter, config=data)
        except CarrierSetupError as exc:
            raise CommandError(str(exc)) from None
        base = settings.PUBLIC_BASE_URL.rstrip("/")
        self.stdout.write(
            json.dumps(
                {
                    "carrier_id": carrier.pk,
                    "webhook_url": f"{base}/carriers/{carrier.pk}/webhook",
                    "webhook_secret": carrier.webhook_secret,
                }
            )
        )
