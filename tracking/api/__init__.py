"""The customer REST API (``/shipments``, ``/track``, ``/events``, schema and docs).

Other apps that serve customer endpoints (notifications' webhook subscriptions)
reuse the pieces here rather than re-implementing them:

- ``tracking.api.auth.CustomerAPIView`` — base view: ``x-key`` authentication,
  ``x-version: v1`` check, per-key throttling, JSON errors; ``self.customer``.
- ``tracking.api.exceptions.exception_handler`` — every error as ``{"detail": ...}``.
- ``tracking.representations`` — the public JSON shapes of events and shipments.
"""
