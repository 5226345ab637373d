"""Writes for the Event Service: carrier setup and default code maps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from carriers.adapters.registry import UnknownAdapter, adapter_class
from carriers.models import Carrier, new_webhook_secret
from carriers.services.detection import number_config_problems
from tracking.services import MappingRow, code_mappings_import, mapping_rows_from_csv

# Fields of the carrier form a config file may set; secrets go to the encrypted bundle.
SECRET_KEYS = {
    "password",
    "private_key",
    "passphrase",
    "client_id",
    "client_secret",
    "api_key",
    "api_secret",
    "username_token",
    "push_client_id",
    "push_client_secret",
}
MODEL_KEYS = {
    "name",
    "enabled",
    "default_zone",
    "poll_interval_minutes",
    "poll_batch_size",
    "quota_per_second",
    "quota_burst",
    "quota_per_hour",
    "quota_per_day",
    "quota_per_item_day",
}


class CarrierSetupError(ValueError):
    pass


def default_mappings(adapter: str, file_format: str = "") -> list[MappingRow]:
    """The adapter's default code map, plus the sFTP file format's rows for codes it does not cover."""
    rows: list[MappingRow] = []
    seen: set[tuple[str, str]] = set()
    for name in [adapter] + ([file_format] if file_format and file_format != adapter else []):
        path: Path = adapter_class(name).default_codes_path()
        if not path.exists():
            continue
        for row in mapping_rows_from_csv(path.read_text(encoding="utf-8")):
            key = (row.carrier_code, row.carrier_sub_code)
            if key not in seen:
                seen.add(key)
                rows.append(row)
    return rows


def carrier_config_problems(*, adapter: str, config: dict[str, Any], credentials: dict[str, Any]) -> list[str]:
    """What is wrong with a carrier's channel settings, in words ops staff can act on."""
    from gluey.sftp import SftpConfig, SftpError, parse_public_key

    problems = []
    cls = adapter_class(adapter)
    if config.get("host"):
        file_format = config.get("format") or adapter
        try:
            if "sftp" not in adapter_class(file_format).channels:
                problems.append(f"format {file_format!r} is not a file format (use x12_214, edifact_iftsta or csv)")
        except UnknownAdapter as exc:
            problems.append(f"format: {exc}")
        try:
            sftp = SftpConfig.from_settings(config, credentials)
        except SftpError as exc:
            problems.append(f"sFTP: {exc}")
        else:
            if not sftp.host_keys:
                problems.append("sFTP: host_key must be set (the server's public key, e.g. 'ssh-ed25519 AAAA…')")
            for line in sftp.host_keys:
                try:
                    parse_public_key(line)
                except SftpError as exc:
                    problems.append(f"sFTP host_key: {exc}")
            if not sftp.username:
                problems.append("sFTP: username must be set")
            if not (sftp.password or sftp.private_key):
                problems.append("sFTP: password or private_key must be set")
        if not config.get("remote_dir"):
            problems.append("sFTP: remote_dir must be set")
    for key in ("stable_seconds", "max_file_bytes", "interval_seconds"):
        if key in config and (not isinstance(config[key], (int, float)) or config[key] < 0):
            problems.append(f"{key} must be a non-negative number")
    if "base_url" in config and not str(config["base_url"]).startswith(("http://", "https://")):
        problems.append("base_url must start with http:// or https://")
    if "polling" in config and not isinstance(config["polling"], bool):
        problems.append("polling must be true or false")
    if "polling" in config and config["polling"] and "poll" not in cls.channels:
        problems.append(f"the {adapter} adapter cannot poll")
    problems.extend(number_config_problems(config))
    if config.get("subscribe_pushes"):
        if not hasattr(cls, "subscribe"):
            problems.append(f"subscribe_pushes: the {adapter} adapter has no push subscriptions")
        version = config.get("track_alert_version", "v2")
        if version not in ("v1", "v2"):
            problems.append("track_alert_version must be v1 or v2")
        elif version == "v2" and not (credentials.get("push_client_id") and credentials.get("push_client_secret")):
            # v2 pushes carry a bearer token UPS fetches from our token URL with these; without them all are refused.
            problems.append("subscribe_pushes (Track Alert v2): push_client_id and push_client_secret must be set")
    return problems


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
    problems = carrier_config_problems(adapter=adapter, config=config, credentials=credentials)
    max_batch = adapter_class(adapter).poll_batch_size
    batch = unknown_model.setdefault("poll_batch_size", max_batch)
    if not isinstance(batch, int) or not 1 <= batch <= max_batch:
        problems.append(f"poll_batch_size must be between 1 and {max_batch} for the {adapter} adapter")
    if problems:
        raise CarrierSetupError("; ".join(problems))
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
        detail = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
        raise CarrierSetupError(detail) from None
    with transaction.atomic():
        carrier.save(force_insert=True)
        carrier_default_mappings_load(carrier=carrier)
    return carrier


def carrier_default_mappings_load(*, carrier: Carrier) -> int:
    """Load the adapter's default code map (and its sFTP file format's) for a new carrier; returns the rows."""
    rows = default_mappings(carrier.adapter, str((carrier.config or {}).get("format") or ""))
    if rows:
        code_mappings_import(carrier_id=carrier.pk, rows=rows, reharmonise=False)
    return len(rows)
