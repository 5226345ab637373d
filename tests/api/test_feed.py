"""GET /events and the feed selector: paging, scoping, and never skipping an in-flight event."""

from __future__ import annotations

import random
import threading
import time

import pytest
from django.db import connections, transaction

from tests.api.conftest import client_for
from tests.api.helpers import error_text, event, record, register
from tests.factories import make_carrier, make_customer
from tracking.models import TrackingEvent
from tracking.selectors import cursor_decode, cursor_encode, events_after_cursor, events_feed
from tracking.services import shipment_register

pytestmark = pytest.mark.django_db


def codes(page_json) -> list[tuple[str, str]]:
    return [
        (
            e["carrier_tracking_id"] if "parcel" not in e else e["parcel"]["carrier_tracking_id"],
            e["event"]["codes"]["carrier"]["code"],
        )
        for e in page_json["events"]
    ]


def test_pages_through_the_customers_events_in_recording_order(api, globex_api, carrier):
    mine = register(api, "T1", uuid_ref="order-1", meta_data=[{"key": "k", "value": "v"}])
    master = register(api, "M1", tracking_level="parcel", parcels=[{"carrier_tracking_id": "P1", "uuid_ref": "box"}])
    register(globex_api, "G1")
    record("acme-post", event(tracking_id="T1", code="PCK"))
    record("acme-post", event(tracking_id="G1", code="PCK"), event(tracking_id="NOBODY", code="PCK"))
    record("acme-post", event(tracking_id="P1", code="HUB"))
    record("acme-post", event(tracking_id="T1", code="DLV", minutes=9))

    first = api.get("/events", {"limit": 2})
    assert first.status_code == 200
    body = first.json()
    assert codes(body) == [("T1", "PCK"), ("P1", "HUB")]
    assert body["has_more"] is True and body["next_cursor"]
    entry = body["events"][0]
    assert entry["shipment_id"] == mine["id"] and entry["shipment_uuid_ref"] == "order-1"
    assert entry["shipment_meta_data"] == [{"key": "k", "value": "v"}]
    assert entry["carrier_id"] == "acme-post" and entry["tracking_level"] == "shipment" and "parcel" not in entry
    parcel_entry = body["events"][1]
    assert parcel_entry["shipment_id"] == master["id"] and parcel_entry["shipment_uuid_ref"] is None
    assert parcel_entry["carrier_tracking_id"] == "M1"
    assert parcel_entry["parcel"] == {
        "parcel_id": master["parcels"][0]["id"],
        "parcel_uuid_ref": "box",
        "carrier_tracking_id": "P1",
    }

    second = api.get("/events", {"after": body["next_cursor"], "limit": 2}).json()
    assert codes(second) == [("T1", "DLV")] and second["has_more"] is False
    empty = api.get("/events", {"after": second["next_cursor"]}).json()
    assert empty == {"events": [], "next_cursor": second["next_cursor"], "has_more": False}

    record("acme-post", event(tracking_id="T1", code="POD", minutes=10))
    assert codes(api.get("/events", {"after": second["next_cursor"]}).json()) == [("T1", "POD")]


def test_another_customers_events_never_appear(api, globex_api, carrier):
    register(api, "T1")
    register(globex_api, "G1")
    record("acme-post", event(tracking_id="T1"), event(tracking_id="G1"))
    assert codes(globex_api.get("/events").json()) == [("G1", "HUB")]
    assert codes(api.get("/events").json()) == [("T1", "HUB")]
    # A cursor is not a key: another customer's cursor only moves the starting point.
    theirs = globex_api.get("/events").json()["next_cursor"]
    assert api.get("/events", {"after": theirs}).status_code == 200


def test_a_number_both_customers_follow_is_in_both_feeds(api, globex_api, carrier):
    register(api, "T1")
    register(globex_api, "T1")
    record("acme-post", event(tracking_id="T1"))
    assert len(api.get("/events").json()["events"]) == 1
    assert len(globex_api.get("/events").json()["events"]) == 1


def test_empty_feed_without_cursor(api):
    assert api.get("/events").json() == {"events": [], "next_cursor": None, "has_more": False}


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"limit": 0}, "limit:"),
        ({"limit": 1001}, "limit:"),
        ({"limit": "ten"}, "limit: A valid integer is required."),
        ({"after": "garbage"}, "after: not a cursor this API returned"),
        ({"after": "YWJj"}, "after: not a cursor this API returned"),
    ],
)
def test_bad_parameters_are_422(api, params, detail):
    response = api.get("/events", params)
    assert response.status_code == 422
    assert error_text(response.json()).startswith(detail)


def test_limit_of_1000_is_accepted(api, carrier):
    assert api.get("/events", {"limit": 1000}).status_code == 200


def test_cursor_round_trip_and_opacity():
    cursor = cursor_encode(txid=123456, event_id=42)
    assert cursor_decode(cursor) == (123456, 42)
    assert "42" not in cursor


def test_generic_selector_scopes_by_queryset(carrier):
    created = record("acme-post", event(tracking_id="A"), event(tracking_id="B"), event(tracking_id="C"))
    only_b = TrackingEvent.objects.filter(tracked_item__tracking_id="B")
    page = events_after_cursor(cursor=None, limit=10, events=only_b)
    assert [e.pk for e in page.events] == [e.pk for e in created if e.tracked_item.tracking_id == "B"]
    everything = events_after_cursor(cursor=None, limit=2)
    rest = events_after_cursor(cursor=everything.next_cursor, limit=2)
    assert [e.pk for e in everything.events + rest.events] == sorted(e.pk for e in created)


