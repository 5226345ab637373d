"""The one recording service: harmonise, dedupe, state, unmapped codes, notify hook."""

from __future__ import annotations

import threading
from datetime import timedelta
from datetime import timezone as dt_timezone

import pytest
from django.db import connection, connections

from tests.factories import T0, event, make_carrier
from tracking.models import CodeMapping, Shipment, StatusCode, TrackedItem, TrackingEvent, UnmappedCode
from tracking.services import (
    InvalidEvent,
    MappingRow,
    code_mappings_import,
    events_record,
    shipment_register,
)
from tracking.signals import events_recorded
from tracking.types import CarrierEvent, Location

pytestmark = pytest.mark.django_db


def record(carrier, *events_):
    return events_record(carrier=carrier, events=list(events_), channel="webhook")


def test_harmonises_by_sub_code_row_then_fallback(carrier):
    result = record(carrier, event(code="DLV", sub_code="NB", minutes=1), event(code="DLV", sub_code="XX", minutes=2))
    by_sub = {e.carrier_sub_code: (e.milestone, e.code, e.sub_code, e.unmapped) for e in result.created}
    assert by_sub["NB"] == ("delivery", "delivered", "left_with_neighbor", False)
    # XX has no row of its own: the code's sub-code-less row applies.
    assert by_sub["XX"] == ("delivery", "delivered", "other", False)


def test_carrier_code_and_text_pass_through_unchanged(carrier):
    result = record(carrier, event(code="ATT", sub_code="NH", description="Nobody home — card left"))
    stored = TrackingEvent.objects.get(pk=result.created[0].pk)
    assert (stored.carrier_code, stored.carrier_sub_code, stored.carrier_text) == (
        "ATT",
        "NH",
        "Nobody home — card left",
    )


def test_unmapped_code_is_flagged_counted_and_never_guessed(carrier):
    result = record(carrier, event(code="ZZ9", minutes=1), event(code="ZZ9", minutes=2, description="mystery"))
    assert result.unmapped == 2
    assert {(e.milestone, e.code, e.sub_code, e.unmapped) for e in result.created} == {
        ("admin", "other", "other", True)
    }
    row = UnmappedCode.objects.get(carrier=carrier, carrier_code="ZZ9")
    assert row.count == 2 and row.example_text
    record(carrier, event(code="ZZ9", minutes=3))
    row.refresh_from_db()
    assert row.count == 3 and row.last_seen >= row.first_seen


def test_duplicates_in_batch_and_across_batches_are_stored_once(carrier):
    first = record(carrier, event(minutes=1), event(minutes=1))
    assert len(first.created) == 1 and first.duplicates == 1
    again = record(carrier, event(minutes=1))
    assert again.created == [] and again.duplicates == 1
    # Same code and time at another place is another event.
    elsewhere = record(carrier, event(minutes=1, city="York"))
    assert len(elsewhere.created) == 1
    assert TrackingEvent.objects.count() == 2


def test_same_instant_in_another_offset_is_a_duplicate(carrier):
    record(carrier, event(minutes=0))
    shifted = CarrierEvent(
        tracking_id="JD0002234001100086",
        code="HUB",
        occurred_at=T0.astimezone(dt_timezone(timedelta(hours=1))),
        location=Location(city="Leeds", iso_country="GB"),
    )
    assert record(carrier, shifted).created == []


def test_current_state_follows_carrier_time_and_ignores_late_older_events(carrier):
    record(carrier, event(code="HUB", minutes=10), event(code="OFD", minutes=20))
    item = TrackedItem.objects.get(tracking_id="JD0002234001100086")
    assert (item.status_milestone, item.status_code) == ("delivery", "out_for_delivery")
    record(carrier, event(code="PCK", minutes=1))  # late, older
    item.refresh_from_db()
    assert (item.status_milestone, item.status_code) == ("delivery", "out_for_delivery")
    record(carrier, event(code="DLV", minutes=30))
    item.refresh_from_db()
    assert (item.status_code, item.status_sub_code) == ("delivered", "other")
    assert item.status_at == T0 + timedelta(minutes=30)


