import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from carriers.models import Carrier
from tracking.services import MappingError, code_mappings_import, mapping_rows_from_csv


class Command(BaseCommand):
    help = (
        "Import a carrier's code map CSV (carrier_code, carrier_sub_code, milestone, code, sub_code) and re-harmonise."
    )

    def add_arguments(self, parser):
        parser.add_argument("carrier_id")
        parser.add_argument("csv_file")

    def handle(self, *args, carrier_id: str, csv_file: str, **options):
        if not Carrier.objects.filter(pk=carrier_id).exists():
            raise CommandError(f"unknown carrier {carrier_id!r}")
        try:
            text = Path(csv_file).read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise CommandError(f"file {csv_file} does not exist") from None
        except UnicodeDecodeError:
            raise CommandError(f"file {csv_file} is not UTF-8 text") from None
        try:
            rows = mapping_rows_from_csv(text)
            counts = code_mappings_import(
                carrier_id=carrier_id,
                rows=rows,
                progress=lambda it, total: tqdm(it, total=total, desc="re-harmonising", unit="chunk", file=self.stderr),
            )
        except MappingError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(json.dumps({"rows": len(rows), **counts}))
