"""Each event's track-API JSON is stored when it is recorded (TrackingEvent.track_json), and reads
serve it as stored: it must be exactly what the representation renders from the row, and a read
from stored JSON must answer exactly as a read that renders every row (docs/architecture.md, "Reads").
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone as dj_timezone

from tests.api.helpers import record, register
from tests.factories import T0, event, make_lane_history
from tracking import db, representations, selectors
from tracking.api.hot import track_bodies
from tracking.models import CodeMapping, ItemHistory, Shipment, StatusCode, TrackedItem, TrackingEvent
from tracking.selectors import EventRow
from tracking.services import events_reharmonise, events_render, tracked_items_purge_expired
from tracking.types import CarrierEvent, Location

pytestmark = pytest.mark.django_db

KOLKATA = timezone(timedelta(hours=5, minutes=30))
PACIFIC = timezone(timedelta(hours=-8))


def varied(tracking_id: str, start: datetime) -> list[CarrierEvent]:
    """Events with every member a TrackingEvent can carry, and text that needs escaping."""
    return [
        CarrierEvent(
            tracking_id=tracking_id,
            code="PCK",
            occurred_at=start.astimezone(PACIFIC).replace(microsecond=123456),
            description='Picked up: "fragile" \\ handle with care \u2713',
            location=Location(city="Zürich", postal_code="8001", iso_country="CH", code="ZRH", code_type="IATA"),
            meta=(("service", "express"), ("destination_country", "GB")),
            eta=(start + timedelta(days=2)).astimezone(KOLKATA),
        ),
        CarrierEvent(
            tracking_id=tracking_id,
            code="HUB",
            sub_code="X1",
            occurred_at=start + timedelta(hours=3),
            location=Location(
                name="Hub 7", street="1 Dock Rd", city="Leeds", state="WYK", iso_country="GB", lat=53.8, lng=-1.55
            ),
            weight_kg=2.25,
            dimensions_cm=(40.0, 30.0, None),
            condition="damaged",
        ),
        CarrierEvent(
            tracking_id=tracking_id,
            code="NEVER-MAPPED",
            occurred_at=start + timedelta(hours=5),
            location=Location(code="LS-DEPOT", type="local_depot", description="Leeds depot"),
            shipping_cost=4.2,
            shipping_cost_currency="GBP",
            co2_footprint_kg=0.31,
            new_tracking_id="NEW123",
            new_tracking_url="https://example.test/t/NEW123",
        ),
        CarrierEvent(
            tracking_id=tracking_id,
            code="DLV",
            occurred_at=start + timedelta(days=1),
            signed_by="J. O'Neil",
            photo_base64="aGVsbG8=",
            photo_format="png",
        ),
        CarrierEvent(tracking_id=tracking_id, code="OFD", occurred_at=start + timedelta(hours=20)),
    ]


def test_stored_json_is_the_event_as_the_representation_renders_it(carrier):
    record("acme-post", *varied("V1", T0))
    stored = list(TrackingEvent.objects.filter(tracked_item__tracking_id="V1"))
    assert len(stored) == 5 and any(e.unmapped for e in stored)
    for e in stored:
        assert e.track_json.startswith(representations.TRACK_JSON_HEAD)
        assert orjson.loads(e.track_json) == representations.tracking_event_dict(e)
        assert orjson.loads(representations.track_event_json(e)) == orjson.loads(e.track_json)
        # Byte for byte: the insert writes the codes as compactly as Python does, no " : " between members.
        assert e.track_json == representations.track_event_json(e)


def test_stored_codes_escape_a_description_as_python_renders_it(carrier):
    StatusCode.objects.filter(milestone="admin", code="other", sub_code="other").update(
        description='Not "mapped" yet — naïve\\path\ttab\u0001'
    )
    representations.clear_description_cache()
    record("acme-post", CarrierEvent(tracking_id="E1", code="NEVER-MAPPED", occurred_at=T0))
    stored = TrackingEvent.objects.get(tracked_item__tracking_id="E1")
    assert stored.track_json == representations.track_event_json(stored)
    assert orjson.loads(stored.track_json)["codes"]["gluey"]["freetext_detail"].startswith('Not "mapped" yet — naïve\\')


def _reads(api, ids: list[str]) -> list[tuple[int, dict, object]]:
    answers = []
    for shipment_id in ids:
        response = api.get(f"/shipments/{shipment_id}/track")
        answers.append((response.status_code, response.get("x-last-updated"), response.content and response.json()))
    response = api.post("/track", {"ids": ids}, format="json")
    answers.append((response.status_code, response.get("x-last-updated"), response.json()))
    return answers


def test_reads_from_stored_json_answer_as_reads_that_render_each_row(api, carrier, postgres_only):
    make_lane_history("acme-post")  # so shipments on their way get a predicted delivery
    now = dj_timezone.now().replace(microsecond=0)
    parcel_level = register(
        api, "V1", tracking_level="parcel", parcels=[{"carrier_tracking_id": "V1-A"}, {"carrier_tracking_id": "V1-B"}]
    )
    on_its_way = register(api, "W1")
    empty = register(api, "E1")
    record("acme-post", *varied("V1", now - timedelta(days=2)))
    record("acme-post", *varied("V1-A", now - timedelta(days=3))[:3])
    # Out of carrier-time order, across calls: reads put them in order.
    record(
        "acme-post", event("W1", "HUB", minutes=int((now - T0).total_seconds() // 60) - 60, eta=now + timedelta(days=1))
    )
    record("acme-post", event("W1", "PCK", minutes=int((now - T0).total_seconds() // 60) - 300))
    ids = [parcel_level["id"], on_its_way["id"], empty["id"]]

    stored = _reads(api, ids)  # from each item's stored history
    assert TrackingEvent.objects.filter(track_json__isnull=True).count() == 0
    assert ItemHistory.objects.count() == 5  # every registered item: E1 and V1-B without events
    assert set(ItemHistory.objects.filter(events_json="").values_list("tracked_item__tracking_id", flat=True)) == {
        "E1",
        "V1-B",
    }
    ItemHistory.objects.all().delete()  # reads render the rows of items without a stored history
    unstored = _reads(api, ids)
    TrackingEvent.objects.update(track_json=None)  # and of events without stored JSON
    rendered = _reads(api, ids)

    assert stored == unstored == rendered
    w1 = stored[1][2]["tracking_data"]
    assert [e["codes"]["carrier"]["code"] for e in w1["events"]] == ["PCK", "HUB"]
    assert w1["predicted_delivery"]["basis"]["sample_size"] == 40 and "current_eta" in w1
    assert stored[2][0] == 204 and stored[0][2]["parcels"][0]["condition"] == "damaged"


def test_a_read_is_one_statement_while_every_item_has_a_stored_history(api, carrier, postgres_only):
    shipment = register(api, "Q1", tracking_level="parcel", parcels=[{"carrier_tracking_id": "Q1-A"}])
    record("acme-post", event("Q1", "PCK"), event("Q1", "HUB", minutes=5))
    customer = Shipment.objects.get(pk=shipment["id"]).customer

    def read() -> tuple[int, dict]:
        with CaptureQueriesContext(connection) as queries:
            result = selectors.shipment_for_customer(customer=customer, shipment_id=shipment["id"])
        assert result is not None
        return len(queries), orjson.loads(orjson.dumps(track_bodies(result, single=True)[0]))

    statements, body = read()  # Q1-A has no events yet: registering stored an empty history
    assert statements == 1 and [e["codes"]["carrier"]["code"] for e in body["tracking_data"]["events"]] == [
        "PCK",
        "HUB",
    ]
    ItemHistory.objects.filter(tracked_item__tracking_id="Q1").delete()  # events written some other way
    assert read() == (2, body)  # its events read as rows: the same answer


def test_a_read_mixing_stored_and_unstored_events_renders_the_unstored(api, carrier, postgres_only):
    shipments = [register(api, f"M{n}") for n in range(3)]
    for n in range(3):
        record("acme-post", event(f"M{n}", "PCK"), event(f"M{n}", "HUB", minutes=5))
    expected = api.post("/track", {"ids": [s["id"] for s in shipments]}, format="json").json()
    # As rows written other than by recording are: no stored JSON, no stored history.
    TrackingEvent.objects.filter(tracked_item__tracking_id="M1", carrier_code="HUB").update(track_json=None)
    ItemHistory.objects.filter(tracked_item__tracking_id="M1").delete()
    assert api.post("/track", {"ids": [s["id"] for s in shipments]}, format="json").json() == expected


def test_re_harmonising_renders_the_changed_events_again(carrier):
    record("acme-post", event("R1", "ZZZ"))
    before = TrackingEvent.objects.get(tracked_item__tracking_id="R1")
    assert orjson.loads(before.track_json)["codes"]["gluey"]["code"] == "other"
    status = StatusCode.objects.get(milestone="delivery", code="delivered", sub_code="other")
    CodeMapping.objects.create(carrier_id="acme-post", carrier_code="ZZZ", carrier_sub_code="", status=status)
    assert events_reharmonise(carrier_id="acme-post") == 1
    after = TrackingEvent.objects.get(pk=before.pk)
    assert orjson.loads(after.track_json)["codes"]["gluey"] == {
        "milestone": "delivery",
        "code": "delivered",
        "sub_code": "other",
        "freetext_detail": status.description,
    }
    assert orjson.loads(after.track_json) == representations.tracking_event_dict(after)


def test_events_render_fills_what_is_missing_and_all_on_request(api, carrier):
    register(api, "C1")
    record("acme-post", *varied("C1", T0))
    TrackingEvent.objects.filter(carrier_code__in=["PCK", "HUB"]).update(track_json=None)
    out = io.StringIO()
    call_command("events_render", stdout=out)
    assert json.loads(out.getvalue()) == {"events_rendered": 2, "histories_written": 0}
    assert TrackingEvent.objects.filter(track_json__isnull=True).count() == 0
    for e in TrackingEvent.objects.all():
        assert orjson.loads(e.track_json) == representations.tracking_event_dict(e)
    # A taxonomy description edited: --all renders every event again.
    StatusCode.objects.filter(milestone="admin", code="other", sub_code="other").update(description="Edited")
    representations.clear_description_cache()
    out = io.StringIO()
    call_command("events_render", "--all", stdout=out)
    assert json.loads(out.getvalue()) == {"events_rendered": 5, "histories_written": 0}
    unmapped = TrackingEvent.objects.get(carrier_code="NEVER-MAPPED")
    assert orjson.loads(unmapped.track_json)["codes"]["gluey"]["freetext_detail"] == "Edited"
    if connection.vendor == "postgresql":  # the item's stored history was rewritten with them
        assert '"freetext_detail":"Edited"' in ItemHistory.objects.get().events_json
        ItemHistory.objects.all().delete()  # an item recorded before histories were kept
        out = io.StringIO()
        call_command("events_render", stdout=out)
        assert json.loads(out.getvalue()) == {"events_rendered": 0, "histories_written": 1}
        assert ItemHistory.objects.get().events_json == _aggregated(ItemHistory.objects.get().pk)[1]
    assert events_render(event_ids=[]) == 0


def test_times_keep_microseconds_and_offsets(carrier):
    when = datetime(2026, 3, 1, 23, 59, 59, 5, tzinfo=UTC)
    record("acme-post", event("T1", "PCK", minutes=0, eta=when.astimezone(KOLKATA)))
    stored = orjson.loads(TrackingEvent.objects.get(tracked_item__tracking_id="T1").track_json)
    assert stored["eta"] == "2026-03-02T05:29:59.000005+05:30"
    assert stored["event_time"]["carrier_utc"] == T0.isoformat()


def _aggregated(item_id: int) -> tuple:
    """The item's history as the read would aggregate it from its events now."""
    with connection.cursor() as cursor:
        cursor.execute(db.histories_sql("ARRAY[%s::bigint]", EventRow._fields), [item_id])
        return cursor.fetchone()


