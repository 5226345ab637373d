"""``GET /healthz``: is the database reachable, the broker reachable, and beat (with a worker) alive?

Answers 200 when every check passes and 503 when any fails, with a JSON body
naming each check::

    {"status": "fail",
     "checks": {"database": {"ok": true},
                "broker": {"ok": false, "error": "OperationalError: Error 111 connecting to …"},
                "beat": {"ok": true, "age_seconds": 12.0}}}

The beat check reads the timestamp ``gluey.tasks.heartbeat`` writes to the cache
every minute (beat schedules it, a worker runs it), so it fails when either
beat or every worker is down. It allows ``HEALTHZ_BEAT_MAX_AGE_SECONDS``
(default 180 s) before calling the heartbeat stale.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from gluey.tasks import HEARTBEAT_KEY

BROKER_TIMEOUT_SECONDS = 3.0


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def check_database(*, using: BaseDatabaseWrapper | None = None) -> dict[str, Any]:
    try:
        with (using or connection).cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy, and the body says why
        return {"ok": False, "error": _error(exc)}
    return {"ok": True}


def check_broker(*, url: str | None = None, timeout: float = BROKER_TIMEOUT_SECONDS) -> dict[str, Any]:
    """Open a real connection to the configured broker (read from settings on every call)."""
    from kombu import Connection

    url = url or settings.CELERY_BROKER_URL
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
    try:
        with Connection(url, connect_timeout=timeout, transport_options=options) as conn:
            # kombu's stubs say int; any number of seconds works.
            conn.ensure_connection(
                max_retries=1,
                interval_start=0,
                interval_step=0,
                interval_max=0,
                timeout=timeout,  # type: ignore[arg-type]
            )
            conn.default_channel  # noqa: B018 - opening a channel proves the broker answers
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": _error(exc)}
    return {"ok": True, "transport": url.split("://", 1)[0]}


def check_beat(*, now: datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    max_age = float(settings.HEALTHZ_BEAT_MAX_AGE_SECONDS)
    try:
        raw = cache.get(HEARTBEAT_KEY)
    except Exception as exc:  # noqa: BLE001 - the cache is the database or Redis; either can be down
        return {"ok": False, "error": f"cannot read the heartbeat: {_error(exc)}"}
    if raw is None:
        return {"ok": False, "error": "no heartbeat yet: is beat running, with a worker on the default queue?"}
    try:
        beat_at = datetime.fromisoformat(str(raw))
    except ValueError:
        return {"ok": False, "error": f"unreadable heartbeat {str(raw)[:40]!r}"}
    age = (now - beat_at).total_seconds()
    if age > max_age:
        return {
            "ok": False,
            "age_seconds": round(age, 1),
            "error": f"last heartbeat {age:.0f} s ago (limit {max_age:.0f} s)",
        }
    return {"ok": True, "age_seconds": round(max(age, 0.0), 1)}


CHECKS: dict[str, Callable[[], dict[str, Any]]] = {
    "database": check_database,
    "broker": check_broker,
    "beat": check_beat,
}


def run_checks() -> dict[str, Any]:
    results = {name: check() for name, check in CHECKS.items()}
    return {"status": "ok" if all(r["ok"] for r in results.values()) else "fail", "checks": results}


@never_cache
@require_http_methods(["GET", "HEAD"])
def healthz(request: HttpRequest) -> JsonResponse:
    report = run_checks()
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)
