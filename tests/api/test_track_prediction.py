"""predicted_delivery in track responses: beside current_eta while a shipment is on its way."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from tests.api.helpers import event, record, register
from tests.factories import T0, make_lane_history

pytestmark = pytest.mark.django_db


def since_t0(moment: datetime) -> int:
    return int((moment - T0).total_seconds() // 60)


@pytest.fixture
def learnt(carrier):
    """acme-post delivers everything one working day after the scan, learnt from 40 past parcels."""
    return make_lane_history("acme-post")


def test_a_shipment_on_its_way_gets_a_predicted_delivery(api, learnt):
    shipment = register(api, "PRED1")
    scanned = timezone.now() - timedelta(minutes=5)
    record("acme-post", event("PRED1", "PCK", minutes=since_t0(scanned)))
    body = api.get(f"/shipments/{shipment['id']}/track").json()
    predicted = body["tracking_data"]["predicted_delivery"]
    assert predicted["basis"] == {"lane": "acme-post, all lanes", "level": "carrier", "sample_size": 40}
    assert predicted["earliest"] <= predicted["date"] <= predicted["latest"]
    assert predicted["date"] > scanned.date().isoformat()
    assert predicted["confidence"] == 1.0
    batch = api.post("/track", {"ids": [shipment["id"]]}, format="json").json()
    assert batch[0]["tracking_data"]["predicted_delivery"] == predicted


def test_a_delivered_shipment_has_none(api, learnt):
    shipment = register(api, "PRED2")
    scanned = timezone.now() - timedelta(days=2)
    record(
        "acme-post",
        event("PRED2", "PCK", minutes=since_t0(scanned)),
        event("PRED2", "DLV", minutes=since_t0(scanned + timedelta(days=1))),
    )
    body = api.get(f"/shipments/{shipment['id']}/track").json()
    assert "predicted_delivery" not in body["tracking_data"]


def test_a_batch_predicts_only_its_shipments_on_their_way(api, learnt):
    """Settled histories and histories without a scan ask for no prediction; the one on its way
    still gets its own, as a single read of it does."""
    on_way, delivered, unscanned = register(api, "PRED4"), register(api, "PRED5"), register(api, "PRED6")
    scanned = timezone.now() - timedelta(minutes=5)
    record(
        "acme-post",
        event("PRED4", "PCK", minutes=since_t0(scanned)),
        event("PRED5", "PCK", minutes=since_t0(scanned - timedelta(days=2))),
        event("PRED5", "DLV", minutes=since_t0(scanned - timedelta(days=1))),
    )
    ids = [delivered["id"], unscanned["id"], on_way["id"]]
    response = api.post("/track", {"ids": ids}, format="json")
    assert response.status_code == 200
    batch = {body["id"]: body["tracking_data"] for body in response.json()}
    assert "predicted_delivery" not in batch[delivered["id"]]
    assert "predicted_delivery" not in batch[unscanned["id"]]
    single = api.get(f"/shipments/{on_way['id']}/track").json()["tracking_data"]
    assert batch[on_way["id"]]["predicted_delivery"] == single["predicted_delivery"]
    assert batch[on_way["id"]]["predicted_delivery"]["date"] is not None


def test_without_history_the_answer_says_so(api, carrier):
    shipment = register(api, "PRED3")
    record("acme-post", event("PRED3", "PCK", minutes=since_t0(timezone.now() - timedelta(minutes=5))))
    predicted = api.get(f"/shipments/{shipment['id']}/track").json()["tracking_data"]["predicted_delivery"]
    assert predicted["date"] is None and "too little delivery history" in predicted["reason"]


def test_lane_models_are_read_once_per_process_and_again_when_they_change(api, learnt):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tracking.services import lane_stats_refresh

    shipment = register(api, "PRED4")
    record("acme-post", event("PRED4", "PCK", minutes=since_t0(timezone.now() - timedelta(minutes=5))))

    def lane_reads() -> tuple[int, dict]:
        with CaptureQueriesContext(connection) as queries:
            body = api.get(f"/shipments/{shipment['id']}/track").json()
        reads = [q for q in queries.captured_queries if "tracking_lanetransitstat" in q["sql"]]
        return len(reads), body["tracking_data"]["predicted_delivery"]

    first, predicted = lane_reads()
    assert first == 1 and predicted["basis"]["sample_size"] == 40
    assert lane_reads() == (0, predicted)  # cached
    learnt.delete()  # edited here: forgotten at once
    assert lane_reads()[1]["date"] is None
    lane_stats_refresh()  # relearnt (from no deliveries): forgotten too
    again, predicted = lane_reads()
    assert again == 1 and predicted["date"] is None