def _stored(item_id: int) -> tuple:
    h = ItemHistory.objects.get(pk=item_id)
    return (item_id, h.events_json, h.unrendered, h.last_recorded_at, h.settled, h.notable, h.first_scan)


def test_recording_keeps_each_items_history_as_its_events_aggregate(api, carrier, postgres_only):
    now = dj_timezone.now().replace(microsecond=0)
    register(api, "H1")
    record("acme-post", *varied("H1", now - timedelta(days=2))[:2])  # on its way, a scan first
    item = TrackedItem.objects.get(tracking_id="H1")
    assert _stored(item.pk) == _aggregated(item.pk)
    assert ItemHistory.objects.get(pk=item.pk).first_scan is not None
    # Older than what is stored, in another call, in the same call as a newer one, then delivered.
    record("acme-post", event("H1", "HUB", minutes=-600))
    record("acme-post", event("H1", "ARR", minutes=-500), *varied("H1", now - timedelta(days=2))[2:3])
    record("acme-post", *varied("H1", now - timedelta(days=2))[3:])
    stored = _stored(item.pk)
    assert stored == _aggregated(item.pk)
    assert stored[2:] == (0, stored[3], True, stored[5], None)  # settled: no first scan kept
    order = [e["codes"]["carrier"]["code"] for e in orjson.loads(f"[{stored[1]}]")]
    assert order == ["HUB", "ARR", "PCK", "HUB", "NEVER-MAPPED", "OFD", "DLV"]


