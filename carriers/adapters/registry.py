"""Every carrier adapter, by name → dotted path. Adding one is one line here."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from carriers.adapters.base import Adapter

ADAPTERS: dict[str, str] = {
    "generic_json": "carriers.adapters.generic_json.adapter.GenericJsonAdapter",
}


class UnknownAdapter(LookupError):
    pass


@cache
def adapter_class(name: str) -> type["Adapter"]:
    try:
        path = ADAPTERS[name]
    except KeyError:
        raise UnknownAdapter(f"unknown adapter {name!r} (known: {', '.join(sorted(ADAPTERS))})") from None
    return import_string(path)
