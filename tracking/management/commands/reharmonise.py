import json

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from tracking.models import TrackingEvent
from tracking.services import events_reharmonise


class Command(BaseCommand):
    help = (
        "Re-apply the code mapping table to a carrier's stored events (all codes, or --code ones) "
        "and move their shipments' current states; prints JSON counts."
    )

    def add_arguments(self, parser):
        parser.add_argument("carrier_id")
        parser.add_argument(
            "--code", action="append", dest="codes", metavar="CARRIER_CODE", help="only this code (repeatable)"
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar (e.g. in cron)")

    def handle(self, *args, carrier_id: str, codes: list[str] | None, no_progress: bool, **options):
        # The carrier model through the relation: tracking does not import the carriers app.
        carriers = TrackingEvent._meta.get_field("carrier").related_model
        if not carriers._default_manager.filter(pk=carrier_id).exists():
            raise CommandError(f"unknown carrier {carrier_id!r}")

        def progress(chunks, total):
            return tqdm(
                chunks,
                total=total,
                desc="refreshing shipment states",
                unit="chunk",
                file=self.stderr,
                disable=no_progress,
            )

        self.stderr.write(f"re-harmonising {carrier_id}'s stored events{' for ' + ', '.join(codes) if codes else ''}…")
        changed = events_reharmonise(carrier_id=carrier_id, codes=codes, progress=progress)
        self.stdout.write(json.dumps({"carrier_id": carrier_id, "events_changed": changed}))
