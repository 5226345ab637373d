"""API personas: acme and globex each hold a key; clients send x-key and x-version."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.factories import make_customer
from tracking.representations import clear_description_cache


@pytest.fixture(autouse=True)
def _isolated_cache(settings):
    # The throttle counts in the cache; a private in-memory cache per test keeps counts apart.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "api-tests"}}
    from django.core.cache import cache

    cache.clear()
    yield
    clear_description_cache()


def client_for(key: str | None, version: str | None = "v1") -> APIClient:
    headers = {}
    if key is not None:
        headers["x-key"] = key
    if version is not None:
        headers["x-version"] = version
    client = APIClient(headers=headers)
    return client


@pytest.fixture
def api(acme) -> APIClient:
    """acme's client."""
    return client_for(acme.api_key)


@pytest.fixture
def globex(db):
    customer, key = make_customer("globex")
    customer.api_key = key
    return customer


@pytest.fixture
def globex_api(globex) -> APIClient:
    return client_for(globex.api_key)
