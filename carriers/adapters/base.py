"""The carrier adapter interface: a handful of methods, nothing discovered by magic.

``parse`` is pure (bytes in, events out); ``verify_webhook`` and ``poll`` exist
only where the carrier supports them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from tracking.types import CarrierEvent

if TYPE_CHECKING:
    from carriers.models import Carrier


class CarrierError(Exception):
    """A carrier problem. ``permanent`` stops retries (bad payload, bad credentials)."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class Adapter:
    """Base class. Subclasses set ``channels`` and implement ``parse``."""

    # Which channels the adapter serves: any of "webhook", "sftp", "poll".
    channels: ClassVar[frozenset[str]] = frozenset()
    # Largest number of tracking ids one poll request may carry.
    poll_batch_size: ClassVar[int] = 1

    def __init__(self, carrier: "Carrier | None" = None) -> None:
        self.carrier = carrier

    @property
    def config(self) -> dict[str, Any]:
        return self.carrier.config if self.carrier is not None else {}

    def parse(self, payload: bytes) -> list[CarrierEvent]:
        raise NotImplementedError

    @classmethod
    def default_codes_path(cls) -> Path:
        import inspect

        return Path(inspect.getfile(cls)).parent / "codes.csv"
