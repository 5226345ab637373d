"""Structured logs: a request id on every request, ids from log_context on every record, and ids
that travel with Celery messages so one event can be followed from carrier to customer."""

from __future__ import annotations

import io
import json
import logging
import time

import pytest
from celery import shared_task
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.http import HttpResponse
from django.test import RequestFactory
from pythonjsonlogger.json import JsonFormatter

from gluey.celery import app
from gluey.logging import ContextFilter, RequestIdMiddleware, current_ids, log_context


@pytest.fixture
def json_log():
    """A logger writing through the configured JSON formatter and the context filter, into a buffer."""
    spec = dict(settings.LOGGING["formatters"]["json"])
    spec.pop("()")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(**spec))
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("tests.ops.json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False

    def records() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    logger.records = records
    yield logger
    logger.removeHandler(handler)


def test_settings_put_the_context_filter_on_the_console_handler():
    assert settings.MIDDLEWARE[0] == "gluey.logging.RequestIdMiddleware"
    assert settings.LOGGING["handlers"]["console"]["filters"] == ["context"]
    assert settings.LOGGING["filters"]["context"]["()"] == "gluey.logging.ContextFilter"
    console = [h for h in logging.getLogger().handlers if any(isinstance(f, ContextFilter) for f in h.filters)]
    assert console, "the root logger's console handler should carry the context filter"


def test_log_context_adds_ids_to_json_records_and_nests(json_log):
    with log_context(inbound_message_id=41, carrier_id="acme-post"):
        json_log.info("parsed")
        with log_context(delivery_id=7, carrier_id=None):
            json_log.warning("delivery failed", extra={"status": 500})
    json_log.info("outside")
    first, second, third = json_log.records()
    assert first["message"] == "parsed" and first["inbound_message_id"] == 41 and first["carrier_id"] == "acme-post"
    assert second["delivery_id"] == 7 and second["inbound_message_id"] == 41 and second["status"] == 500
    assert second["level"] == "WARNING" and second["logger"] == "tests.ops.json" and "time" in second
    assert "inbound_message_id" not in third and "delivery_id" not in third


def test_request_id_middleware_sets_the_header_and_the_log_context(json_log):
    def view(request):
        json_log.info("handling")
        return HttpResponse("ok")

    middleware = RequestIdMiddleware(view)
    response = middleware(RequestFactory().get("/x"))
    generated = response["X-Request-ID"]
    assert len(generated) == 32
    response = middleware(RequestFactory().get("/x", headers={"X-Request-ID": "lb-1234.abc"}))
    assert response["X-Request-ID"] == "lb-1234.abc"
    response = middleware(RequestFactory().get("/x", headers={"X-Request-ID": "bad id\nwith newline"}))
    assert response["X-Request-ID"] != "bad id\nwith newline" and len(response["X-Request-ID"]) == 32
    ids = [r["request_id"] for r in json_log.records()]
    assert ids[0] == generated and ids[1] == "lb-1234.abc" and ids[2] == response["X-Request-ID"]
    assert current_ids() == {}


@pytest.mark.django_db
def test_every_response_carries_a_request_id(client):
    assert len(client.get("/healthz")["X-Request-ID"]) == 32
    assert client.get("/healthz", headers={"X-Request-ID": "trace-1"})["X-Request-ID"] == "trace-1"


SEEN: list[dict] = []


@shared_task(name="tests.ops.remember_ids", ignore_result=True)
def remember_ids() -> None:
    SEEN.append(current_ids())


@pytest.mark.slow  # a real broker round trip
def test_ids_travel_with_a_task_through_the_real_broker():
    SEEN.clear()
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10, queues=["default"]):
        with log_context(request_id="req-42", inbound_message_id=42):
            result = remember_ids.apply_async(queue="default")
        deadline = time.monotonic() + 20
        while not SEEN and time.monotonic() < deadline:
            time.sleep(0.05)
    assert SEEN, "the worker did not run the task"
    ids = SEEN[0]
    assert ids["request_id"] == "req-42" and ids["inbound_message_id"] == 42
    assert ids["task_id"] == result.id and ids["task"] == "tests.ops.remember_ids"
    assert current_ids() == {}


@pytest.mark.django_db
def test_inbound_task_logs_carry_the_inbound_message_id(json_log, busy_day):
    from carriers.tasks import inbound_process

    logger = logging.getLogger("carriers.services.inbound")
    handler = json_log.handlers[0]
    logger.addHandler(handler)
    try:
        with log_context(request_id="carrier-req-1"):
            inbound_process.apply(args=[busy_day.failed_message.pk])
    finally:
        logger.removeHandler(handler)
    (record,) = [r for r in json_log.records() if r["logger"] == "carriers.services.inbound"]
    assert record["inbound_message_id"] == busy_day.failed_message.pk
    assert record["request_id"] == "carrier-req-1" and record["task"] == "carriers.tasks.inbound_process"