def test_tie_on_carrier_time_goes_to_the_later_recorded(carrier):
    record(carrier, event(code="HUB", minutes=5))
    record(carrier, event(code="DEP", minutes=5))
    item = TrackedItem.objects.get()
    assert item.status_code == "departed_carrier_facility"


def test_offset_is_kept(carrier):
    local = CarrierEvent(
        tracking_id="X1",
        code="HUB",
        occurred_at=T0.astimezone(dt_timezone(timedelta(hours=-5))),
    )
    stored = record(carrier, local).created[0]
    stored.refresh_from_db()
    assert stored.utc_offset_minutes == -300
    assert stored.occurred_at == T0


def test_invalid_event_rejects_whole_batch(carrier):
    naive = CarrierEvent(tracking_id="X1", code="HUB", occurred_at=T0.replace(tzinfo=None))
    with pytest.raises(InvalidEvent, match="occurred_at"):
        record(carrier, event(), naive)
    assert TrackingEvent.objects.count() == 0


def test_constant_number_of_queries_whatever_the_batch(carrier, django_assert_max_num_queries):
    small = [event(tracking_id=f"S{i}", minutes=i) for i in range(3)]
    large = [event(tracking_id=f"L{i % 50}", minutes=i, code=("HUB", "ZZ1", "DLV")[i % 3]) for i in range(300)]
    with django_assert_max_num_queries(12):
        record(carrier, *small)
    with django_assert_max_num_queries(12):
        record(carrier, *large)
    assert TrackingEvent.objects.count() == 303


def _statements(queries) -> list[str]:
    """The kind of each statement run (a prepared statement's EXECUTE by what it was prepared as)."""
    from gluey.db import PREPARED_SQL

    kinds = []
    for query in queries:
        sql = query["sql"]
        if "SAVEPOINT" in sql or sql.startswith("PREPARE "):
            continue
        if sql.startswith("EXECUTE "):
            sql = PREPARED_SQL[sql.split()[1]]
        sql = sql.upper()
        if sql.startswith("WITH"):  # the main statement comes after its CTEs (which may write too)
            kinds.append(max(("INSERT", "UPDATE"), key=sql.rfind))
        else:
            kinds.append(sql.split()[0])
    return kinds


def test_one_event_on_an_item_nobody_follows_is_two_statements(carrier, postgres_only):
    """One statement locks the item (with whether anyone follows it) or creates it, and inserts
    the event (harmonising as it goes); the other updates the state (rewriting the item's stored
    history in the same statement). A new number costs no more than a known one."""
    from django.test.utils import CaptureQueriesContext

    record(carrier, event(tracking_id="KNOWN", code="PCK", minutes=1))
    with CaptureQueriesContext(connection) as queries:
        result = record(carrier, event(tracking_id="KNOWN", code="DLV", sub_code="NB", minutes=2))
    assert _statements(queries.captured_queries) == ["INSERT", "UPDATE"]
    assert (result.created[0].code, result.created[0].sub_code) == ("delivered", "left_with_neighbor")
    item = TrackedItem.objects.get(tracking_id="KNOWN")
    assert (item.status_code, item.current_event_id) == ("delivered", result.created[0].pk)

    with CaptureQueriesContext(connection) as queries:
        result = record(carrier, event(tracking_id="NEW", code="HUB", minutes=3))
    assert _statements(queries.captured_queries) == ["INSERT", "UPDATE"]
    item = TrackedItem.objects.get(tracking_id="NEW")
    assert (item.status_code, item.current_event_id) == (result.created[0].code, result.created[0].pk)
    assert result.created[0].tracked_item_id == item.pk and item.expires_at is not None


