"""Middleware that costs nothing where it has nothing to do (docs/architecture.md, "Reads").

The customer API, carrier webhooks, health and metrics authenticate every
request by key, signature or token; only the admin (and the ops console inside
it) has logged-in users. Sessions, ``request.user`` and messages are therefore
set up for the admin only: ``AdminSessionMiddleware``,
``AdminAuthenticationMiddleware`` and ``AdminMessageMiddleware`` are Django's
own, skipped on every other path. CSRF checking is left everywhere as it was.

``CachedCSPMiddleware`` is django-csp's middleware with the policy built once
per process instead of twice per response; a response or request that
customises its policy (``csp_update`` and friends, a nonce) still gets it built
for it.
"""

from __future__ import annotations

from typing import Any

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.signals import setting_changed
from django.http import HttpRequest, HttpResponseBase

# Where gluey/urls.py mounts the admin and the ops console.
ADMIN_PREFIX = "/admin/"


class _AdminOnly:
    """Mixed into one of Django's middleware (a MiddlewareMixin): runs it under ADMIN_PREFIX only."""

    def __call__(self, request: HttpRequest) -> Any:
        if request.path_info.startswith(ADMIN_PREFIX):
            return super().__call__(request)  # type: ignore[misc]
        return self.get_response(request)  # type: ignore[attr-defined]


class AdminSessionMiddleware(_AdminOnly, SessionMiddleware):
    pass


class AdminAuthenticationMiddleware(_AdminOnly, AuthenticationMiddleware):
    pass


class AdminMessageMiddleware(_AdminOnly, MessageMiddleware):
    pass


_OVERRIDES = (
    "_csp_exempt",
    "_csp_exempt_ro",
    "_csp_config",
    "_csp_update",
    "_csp_replace",
    "_csp_config_ro",
    "_csp_update_ro",
    "_csp_replace_ro",
)
# header → (policy, excluded path prefixes), built on first use.
_policies: dict[str, tuple[str, tuple[str, ...]]] = {}


def _forget_policies(*, setting: str, **kwargs: object) -> None:
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        _policies.clear()


setting_changed.connect(_forget_policies)


def _policy(setting: str, *, report_only: bool) -> tuple[str, tuple[str, ...]]:
    prefixes = (getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES") or ()
    return build_policy(report_only=report_only), tuple(prefixes)


class CachedCSPMiddleware(CSPMiddleware):
    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if (
            getattr(request, "_csp_nonce", None) is not None
            or any(getattr(response, name, None) is not None for name in _OVERRIDES)
            or (settings.DEBUG and response.status_code in (404, 500))
        ):
            return super().process_response(request, response)
        if not _policies:
            _policies[HEADER] = _policy("CONTENT_SECURITY_POLICY", report_only=False)
            _policies[HEADER_REPORT_ONLY] = _policy("CONTENT_SECURITY_POLICY_REPORT_ONLY", report_only=True)
        path = request.path_info
        for header, (policy, excluded) in _policies.items():
            if policy and header not in response and not path.startswith(excluded):
                response[header] = policy
        # As the parent does: a nonce asked for once the header is written is an error.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)  # type: ignore[attr-defined]
        return response
