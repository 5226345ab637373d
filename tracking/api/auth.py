"""Customer authentication for the REST API: ``x-key``, ``x-version`` and rate limits.

Subclass ``CustomerAPIView`` for any endpoint a customer calls with an API key.
It checks, in this order: the ``x-version`` header (missing or unknown → 400),
the ``x-key`` header (missing, unknown, revoked or expired → 401 "Not
authenticated."), then the per-key rate limit (429). Inside a handler,
``self.customer`` (also ``request.auth``) is the key's ``Customer`` and
``request.user`` an ``APIKeyUser`` carrying both the customer and the key.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tracking.api.exceptions import NOT_AUTHENTICATED, exception_handler
from tracking.api.throttle import APIKeyRateThrottle
from tracking.models import Customer, CustomerAPIKey

logger = logging.getLogger(__name__)

API_VERSIONS = ("v1",)
KEY_HEADER = "x-key"
VERSION_HEADER = "x-version"


@dataclass(frozen=True)
class APIKeyUser:
    """``request.user`` for a request made with a valid API key."""

    customer: Customer
    api_key: CustomerAPIKey
    is_authenticated: bool = True
    is_anonymous: bool = False

    @property
    def pk(self) -> str:
        return self.api_key.pk

    def __str__(self) -> str:
        return f"{self.customer} [{self.api_key.prefix}]"


class BadVersion(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "bad_version"


def check_version(request: Request) -> str:
    """The ``x-version`` the client asked for; raises BadVersion (400) if missing or unknown."""
    version = request.META.get("HTTP_X_VERSION", "").strip()
    if not version:
        raise BadVersion(f"Missing {VERSION_HEADER} header: send {VERSION_HEADER}: {API_VERSIONS[-1]}.")
    if version not in API_VERSIONS:
        supported = ", ".join(API_VERSIONS)
        raise BadVersion(f"Unknown API version {version[:20]!r} in {VERSION_HEADER}: supported are {supported}.")
    return version


# Keys checked in the last few seconds, per process: sha256 of the clear key → (expiry, customer, key).
# Saving or deleting a key or a customer empties it in that process at once (tracking.apps connects
# ``api_keys_forget``); other processes honour a revocation within API_KEY_CACHE_SECONDS.
_checked: dict[bytes, tuple[float, Customer, CustomerAPIKey]] = {}


def api_keys_forget(**kwargs: object) -> None:
    _checked.clear()


def customer_for_key(key: str) -> tuple[Customer, CustomerAPIKey] | None:
    """The active customer and usable key for a clear API key, or None (cached a few seconds)."""
    digest = hashlib.sha256(key.encode()).digest()
    now = time.monotonic()
    hit = _checked.get(digest)
    if hit is not None and hit[0] > now and (hit[2].expiry_date is None or not hit[2].has_expired):
        return hit[1], hit[2]
    found = _customer_for_key(key)
    if found is None:
        _checked.pop(digest, None)
    elif settings.API_KEY_CACHE_SECONDS:
        if len(_checked) >= 10_000:
            _checked.clear()
        _checked[digest] = (now + settings.API_KEY_CACHE_SECONDS, *found)
    return found


def _customer_for_key(key: str) -> tuple[Customer, CustomerAPIKey] | None:
    prefix, dot, _ = key.partition(".")
    if not dot or not prefix:
        return None
    try:
        api_key = CustomerAPIKey.objects.get_usable_keys().select_related("customer").get(prefix=prefix)
    except CustomerAPIKey.DoesNotExist:
        return None
    # is_valid compares the hash in constant time; revoked keys were filtered above.
    if not api_key.is_valid(key) or api_key.has_expired or not api_key.customer.is_active:
        return None
    return api_key.customer, api_key


class APIKeyAuthentication(BaseAuthentication):
    """``x-key: <prefix>.<secret>`` checked against the hashed ``CustomerAPIKey`` rows."""

    def authenticate(self, request: Request) -> tuple[APIKeyUser, Customer] | None:
        raw = request.META.get(getattr(settings, "API_KEY_CUSTOM_HEADER", "HTTP_X_KEY"), "")
        if not raw:
            return None  # the permission check answers 401
        found = customer_for_key(raw.strip())
        if found is None:
            raise exceptions.AuthenticationFailed(NOT_AUTHENTICATED)
        customer, api_key = found
        return APIKeyUser(customer=customer, api_key=api_key), customer

    def authenticate_header(self, request: Request) -> str:
        # Any value makes DRF answer 401 rather than 403.
        return f'APIKey header="{KEY_HEADER}"'


class HasCustomer(BasePermission):
    message = NOT_AUTHENTICATED

    def has_permission(self, request: Request, view: APIView) -> bool:
        return isinstance(request.user, APIKeyUser)


VERSION_PARAMETER = OpenApiParameter(
    name=VERSION_HEADER,
    location=OpenApiParameter.HEADER,
    required=True,
    enum=list(API_VERSIONS),
    description="API version; requests without it, or with an unknown one, are answered 400.",
)


class CustomerAutoSchema(AutoSchema):
    """Documents the mandatory ``x-version`` header on every customer endpoint."""

    def get_override_parameters(self) -> list[Any]:
        return [VERSION_PARAMETER, *super().get_override_parameters()]


class CustomerAPIView(APIView):
    """Base view for customer endpoints; see the module docstring."""

    authentication_classes = (APIKeyAuthentication,)
    permission_classes = (HasCustomer,)
    throttle_classes = (APIKeyRateThrottle,)
    schema = CustomerAutoSchema()

    @property
    def customer(self) -> Customer:
        return self.request.auth  # type: ignore[return-value]

    def get_exception_handler(self) -> Callable[[Exception, dict[str, Any]], Response]:
        return exception_handler

    def perform_authentication(self, request: Request) -> None:
        # The version is checked first, as DRF's versioning would; it is not a
        # DRF versioning class because drf-spectacular only understands URL and
        # Accept-header versioning and cannot build the schema with a custom one.
        request.version = check_version(request)
        super().perform_authentication(request)

    def permission_denied(self, request: Request, message: str | None = None, code: str | None = None) -> NoReturn:
        if not isinstance(request.user, APIKeyUser):
            raise exceptions.NotAuthenticated(NOT_AUTHENTICATED)
        super().permission_denied(request, message=message, code=code)


class APIKeySchemeExtension(OpenApiAuthenticationExtension):
    """Documents ``x-key`` as an apiKey security scheme in the OpenAPI schema."""

    target_class = APIKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": KEY_HEADER,
            "description": "The API key printed once by `manage.py create_customer`.",
        }