def test_followed_item_reads_its_audience_and_an_unfollowed_one_does_not(carrier, acme):
    from django.test.utils import CaptureQueriesContext

    shipment_register(customer=acme, carrier_id=carrier.pk, carrier_tracking_id="FOLLOWED")
    seen = []

    def receiver(sender, *, events, shipments, parcels, **kwargs):
        seen.append({item: [s.carrier_tracking_id for s in found] for item, found in shipments.items()})

    events_recorded.connect(receiver)
    try:
        with CaptureQueriesContext(connection) as queries:
            record(carrier, event(tracking_id="FOLLOWED", minutes=1))
        followed_statements = _statements(queries.captured_queries)
        with CaptureQueriesContext(connection) as queries:
            record(carrier, event(tracking_id="STRANGER", minutes=1))
        stranger_statements = _statements(queries.captured_queries)
    finally:
        events_recorded.disconnect(receiver)
    assert list(seen[0].values()) == [["FOLLOWED"]]
    assert seen[1] == {}
    # The followed item's shipments and parcels are read (two statements the stranger never pays for).
    assert len(followed_statements) >= len(stranger_statements) + 2
    assert "INSERT" in stranger_statements


def test_hook_is_called_inside_the_transaction_with_shipments(carrier, acme):
    shipment, _ = shipment_register(customer=acme, carrier_id=carrier.pk, carrier_tracking_id="T1")
    seen = []

    def receiver(sender, *, events, shipments, parcels, **kwargs):
        seen.append((connection.in_atomic_block, [e.pk for e in events], shipments))

    events_recorded.connect(receiver)
    try:
        result = record(carrier, event(tracking_id="T1"), event(tracking_id="NOBODY"))
    finally:
        events_recorded.disconnect(receiver)
    in_tx, ids, shipments = seen[0]
    assert in_tx is True
    assert ids == sorted(e.pk for e in result.created)
    assert [s.pk for s in shipments[shipment.tracked_item_id]] == [shipment.pk]


def test_events_before_registration_appear_after_it(carrier, acme):
    record(carrier, event(tracking_id="EARLY", code="PCK"))
    item = TrackedItem.objects.get(tracking_id="EARLY")
    assert item.expires_at is not None
    shipment, created = shipment_register(customer=acme, carrier_id=carrier.pk, carrier_tracking_id="EARLY")
    assert created
    assert shipment.tracked_item.events.count() == 1
    item.refresh_from_db()
    assert item.expires_at is None


def test_registering_twice_returns_existing(carrier, acme):
    first, created = shipment_register(customer=acme, carrier_id=carrier.pk, carrier_tracking_id="T1")
    second, created_again = shipment_register(customer=acme, carrier_id=carrier.pk, carrier_tracking_id="T1")
    assert created and not created_again and first.pk == second.pk
    assert Shipment.objects.count() == 1


def test_reharmonise_after_mapping_a_code(carrier):
    record(carrier, event(code="ZZ9", minutes=50), event(code="HUB", minutes=10))
    item = TrackedItem.objects.get()
    # The unmapped, newer ZZ9 does not move the state; once mapped, the state is recomputed.
    assert (item.status_milestone, item.status_code) == ("in_transit", "arrived_at_carrier_facility")
    counts = code_mappings_import(
        carrier_id=carrier.pk, rows=[MappingRow("ZZ9", "", "delivery", "delivered", "with_signature")]
    )
    assert counts["created"] == 1 and counts["events_reharmonised"] == 1
    item.refresh_from_db()
    assert (item.status_code, item.status_sub_code) == ("delivered", "with_signature")
    assert not UnmappedCode.objects.filter(carrier_code="ZZ9").exists()
    assert not TrackingEvent.objects.filter(unmapped=True).exists()


def test_reharmonise_after_changing_a_mapping(carrier):
    record(carrier, event(code="HUB"))
    mapping = CodeMapping.objects.get(carrier=carrier, carrier_code="HUB")
    code_mappings_import(
        carrier_id=carrier.pk,
        rows=[MappingRow("HUB", "", "in_transit", "processed_at_carrier_facility", "sortation_hub")],
    )
    mapping.refresh_from_db()
    assert mapping.status.code == "processed_at_carrier_facility"
    assert TrackingEvent.objects.get().code == "processed_at_carrier_facility"


