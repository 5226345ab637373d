"""``manage.py edi inspect|validate|ack FILE``: look at carrier EDI files.

inspect   one JSON object per event per line: tracking_id, carrier_code,
          carrier_sub_code, occurred_at, location (format detected: X12 by
          "ISA", EDIFACT by "UNA"/"UNB", else CSV with the default columns
          or --csv-mapping FILE.json)
validate  lists envelope problems, one per line; exits non-zero if any
ack       writes the 997 functional acknowledgment for an X12 file to
          stdout, or to --output

A bad file gives a one-line error naming the segment and the problem and a
non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError

from edi import csvfile
from edi.detect import iter_events, open_detected
from edi.edifact import reader as edifact_reader
from edi.errors import EdiError
from edi.model import StatusEvent
from edi.x12 import reader as x12_reader
from edi.x12.ack import build_997


def event_json(event: StatusEvent) -> str:
    """The event as the carrier adapters record it: same id, codes, time, place, zone source and ETA."""
    body: dict[str, object] = {
        "tracking_id": event.tracking_id,
        "carrier_code": event.carrier_code,
        "carrier_sub_code": event.carrier_sub_code,
        "occurred_at": event.occurred_at.isoformat(),
        "location": event.location.as_dict(),
        "zone_source": event.zone_source,
    }
    if event.eta is not None:
        body["eta"] = event.eta.isoformat()
    if event.estimate:
        body["estimate"] = True
    return json.dumps(body, ensure_ascii=False)


class Command(BaseCommand):
    help = "Inspect, validate or acknowledge (997) a carrier's EDI or CSV status file."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="{inspect,validate,ack}")
        for name, text in (
            ("inspect", "print one JSON object per event"),
            ("validate", "list envelope problems; non-zero exit if any"),
            ("ack", "write the 997 for an X12 file"),
        ):
            p = sub.add_parser(name, help=text)
            p.add_argument("file", help="the EDI, EDIFACT or CSV file")
            p.add_argument(
                "--default-zone",
                default="UTC",
                help="the partner's time zone for local times that no place resolves (default UTC)",
            )
            p.add_argument("--encoding", default=None, help="utf-8, iso-8859-1 or windows-1252 (default: detect)")
            if name != "ack":
                p.add_argument("--csv-mapping", default=None, help="JSON file with the CSV column mapping")
            else:
                p.add_argument("--output", default=None, help="write the 997 here instead of stdout")
                p.add_argument(
                    "--control-number",
                    type=int,
                    default=1,
                    help="interchange and group control number of the 997 (default 1)",
                )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        try:
            fileobj = path.open("rb")
        except OSError as exc:
            raise CommandError(f"cannot open {path}: {exc.strerror}") from None
        try:
            with fileobj:
                action = options["action"]
                if action == "inspect":
                    self._inspect(fileobj, options)
                elif action == "validate":
                    self._validate(fileobj, options)
                else:
                    self._ack(fileobj, options)
        except EdiError as err:
            raise CommandError(f"{path.name}: {err}") from None

    def _mapping(self, options: dict[str, Any]) -> csvfile.CsvProfile | None:
        if not options.get("csv_mapping"):
            return None
        try:
            data = json.loads(Path(options["csv_mapping"]).read_text(encoding="utf-8"))
        except OSError as exc:
            raise CommandError(f"cannot read {options['csv_mapping']}: {exc.strerror}") from None
        except ValueError as exc:
            raise CommandError(f"{options['csv_mapping']} is not valid JSON: {exc}") from None
        if isinstance(data, dict) and options.get("encoding") and "encoding" not in data:
            data["encoding"] = options["encoding"]
        return csvfile.CsvProfile.from_dict(data)

    def _inspect(self, fileobj: IO[bytes], options: dict[str, Any]) -> None:
        mapping = self._mapping(options)
        if mapping is None and options.get("encoding"):
            mapping = csvfile.CsvProfile(encoding=options["encoding"])
        try:
            for event in iter_events(fileobj, mapping, options["default_zone"], encoding=options.get("encoding")):
                self.stdout.write(event_json(event))
        except BrokenPipeError:
            # The reader went away (``| head``): stop quietly, and keep Python
            # from complaining again when it flushes stdout at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

    def _validate(self, fileobj: IO[bytes], options: dict[str, Any]) -> None:
        fmt, stream = open_detected(fileobj)
        zone, encoding = options["default_zone"], options.get("encoding")
        if fmt == "x12":
            problems = x12_reader.validate(stream, default_zone=zone, encoding=encoding)
        elif fmt == "edifact":
            problems = edifact_reader.validate(stream, encoding=encoding)
        else:
            problems = []
            try:
                mapping = self._mapping(options) or csvfile.CsvProfile(encoding=encoding)
                for _event in csvfile.iter_events(stream, zone, profile=mapping):
                    pass
            except EdiError as err:
                problems = [err]
        for problem in problems:
            self.stdout.write(str(problem))
        if problems:
            raise CommandError(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found")
        self.stdout.write(f"{fmt}: no problems found")

    def _ack(self, fileobj: IO[bytes], options: dict[str, Any]) -> None:
        fmt, stream = open_detected(fileobj)
        if fmt != "x12":
            raise CommandError("ack works on X12 files only (997 acknowledges X12 functional groups)")
        number = options["control_number"]
        if not 1 <= number <= 999_999_999:
            raise CommandError("--control-number must be between 1 and 999999999")
        data = build_997(
            stream, interchange_control_number=number, group_control_number=number, encoding=options.get("encoding")
        )
        if options.get("output"):
            try:
                Path(options["output"]).write_bytes(data)
            except OSError as exc:
                raise CommandError(f"cannot write {options['output']}: {exc.strerror}") from None
        else:
            self.stdout.write(data.decode("utf-8", errors="replace"), ending="")
