"""The carrier API clients live within each carrier's contract.

Request building per carrier (method, URL, headers, body, token request); the
reply a carrier sends about another or several shipments; per-number refusals
and isolation; the 401 token refresh; quotas (token calls counted); UPS Track
Alert v2 pushes and subscriptions. ``responses`` stands in for the carriers'
HTTP APIs and nothing else; replies are shaped on the carriers' published examples
(``carriers/adapters/<name>/fixtures/replies/``).
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
import responses
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone

from carriers.models import Carrier, InboundMessage, ItemState, RateBucket
from carriers.selectors import carrier_api_states, item_states_isolated
from carriers.services.polling import poll_batch_run, poll_dispatch
from carriers.services.setup import CarrierSetupError
from carriers.services.subscriptions import push_subscriptions_sync
from tests.carriers.adapter_cases import fixtures_dir
from tests.factories import make_carrier
from tracking.models import TrackedItem, TrackingEvent
from tracking.services import shipment_register

pytestmark = pytest.mark.django_db

DHL, UPS, FEDEX, USPS = "https://dhl.test", "https://ups.test", "https://fedex.test", "https://usps.test"


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()


def reply(adapter: str, name: str) -> bytes:
    return (fixtures_dir(adapter) / "replies" / name).read_bytes()


def register(customer, carrier: Carrier, number: str, **meta: str) -> TrackedItem:
    shipment, _ = shipment_register(
        customer=customer,
        carrier_id=carrier.pk,
        carrier_tracking_id=number,
        meta_data=[{"key": k, "value": v} for k, v in meta.items()],
    )
    return TrackedItem.objects.get(pk=shipment.tracked_item_id)


def oauth(rsps: responses.RequestsMock, url: str, token: str = "tok") -> None:
    rsps.add(responses.POST, url, json={"access_token": token, "token_type": "Bearer", "expires_in": 3599})


# --- Request building -----------------------------------------------------------------


def test_dhl_request_names_the_service_and_what_the_shipment_is_known_by(acme):
    carrier = make_carrier("dhl", adapter="dhl", base_url=DHL, api_key="k", language="de")
    item = register(acme, carrier, "00340434161094042557", recipient_postal_code="10115", origin_country_code="de")
    with responses.RequestsMock() as rsps:
        rsps.add(responses.GET, f"{DHL}/track/shipments", body=(fixtures_dir("dhl") / "delivered.json").read_bytes())
        poll_batch_run(carrier_id=carrier.pk, item_ids=[item.id])
        request = rsps.calls[0].request
    assert request.method == "GET" and urlparse(request.url).path == "/track/shipments"
    assert request.headers["DHL-API-Key"] == "k" and request.headers["Accept"] == "application/json"
    assert parse_qs(urlparse(request.url).query) == {
        "trackingNumber": ["00340434161094042557"],
        "language": ["de"],
        # 0034 0434 + 12 digits is a DHL Paket number: the service follows from the format.
        "service": ["parcel-de"],
        "recipientPostalCode": ["10115"],
        "originCountryCode": ["DE"],
    }
    assert request.body is None


def test_dhl_sends_the_configured_service_when_the_format_says_nothing(acme):
    carrier = make_carrier("dhl", adapter="dhl", base_url=DHL, api_key="k", service="ecommerce-europe")
    item = register(acme, carrier, "CX123456789DE")
    with responses.RequestsMock() as rsps:
        rsps.add(responses.GET, f"{DHL}/track/shipments", status=404, json={"status": 404, "title": "No result"})
        poll_batch_run(carrier_id=carrier.pk, item_ids=[item.id])
        query = parse_qs(urlparse(rsps.calls[0].request.url).query)
    assert query["service"] == ["ecommerce-europe"] and "recipientPostalCode" not in query


def test_ups_token_request_and_track_request(acme):
    carrier = make_carrier("ups", adapter="ups", base_url=UPS, client_id="cid", client_secret="sec")
    item = register(acme, carrier, "1Z023E2X0214323462")
    with responses.RequestsMock() as rsps:
        oauth(rsps, f"{UPS}/security/v1/oauth/token")
        rsps.add(
            responses.GET,
            f"{UPS}/api/track/v1/details/1Z023E2X0214323462",
            body=(fixtures_dir("ups") / "delivered.json").read_bytes(),
        )
        poll_batch_run(carrier_id=carrier.pk, item_ids=[item.id])
        token, track = rsps.calls[0].request, rsps.calls[1].request
    assert token.method == "POST"
    assert token.headers["Authorization"] == "Basic " + base64.b64encode(b"cid:sec").decode()
    assert parse_qs(token.body) == {"grant_type": ["client_credentials"]}
    assert track.method == "GET"
    assert parse_qs(urlparse(track.url).query) == {"locale": ["en_US"], "returnSignature": ["false"]}
    assert track.headers["Authorization"] == "Bearer tok"
    assert track.headers["transactionSrc"] == "gluey" and 1 <= len(track.headers["transId"]) <= 32


def test_fedex_token_request_and_track_body_with_what_we_know(acme):
    carrier = make_carrier("fedex", adapter="fedex", base_url=FEDEX, client_id="cid", client_secret="sec")
    known = register(acme, carrier, "123456789012", ship_date="2026-11-27")
    plain = register(acme, carrier, "794843185271")
    ItemState.objects.create(tracked_item=known, carrier=carrier, hints={"unique_id": "12026~123456789012~FDEG"})
    with responses.RequestsMock() as rsps:
        oauth(rsps, f"{FEDEX}/oauth/token")
        rsps.add(
            responses.POST,
            f"{FEDEX}/track/v1/trackingnumbers",
            json={"transactionId": "t", "output": {"completeTrackResults": []}},
        )
        poll_batch_run(carrier_id=carrier.pk, item_ids=[known.id, plain.id])
        token, track = rsps.calls[0].request, rsps.calls[1].request
    assert token.method == "POST" and token.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(token.body) == {
        "grant_type": ["client_credentials"],
        "client_id": ["cid"],
        "client_secret": ["sec"],
    }
    assert track.headers["Authorization"] == "Bearer tok" and track.headers["X-locale"] == "en_US"
    body = json.loads(track.body)
    assert body["includeDetailedScans"] is True
    assert sorted(body["trackingInfo"], key=lambda t: t["trackingNumberInfo"]["trackingNumber"]) == [
        {
            "trackingNumberInfo": {
                "trackingNumber": "123456789012",
                "trackingNumberUniqueId": "12026~123456789012~FDEG",
            },
            "shipDateBegin": "2026-11-27",
            "shipDateEnd": "2026-11-27",
        },
        {"trackingNumberInfo": {"trackingNumber": "794843185271"}},
    ]


def test_usps_token_request_and_track_request_both_spend_the_quota(acme):
    carrier = make_carrier("usps", adapter="usps", base_url=USPS, client_id="cid", client_secret="sec")
    item = register(acme, carrier, "9400100000000000000000")
    with responses.RequestsMock() as rsps:
        oauth(rsps, f"{USPS}/oauth2/v3/token")
        rsps.add(
            responses.GET,
            f"{USPS}/tracking/v3/tracking/9400100000000000000000",
            body=(fixtures_dir("usps") / "delivered.json").read_bytes(),
        )
        poll_batch_run(carrier_id=carrier.pk, item_ids=[item.id])
        token, track = rsps.calls[0].request, rsps.calls[1].request
    assert token.method == "POST"
    assert json.loads(token.body) == {"grant_type": "client_credentials", "client_id": "cid", "client_secret": "sec"}
    assert track.method == "GET" and parse_qs(urlparse(track.url).query) == {"expand": ["DETAIL"]}
    bucket = RateBucket.objects.get(carrier=carrier)
    assert bucket.hour_used == 2 and bucket.day_used == 2  # USPS counts token calls against its hourly quota
    assert track.headers["Authorization"] == "Bearer tok"


# --- DHL: the reply is about the number asked, or it is flagged -----------------------------


def test_dhl_reply_about_another_shipment_is_flagged_and_never_recorded(acme):
    carrier = make_carrier("dhl", adapter="dhl", base_url=DHL, api_key="k")
    item = register(acme, carrier, "00340434161094015902")
    with responses.RequestsMock() as rsps:
        rsps.add(responses.GET, f"{DHL}/track/shipments", body=reply("dhl", "different_id.json"))
        poll_batch_run(carrier_id=carrier.pk, item_ids=[item.id])
    assert not TrackedItem.objects.filter(tracking_id="00340434161094022115").exists()
    assert TrackingEvent.objects.count() == 0
    state = ItemState.objects.get(tracked_item=item)
    assert "00340434161094022115" in state.reply_problem and "not recorded" in state.reply_problem
    message = InboundMessage.objects.get()
    assert message.status == "processed" and message.asked == {"00340434161094015902": {}}
    assert message.problems == [{"tracking_id": "00340434161094015902", "problem": state.reply_problem}]


def test_dhl_reply_with_the_asked_number_as_a_piece_is_recorded_under_the_number_asked(acme):
    carrier = make_carrier("dhl", adapter="dhl", base_url=DHL, api_key="k")
    item = register(acme, carrier, "JD014600003828624081")
    with responses.RequestsMock() as rsps:
        rsps.add(responses.GET, f"{DHL}/track/shipments", body=reply("dhl", "piece_of_shipment.json"))
        poll_batch_run(carrier_id=carrier.pk, item_ids=[item.id])
    event = TrackingEvent.objects.get()
    assert event.tracked_item_id == item.id
    assert not TrackedItem.objects.filter(tracking_id="1234567890").exists()
    state = ItemState.objects.get(tracked_item=item)
    assert "lists JD014600003828624081 as a piece" in state.reply_problem
    assert state.hints["service"] == "express"  # sent on the next request


def test_dhl_several_shipments_keep_one_history_and_learn_its_service(acme):
    carrier = make_carrier("dhl", adapter="dhl", base_url=DHL, api_key="k")
    item = register(acme, carrier, "7777777770")
    with responses.RequestsMock() as rsps:
        rsps.add(responses.GET, f"{DHL}/track/shipments", body=reply("dhl", "several_shipments.json"))
        poll_batch_run(carrier_id=carrier.pk, item_ids=[item.id])
    # Only the express shipment's event (the latest status); the 2025 freight delivery is not mixed in.
    assert list(TrackingEvent.objects.values_list("carrier_code", "location__city")) == [
        ("transit", "LEIPZIG - GERMANY")
    ]
    state = ItemState.objects.get(tracked_item=item)
    assert "2 shipments" in state.reply_problem and state.hints["service"] == "express"


def test_dhl_registered_service_chooses_among_several_shipments(acme):
    carrier = make_carrier("dhl", adapter="dhl", base_url=DHL, api_key="k")
    item = register(acme, carrier, "7777777770", service="freight")
    with responses.RequestsMock() as rsps:
        rsps.add(responses.GET, f"{DHL}/track/shipments", body=reply("dhl", "several_shipments.json"))
        poll_batch_run(carrier_id=carrier.pk, item_ids=[item.id])
        assert parse_qs(urlparse(rsps.calls[0].request.url).query)["service"] == ["freight"]
    assert list(TrackingEvent.objects.values_list("location__city", flat=True)) == ["Malmö"]
    assert ItemState.objects.get(tracked_item=item).reply_problem == ""


def test_dhl_additional_shipments_urls_are_tried_one_service_per_poll(acme):
    carrier = make_carrier("dhl", adapter="dhl", base_url=DHL, api_key="k")
    item = register(acme, carrier, "470800204932")
    with responses.RequestsMock() as rsps:
        rsps.add(responses.GET, f"{DHL}/track/shipments", body=reply("dhl", "additional_shipments_url.json"))
        rsps.add(responses.GET, f"{DHL}/track/shipments", status=404, json={"status": 404, "detail": "No result"})
        rsps.add(responses.GET, f"{DHL}/track/shipments", status=404, json={"status": 404, "detail": "No result"})
        for n in range(3):
            TrackedItem.objects.filter(pk=item.pk).update(next_check_at=timezone.now())
            poll_batch_run(carrier_id=carrier.pk, item_ids=[item.id], now=timezone.now() + timedelta(seconds=2 * n))
        services = [parse_qs(urlparse(c.request.url).query).get("service") for c in rsps.calls]
    assert services == [None, ["freight"], ["dgf"]]
    assert TrackingEvent.objects.count() == 0  # the other shipment in the first reply was not recorded


# --- FedEx: several shipments sharing a number ---------------------------------------------


def test_fedex_duplicate_track_results_keep_the_latest_shipment_only(acme):
    carrier = make_carrier("fedex", adapter="fedex", base_url=FEDEX, client_id="c", client_secret="s")
    item = register(acme, carrier, "123456789012")
    with responses.RequestsMock() as rsps:
        oauth(rsps, f"{FEDEX}/oauth/token")
        rsps.add(
            responses.POST, f"{FEDEX}/track/v1/trackingnumbers", body=reply("fedex", "duplicate_track_results.json")
        )
        rsps.add(
            responses.POST, f"{FEDEX}/track/v1/trackingnumbers", body=reply("fedex", "duplicate_track_results.json")
        )
        poll_batch_run(carrier_id=carrier.pk, item_ids=[item.id])
        TrackedItem.objects.filter(pk=item.pk).update(next_check_at=timezone.now())
        poll_batch_run(carrier_id=carrier.pk, item_ids=[item.id], now=timezone.now() + timedelta(seconds=5))
        second = json.loads(rsps.calls[2].request.body)["trackingInfo"][0]["trackingNumberInfo"]
    # The 2026 shipment's two scans; the 2025 delivery of the number's earlier life is not in its history.
    assert sorted(TrackingEvent.objects.values_list("carrier_code", flat=True)) == ["AR", "PU"]
    assert TrackedItem.objects.get(pk=item.pk).status_code != "delivered"
    state = ItemState.objects.get(tracked_item=item)
    assert state.hints["unique_id"] == "12026~123456789012~FDEG"
    assert "kept 12026~123456789012~FDEG by latest" in state.reply_problem
    assert second == {"trackingNumber": "123456789012", "trackingNumberUniqueId": "12026~123456789012~FDEG"}


def test_fedex_registered_ship_date_chooses_the_older_shipment(acme):
    carrier = make_carrier("fedex", adapter="fedex", base_url=FEDEX, client_id="c", client_secret="s")
    item = register(acme, carrier, "123456789012", ship_date="2025-03-02")
    with responses.RequestsMock() as rsps:
        oauth(rsps, f"{FEDEX}/oauth/token")
        rsps.add(
            responses.POST, f"{FEDEX}/track/v1/trackingnumbers", body=reply("fedex", "duplicate_track_results.json")
        )
        poll_batch_run(carrier_id=carrier.pk, item_ids=[item.id])
    assert list(TrackingEvent.objects.values_list("carrier_code", flat=True)) == ["DL"]


# --- Refusals, isolation, token refresh, carrier-wide failures --------------------------------


def test_a_401_refreshes_the_token_once_and_the_poll_goes_on(acme):
    carrier = make_carrier("fedex", adapter="fedex", base_url=FEDEX, client_id="c", client_secret="s")
    item = register(acme, carrier, "794843185271")
    cache.set(f"carriers:oauth:fedex:{carrier.pk}:c", "stale", 3600)
    with responses.RequestsMock() as rsps:
        rsps.add(
            responses.POST,
            f"{FEDEX}/track/v1/trackingnumbers",
            status=401,
            json={"errors": [{"code": "NOT.AUTHORIZED.ERROR"}]},
        )
        oauth(rsps, f"{FEDEX}/oauth/token", token="fresh")
        rsps.add(
            responses.POST,
            f"{FEDEX}/track/v1/trackingnumbers",
            json={"transactionId": "t", "output": {"completeTrackResults": []}},
        )
        outcome = poll_batch_run(carrier_id=carrier.pk, item_ids=[item.id])
        assert [c.request.headers.get("Authorization") for c in rsps.calls] == ["Bearer stale", None, "Bearer fresh"]
    carrier.refresh_from_db()
    assert outcome.error == "" and carrier.backoff_until is None and carrier.poll_alert == ""


def test_credentials_refused_twice_back_the_carrier_off_and_alert_ops(acme):
    carrier = make_carrier("usps", adapter="usps", base_url=USPS, client_id="c", client_secret="s", quota_burst=4)
    item = register(acme, carrier, "9400100000000000000000")
    with responses.RequestsMock() as rsps:
        oauth(rsps, f"{USPS}/oauth2/v3/token")
        rsps.add(responses.GET, f"{USPS}/tracking/v3/tracking/9400100000000000000000", status=401, json={})
        poll_batch_run(carrier_id=carrier.pk, item_ids=[item.id])
        assert len(rsps.calls) == 4  # token, track, token again, track again
    carrier.refresh_from_db()
    assert carrier.backoff_until is not None and "refused our credentials" in carrier.poll_alert
    state = next(s for s in carrier_api_states(now=timezone.now()) if s.carrier_id == "usps")
    assert state.alert == carrier.poll_alert and state.backoff_until == carrier.backoff_until


@override_settings(POLL_ISOLATE_AFTER=3)
def test_a_number_that_keeps_causing_400s_is_isolated_and_the_carrier_goes_on(acme):
    carrier = make_carrier("ups", adapter="ups", base_url=UPS, client_id="c", client_secret="s")
    bad = register(acme, carrier, "1ZBADBADBAD")
    good = register(acme, carrier, "1Z023E2X0214323462")
    with responses.RequestsMock() as rsps:
        oauth(rsps, f"{UPS}/security/v1/oauth/token")
        rsps.add(
            responses.GET,
            f"{UPS}/api/track/v1/details/1ZBADBADBAD",
            status=400,
            json={"response": {"errors": [{"code": "TV0002", "message": "Invalid inquiry number"}]}},
        )
        rsps.add(
            responses.GET,
            f"{UPS}/api/track/v1/details/1Z023E2X0214323462",
            body=(fixtures_dir("ups") / "delivered.json").read_bytes(),
        )
        rsps.add(
            responses.GET,
            f"{UPS}/api/track/v1/details/1ZODD",
            status=400,
            json={"response": {"errors": [{"code": "9999", "message": "Bad request"}]}},
        )
        odd = register(acme, carrier, "1ZODD")
        for n in range(3):
            poll_batch_run(carrier_id=carrier.pk, item_ids=[odd.id], now=timezone.now() + timedelta(seconds=n))
        poll_batch_run(carrier_id=carrier.pk, item_ids=[good.id], now=timezone.now() + timedelta(seconds=5))
        poll_batch_run(carrier_id=carrier.pk, item_ids=[bad.id], now=timezone.now() + timedelta(seconds=6))
    carrier.refresh_from_db()
    assert carrier.backoff_until is None and carrier.poll_failures == 0  # the carrier was never paused
    odd_state = ItemState.objects.get(tracked_item=odd)
    assert odd_state.isolated_at is not None and odd_state.request_failures == 3
    assert TrackedItem.objects.get(pk=odd.pk).next_check_at is None
    assert list(item_states_isolated(carrier_id="ups")) == [odd_state]
    # A TV code is "not a number UPS knows": checked less often, not counted as a refusal.
    assert TrackedItem.objects.get(pk=bad.pk).check_failures == 1
    assert ItemState.objects.get(tracked_item=bad).request_failures == 0
    assert TrackingEvent.objects.filter(tracked_item=good).exists()


def test_a_refused_batch_counts_against_its_numbers_which_are_then_polled_alone(
    acme, django_capture_on_commit_callbacks
):
    carrier = make_carrier("fedex", adapter="fedex", base_url=FEDEX, client_id="c", client_secret="s")
    items = [register(acme, carrier, f"79484318527{n}") for n in range(3)]
    with responses.RequestsMock() as rsps:
        oauth(rsps, f"{FEDEX}/oauth/token")
        rsps.add(
            responses.POST,
            f"{FEDEX}/track/v1/trackingnumbers",
            status=400,
            json={"errors": [{"code": "TRACKING.TRACKINGNUMBER.EMPTY", "message": "Please provide tracking number."}]},
        )
        outcome = poll_batch_run(carrier_id=carrier.pk, item_ids=[i.id for i in items])
    carrier.refresh_from_db()
    assert outcome.refused == 3 and carrier.backoff_until is None
    queued: list[list[int]] = []
    with django_capture_on_commit_callbacks(execute=True):
        poll_dispatch(now=timezone.now() + timedelta(minutes=2), enqueue=lambda _c, ids: queued.append(ids))
    assert sorted(queued) == sorted([[i.id] for i in items])


def test_usps_quota_429_honours_retry_after(acme):
    carrier = make_carrier("usps", adapter="usps", base_url=USPS, client_id="c", client_secret="s")
    item = register(acme, carrier, "9400100000000000000000")
    with responses.RequestsMock() as rsps:
        oauth(rsps, f"{USPS}/oauth2/v3/token")
        rsps.add(
            responses.GET,
            f"{USPS}/tracking/v3/tracking/9400100000000000000000",
            status=429,
            body=reply("usps", "quota_429.json"),
            headers={"Retry-After": "1800"},
            content_type="application/json",
        )
        outcome = poll_batch_run(carrier_id=carrier.pk, item_ids=[item.id])
    carrier.refresh_from_db()
    assert "429" in outcome.error and carrier.poll_alert == ""  # temporary: no alert, just a pause
    assert timedelta(minutes=29) < carrier.backoff_until - timezone.now() <= timedelta(minutes=30)
    assert TrackedItem.objects.get(pk=item.pk).next_check_at == carrier.backoff_until


def test_ups_404_body_marks_the_number_unknown(acme):
    carrier = make_carrier("ups", adapter="ups", base_url=UPS, client_id="c", client_secret="s")
    item = register(acme, carrier, "1Z9999999999999999")
    with responses.RequestsMock() as rsps:
        oauth(rsps, f"{UPS}/security/v1/oauth/token")
        rsps.add(
            responses.GET,
            f"{UPS}/api/track/v1/details/1Z9999999999999999",
            status=404,
            body=reply("ups", "not_found_404.json"),
        )
        poll_batch_run(carrier_id=carrier.pk, item_ids=[item.id])
    item.refresh_from_db()
    assert item.invalid_reason == "UPS TW0001: Tracking Information Not Found" and item.check_failures == 1
    assert Carrier.objects.get(pk="ups").backoff_until is None


# --- Quotas -------------------------------------------------------------------------


def test_dhl_per_number_daily_cap_holds_the_number_until_midnight(acme):
    carrier = make_carrier("dhl", adapter="dhl", base_url=DHL, api_key="k", quota_per_item_day=2)
    item = register(acme, carrier, "00340434161094042557")
    start = timezone.now().replace(hour=9, minute=0, second=0, microsecond=0)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add(responses.GET, f"{DHL}/track/shipments", status=404, json={"status": 404, "detail": "none"})
        for n in range(3):
            poll_batch_run(carrier_id=carrier.pk, item_ids=[item.id], now=start + timedelta(minutes=n))
        assert len(rsps.calls) == 2
    midnight = (start + timedelta(days=1)).replace(hour=0)
    assert TrackedItem.objects.get(pk=item.pk).next_check_at == midnight


# --- UPS Track Alert --------------------------------------------------------------------


def ups_push_carrier(**config) -> Carrier:
    return make_carrier(
        "ups",
        adapter="ups",
        base_url=UPS,
        client_id="c",
        client_secret="s",
        push_client_id="gluey-push",
        push_client_secret="push-secret",
        **config,
    )


def test_track_alert_v2_push_with_our_bearer_token_and_api_key_is_acknowledged_200(client):
    carrier = ups_push_carrier()
    basic = base64.b64encode(b"gluey-push:push-secret").decode()
    token = client.post(
        f"/carriers/{carrier.pk}/oauth/token",
        data="grant_type=client_credentials",
        content_type="application/x-www-form-urlencoded",
        headers={"Authorization": f"Basic {basic}"},
    )
    assert token.status_code == 200 and token.json()["token_type"] == "Bearer"
    body = reply("ups", "track_alert_v2_delivered.json")
    headers = {"Authorization": f"Bearer {token.json()['access_token']}", "x-api-key": "gluey-push"}
    pushed = client.post(
        f"/carriers/{carrier.pk}/webhook",
        data=body,
        content_type="application/json",
        headers={**headers, "User-Agent": "UPSPubSubTrackingService"},
    )
    assert pushed.status_code == 200 and pushed.json()["status"] == "accepted"
    assert InboundMessage.objects.get().channel == "webhook"
    # The api key must name our push client; a token from elsewhere is refused.
    wrong_key = client.post(
        f"/carriers/{carrier.pk}/webhook",
        data=body,
        content_type="application/json",
        headers={**headers, "x-api-key": "someone"},
    )
    forged = client.post(
        f"/carriers/{carrier.pk}/webhook",
        data=body,
        content_type="application/json",
        headers={"Authorization": "Bearer not-ours", "x-api-key": "gluey-push"},
    )
    assert wrong_key.status_code == forged.status_code == 401
    assert "x-api-key" in wrong_key.json()["detail"] and "not one we issued" in forged.json()["detail"]


def test_track_alert_token_url_refuses_wrong_client_secret(client):
    carrier = ups_push_carrier()
    basic = base64.b64encode(b"gluey-push:wrong").decode()
    answer = client.post(
        f"/carriers/{carrier.pk}/oauth/token",
        data="grant_type=client_credentials",
        content_type="application/x-www-form-urlencoded",
        headers={"Authorization": f"Basic {basic}"},
    )
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"


def test_track_alert_v1_credential_header_still_works(client):
    carrier = ups_push_carrier()
    pushed = client.post(
        f"/carriers/{carrier.pk}/webhook",
        data=reply("ups", "track_alert_v2_delivered.json"),
        content_type="application/json",
        headers={"credential": carrier.webhook_secret},
    )
    assert pushed.status_code == 200


def test_subscriptions_subscribe_renew_before_expiry_and_stop_after_delivery(acme):
    carrier = ups_push_carrier(subscribe_pushes=True)
    live = register(acme, carrier, "1ZCIETST0111111114")
    refused = register(acme, carrier, "1Z1234567$8")
    now = timezone.now()
    with responses.RequestsMock() as rsps:
        oauth(rsps, f"{UPS}/security/v1/oauth/token")
        rsps.add(
            responses.POST,
            f"{UPS}/api/track/v2/subscription/standard/package",
            body=reply("ups", "subscription_partial.json"),
        )
        run = push_subscriptions_sync(carrier=carrier, now=now)
        request = rsps.calls[1].request
    assert request.headers["Authorization"] == "Bearer tok" and request.headers["transactionSrc"] == "gluey"
    body = json.loads(request.body)
    assert body["locale"] == "en_US" and body["countryCode"] == "US" and "destination" not in body
    assert sorted(body["trackingNumberList"]) == ["1Z1234567$8", "1ZCIETST0111111114"]
    assert (run.subscribed, run.refused) == (1, 1)
    state = ItemState.objects.get(tracked_item=live)
    assert state.subscription == "active" and state.subscription_expires_at == now + timedelta(days=14)
    assert ItemState.objects.get(tracked_item=refused).subscription == "refused"

    # Nothing to do until a day before expiry; then renewed (the refused number is not retried).
    with responses.RequestsMock() as rsps:
        assert push_subscriptions_sync(carrier=carrier, now=now + timedelta(days=12)).subscribed == 0
        rsps.add(
            responses.POST,
            f"{UPS}/api/track/v2/subscription/standard/package",
            json={"validTrackingNumbers": ["1ZCIETST0111111114"]},
        )
        renewal = push_subscriptions_sync(carrier=carrier, now=now + timedelta(days=13, hours=1))
        assert json.loads(rsps.calls[0].request.body)["trackingNumberList"] == ["1ZCIETST0111111114"]
    assert renewal.renewed == 1
    # Delivered: the subscription is left to lapse and shown as stopped.
    TrackedItem.objects.filter(pk=live.pk).update(
        status_milestone="delivery", status_code="delivered", status_sub_code="other"
    )
    with responses.RequestsMock():
        stopped = push_subscriptions_sync(carrier=carrier, now=now + timedelta(days=26, hours=2))
    assert stopped.stopped == 1 and ItemState.objects.get(tracked_item=live).subscription == "stopped"
    state_row = next(s for s in carrier_api_states(now=now) if s.carrier_id == "ups")
    assert state_row.subscriptions == {"stopped": 1, "refused": 1}


def test_track_alert_v1_subscription_sends_our_url_and_credential(acme, settings):
    settings.PUBLIC_BASE_URL = "https://gluey.example"
    carrier = ups_push_carrier(subscribe_pushes=True, track_alert_version="v1")
    register(acme, carrier, "1ZCIETST0422222228")
    with responses.RequestsMock() as rsps:
        oauth(rsps, f"{UPS}/security/v1/oauth/token")
        rsps.add(
            responses.POST,
            f"{UPS}/api/track/v1/subscription/standard/package",
            json={"validTrackingNumbers": ["1ZCIETST0422222228"]},
        )
        push_subscriptions_sync(carrier=carrier)
        body = json.loads(rsps.calls[1].request.body)
    assert body["destination"] == {
        "url": "https://gluey.example/carriers/ups/webhook",
        "credentialType": "Bearer",
        "credential": carrier.webhook_secret,
    }


# --- What ops see ------------------------------------------------------------------------


def test_ops_see_the_budget_warning_and_poll_an_isolated_number_again(admin_client, acme):
    carrier = make_carrier("dhl", adapter="dhl", base_url=DHL, api_key="k")
    Carrier.objects.filter(pk=carrier.pk).update(
        quota_warning="30 numbers want about 2880 calls a day, the budget allows 250"
    )
    listing = admin_client.get("/admin/carriers/carrier/")
    assert "the budget allows 250" in listing.content.decode()
    item = register(acme, carrier, "00340434161094042557")
    ItemState.objects.create(
        tracked_item=item, carrier=carrier, isolated_at=timezone.now(), request_failures=5, last_failure="400"
    )
    TrackedItem.objects.filter(pk=item.pk).update(next_check_at=None)
    isolated = admin_client.get("/admin/carriers/itemstate/?isolated=yes")
    assert "00340434161094042557" in isolated.content.decode()
    admin_client.post("/admin/carriers/itemstate/", {"action": "release", "_selected_action": [item.pk]}, follow=True)
    state = ItemState.objects.get(tracked_item=item)
    assert state.isolated_at is None and state.request_failures == 0
    assert TrackedItem.objects.get(pk=item.pk).next_check_at is not None


def test_one_bad_scan_in_a_batch_is_flagged_on_its_number_and_the_rest_is_recorded(acme):
    carrier = make_carrier("fedex", adapter="fedex", base_url=FEDEX, client_id="c", client_secret="s")
    good, bad = register(acme, carrier, "794843185271"), register(acme, carrier, "794843185272")

    def result(number: str, scans: list[dict]) -> dict:
        return {
            "trackingNumber": number,
            "trackResults": [{"trackingNumberInfo": {"trackingNumber": number}, "scanEvents": scans}],
        }

    scan = {
        "date": "2026-11-28T06:30:00-06:00",
        "eventType": "AR",
        "scanLocation": {"city": "DALLAS", "countryCode": "US"},
    }
    answer = {
        "output": {
            "completeTrackResults": [
                result("794843185271", [scan]),
                result("794843185272", [{**scan, "eventType": ""}, {**scan, "date": "2026-11-28T09:00:00-06:00"}]),
            ]
        }
    }
    with responses.RequestsMock() as rsps:
        oauth(rsps, f"{FEDEX}/oauth/token")
        rsps.add(responses.POST, f"{FEDEX}/track/v1/trackingnumbers", json=answer)
        poll_batch_run(carrier_id=carrier.pk, item_ids=[good.id, bad.id])
    assert TrackingEvent.objects.filter(tracked_item=good).count() == 1
    assert TrackingEvent.objects.filter(tracked_item=bad).count() == 1  # its good scan is kept
    flagged = ItemState.objects.get(tracked_item=bad).reply_problem
    assert flagged.startswith("left out: ") and "794843185272.scanEvents[0]" in flagged
    assert ItemState.objects.get(tracked_item=good).reply_problem == ""
    message = InboundMessage.objects.get()
    assert message.status == "processed" and any("scanEvents[0]" in p["problem"] for p in message.problems)


def test_push_subscriptions_without_push_credentials_are_refused_at_setup():
    with pytest.raises(CarrierSetupError, match="push_client_id and push_client_secret must be set"):
        make_carrier("ups2", adapter="ups", client_id="c", client_secret="s", subscribe_pushes=True)
    with pytest.raises(CarrierSetupError, match="the dhl adapter has no push subscriptions"):
        make_carrier("dhl2", adapter="dhl", api_key="k", subscribe_pushes=True)


def test_a_spent_hourly_budget_hands_the_numbers_back_until_it_refills(acme):
    carrier = make_carrier("usps", adapter="usps", base_url=USPS, client_id="c", client_secret="s", quota_per_hour=2)
    item = register(acme, carrier, "9400100000000000000000")
    at = timezone.now().replace(minute=10, second=0, microsecond=0)
    RateBucket.objects.create(
        carrier=carrier, tokens=2, updated_at=at, hour_start=at.replace(minute=0), hour_used=2, day_used=2
    )
    with responses.RequestsMock():
        outcome = poll_batch_run(carrier_id=carrier.pk, item_ids=[item.id], now=at)
    assert outcome.skipped.startswith("quota spent")
    assert TrackedItem.objects.get(pk=item.pk).next_check_at == at.replace(minute=0) + timedelta(hours=1)
