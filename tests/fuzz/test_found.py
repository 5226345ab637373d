"""Inputs the fuzzers found, kept as plain examples so they are checked on every run.

Each broke the recording on PostgreSQL (SQLite stores anything, so these
need PostgreSQL): a payload the adapter accepted failed in the database, and
its message was retried until it was marked failed instead of being refused
once with a reason, or recorded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import Client

from carriers.adapters.registry import adapter_class
from carriers.models import Carrier, InboundStatus
from carriers.services import inbound_message_process
from tests.carriers.adapter_cases import StandInCarrier, fixtures_dir
from tests.carriers.conftest import signed_headers
from tests.factories import make_carrier
from tracking.models import TrackingEvent
from tracking.services import InvalidEvent, events_record

EDI_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "edi"


def test_dhl_signer_longer_than_the_column_is_recorded(postgres_only):
    doc = json.loads((fixtures_dir("dhl") / "delivered.json").read_text())
    doc["shipments"][0]["details"]["proofOfDelivery"]["signed"]["familyName"] = "Schmidt" * 40  # 280 characters
    events = adapter_class("dhl")(StandInCarrier(adapter="dhl")).parse(json.dumps(doc).encode())
    carrier = Carrier.objects.create(id="dhl", adapter="dhl")
    events_record(carrier=carrier, events=events, channel="poll")
    delivered = TrackingEvent.objects.get(carrier_code="delivered")
    assert delivered.signed_by.startswith("Anna Schmidt") and len(delivered.signed_by) <= 200


@pytest.mark.parametrize(
    "where",
    ["description", "location.city", "tracking_id", "signed_by"],
)
def test_a_nul_character_in_a_pushed_event_ends_in_a_state_not_a_database_error(postgres_only, where):
    carrier = make_carrier()
    raw = {
        "tracking_id": "JD0002234001100086",
        "code": "DLV",
        "description": "Delivered",
        "occurred_at": "2026-11-28T14:03:00+01:00",
        "location": {"city": "Leeds", "iso_country": "GB"},
    }
    if where == "location.city":
        raw["location"]["city"] = "Le\x00eds"
    else:
        raw[where] = raw.get(where, "x") + "\x00"
    body = json.dumps({"events": [raw]}).encode()
    response = Client().post(
        f"/carriers/{carrier.pk}/webhook",
        data=body,
        content_type="application/json",
        headers=signed_headers(carrier.webhook_secret, body),
    )
    assert response.status_code in (202, 400), response.content
    if response.status_code == 202:
        outcome = inbound_message_process(message_id=response.json()["id"])
        assert outcome.status in (InboundStatus.PROCESSED, InboundStatus.FAILED)
        if outcome.status == InboundStatus.FAILED:
            assert "NUL" in outcome.error


def test_a_nul_byte_in_a_csv_file_is_refused_or_recorded_not_a_database_error(postgres_only):
    data = (fixtures_dir("csv") / "default_columns.csv").read_bytes().replace(b"Coventry,,GB", b"Cov\x00entry,,GB")
    events = adapter_class("csv")(StandInCarrier(adapter="csv")).parse(data)
    carrier = Carrier.objects.create(id="files", adapter="csv")
    try:
        events_record(carrier=carrier, events=events, channel="sftp")
    except InvalidEvent as exc:
        assert "NUL" in str(exc)


def test_a_csv_mapping_whose_date_and_time_formats_clash_is_an_edi_error():
    """date_format "%H" with time_format "%H:%M" made strptime raise re.error, past the EDI guard."""
    import io

    from edi import csvfile
    from edi.errors import EdiError

    mapping = json.loads((EDI_FIXTURES / "carrier_status_semicolon.mapping.json").read_text())
    data = (EDI_FIXTURES / "carrier_status_semicolon.csv").read_bytes()
    profile = csvfile.CsvProfile.from_dict({**mapping, "date_format": "%H"})
    with pytest.raises(EdiError, match="format"):
        list(csvfile.iter_events(io.BytesIO(data), "UTC", profile=profile))
