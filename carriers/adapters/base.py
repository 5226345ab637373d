"""The carrier adapter interface: a handful of methods, nothing discovered by magic.

- ``parse(payload) -> list[CarrierEvent]`` is pure (bytes in, events out, no
  database, no network) and raises ``CarrierError(permanent=True)`` naming the
  problem when the payload is not what the carrier sends.
- ``verify_webhook(request)`` authenticates a pushed payload; the default is
  Standard Webhooks with the carrier's ``whsec_`` secret, and an adapter whose
  carrier has its own scheme overrides it.
- ``poll(tracking_ids) -> PollResult`` asks the carrier's API about at most
  ``poll_batch_size`` numbers with one request and returns the raw response.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from tracking.types import CarrierEvent

if TYPE_CHECKING:
    from carriers.models import Carrier


class CarrierError(Exception):
    """A carrier problem. ``permanent`` stops retries (bad payload, bad credentials);
    ``retry_after`` (seconds) is the carrier's own hint when it gave one."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class WebhookAuthError(Exception):
    """The pushed request did not prove it came from the carrier."""


@dataclass(frozen=True)
class WebhookRequest:
    """What an adapter may look at to authenticate a push: headers (lower-case) and the raw body."""

    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class PollResult:
    """One poll request's outcome.

    ``body`` is the carrier's response exactly as received; it is stored as an
    InboundMessage and then parsed with ``parse``. ``invalid`` names tracking
    ids the carrier said it does not know (id → the carrier's reason).
    """

    body: bytes
    content_type: str = "application/json"
    invalid: Mapping[str, str] = field(default_factory=dict)


class Adapter:
    """Base class. Subclasses set ``channels`` and implement ``parse``."""

    # Which channels the adapter serves: any of "webhook", "sftp", "poll".
    channels: ClassVar[frozenset[str]] = frozenset()
    # Largest number of tracking ids one poll request may carry.
    poll_batch_size: ClassVar[int] = 1

    def __init__(self, carrier: Carrier | None = None) -> None:
        self.carrier = carrier

    @property
    def config(self) -> dict[str, Any]:
        return self.carrier.config if self.carrier is not None else {}

    @property
    def credentials(self) -> dict[str, Any]:
        return self.carrier.credentials if self.carrier is not None else {}

    @property
    def default_zone(self) -> str:
        return self.carrier.default_zone if self.carrier is not None else "UTC"

    def parse(self, payload: bytes) -> list[CarrierEvent]:
        raise NotImplementedError

    def verify_webhook(self, request: WebhookRequest) -> None:
        """Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature) with the carrier's secret."""
        from standardwebhooks.webhooks import Webhook

        secret = self.carrier.webhook_secret if self.carrier is not None else ""
        if not secret:
            raise WebhookAuthError("this carrier has no webhook secret configured")
        missing = [h for h in ("webhook-id", "webhook-timestamp", "webhook-signature") if not request.headers.get(h)]
        if missing:
            raise WebhookAuthError(f"missing signature header(s): {', '.join(missing)}")
        try:
            Webhook(secret).verify(request.body, dict(request.headers), json_parse=False)
        except Exception as exc:  # noqa: BLE001 - the library raises several types for bad input
            reason = str(exc) or type(exc).__name__
            if "No matching signature" in reason:
                reason = "signature does not match"
            raise WebhookAuthError(f"signature check failed: {reason}") from None

    def poll(self, tracking_ids: Sequence[str]) -> PollResult:
        raise CarrierError(f"adapter {type(self).__name__} cannot poll", permanent=True)

    @classmethod
    def default_codes_path(cls) -> Path:
        import inspect

        return Path(inspect.getfile(cls)).parent / "codes.csv"
