"""The carrier adapter interface: a handful of methods, nothing discovered by magic.

- ``parse(payload) -> list[CarrierEvent]`` is pure (bytes in, events out, no
  database, no network) and raises ``CarrierError(permanent=True)`` naming the
  problem when the payload is not what the carrier sends.
- ``verify_webhook(request)`` authenticates a pushed payload; the default is
  Standard Webhooks with the carrier's ``whsec_`` secret, and an adapter whose
  carrier has its own scheme overrides it.
- ``poll(tracking_ids, hints) -> PollResult`` asks the carrier's API about at most
  ``poll_batch_size`` numbers with one request and returns the raw response.
- ``select_reply(payload, asked) -> Selection`` keeps, from a poll answer, only
  what is about the numbers asked (a carrier may answer about another or several
  shipments); the default keeps everything.

Each API adapter declares its carrier's documented ``quota``; a carrier row may
override any figure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from tracking.types import CarrierEvent

if TYPE_CHECKING:
    from carriers.models import Carrier


class CarrierError(Exception):
    """A carrier problem. ``permanent`` stops retries (bad payload, bad credentials);
    ``retry_after`` (seconds) is the carrier's own hint when it gave one.

    ``carrier_wide`` says whether the failure is about the carrier (credentials,
    quota, outage: back the carrier off) or only about this request's numbers
    (a 400: count it against those numbers, keep polling the others).
    """

    def __init__(
        self, message: str, *, permanent: bool = False, retry_after: float | None = None, carrier_wide: bool = True
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        self.carrier_wide = carrier_wide


class QuotaWait(Exception):
    """The carrier's budget has no room for another request for ``wait`` seconds."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"quota exhausted for {wait:.1f}s")
        self.wait = wait


def _verify_reason(exc: Exception) -> str:
    """Why standardwebhooks refused a request, in our words (its messages are matched, not echoed)."""
    text = str(exc).lower()
    if "too old" in text:
        return "webhook-timestamp is more than 5 minutes old"
    if "too new" in text:
        return "webhook-timestamp is more than 5 minutes in the future"
    if "signature headers" in text:
        return "webhook-timestamp is not a Unix time in seconds"
    if "no matching signature" in text:
        return "signature does not match"
    return "the signature headers could not be checked"


class ParsedEvents(list[CarrierEvent]):
    """What ``parse`` returns: the events it could read, and why it left any element out.

    One incomplete element (an event without a time, a shipment without an
    id) never loses the others: the adapter skips it, says why in
    ``problems`` ("shipments[0].events[3]: timestamp is missing"), and the
    inbound service stores those reasons on the message. A plain list is a
    valid answer too (no problems).
    """

    def __init__(self, events: Iterable[CarrierEvent] = (), problems: Iterable[str] = ()) -> None:
        super().__init__(events)
        self.problems: list[str] = list(problems)


def parse_problems(events: Sequence[CarrierEvent]) -> list[str]:
    """The problems ``parse`` reported alongside its events (none for a plain list)."""
    return list(getattr(events, "problems", ()))


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
    ids the carrier said it does not know (id → the carrier's reason);
    ``refused`` names ids the carrier refused as malformed (a 400 about that
    number), which count towards isolating the number.
    """

    body: bytes
    content_type: str = "application/json"
    invalid: Mapping[str, str] = field(default_factory=dict)
    refused: Mapping[str, str] = field(default_factory=dict)
    # Facts to send on the next request for a number (see ``Selection.learned``).
    learned: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Quota:
    """A carrier's documented API budget. None: the carrier sets no such limit.

    ``per_second`` is the steady rate and ``burst`` how many calls may leave
    back to back; token requests count like any other call.
    """

    per_second: float | None = None
    burst: int = 1
    per_hour: int | None = None
    per_day: int | None = None
    per_item_day: int | None = None


@dataclass(frozen=True)
class Selection:
    """A poll answer reduced to the numbers asked.

    ``body`` is what ``parse`` reads (the stored raw answer is never changed);
    ``problems`` names, per asked number, what was dropped or chosen and why;
    ``learned`` holds facts worth sending on the next request (DHL ``service``,
    FedEx ``unique_id``), per asked number.
    """

    body: bytes
    problems: Mapping[str, str] = field(default_factory=dict)
    learned: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


# A hook the poller gives an adapter: called before every HTTP request to the
# carrier (``kind`` is "token" or "track"), it spends quota or raises.
RequestHook = Callable[[str], None]


def _no_hook(kind: str) -> None:
    return None


class Adapter:
    """Base class. Subclasses set ``channels`` and implement ``parse``."""

    # Which channels the adapter serves: any of "webhook", "sftp", "poll".
    channels: ClassVar[frozenset[str]] = frozenset()
    # Largest number of tracking ids one poll request may carry.
    poll_batch_size: ClassVar[int] = 1
    # The carrier's documented API budget (README, "Carrier APIs").
    quota: ClassVar[Quota] = Quota(per_second=1.0, burst=1)
    # The status a pushed request is acknowledged with (UPS asks for 200).
    push_ack_status: ClassVar[int] = 202
    # Tracking-number formats this carrier issues (ids in carriers/numbers/formats.toml),
    # used to detect the carrier from a number. Format-neutral adapters leave it
    # empty; a carrier on one lists its formats in config["number_formats"].
    number_formats: ClassVar[tuple[str, ...]] = ()

    def __init__(self, carrier: Carrier | None = None, *, before_request: RequestHook | None = None) -> None:
        self.carrier = carrier
        self.before_request: RequestHook = before_request or _no_hook

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
            # Our own sentence, never the library's text (it may change, or say more than it should).
            raise WebhookAuthError(f"signature check failed: {_verify_reason(exc)}") from None

    def push_token(self, headers: Mapping[str, str], form: Mapping[str, str]) -> dict[str, Any]:
        """Issue a token a carrier fetches before pushing (OAuth client credentials); most carriers have none."""
        raise WebhookAuthError("this carrier does not fetch push tokens from us")

    def poll(self, tracking_ids: Sequence[str], hints: Mapping[str, Mapping[str, str]] | None = None) -> PollResult:
        """``hints``: per number, what the shipment is known by (``service``,
        ``recipient_postal_code``, ``origin_country_code``, ``ship_date``, ``unique_id``)."""
        raise CarrierError(f"adapter {type(self).__name__} cannot poll", permanent=True)

    def select_reply(self, payload: bytes, asked: Mapping[str, Mapping[str, str]]) -> Selection:
        """Keep what a poll answer says about the ``asked`` numbers (number → hints)."""
        return Selection(body=payload)

    @classmethod
    def default_codes_path(cls) -> Path:
        import inspect

        return Path(inspect.getfile(cls)).parent / "codes.csv"