def test_a_read_takes_the_stored_history(api, carrier, postgres_only):
    shipment = register(api, "S1")
    record("acme-post", event("S1", "PCK"), event("S1", "HUB", minutes=5))
    before = api.get(f"/shipments/{shipment['id']}/track").json()["tracking_data"]["events"]
    assert [e["codes"]["carrier"]["code"] for e in before] == ["PCK", "HUB"]
    history = ItemHistory.objects.get(tracked_item__tracking_id="S1")
    first = history.events_json.split(',{"codes"')[0]
    ItemHistory.objects.filter(pk=history.pk).update(events_json=first)  # the read must serve this, not the events
    after = api.get(f"/shipments/{shipment['id']}/track").json()["tracking_data"]["events"]
    assert [e["codes"]["carrier"]["code"] for e in after] == ["PCK"]


def test_re_harmonising_rewrites_the_history(api, carrier, postgres_only):
    shipment = register(api, "R2")
    record("acme-post", event("R2", "ZZZ"))
    status = StatusCode.objects.get(milestone="delivery", code="delivered", sub_code="other")
    CodeMapping.objects.create(carrier_id="acme-post", carrier_code="ZZZ", carrier_sub_code="", status=status)
    events_reharmonise(carrier_id="acme-post")
    item = TrackedItem.objects.get(tracking_id="R2")
    assert _stored(item.pk) == _aggregated(item.pk) and _stored(item.pk)[4] is True
    read = api.get(f"/shipments/{shipment['id']}/track").json()["tracking_data"]["events"]
    assert read[0]["codes"]["gluey"]["code"] == "delivered"


