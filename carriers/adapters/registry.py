"""Every carrier adapter, by name → dotted path. Adding one is one line here."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from carriers.adapters.base import Adapter, RequestHook
    from carriers.models import Carrier

ADAPTERS: dict[str, str] = {
    # Gluey's own push format.
    "generic_json": "carriers.adapters.generic_json.adapter.GenericJsonAdapter",
    # File formats carriers drop on sFTP.
    "x12_214": "carriers.adapters.x12_214.adapter.X12Adapter",
    "edifact_iftsta": "carriers.adapters.edifact_iftsta.adapter.IftstaAdapter",
    "csv": "carriers.adapters.csv.adapter.CsvAdapter",
    # Carriers' own APIs.
    "dhl": "carriers.adapters.dhl.adapter.DhlAdapter",
    "ups": "carriers.adapters.ups.adapter.UpsAdapter",
    "fedex": "carriers.adapters.fedex.adapter.FedexAdapter",
    "usps": "carriers.adapters.usps.adapter.UspsAdapter",
}


class UnknownAdapter(LookupError):
    pass


@cache
def adapter_class(name: str) -> type[Adapter]:
    try:
        path = ADAPTERS[name]
    except KeyError:
        raise UnknownAdapter(f"unknown adapter {name!r} (known: {', '.join(sorted(ADAPTERS))})") from None
    return import_string(path)


def adapter_for(carrier: Carrier, name: str | None = None, *, before_request: RequestHook | None = None) -> Adapter:
    """An adapter instance bound to ``carrier`` (``name`` overrides the carrier's own adapter).

    ``before_request`` is called before each HTTP request the adapter makes (the poller spends quota there).
    """
    return adapter_class(name or carrier.adapter)(carrier, before_request=before_request)
