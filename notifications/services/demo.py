"""Demo wiring for `make run`: the demo customer's webhook endpoint and sFTP destination."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from notifications.models import ExportFormat, SftpDestination, WebhookEndpoint
from notifications.services.endpoints import endpoint_subscribe
from notifications.services.exports import InvalidDestination, sftp_destination_validate
from tracking.models import Customer

DEMO_DESTINATION = "demo"


@dataclass
class DemoSeed:
    endpoint: WebhookEndpoint
    secret: str | None  # only when the endpoint was created now
    destination: SftpDestination | None


def demo_notifications_seed(*, customer: Customer, receiver_url: str, sftp: dict[str, Any] | None = None) -> DemoSeed:
    """Idempotent: subscribe ``receiver_url`` (kept as is if already there) and, given
    ``sftp`` settings (host, port, username, password, host_keys, remote_dir,
    format, interval_minutes), create or update the "demo" sFTP destination.

    Raises InvalidEndpoint / InvalidDestination naming the problem.
    """
    values = _sftp_values(sftp) if sftp is not None else None
    if values is not None:
        sftp_destination_validate(values=values)  # before anything is written: bad settings change nothing
    existing = WebhookEndpoint.objects.filter(customer=customer, url=receiver_url).first()
    secret = None
    if existing is None:
        existing, secret = endpoint_subscribe(customer=customer, url=receiver_url)
    destination = None
    if values is not None:
        with transaction.atomic():
            destination = SftpDestination.objects.filter(customer=customer, name=DEMO_DESTINATION).first()
            if destination is None:
                destination = SftpDestination(customer=customer, name=DEMO_DESTINATION)
            for key, value in values.items():
                setattr(destination, key, value)
            destination.enabled = True
            destination.save()  # post_save schedules its beat job
    return DemoSeed(endpoint=existing, secret=secret, destination=destination)


def _number(sftp: dict[str, Any], key: str, default: int) -> int:
    try:
        return int(sftp.get(key) or default)
    except (TypeError, ValueError):
        raise InvalidDestination(f"must be a number, got {sftp.get(key)!r}", field=key) from None


def _sftp_values(sftp: dict[str, Any]) -> dict[str, Any]:
    values = {
        "host": sftp.get("host", "127.0.0.1"),
        "port": _number(sftp, "port", 22),
        "username": sftp.get("username", "gluey"),
        "password": sftp.get("password", ""),
        "private_key": sftp.get("private_key", ""),
        "host_keys": sftp.get("host_keys") or sftp.get("host_key") or "",
        "remote_dir": sftp.get("remote_dir", "/exports"),
        "format": sftp.get("format", ExportFormat.X12_214),
        "interval_minutes": _number(sftp, "interval_minutes", 1),
        "isa_receiver_id": sftp.get("isa_receiver_id", "DEMOSHOP"),
        "gs_receiver_id": sftp.get("gs_receiver_id", "DEMOSHOP"),
        "unb_recipient": sftp.get("unb_recipient", "DEMOSHOP"),
    }
    if isinstance(values["host_keys"], (list, tuple)):
        values["host_keys"] = "\n".join(values["host_keys"])
    return values
