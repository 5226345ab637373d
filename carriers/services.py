"""Writes for the Event Service: carrier setup and default code maps."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from carriers.adapters.registry import UnknownAdapter, adapter_class
from carriers.models import Carrier, new_webhook_secret
from tracking.services import MappingError, MappingRow, code_mappings_import

MAPPING_COLUMNS = ["carrier_code", "carrier_sub_code", "milestone", "code", "sub_code"]

# Fields of the carrier form a config file may set; secrets go to the encrypted bundle.
SECRET_KEYS = {"password", "private_key", "client_id", "client_secret", "api_key", "api_secret", "username_token"}
MODEL_KEYS = {"name", "enabled", "default_zone", "poll_interval_minutes", "poll_batch_size", "rate_limit_per_minute"}


class CarrierSetupError(ValueError):
    pass


def mapping_rows_from_csv(text: str) -> list[MappingRow]:
    """Parse a code-map CSV (columns carrier_code, carrier_sub_code, milestone, code, sub_code[, note])."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in MAPPING_COLUMNS if c not in header]
    if missing:
        raise MappingError(f"CSV is missing column(s): {', '.join(missing)}")
    rows = []
    for raw in reader:
        raw = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        rows.append(
            MappingRow(
                carrier_code=raw["carrier_code"],
                carrier_sub_code=raw["carrier_sub_code"],
                milestone=raw["milestone"],
                code=raw["code"],
                sub_code=raw["sub_code"],
                note=raw.get("note", ""),
            )
        )
    return rows


def default_mappings(adapter: str) -> list[MappingRow]:
    path: Path = adapter_class(adapter).default_codes_path()
    if not path.exists():
        return []
    return mapping_rows_from_csv(path.read_text(encoding="utf-8"))


def carrier_create(*, carrier_id: str, adapter: str, config: dict[str, Any] | None = None) -> Carrier:
    """Create a carrier with a fresh webhook secret and its adapter's default code map."""
    try:
        adapter_class(adapter)
    except UnknownAdapter as exc:
        raise CarrierSetupError(str(exc)) from None
    config = dict(config or {})
    if Carrier.objects.filter(pk=carrier_id).exists():
        raise CarrierSetupError(f"carrier {carrier_id!r} already exists")
    unknown_model = {k: config.pop(k) for k in list(config) if k in MODEL_KEYS}
    credentials = {k: config.pop(k) for k in list(config) if k in SECRET_KEYS}
    carrier = Carrier(
        id=carrier_id,
        adapter=adapter,
        webhook_secret=config.pop("webhook_secret", None) or new_webhook_secret(),
        config=config,
        credentials=credentials,
        **unknown_model,
    )
    try:
        carrier.full_clean()
    except ValidationError as exc:
        problems = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
        raise CarrierSetupError(problems) from None
    with transaction.atomic():
        carrier.save(force_insert=True)
        rows = default_mappings(adapter)
        if rows:
            code_mappings_import(carrier_id=carrier.pk, rows=rows, reharmonise=False)
    return carrier
