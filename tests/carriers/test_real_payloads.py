"""Carrier payloads as carriers really send them: optional fields missing, local times, forecasts.

Each test pins one class of real-world behaviour (issue: real carrier data
parses right); the realworld corpus (tests/carriers/test_realworld.py) runs
whole documented samples end to end.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from carriers.adapters.base import parse_problems
from carriers.adapters.registry import adapter_class
from carriers.models import InboundMessage
from carriers.services.inbound import inbound_message_process, inbound_message_store
from tests.carriers.adapter_cases import StandInCarrier
from tests.factories import make_carrier
from tracking.models import TrackingEvent


def make(name: str, **carrier: Any):
    return adapter_class(name)(StandInCarrier(adapter=name, **carrier))  # type: ignore[arg-type]  # duck-typed Carrier


def _meta(event) -> dict[str, str]:
    return dict(event.meta)


DHL_PARTLY_INCOMPLETE = {
    "shipments": [
        {
            "id": "00340434161094042557",
            "service": "parcel-de",
            "events": [
                {
                    "timestamp": "2026-11-27T10:27:00",
                    "status": "Zugestellt",
                    "description": "Delivered",
                    "location": {"address": {"addressLocality": "Berlin", "countryCode": "DE"}},
                },
                {"status": "in transit", "description": "no time at all"},
                {
                    "timestamp": "2026-11-26T18:02:00+01:00",
                    "statusCode": "transit",
                    "status": "Sorted",
                    "location": {"address": {"addressLocality": "Leipzig", "countryCode": "DE"}},
                },
            ],
        }
    ]
}


def test_dhl_event_without_status_code_is_kept_unmapped_and_one_bad_event_loses_no_other():
    events = make("dhl").parse(json.dumps(DHL_PARTLY_INCOMPLETE).encode())
    assert [e.code for e in events] == ["Zugestellt", "transit"]
    first = events[0]
    assert _meta(first)["status_code_missing"] == "true"
    # No offset: local time in Germany (CET in November), and the event says how its zone was chosen.
    assert first.occurred_at.utcoffset() == timedelta(hours=1) and _meta(first)["zone_source"] == "location"
    assert parse_problems(events) == ["shipments[0].events[1].timestamp is missing"]


@pytest.mark.django_db
def test_inbound_message_keeps_the_good_events_and_stores_the_reasons(taxonomy):
    carrier = make_carrier("dhl-de", adapter="dhl", api_key="k")
    stored = inbound_message_store(
        carrier=carrier, channel="poll", body=json.dumps(DHL_PARTLY_INCOMPLETE).encode(), process=False
    )
    outcome = inbound_message_process(message_id=stored.message.pk)
    message = InboundMessage.objects.get(pk=stored.message.pk)
    assert outcome.status == "processed" and message.event_count == 2
    assert message.error == "shipments[0].events[1].timestamp is missing"
    assert message.problems == [{"problem": "shipments[0].events[1].timestamp is missing"}]
    unmapped = TrackingEvent.objects.get(carrier_code="Zugestellt")
    assert unmapped.unmapped and (unmapped.milestone, unmapped.code) == ("admin", "other")


FEDEX_DELIVERED = {
    "output": {
        "completeTrackResults": [
            {
                "trackingNumber": "794843185271",
                "trackResults": [
                    {
                        "trackingNumberInfo": {"trackingNumber": "794843185271"},
                        "dateAndTimes": [
                            {"type": "ACTUAL_DELIVERY", "dateTime": "2026-11-27T14:41:00-06:00"},
                            {"type": "ANTICIPATED_TENDER", "dateTime": "2026-11-22T00:00:00-06:00"},
                            {"type": "ESTIMATED_DELIVERY", "dateTime": "2026-11-27T20:00:00-06:00"},
                        ],
                        "scanEvents": [
                            {
                                "date": "2026-11-27T14:41:00",
                                "eventType": "DL",
                                "eventDescription": "Delivered",
                                "scanLocation": {"city": "AUSTIN", "stateOrProvinceCode": "TX", "countryCode": "US"},
                            },
                        ],
                    }
                ],
            }
        ]
    }
}


def test_fedex_eta_is_never_the_tender_date_and_none_once_delivered():
    payload = json.loads(json.dumps(FEDEX_DELIVERED))
    [delivered] = make("fedex").parse(json.dumps(payload).encode())
    assert delivered.eta is None
    result = payload["output"]["completeTrackResults"][0]["trackResults"][0]
    result["dateAndTimes"] = [d for d in result["dateAndTimes"] if d["type"] != "ACTUAL_DELIVERY"]
    result["scanEvents"][0].update(eventType="OD", eventDescription="On FedEx vehicle for delivery")
    [moving] = make("fedex").parse(json.dumps(payload).encode())
    assert moving.eta is not None and moving.eta.isoformat() == "2026-11-27T20:00:00-06:00"
    result["estimatedDeliveryTimeWindow"] = {
        "type": "ESTIMATED_DELIVERY",
        "window": {"begins": "2026-11-27T10:00:00-06:00", "ends": "2026-11-27T14:00:00-06:00"},
    }
    [windowed] = make("fedex").parse(json.dumps(payload).encode())
    assert windowed.eta is not None and windowed.eta.isoformat() == "2026-11-27T14:00:00-06:00"
    result.pop("estimatedDeliveryTimeWindow")
    result["dateAndTimes"] = [d for d in result["dateAndTimes"] if d["type"] == "ANTICIPATED_TENDER"]
    [tender_only] = make("fedex").parse(json.dumps(payload).encode())
    assert tender_only.eta is None


def test_fedex_scan_without_offset_takes_its_places_zone():
    [scan] = make("fedex").parse(json.dumps(FEDEX_DELIVERED).encode())
    assert scan.occurred_at.isoformat() == "2026-11-27T14:41:00-06:00" and _meta(scan)["zone_source"] == "location"


def test_ups_activity_without_offset_takes_the_zone_of_its_state():
    payload = {
        "trackResponse": {
            "shipment": [
                {
                    "package": [
                        {
                            "trackingNumber": "1Z999AA10123456784",
                            "activity": [
                                {
                                    "date": "20260705",
                                    "time": "101500",
                                    "status": {"type": "I", "code": "AR", "statusCode": "005"},
                                    "location": {
                                        "address": {"city": "Denver", "stateProvince": "CO", "countryCode": "US"}
                                    },
                                }
                            ],
                        }
                    ]
                }
            ]
        }
    }
    [event] = make("ups", default_zone="America/New_York").parse(json.dumps(payload).encode())
    assert event.occurred_at.isoformat() == "2026-07-05T10:15:00-06:00"  # MDT, not the carrier's default zone
    assert _meta(event)["zone_source"] == "location"


def test_ups_track_alert_and_track_api_harmonise_on_the_same_code():
    alert = {
        "trackingNumber": "1Z204W4R0308071865",
        "localActivityDate": "20260423",
        "localActivityTime": "091519",
        "gmtActivityDate": "20260423",
        "gmtActivityTime": "131519",
        "activityLocation": {"city": "Charlotte", "stateProvince": "NC", "postalCode": "", "country": "US"},
        "activityStatus": {"type": "I", "code": "OT", "description": "Out for Delivery", "descriptionCode": "021"},
        "scheduledDeliveryDate": "20260423",
        "deliveryEndTime": "170000",
    }
    [event] = make("ups").parse(json.dumps(alert).encode())
    assert (event.code, event.sub_code) == ("021", "OT")
    assert event.occurred_at.isoformat() == "2026-04-23T09:15:19-04:00"
    assert event.eta is not None and event.eta.isoformat() == "2026-04-23T17:00:00-04:00"


def test_usps_z_on_the_local_timestamp_is_not_utc():
    payload = {
        "trackingNumber": "9400111899223197428490",
        "trackingEvents": [
            {
                "eventCode": "01",
                "eventType": "Delivered, In/At Mailbox",
                "eventTimestamp": "2026-11-27T13:05:00Z",
                "GMTTimestamp": "2026-11-27T20:05:00Z",
                "eventCity": "DENVER",
                "eventState": "CO",
                "eventZIP": "80202",
            },
            {
                "eventCode": "OF",
                "eventType": "Out for Delivery",
                "eventTimestamp": "2026-11-27T06:10:00Z",
                "eventCity": "DENVER",
                "eventState": "CO",
            },
        ],
    }
    delivered, out = make("usps").parse(json.dumps(payload).encode())
    assert delivered.occurred_at.isoformat() == "2026-11-27T13:05:00-07:00"
    assert out.occurred_at.isoformat() == "2026-11-27T06:10:00-07:00" and _meta(out)["zone_source"] == "location"


def _default_map(adapter: str) -> dict[tuple[str, str], tuple[str, str, str]]:
    import csv
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "carriers" / "adapters" / adapter / "codes.csv"
    with path.open(newline="") as handle:
        return {
            (r["carrier_code"], r["carrier_sub_code"]): (r["milestone"], r["code"], r["sub_code"])
            for r in csv.DictReader(handle)
        }


def test_default_maps_never_send_a_return_to_the_consignee_and_agree_on_same_meaning_codes():
    ups = _default_map("ups")
    # 037 "Returning to Sender: On Vehicle for Delivery" is going back to the shipper.
    assert ups[("037", "")][0] == "return_to_sender"
    # 044, 045 and 079 all say "processed, on its way to UPS": one milestone.
    assert ups[("044", "")] == ups[("045", "")] == ups[("079", "")]
    assert ups[("067", "")] == ups[("034", "")]  # returned to sender, by the post office or by UPS
    x12 = _default_map("x12_214")
    assert x12[("X5", "")] == x12[("X1", "")]
    assert {x12[(code, "")][0] for code in ("AG", "X2")} == {"delivery"}  # estimates: ETA updates, mapped, not unmapped