def test_mapping_outside_taxonomy_changes_nothing(carrier):
    before = CodeMapping.objects.count()
    from tracking.services import MappingError

    with pytest.raises(MappingError, match="not in the harmonised taxonomy"):
        code_mappings_import(
            carrier_id=carrier.pk,
            rows=[
                MappingRow("NEW", "", "delivery", "delivered", "other"),
                MappingRow("BAD", "", "delivery", "teleported", "x"),
            ],
        )
    assert CodeMapping.objects.count() == before


def test_taxonomy_is_loaded_with_descriptions():
    assert StatusCode.objects.count() == 181
    assert not StatusCode.objects.filter(description="").exists()
    assert StatusCode.objects.filter(milestone="admin", code="other", sub_code="other").exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_recording_of_the_same_events_stores_them_once(postgres_only):
    carrier = make_carrier()
    batch = [event(tracking_id=f"C{i % 20}", minutes=i) for i in range(200)]
    barrier = threading.Barrier(4)
    results, errors = [], []

    def worker():
        try:
            barrier.wait()
            results.append(events_record(carrier=carrier.pk, events=batch, channel="webhook"))
        except Exception as exc:  # noqa: BLE001 - the assertion below reports it
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert TrackingEvent.objects.count() == 200
    assert sum(len(r.created) for r in results) == 200
    for item in TrackedItem.objects.all():
        latest = item.events.order_by("-occurred_at", "-id").first()
        assert item.current_event_id == latest.id


@pytest.mark.django_db(transaction=True)
def test_a_number_registered_while_recording_waits_gets_the_event_in_its_history(postgres_only):
    """Registration clears the item's expires_at (and writes its history) while holding the row;
    recording, waiting for that row's lock, must see the update and keep the history with its
    event, though its own snapshot began before the registration committed."""
    import psycopg2
    from django.conf import settings

    from tracking import db
    from tracking.models import ItemHistory
    from tracking.selectors import EventRow

    carrier = make_carrier()
    events_record(carrier=carrier.pk, events=[event(tracking_id="LATE1", minutes=1)], channel="webhook")
    item = TrackedItem.objects.get(tracking_id="LATE1")
    assert item.expires_at is not None and not ItemHistory.objects.filter(pk=item.pk).exists()

    params = settings.DATABASES["default"]
    registration = psycopg2.connect(
        dbname=connection.settings_dict["NAME"], user=params["USER"], host=params["HOST"], port=params["PORT"]
    )
    cursor = registration.cursor()
    cursor.execute("UPDATE tracking_trackeditem SET expires_at = NULL WHERE id = %s", [item.pk])
    cursor.execute(db._refresh_sql(EventRow._fields), [f"{{{item.pk}}}"])  # as registration does
    errors: list[Exception] = []

    def record_one() -> None:
        try:
            events_record(carrier=carrier.pk, events=[event(tracking_id="LATE1", minutes=2)], channel="webhook")
        except Exception as exc:  # noqa: BLE001 - the assertion below reports it
            errors.append(exc)
        finally:
            connections.close_all()

    recorder = threading.Thread(target=record_one)
    recorder.start()
    recorder.join(1.0)
    assert recorder.is_alive(), "recording did not wait for the registration's row lock"
    registration.commit()
    recorder.join(30)
    registration.close()
    assert errors == []
    stored = ItemHistory.objects.get(pk=item.pk).events_json
    assert stored.count('"codes"') == 2  # both events, the second recorded after the wait


@pytest.mark.django_db(transaction=True)
def test_taxonomy_survives_a_transactional_flush():
    # The previous transactional test flushed every table; post_migrate reloads the vocabulary.
    assert StatusCode.objects.count() == 181


def test_awkward_text_round_trips_exactly(carrier):
    text = 'He said "NULL" \\ then {left}, 2 commas, ünïcødé, tab\there'
    result = record(
        carrier,
        CarrierEvent(
            tracking_id='T"1\\{x}',
            code="HUB",
            sub_code="NULL",
            occurred_at=T0,
            description=text,
            location=Location(city='St. "Quote" \\ {City}', iso_country="GB"),
            meta=(("note", text),),
        ),
    )
    stored = TrackingEvent.objects.get(pk=result.created[0].pk)
    assert stored.carrier_text == text
    assert stored.carrier_sub_code == "NULL"
    assert stored.location["city"] == 'St. "Quote" \\ {City}'
    assert stored.carrier_meta == [{"key": "note", "value": text}]
    assert stored.tracked_item.tracking_id == 'T"1\\{x}'