# --- Concurrency: PostgreSQL only ---------------------------------------------------------
# The feed waits for every older writing transaction on the whole PostgreSQL
# server (xids are server-wide), so another test suite sharing the server can
# hold it back for a while: readers here poll until a deadline, never assume
# that one more read is enough.

DEADLINE_SECONDS = 60


def _poll_until(read, done):
    deadline = time.monotonic() + DEADLINE_SECONDS
    result = read()
    while not done(result) and time.monotonic() < deadline:
        time.sleep(0.05)
        result = read()
    return result


@pytest.mark.django_db(transaction=True)
def test_an_event_committed_after_a_higher_one_is_not_skipped(postgres_only):
    """A holds a lower id open while B commits a higher one: the feed waits for A."""
    make_carrier()
    acme, _ = make_customer("acme")
    for number in ("SLOW", "FAST"):
        shipment_register(customer=acme, carrier_id="acme-post", carrier_tracking_id=number)
    inserted, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                record("acme-post", event(tracking_id="SLOW", code="PCK"))
                inserted.set()
                release.wait(30)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            inserted.set()
        finally:
            connections.close_all()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    try:
        assert inserted.wait(30)
        fast = record("acme-post", event(tracking_id="FAST", code="HUB"))[0]
        # The hazard is real: by id alone, the committed FAST event is visible and SLOW's lower id is not.
        visible = list(TrackingEvent.objects.order_by("id").values_list("tracked_item__tracking_id", "id"))
        assert [n for n, _ in visible] == ["FAST"]
        assert TrackingEvent.objects.get(pk=fast.pk).id > 0
        page = events_feed(customer=acme, after=None, limit=100)
        assert page.entries == []  # FAST waits until SLOW, the older transaction, has finished
    finally:
        release.set()
        thread.join(30)
    assert errors == []
    page = _poll_until(lambda: events_feed(customer=acme, after=None, limit=100), lambda p: len(p.entries) == 2)
    assert [e.shipment.carrier_tracking_id for e in page.entries] == ["SLOW", "FAST"]
    assert page.entries[0].event.id < page.entries[1].event.id


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_and_a_polling_reader_see_every_event_exactly_once(postgres_only, monkeypatch):
    from tracking.api.auth import APIKeyRateThrottle

    monkeypatch.setattr(APIKeyRateThrottle, "THROTTLE_RATES", {"api_key": "100000/min"})
    make_carrier()
    acme, key = make_customer("acme")
    writers, rounds = 6, 8
    for w in range(writers):
        shipment_register(customer=acme, carrier_id="acme-post", carrier_tracking_id=f"W{w}")
    codes_cycle = ("PCK", "HUB", "DEP", "OFD")
    commits: list[tuple[float, list[int]]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    done = threading.Event()
    rng = random.Random(20261128)
    delays = [[rng.uniform(0, 0.08) for _ in range(rounds)] for _ in range(writers)]

    def writer(w: int) -> None:
        try:
            for r in range(rounds):
                with transaction.atomic():
                    created = record("acme-post", event(tracking_id=f"W{w}", code=codes_cycle[r % 4], minutes=r))
                    # Hold the transaction open after the insert so ids commit out of order.
                    time.sleep(delays[w][r])
                with lock:
                    commits.append((time.monotonic(), [e.id for e in created]))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    seen: list[int] = []

    def reader() -> None:
        # Through the HTTP API, as a customer would poll it.
        client = client_for(key)
        cursor = None
        try:
            deadline = time.monotonic() + DEADLINE_SECONDS
            while time.monotonic() < deadline:
                params = {"limit": 3}
                if cursor:
                    params["after"] = cursor
                response = client.get("/events", params)
                assert response.status_code == 200, response.content
                body = response.json()
                seen.extend(cursor_event_ids(body))
                cursor = body["next_cursor"]
                if done.is_set() and not body["events"] and len(seen) >= writers * rounds:
                    # One more empty read after everything arrived: nothing extra turns up.
                    break
                time.sleep(0.005)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    ids_by_payload: dict[tuple[str, str], int] = {}

    def cursor_event_ids(body: dict) -> list[int]:
        # The public shape has no event id; map (number, carrier time) back to the stored row.
        out = []
        for entry in body["events"]:
            key_ = (entry["carrier_tracking_id"], entry["event"]["event_time"]["carrier_utc"])
            if key_ not in ids_by_payload:
                row = TrackingEvent.objects.get(
                    tracked_item__tracking_id=key_[0], occurred_at=entry["event"]["event_time"]["carrier_utc"]
                )
                ids_by_payload[key_] = row.id
            out.append(ids_by_payload[key_])
        return out

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    reading = threading.Thread(target=reader)
    reading.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    done.set()
    reading.join(DEADLINE_SECONDS + 30)
    connections.close_all()

    assert errors == []
    expected = sorted(TrackingEvent.objects.values_list("id", flat=True))
    assert len(expected) == writers * rounds
    assert sorted(seen) == expected, "every event exactly once"
    assert len(seen) == len(set(seen))
    # The race the feed guards against actually happened: some transaction
    # committed a lower id after another had committed a higher one.
    ordered = [ids for _, ids in sorted(commits)]
    assert any(min(later) < max(earlier) for i, earlier in enumerate(ordered) for later in ordered[i + 1 :])
