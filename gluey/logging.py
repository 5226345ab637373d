"""Correlation ids in every log record, so one event can be followed from carrier to customer.

- ``RequestIdMiddleware`` gives each HTTP request an id (the caller's ``X-Request-ID``
  when it is sane, else a new one), echoes it in the response header and keeps it
  in a context variable for the length of the request.
- ``log_context(**ids)`` adds ids (``inbound_message_id``, ``delivery_id``,
  ``endpoint_id``, ``carrier_id``…) for the length of a ``with`` block; tasks wrap
  their bodies in it.
- ``ContextFilter`` (installed on the console handler in settings) copies the
  current ids onto every record, so the JSON formatter writes them as fields.
- Celery: the ids current when a task is *sent* travel in the message headers and
  are restored while the task runs, so a webhook's ``request_id`` reaches the
  inbound task and the ``inbound_message_id`` reaches the delivery task it wakes.
  ``celery_setup_logging`` makes the worker use Django's LOGGING instead of
  replacing the root handlers with its own plain-text ones.
"""

from __future__ import annotations

import logging
import logging.config
import random
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

REQUEST_ID_HEADER = "X-Request-ID"
CELERY_HEADER = "gluey_log_context"
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")

_ids: ContextVar[dict[str, Any]] = ContextVar("gluey_log_ids")


def current_ids() -> dict[str, Any]:
    """The correlation ids in force here (a copy)."""
    return dict(_ids.get({}))


@contextmanager
def log_context(**ids: Any) -> Iterator[dict[str, Any]]:
    """Add ids to every log record written inside the block; None values are ignored.

    Nested blocks add to (and may override) the outer ids; leaving a block restores them.
    """
    merged = {**_ids.get({}), **{k: v for k, v in ids.items() if v is not None}}
    token = _ids.set(merged)
    try:
        yield merged
    finally:
        _ids.reset(token)


class ContextFilter(logging.Filter):
    """Copies the current correlation ids onto the record (``extra=`` values win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _ids.get({}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def new_request_id() -> str:
    """32 random hex digits, as a UUID4's hex. An id must be unique, not unguessable: Python's
    generator (seeded from the OS, again in every forked worker) instead of a system call for
    os.urandom on every request."""
    return f"{random.getrandbits(128):032x}"


def request_id_for(incoming: str) -> str:
    """The caller's ``X-Request-ID`` when it is sane, else a new id."""
    return incoming if _SANE_ID.match(incoming) else new_request_id()


class RequestIdMiddleware:
    """Sets ``request.request_id`` and the log context; answers with ``X-Request-ID``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER, ""))
        request.request_id = request_id  # type: ignore[attr-defined]
        with log_context(request_id=request_id):
            response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


# --- Celery ----------------------------------------------------------------------------------

_task_tokens: dict[str, Any] = {}


def _on_publish(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    ids = _ids.get({})
    if headers is not None and ids and CELERY_HEADER not in headers:
        headers[CELERY_HEADER] = {k: v for k, v in ids.items() if isinstance(v, (str, int, float, bool))}


def _on_prerun(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    inherited: dict[str, Any] = {}
    request = getattr(task, "request", None)
    if request is not None:
        inherited = getattr(request, CELERY_HEADER, None) or (request.headers or {}).get(CELERY_HEADER) or {}
    # The ids in force here are kept too: an eagerly run task (tests, CELERY_TASK_ALWAYS_EAGER)
    # runs inside its caller and publishes no message.
    ids = {**_ids.get({}), **inherited, "task_id": task_id, "task": getattr(task, "name", None)}
    if task_id:
        _task_tokens[task_id] = _ids.set({k: v for k, v in ids.items() if v is not None})


def _on_postrun(task_id: str | None = None, **kwargs: Any) -> None:
    token = _task_tokens.pop(task_id or "", None)
    if token is not None:
        try:
            _ids.reset(token)
        except ValueError:  # set in another context (a thread pool); just clear it
            _ids.set({})


def celery_setup_logging(**kwargs: Any) -> None:
    """Receiver for ``celery.signals.setup_logging``: keep Django's LOGGING in the worker."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


def connect_celery_signals() -> None:
    from celery import signals

    signals.before_task_publish.connect(_on_publish, dispatch_uid="gluey.logging.publish", weak=False)
    signals.task_prerun.connect(_on_prerun, dispatch_uid="gluey.logging.prerun", weak=False)
    signals.task_postrun.connect(_on_postrun, dispatch_uid="gluey.logging.postrun", weak=False)
    signals.setup_logging.connect(celery_setup_logging, dispatch_uid="gluey.logging.setup", weak=False)
