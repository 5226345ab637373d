"""The carrier simulator feeds events by all three channels into the real pipeline:
a live web server for the webhook, the sFTP fetch against the simulator's sFTP
server, and the poller against its DHL-shaped HTTP API — with a real worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command

from carriers.models import Carrier, InboundMessage
from carriers.services.polling import poll_dispatch
from carriers.services.sftp import sftp_fetch
from carriers.simulator import Simulator
from tests.carriers.conftest import wait_until
from tracking.models import Customer, Shipment, TrackingEvent


@pytest.mark.slow  # a real worker, broker and live server
@pytest.mark.django_db(transaction=True)
def test_events_arrive_by_webhook_sftp_and_polling(taxonomy, live_server, celery_worker, tmp_path):
    simulator = Simulator(state_dir=tmp_path / "sim", base_url=live_server.url, step_seconds=1, shipments_per_carrier=1)
    simulator.start()
    try:
        assert set(Carrier.objects.values_list("pk", flat=True)) >= {"sim-push", "sim-files", "sim-api"}
        customer = Customer.objects.get()
        assert set(Shipment.objects.filter(customer=customer).values_list("carrier_id", flat=True)) == {
            "sim-push",
            "sim-files",
            "sim-api",
        }
        sent = simulator.tick(datetime.now(UTC) + timedelta(seconds=3))
        assert sent["webhook_events"] >= 1 and sent["file_events"] >= 1

        report = sftp_fetch(carrier_id="sim-files", stable_seconds=0)
        assert report.ingested == 1 and report.error == ""

        assert poll_dispatch().items >= 1  # registered sim-api numbers are due at once

        def channels() -> set[str]:
            return set(TrackingEvent.objects.values_list("channel", flat=True))

        assert wait_until(lambda: channels() == {"webhook", "sftp", "poll"}, timeout=30), channels()
        harmonised = dict(TrackingEvent.objects.values_list("carrier_code", "milestone"))
        assert (
            harmonised["CRE"] == "start" and harmonised["AF"] == "collection" and harmonised["pre-transit"] == "start"
        )
        assert not InboundMessage.objects.filter(status="failed").exists()
    finally:
        simulator.stop()


@pytest.mark.django_db(transaction=True)
def test_setup_is_idempotent_and_journeys_survive_a_restart(taxonomy, tmp_path):
    first = Simulator(state_dir=tmp_path / "sim", base_url="http://127.0.0.1:9", shipments_per_carrier=2).start()
    first.stop()
    second = Simulator(state_dir=tmp_path / "sim", base_url="http://127.0.0.1:9", shipments_per_carrier=2).start()
    second.stop()
    assert Carrier.objects.filter(pk__startswith="sim-").count() == 3
    assert Shipment.objects.count() == 6  # two per carrier, not registered again on restart
    # The sFTP port changed between runs; the carrier follows it.
    assert Carrier.objects.get(pk="sim-files").config["port"] == second.sftp_server.port


@pytest.mark.slow  # runs the simulator command: seconds
@pytest.mark.django_db(transaction=True)
def test_command_runs_once_and_refuses_bad_options(taxonomy, tmp_path, capsys):
    call_command(
        "simulate_carriers",
        "--once",
        "--sftp-port",
        "0",
        "--api-port",
        "0",
        "--state-dir",
        str(tmp_path / "sim"),
        "--base-url",
        "http://127.0.0.1:9",
    )
    assert "Carrier simulator:" in capsys.readouterr().out
    assert list((tmp_path / "sim" / "sftp" / "outbound").glob("*.edi"))
    with pytest.raises(CommandError, match="--step-seconds must be positive"):
        call_command("simulate_carriers", "--once", "--step-seconds", "0", "--state-dir", str(tmp_path / "x"))


@pytest.mark.django_db
def test_first_start_records_past_parcels_once_so_lanes_have_history(tmp_path):
    from tracking.models import LaneTransitStat, TrackedItem

    simulator = Simulator(state_dir=tmp_path / "sim", base_url="http://127.0.0.1:9", history_days=40).start()
    simulator.stop()
    items = TrackedItem.objects.count()
    assert items > 300 and LaneTransitStat.objects.filter(carrier_id="sim-push").exists()
    again = Simulator(state_dir=tmp_path / "sim", base_url="http://127.0.0.1:9", history_days=40).start()
    again.stop()
    assert TrackedItem.objects.count() == items  # seeded once per state folder
