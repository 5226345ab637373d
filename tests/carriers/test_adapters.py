"""Every adapter against real-shaped fixtures with expected output. Pure: no database, no network."""

from __future__ import annotations

import json
from typing import Any

import pytest

from carriers.adapters.base import CarrierError, WebhookAuthError, WebhookRequest
from carriers.adapters.registry import ADAPTERS, UnknownAdapter, adapter_class
from tests.carriers.adapter_cases import ADAPTERS_DIR, StandInCarrier, cases, event_as_dict, fixtures_dir
from tracking.services import mapping_rows_from_csv


def make(name: str, **carrier: Any):
    return adapter_class(name)(StandInCarrier(adapter=name, **carrier))  # type: ignore[arg-type]  # duck-typed Carrier


@pytest.mark.parametrize("adapter_name, path", cases(), ids=lambda v: v if isinstance(v, str) else v.name)
def test_parse_matches_expected(adapter_name, path):
    expected = json.loads(path.with_name(path.name.rsplit(".", 1)[0] + ".expected.json").read_text())
    events = make(adapter_name).parse(path.read_bytes())
    assert [event_as_dict(e) for e in events] == expected


def test_every_api_adapter_has_fixtures():
    covered = {name for name, _ in cases()}
    assert set(ADAPTERS) <= covered


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_every_adapter_ships_a_loadable_code_map(name):
    path = adapter_class(name).default_codes_path()
    rows = mapping_rows_from_csv(path.read_text(encoding="utf-8"))
    assert rows, f"{path} is empty"
    keys = [(r.carrier_code, r.carrier_sub_code) for r in rows]
    assert len(keys) == len(set(keys)), f"{path} lists a code twice"
    assert all(r.note for r in rows), f"{path}: every row needs a note"


def test_code_maps_use_only_the_harmonised_taxonomy():
    import csv

    taxonomy_path = ADAPTERS_DIR.parent.parent / "tracking" / "taxonomy.csv"
    taxonomy = {tuple(row[:3]) for row in csv.reader(taxonomy_path.open())}
    for name in ADAPTERS:
        path = adapter_class(name).default_codes_path()
        for row in mapping_rows_from_csv(path.read_text(encoding="utf-8")):
            assert (row.milestone, row.code, row.sub_code) in taxonomy, f"{name}: {row}"


def test_ups_maps_every_documented_status_code():
    rows = mapping_rows_from_csv(adapter_class("ups").default_codes_path().read_text())
    codes = {r.carrier_code for r in rows}
    documented = {
        f"{n:03d}" for n in [0, 3, 5, 6, 7, *range(10, 15), *range(16, 31), *range(32, 150), *range(153, 170)]
    }
    assert documented <= codes
    assert {"D", "I", "M", "MV", "X", "P", "DO", "DD", "W", "NA", "U"} <= codes


def test_fedex_and_usps_and_dhl_maps_cover_their_documented_codes():
    def codes(name):
        return {r.carrier_code for r in mapping_rows_from_csv(adapter_class(name).default_codes_path().read_text())}

    assert {"pre-transit", "transit", "delivered", "failure", "unknown"} == codes("dhl")
    assert {
        "PU",
        "AR",
        "DP",
        "IT",
        "OD",
        "DL",
        "DE",
        "SE",
        "CA",
        "RS",
        "HL",
        "CC",
        "CD",
        "CP",
        "OC",
        "AF",
        "FD",
    } <= codes("fedex")
    assert {"01", "02", "03", "07", "10", "16", "21", "31", "52", "56", "MA", "OF", "EF", "SF", "PC"} <= codes("usps")


def test_codes_seen_in_real_replies_map_by_their_published_meaning():
    def harmonised(name):
        rows = mapping_rows_from_csv(adapter_class(name).default_codes_path().read_text())
        return {r.carrier_code: (r.milestone, r.code, r.sub_code) for r in rows if not r.carrier_sub_code}

    usps, ups, fedex = harmonised("usps"), harmonised("ups"), harmonised("fedex")
    # USPS gives A1 and U1 the same text ("Arrived at USPS Regional Facility"), T1 and L1 too ("Departed ...").
    assert usps["A1"] == usps["U1"] == ("in_transit", "arrived_at_carrier_facility", "sortation_hub")
    assert usps["T1"] == usps["L1"] == usps["EF"]
    assert usps["TL"] == ("in_transit", "carrier", "other")
    assert usps["GX"][0] == usps["89"][0] == "start"  # USPS is still waiting for the item
    assert {usps[c][0] for c in ("OA", "UA", "AD", "83")} == {"collection"}
    # Going back to the shipper is never a movement towards the consignee.
    assert ups["RS"][0] == ups["037"][0] == fedex["RS"][0] == "return_to_sender"
    assert fedex["HA"] == ups["100"] == ("delivery", "change", "service")


