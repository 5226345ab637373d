"""UPS Track Alert pushes: who may push, in both versions UPS documents.

- v1: each subscription carries a ``credential`` we chose; UPS sends it back in
  the ``credential`` header of every push. For a UPS carrier it is the carrier's
  webhook secret.
- v2: the webhook is set up once in UPS's "Manage Webhook Credentials" with our
  webhook URL, our token URL (``/carriers/<id>/oauth/token``) and a client id and
  secret we chose (the carrier's credentials ``push_client_id`` /
  ``push_client_secret``). UPS fetches a token there (OAuth client credentials,
  HTTP Basic) and pushes with ``Authorization: Bearer <token>`` and
  ``x-api-key: <client id>``.

Tokens are signed, not stored: they name the carrier, expire after an hour,
and stop working when the push secret changes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.core import signing

from carriers.adapters.base import WebhookAuthError, WebhookRequest

if TYPE_CHECKING:
    from carriers.models import Carrier

TOKEN_SECONDS = 3600


def _push_client(carrier: Carrier | None) -> tuple[str, str]:
    credentials = carrier.credentials if carrier is not None else {}
    return str(credentials.get("push_client_id") or ""), str(credentials.get("push_client_secret") or "")


def _salt(carrier: Carrier, secret: str) -> str:
    # The secret's digest in the salt: a new push secret invalidates every token issued with the old one.
    return f"ups-track-alert:{carrier.pk}:{hashlib.sha256(secret.encode()).hexdigest()[:16]}"


def push_token_issue(*, carrier: Carrier, headers: Mapping[str, str], form: Mapping[str, str]) -> dict[str, Any]:
    """Answer UPS's client-credentials token request (client_secret_basic), or raise WebhookAuthError."""
    client_id, secret = _push_client(carrier)
    if not client_id or not secret:
        raise WebhookAuthError("push_client_id and push_client_secret are not set for this carrier")
    if form.get("grant_type", "client_credentials") != "client_credentials":
        raise WebhookAuthError("grant_type must be client_credentials")
    given_id, given_secret = form.get("client_id", ""), form.get("client_secret", "")
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("basic "):
        try:
            given_id, _, given_secret = base64.b64decode(authorization[6:].strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise WebhookAuthError("the Basic authorization header is not base64 of id:secret") from None
    if not (
        hmac.compare_digest(given_id.encode(), client_id.encode())
        and hmac.compare_digest(given_secret.encode(), secret.encode())
    ):
        raise WebhookAuthError("client id or secret does not match")
    token = signing.dumps({"c": carrier.pk}, salt=_salt(carrier, secret), compress=True)
    return {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_SECONDS}


def verify_push(carrier: Carrier | None, request: WebhookRequest) -> None:
    if carrier is None:
        raise WebhookAuthError("no carrier")
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        client_id, secret = _push_client(carrier)
        if not client_id or not secret:
            raise WebhookAuthError("Track Alert v2 push, but push_client_id/push_client_secret are not set")
        if not hmac.compare_digest(request.headers.get("x-api-key", "").encode(), client_id.encode()):
            raise WebhookAuthError("the 'x-api-key' header does not name our push client id")
        try:
            claims = signing.loads(authorization[7:].strip(), salt=_salt(carrier, secret), max_age=TOKEN_SECONDS)
        except signing.SignatureExpired:
            raise WebhookAuthError("the bearer token has expired") from None
        except signing.BadSignature:
            raise WebhookAuthError("the bearer token is not one we issued") from None
        if claims.get("c") != carrier.pk:
            raise WebhookAuthError("the bearer token was issued for another carrier")
        return
    secret = carrier.webhook_secret
    if not secret:
        raise WebhookAuthError("this carrier has no webhook credential configured")
    given = request.headers.get("credential", "")
    if not given:
        raise WebhookAuthError(
            "missing the 'credential' header (Track Alert v1) or an 'Authorization: Bearer' token (v2)"
        )
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise WebhookAuthError("the 'credential' header does not match")