def _state(tracking_id="JD0002234001100086"):
    item = TrackedItem.objects.get(tracking_id=tracking_id)
    return item.status_milestone, item.status_code


def test_unmapped_event_never_moves_the_state(carrier):
    record(carrier, event(code="HUB", minutes=10))
    record(carrier, event(code="ZZ9", minutes=20))
    assert _state() == ("in_transit", "arrived_at_carrier_facility")
    # Only unmapped events: the item has no state yet rather than admin/other.
    record(carrier, event(tracking_id="ONLY-UNMAPPED", code="ZZ9"))
    assert _state("ONLY-UNMAPPED") == ("", "")


def test_estimate_updates_eta_and_never_moves_the_state(carrier):
    record(carrier, event(code="HUB", minutes=10))
    eta = T0 + timedelta(days=2)
    result = record(carrier, event(code="OFD", minutes=20, estimate=True, eta=eta))
    assert result.created[0].estimate and result.created[0].eta == eta
    assert _state() == ("in_transit", "arrived_at_carrier_facility")


def test_after_delivery_only_delivery_return_exception_or_post_delivery_move_the_state(carrier):
    code_mappings_import(
        carrier_id=carrier.pk,
        rows=[
            MappingRow("RTS", "", "return_to_sender", "initiated", "other"),
            MappingRow("NOTE", "", "delivery", "notification", "email"),
        ],
    )
    # One batch: the housekeeping HUB scan after DLV is not the state.
    record(carrier, event(code="DLV", minutes=10), event(code="HUB", minutes=20))
    assert _state() == ("delivery", "delivered")
    record(carrier, event(code="HUB", minutes=30), event(code="NOTE", minutes=31))
    assert _state() == ("delivery", "delivered")
    record(carrier, event(code="RTS", minutes=40))
    assert _state() == ("return_to_sender", "initiated")


def test_reharmonise_recomputes_the_state_by_the_same_rules(carrier):
    record(carrier, event(code="DLV", minutes=10), event(code="ZZ9", minutes=20))
    code_mappings_import(carrier_id=carrier.pk, rows=[MappingRow("ZZ9", "", "in_transit", "carrier", "other")])
    # ZZ9 is now mapped to a transit scan: after the delivery it still does not move the state.
    assert _state() == ("delivery", "delivered")
    code_mappings_import(
        carrier_id=carrier.pk, rows=[MappingRow("ZZ9", "", "exception", "damage_loss", "parcel_damaged")]
    )
    assert _state() == ("exception", "damage_loss")


def test_expired_unregistered_numbers_are_purged_with_their_events_and_followed_ones_kept(carrier, acme):
    """Events have no database-level key to their item: the purge itself must leave no orphan."""
    from tracking.services import tracked_items_purge_expired

    record(carrier, event(tracking_id="GONE", minutes=1), event(tracking_id="GONE", code="DLV", minutes=2))
    record(carrier, event(tracking_id="KEPT", minutes=1))
    shipment_register(customer=acme, carrier_id=carrier.pk, carrier_tracking_id="KEPT")
    record(carrier, event(tracking_id="FRESH", minutes=1))
    later = TrackedItem.objects.get(tracking_id="GONE").expires_at + timedelta(seconds=1)
    TrackedItem.objects.filter(tracking_id="FRESH").update(expires_at=later + timedelta(days=1))

    assert tracked_items_purge_expired(now=later) == 1

    assert set(TrackedItem.objects.values_list("tracking_id", flat=True)) == {"KEPT", "FRESH"}
    assert not TrackingEvent.objects.exclude(tracked_item_id__in=TrackedItem.objects.values("id")).exists()
    assert TrackingEvent.objects.count() == 2