@pytest.mark.parametrize(
    "name, payload, message",
    [
        ("generic_json", b"[1, 2]", "body must be an object with an 'events' list"),
        (
            "generic_json",
            b'{"events": [{"tracking_id": "X", "code": "DLV", "occurred_at": "yesterday"}]}',
            "events[0].occurred_at is not an ISO 8601 datetime",
        ),
        ("dhl", b"<html>", "DHL response is not valid JSON"),
        (
            "dhl",
            b'{"shipments": [{"id": "1", "events": [{"timestamp": "2026-11-27T10:27:00Z"}]}]}',
            "shipments[0].events[0] has neither statusCode, status nor description",
        ),
        ("dhl", b'{"hello": 1}', "neither 'shipments' nor a problem"),
        (
            "ups",
            b'{"trackResponse": {"shipment": [{"package": [{"trackingNumber": "1Z", "activity": [{"date": "2026-11-27", "time": "1", "status": {"type": "I"}}]}]}]}}',
            "is not YYYYMMDD HHMMSS",
        ),
        ("ups", b'{"foo": "bar"}', "neither a Track API response"),
        (
            "fedex",
            b'{"output": {"completeTrackResults": [{"trackingNumber": "1", "trackResults": [{"scanEvents": [{"date": "2026-11-27T09:26:00-08:00"}]}]}]}}',
            "scanEvents[0].eventType is missing",
        ),
        ("fedex", b'{"output": {"completeTrackResults": "x"}}', "output.completeTrackResults must be a list"),
        (
            "usps",
            b'{"trackingNumber": "94", "trackingEvents": [{"eventCode": "01", "eventTimestamp": "27/11/2026"}]}',
            "trackingEvents[0].eventTimestamp is not an ISO 8601 time",
        ),
    ],
)
def test_malformed_payloads_raise_a_permanent_error_naming_the_problem(name, payload, message):
    with pytest.raises(CarrierError) as caught:
        make(name).parse(payload)
    assert caught.value.permanent is True
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "name, payload, message",
    [
        ("x12_214", b"", "X12 214: the file is empty"),
        ("x12_214", b"ISA*00*not really an interchange~", "X12 214: "),
        ("edifact_iftsta", b"UNB+UNOC:3+A+B+261128:0815+1'UNH+1+ORDERS:D:96A:UN'", "EDIFACT IFTSTA: "),
        ("csv", b"tracking_id,carrier_code\nX1,HUB\n", "CSV: "),
    ],
)
def test_malformed_files_raise_a_permanent_error_naming_the_problem(name, payload, message):
    with pytest.raises(CarrierError) as caught:
        make(name).parse(payload)
    assert caught.value.permanent is True and str(caught.value).startswith(message)


def test_csv_carrier_mapping_comes_from_its_config():
    payload = b"Barcode;Status;When\nZZ1;DLV;28.11.2026 11:02\n"
    adapter = make(
        "csv",
        default_zone="Europe/Berlin",
        config={
            "csv": {
                "columns": {"tracking_id": "Barcode", "carrier_code": "Status", "occurred_at": "When"},
                "delimiter": ";",
                "date_format": "%d.%m.%Y %H:%M",
            }
        },
    )
    (event,) = adapter.parse(payload)
    assert (event.tracking_id, event.code, event.occurred_at.isoformat()) == ("ZZ1", "DLV", "2026-11-28T11:02:00+01:00")


def test_ups_track_alert_credential_header():
    adapter = make("ups", webhook_secret="s3cret-credential")
    adapter.verify_webhook(WebhookRequest(headers={"credential": "s3cret-credential"}, body=b"{}"))
    with pytest.raises(WebhookAuthError, match="does not match"):
        adapter.verify_webhook(WebhookRequest(headers={"credential": "guess"}, body=b"{}"))
    with pytest.raises(WebhookAuthError, match="missing the 'credential' header"):
        adapter.verify_webhook(WebhookRequest(headers={}, body=b"{}"))


def test_generic_json_requires_a_configured_secret():
    with pytest.raises(WebhookAuthError, match="no webhook secret"):
        make("generic_json").verify_webhook(WebhookRequest(headers={}, body=b"{}"))


def test_unknown_adapter_is_a_clear_error():
    with pytest.raises(UnknownAdapter, match="unknown adapter 'nope' \\(known: .*dhl.*\\)"):
        adapter_class("nope")


def test_ups_unknown_number_detection():
    from carriers.adapters.ups.adapter import unknown_numbers

    body = json.loads((fixtures_dir("ups") / "not_found.json").read_text())
    assert unknown_numbers(body, ["1Z9999999999999999"]) == {
        "1Z9999999999999999": "UPS TW0001: Tracking Information Not Found"
    }
    delivered = json.loads((fixtures_dir("ups") / "delivered.json").read_text())
    assert unknown_numbers(delivered, ["1Z023E2X0214323462"]) == {}


def test_fedex_unknown_number_detection():
    from carriers.adapters.fedex.adapter import unknown_numbers

    body = json.loads((fixtures_dir("fedex") / "two_numbers_one_unknown.json").read_text())
    assert list(unknown_numbers(body)) == ["39936862321"]
