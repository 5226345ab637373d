"""/healthz against real connections, and /metrics parsed with prometheus_client's own parser."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from carriers.models import Carrier
from gluey.tasks import HEARTBEAT_KEY, heartbeat
from tracking.models import TrackedItem

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    """A port nothing listens on: bound, then released."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def beat_alive(db):
    heartbeat()  # what the worker runs when beat schedules it
    yield
    cache.delete(HEARTBEAT_KEY)


# --- /healthz ----------------------------------------------------------------------------------------


def test_healthz_is_200_when_everything_answers(client, beat_alive):
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "broker", "beat"}
    assert all(check["ok"] for check in body["checks"].values())


@pytest.mark.parametrize("scheme", ["redis", "amqp"])
def test_healthz_is_503_when_the_broker_is_down(client, beat_alive, scheme):
    # A real connection attempt to a port nothing listens on.
    with override_settings(
        CELERY_BROKER_URL=f"{scheme}://127.0.0.1:{closed_port()}/0", CELERY_BROKER_TRANSPORT_OPTIONS={}
    ):
        response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "fail"
    assert body["checks"]["broker"]["ok"] is False
    assert "refused" in body["checks"]["broker"]["error"].lower()
    assert body["checks"]["database"]["ok"] is True and body["checks"]["beat"]["ok"] is True


def test_healthz_is_503_without_a_recent_heartbeat(client, settings):
    cache.delete(HEARTBEAT_KEY)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "no heartbeat" in response.json()["checks"]["beat"]["error"]
    cache.set(HEARTBEAT_KEY, (timezone.now() - timedelta(minutes=10)).isoformat())
    settings.HEALTHZ_BEAT_MAX_AGE_SECONDS = 180
    body = client.get("/healthz").json()
    assert body["checks"]["beat"]["ok"] is False and "limit 180 s" in body["checks"]["beat"]["error"]
    cache.delete(HEARTBEAT_KEY)


def test_the_database_check_fails_on_a_database_it_cannot_reach():
    import copy

    from django.db import connection, connections

    from gluey.health import check_database

    assert check_database() == {"ok": True}
    # A second connection to where the database is not: a closed port, or a file that cannot be opened.
    where = copy.deepcopy(connection.settings_dict)
    if connection.vendor == "postgresql":
        where.update(HOST="127.0.0.1", PORT=str(closed_port()))
    else:
        where.update(NAME="/nonexistent-dir/gluey.sqlite3")
    unreachable = type(connections["default"])(where, "unreachable")
    try:
        result = check_database(using=unreachable)
    finally:
        unreachable.close()
    assert result["ok"] is False
    assert "connect" in result["error"].lower() or "unable to open" in result["error"].lower()


def test_healthz_only_answers_get(client):
    assert client.post("/healthz").status_code == 405


# --- /metrics ----------------------------------------------------------------------------------------


SCRAPER_TOKEN = "scrape-token-for-tests-0123456789"


@pytest.fixture(autouse=True)
def metrics_token(settings):
    settings.METRICS_TOKEN = SCRAPER_TOKEN


def metrics(client) -> dict[str, Metric]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPER_TOKEN}"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.content.decode())}
    return families


def sample(families, name: str, **labels) -> float:
    family_name = name
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in families:
            family_name = name[: -len(suffix)]
    for s in families[family_name].samples:
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    raise AssertionError(f"no sample {name} {labels}")


def test_metrics_parse_and_count_from_the_database(client, busy_day, beat_alive):
    now = timezone.now()
    TrackedItem.objects.update(next_check_at=now - timedelta(minutes=7))
    Carrier.objects.filter(pk="acme-post").update(backoff_until=now + timedelta(minutes=5))
    families = metrics(client)
    assert sample(families, "gluey_events_recorded", carrier="acme-post") == 3
    assert sample(families, "gluey_events_recorded_last_hour", carrier="acme-post") == 0  # the newest is 1 h old
    assert sample(families, "gluey_inbound_messages", carrier="acme-post", status="failed") == 1
    assert sample(families, "gluey_inbound_messages", carrier="acme-post", status="processed") == 0
    assert sample(families, "gluey_unmapped_codes", carrier="acme-post") == 1
    assert sample(families, "gluey_deliveries", status="dead", kind="events") == 1
    assert sample(families, "gluey_deliveries", status="delivered", kind="events") == 1
    assert sample(families, "gluey_deliveries", status="pending", kind="events") == 1
    assert sample(families, "gluey_poll_due_items", carrier="acme-post") == 1
    assert 7 * 60 <= sample(families, "gluey_poll_lag_seconds", carrier="acme-post") < 8 * 60
    assert 0 < sample(families, "gluey_carrier_backoff_seconds", carrier="acme-post") <= 300
    assert sample(families, "gluey_carrier_backoff_seconds", carrier="parcelco") == 0
    assert sample(families, "gluey_beat_heartbeat_age_seconds") < 60
    assert families["gluey_event_freshness_seconds"].type == "histogram"


def test_freshness_histogram_buckets_over_the_last_hour(client, busy_day):
    from dataclasses import replace

    from tests.factories import event
    from tracking.services import events_record

    now = timezone.now()
    for minutes_late, code in ((0.5, "HUB"), (4, "DEP"), (200, "OFD")):
        events_record(
            carrier=busy_day.carrier,
            events=[replace(event(tracking_id="FRESH1", code=code), occurred_at=now - timedelta(minutes=minutes_late))],
            channel="webhook",
            now=now,
        )
    families = metrics(client)
    bucket = lambda le: sample(families, "gluey_event_freshness_seconds_bucket", carrier="acme-post", le=le)
    assert (bucket("60.0"), bucket("300.0"), bucket("900.0"), bucket("14400.0"), bucket("+Inf")) == (1, 2, 2, 3, 3)
    assert sample(families, "gluey_event_freshness_seconds_count", carrier="acme-post") == 3
    assert 204 * 60 <= sample(families, "gluey_event_freshness_seconds_sum", carrier="acme-post") <= 205 * 60


def test_sftp_lags(client, busy_day, tmp_path):
    from django_celery_beat.models import PeriodicTask

    from carriers.services.schedules import sftp_task_name
    from gluey.sftp_server import SftpServer
    from tests.factories import make_carrier

    with SftpServer(tmp_path) as server:
        make_carrier(
            "filer",
            host="127.0.0.1",
            port=server.port,
            username="gluey",
            password="pw",
            host_key=server.host_key_line,
            remote_dir="/",
        )
    PeriodicTask.objects.filter(name=sftp_task_name("filer")).update(last_run_at=timezone.now() - timedelta(minutes=3))
    families = metrics(client)
    assert 180 <= sample(families, "gluey_sftp_fetch_lag_seconds", carrier="filer") < 240
    with pytest.raises(AssertionError):
        sample(families, "gluey_sftp_fetch_lag_seconds", carrier="acme-post")  # no sFTP channel, no series


def test_beat_schedules_the_heartbeat_the_health_check_reads():
    from django_celery_beat.models import PeriodicTask
    from django_celery_beat.schedulers import DatabaseScheduler

    from gluey.celery import app

    # What DatabaseScheduler.update_from_dict does with app.conf.beat_schedule when beat starts
    # (the whole scheduler is not built here: it closes the test's database connection).
    for name, entry in app.conf.beat_schedule.items():
        DatabaseScheduler.Entry.from_entry(name, app=app, **entry)
    task = PeriodicTask.objects.get(name="gluey: beat heartbeat")
    assert task.task == "gluey.tasks.heartbeat" and task.enabled
    assert task.interval.every == 60 and task.interval.period == "seconds"