def test_only_followed_items_keep_a_history_and_registering_writes_it(api, carrier, postgres_only):
    record("acme-post", event("F1", "PCK"), event("F1", "HUB", minutes=5))
    item = TrackedItem.objects.get(tracking_id="F1")
    assert not ItemHistory.objects.filter(pk=item.pk).exists()  # nobody can read it yet
    shipment = register(api, "F1")
    assert _stored(item.pk) == _aggregated(item.pk)
    record("acme-post", event("F1", "ARR", minutes=10))
    assert _stored(item.pk) == _aggregated(item.pk)
    read = api.get(f"/shipments/{shipment['id']}/track").json()["tracking_data"]["events"]
    assert [e["codes"]["carrier"]["code"] for e in read] == ["PCK", "HUB", "ARR"]


def test_purging_an_item_removes_its_history(api, carrier, postgres_only):
    shipment = register(api, "P1")
    record("acme-post", event("P1", "PCK"))
    item = TrackedItem.objects.get(tracking_id="P1")
    assert ItemHistory.objects.filter(pk=item.pk).exists()
    Shipment.objects.filter(pk=shipment["id"]).delete()  # nobody follows it any more
    TrackedItem.objects.filter(pk=item.pk).update(expires_at=dj_timezone.now() - timedelta(days=1))
    assert tracked_items_purge_expired() == 1
    assert not ItemHistory.objects.filter(pk=item.pk).exists()
