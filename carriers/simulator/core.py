"""The simulator's moving parts: journeys, the three pretend carriers, and one tick."""

from __future__ import annotations

import io
import json
import logging
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from django.db import transaction

from carriers.models import Carrier
from carriers.services.setup import carrier_create
from carriers.simulator.lanes import journeys
from tracking.services import events_record, lane_stats_refresh

log = logging.getLogger("carriers.simulator")

PUSH, FILES, API = "sim-push", "sim-files", "sim-api"
PREFIX = {PUSH: "SIMP", FILES: "SIMF", API: "SIMA"}

# (code, sub_code, description, city, postal_code, country)
STEPS: dict[str, list[tuple[str, str, str, str, str, str]]] = {
    PUSH: [
        ("CRE", "", "Shipment data received from the shipper", "Bristol", "BS1 5TR", "GB"),
        ("PCK", "", "Collected from the sender", "Bristol", "BS1 5TR", "GB"),
        ("HUB", "", "Arrived at the Midlands hub", "Coventry", "CV1 2GT", "GB"),
        ("DEP", "", "Left the Midlands hub", "Coventry", "CV1 2GT", "GB"),
        ("OFD", "", "Out for delivery", "Leeds", "LS1 4AP", "GB"),
        ("DLV", "NB", "Delivered to a neighbour", "Leeds", "LS1 4AP", "GB"),
    ],
    # X12 214 AT7 shipment status codes, status reason NS (normal).
    FILES: [
        ("AF", "NS", "Departed pick-up location", "CHICAGO", "60601", "US"),
        ("X4", "NS", "Arrived at terminal", "INDIANAPOLIS", "46201", "US"),
        ("P1", "NS", "Departed terminal", "INDIANAPOLIS", "46201", "US"),
        ("X6", "NS", "En route to delivery location", "COLUMBUS", "43004", "US"),
        ("D1", "NS", "Delivered", "COLUMBUS", "43004", "US"),
    ],
    # DHL Unified Tracking statusCode values.
    API: [
        (
            "pre-transit",
            "",
            "The instruction data for this shipment have been provided by the sender",
            "Bonn",
            "53113",
            "DE",
        ),
        ("transit", "", "The shipment has been processed in the parcel center of origin", "Köln", "50667", "DE"),
        ("transit", "", "The shipment has been processed in the destination parcel center", "Berlin", "10115", "DE"),
        ("delivered", "", "The shipment has been delivered", "Berlin", "10115", "DE"),
    ],
}


@dataclass
class Journey:
    tracking_id: str
    carrier_id: str
    started_at: str  # ISO 8601, UTC
    sent: int = 0

    def start(self) -> datetime:
        return datetime.fromisoformat(self.started_at)

    def due(self, now: datetime, step_seconds: float) -> int:
        """How many steps have happened by ``now`` (the first happens at the start)."""
        elapsed = (now - self.start()).total_seconds()
        return min(len(STEPS[self.carrier_id]), int(elapsed // step_seconds) + 1) if elapsed >= 0 else 0

    def step_time(self, index: int, step_seconds: float) -> datetime:
        return (self.start() + timedelta(seconds=index * step_seconds)).replace(microsecond=0)

    def done(self) -> bool:
        return self.sent >= len(STEPS[self.carrier_id])


def _ed25519_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return (
        Ed25519PrivateKey.generate()
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
        .decode()
    )


class Simulator:
    def __init__(
        self,
        *,
        state_dir: Path,
        base_url: str,
        sftp_port: int = 0,
        api_port: int = 0,
        step_seconds: float = 20.0,
        shipments_per_carrier: int = 2,
        history_days: int = 0,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.base_url = base_url.rstrip("/")
        self.sftp_port = sftp_port
        self.api_port = api_port
        self.step_seconds = step_seconds
        self.shipments_per_carrier = shipments_per_carrier
        self.history_days = history_days
        self.state: dict[str, Any] = {}
        self.sftp_server: Any = None
        self.api_server: Any = None
        self.customer: Any = None

    # --- state ------------------------------------------------------------------------

    @property
    def _state_path(self) -> Path:
        return self.state_dir / "state.json"

    def _load_state(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self._state_path.exists():
            self.state = json.loads(self._state_path.read_text())
        self.state.setdefault("journeys", [])
        self.state.setdefault("counters", {})
        self.state.setdefault("control_number", 0)
        if "sftp_password" not in self.state:
            self.state["sftp_password"] = secrets.token_urlsafe(16)
        if "api_key" not in self.state:
            self.state["api_key"] = secrets.token_urlsafe(16)
        key_path = self.state_dir / "sftp_host_ed25519"
        if not key_path.exists():
            key_path.write_text(_ed25519_pem())
            key_path.chmod(0o600)

    def _save_state(self) -> None:
        tmp = self._state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=2))
        tmp.replace(self._state_path)

    def journeys(self, carrier_id: str | None = None) -> list[Journey]:
        return [Journey(**j) for j in self.state["journeys"] if carrier_id in (None, j["carrier_id"])]

    def _put_journeys(self, journeys: list[Journey]) -> None:
        self.state["journeys"] = [asdict(j) for j in journeys]

    # --- setup ------------------------------------------------------------------------

    def start(self) -> Simulator:
        import paramiko

        from carriers.simulator.api import DhlLikeServer
        from gluey.sftp_server import SftpServer

        self._load_state()
        host_key = paramiko.Ed25519Key.from_private_key_file(str(self.state_dir / "sftp_host_ed25519"))
        self.sftp_server = SftpServer(
            self.state_dir / "sftp",
            username="sim",
            password=self.state["sftp_password"],
            host_key=host_key,
            port=self.sftp_port,
        ).start()
        (self.sftp_server.root / "outbound").mkdir(parents=True, exist_ok=True)
        self.api_server = DhlLikeServer("127.0.0.1", self.api_port, self.state["api_key"], self._dhl_shipment).start()
        self._ensure_carriers()
        self._ensure_customer()
        self._seed_history()
        self._offer_demo_export()
        self._top_up(datetime.now(UTC))
        self._save_state()
        return self

    def stop(self) -> None:
        if self.api_server is not None:
            self.api_server.stop()
        if self.sftp_server is not None:
            self.sftp_server.stop()

    def _ensure_carriers(self) -> None:
        settings = {
            PUSH: ("generic_json", {"name": "Simulated push carrier"}, {}),
            FILES: (
                "x12_214",
                {
                    "name": "Simulated sFTP carrier (X12 214)",
                    "host": "127.0.0.1",
                    "port": self.sftp_server.port,
                    "username": "sim",
                    "host_key": self.sftp_server.host_key_line,
                    "remote_dir": "/outbound",
                    "pattern": "*.edi",
                    "archive_dir": "/archive",
                    "quarantine_dir": "/quarantine",
                    "stable_seconds": 1,
                },
                {"password": self.state["sftp_password"]},
            ),
            API: (
                "dhl",
                {
                    "name": "Simulated API carrier (DHL-shaped)",
                    "base_url": self.api_server.base_url,
                    "poll_interval_minutes": 1,
                    # The simulator is ours: no DHL plan limits apply.
                    "quota_per_second": 2.0,
                    "quota_per_day": 1_000_000,
                    "quota_per_item_day": 10_000,
                },
                {"api_key": self.state["api_key"]},
            ),
        }
        for carrier_id, (adapter, config, credentials) in settings.items():
            carrier = Carrier.objects.filter(pk=carrier_id).first()
            if carrier is None:
                carrier_create(carrier_id=carrier_id, adapter=adapter, config={**config, **credentials})
                continue
            # Ports and keys may change between runs: bring the carrier in line.
            model_fields = {
                k: config[k]
                for k in ("name", "poll_interval_minutes", "quota_per_second", "quota_per_day", "quota_per_item_day")
                if k in config
            }
            channel = {k: v for k, v in config.items() if k not in model_fields}
            for key, value in model_fields.items():
                setattr(carrier, key, value)
            carrier.adapter, carrier.enabled = adapter, True
            carrier.config = channel
            carrier.credentials = {**carrier.credentials, **credentials}
            carrier.save()

    def _seed_history(self) -> None:
        """Record months of past parcels on the simulated lanes (once), so predicted delivery has history."""
        if self.history_days <= 0 or self.state.get("history_seeded"):
            return
        start = (datetime.now(UTC) - timedelta(days=self.history_days + 10)).date()
        by_carrier: dict[str, list] = {}
        for journey in journeys(start=start, days=self.history_days, per_day=20):
            by_carrier.setdefault(journey.lane.carrier_id, []).extend(journey.events)
        for carrier_id, events in by_carrier.items():
            for offset in range(0, len(events), 1000):
                events_record(carrier=carrier_id, events=events[offset : offset + 1000], channel="manual")
        lanes = lane_stats_refresh()
        self.state["history_seeded"] = True
        log.info("simulator: recorded %d days of past parcels; %d delivery-date lanes learnt", self.history_days, lanes)

    def _offer_demo_export(self) -> None:
        """Let the demo customer receive EDI exports on this same sFTP server.

        The settings go to demo_sftp.json in the state folder and the notifications app's own
        command sets up the destination; calling it by name keeps carriers from
        importing notifications.
        """
        from django.core.management import CommandError, call_command

        (self.sftp_server.root / "exports").mkdir(parents=True, exist_ok=True)
        path = self.state_dir / "demo_sftp.json"
        path.write_text(
            json.dumps(
                {
                    "host": "127.0.0.1",
                    "port": self.sftp_server.port,
                    "username": "sim",
                    "password": self.state["sftp_password"],
                    "host_key": self.sftp_server.host_key_line,
                    "remote_dir": "/exports",
                    "format": "x12_214",
                    "interval_minutes": 1,
                }
            )
        )
        path.chmod(0o600)
        try:
            call_command(
                "seed_demo_notifications", customer=self.customer.account_number, sftp_config=path, stdout=io.StringIO()
            )
        except (CommandError, LookupError) as exc:
            log.warning("simulator: demo sFTP export not set up: %s", exc)

    def _ensure_customer(self) -> None:
        from tracking.models import Customer
        from tracking.services import customer_create

        self.customer = Customer.objects.order_by("created_at", "id").first()
        if self.customer is None:
            self.customer, _ = customer_create(name="Demo Shop")

    def _top_up(self, now: datetime) -> None:
        """Keep ``shipments_per_carrier`` journeys running per carrier; finished ones make room."""
        from tracking.services import shipment_register

        journeys = self.journeys()
        for carrier_id in (PUSH, FILES, API):
            active = [j for j in journeys if j.carrier_id == carrier_id and not self._finished(j, now)]
            for n in range(self.shipments_per_carrier - len(active)):
                count = self.state["counters"].get(carrier_id, 0) + 1
                self.state["counters"][carrier_id] = count
                # Stagger starts so the demo shows shipments at different stages.
                start = (now - timedelta(seconds=n * self.step_seconds)).replace(microsecond=0)
                journey = Journey(
                    tracking_id=f"{PREFIX[carrier_id]}{count:06d}", carrier_id=carrier_id, started_at=start.isoformat()
                )
                with transaction.atomic():
                    shipment_register(
                        customer=self.customer,
                        carrier_id=carrier_id,
                        carrier_tracking_id=journey.tracking_id,
                        reference_shipper=f"simulated order {count}",
                    )
                journeys.append(journey)
                log.info("simulator: new %s shipment %s", carrier_id, journey.tracking_id)
        # Forget long-finished journeys so the state file stays small.
        keep = [j for j in journeys if not self._finished(j, now - timedelta(seconds=10 * self.step_seconds))]
        self._put_journeys(keep)

    def _finished(self, journey: Journey, now: datetime) -> bool:
        if journey.carrier_id == API:
            return journey.due(now, self.step_seconds) >= len(STEPS[API])
        return journey.done()

    # --- the API carrier ------------------------------------------------------------------

    def _dhl_shipment(self, number: str) -> dict[str, Any] | None:
        journey = next((j for j in self.journeys(API) if j.tracking_id == number), None)
        if journey is None:
            return None
        now = datetime.now(UTC)
        events = []
        for index in range(journey.due(now, self.step_seconds)):
            code, _, text, city, postal, country = STEPS[API][index]
            events.append(
                {
                    "timestamp": journey.step_time(index, self.step_seconds).isoformat(),
                    "location": {"address": {"addressLocality": city, "postalCode": postal, "countryCode": country}},
                    "statusCode": code,
                    "status": code.upper(),
                    "description": text,
                }
            )
        events.reverse()  # DHL lists the newest first
        return {"id": number, "service": "parcel-de", "status": events[0] if events else {}, "events": events}

    # --- one tick -------------------------------------------------------------------------

    def tick(self, now: datetime | None = None) -> dict[str, int]:
        """Send what is due on the push and file channels; start new journeys as old ones end."""
        now = now or datetime.now(UTC)
        sent = {"webhook_events": self._push(now), "file_events": self._drop_file(now)}
        self._top_up(now)
        self._save_state()
        return sent

    def _due_steps(self, carrier_id: str, now: datetime) -> tuple[list[Journey], list[tuple[Journey, int]]]:
        journeys = self.journeys()
        due = []
        for journey in journeys:
            if journey.carrier_id != carrier_id:
                continue
            for index in range(journey.sent, journey.due(now, self.step_seconds)):
                due.append((journey, index))
        return journeys, due

    def _push(self, now: datetime) -> int:
        from standardwebhooks.webhooks import Webhook

        journeys, due = self._due_steps(PUSH, now)
        if not due:
            return 0
        events = []
        for journey, index in due:
            code, sub, text, city, postal, country = STEPS[PUSH][index]
            events.append(
                {
                    "tracking_id": journey.tracking_id,
                    "code": code,
                    "sub_code": sub or None,
                    "description": text,
                    "occurred_at": journey.step_time(index, self.step_seconds).isoformat(),
                    "location": {"city": city, "postal_code": postal, "iso_country": country},
                }
            )
        body = json.dumps({"events": events})
        carrier = Carrier.objects.get(pk=PUSH)
        msg_id = f"msg_{secrets.token_hex(12)}"
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(carrier.webhook_secret).sign(msg_id, now, body),
        }
        try:
            response = requests.post(
                f"{self.base_url}/carriers/{PUSH}/webhook", data=body.encode(), headers=headers, timeout=10
            )
        except requests.RequestException as exc:
            log.warning("simulator: webhook POST failed (is the web server up?): %s", exc)
            return 0
        if response.status_code not in (200, 202):
            log.warning("simulator: webhook answered %s: %s", response.status_code, response.text[:200])
            return 0
        for journey, index in due:
            journey.sent = max(journey.sent, index + 1)
        self._merge(journeys, {j.tracking_id: j for j, _ in due})
        log.info("simulator: pushed %d event(s) to %s", len(events), PUSH)
        return len(events)

    def _drop_file(self, now: datetime) -> int:
        from edi.model import Location as EdiLocation
        from edi.model import StatusEvent
        from edi.x12.writer import X12Profile, write_x12_214

        journeys, due = self._due_steps(FILES, now)
        if not due:
            return 0
        events = []
        for journey, index in due:
            code, sub, text, city, postal, country = STEPS[FILES][index]
            events.append(
                StatusEvent(
                    tracking_id=journey.tracking_id,
                    carrier_code=code,
                    carrier_sub_code=sub,
                    occurred_at=journey.step_time(index, self.step_seconds),
                    description=text,
                    location=EdiLocation(city=city, postal_code=postal, iso_country=country),
                    scac="SIMF",
                )
            )
        self.state["control_number"] += 1
        number = self.state["control_number"]
        data = write_x12_214(
            events, X12Profile(sender_id="SIMFILES", receiver_id="GLUEY"), number, number, created_at=now
        )
        outbound = self.sftp_server.root / "outbound"
        name = f"214_{now:%Y%m%d%H%M%S}_{number:06d}.edi"
        # Write under a name the fetch pattern ignores, then rename: a carrier's atomic upload.
        temp = outbound / f".{name}.part"
        temp.write_bytes(data)
        temp.replace(outbound / name)
        for journey, index in due:
            journey.sent = max(journey.sent, index + 1)
        self._merge(journeys, {j.tracking_id: j for j, _ in due})
        log.info("simulator: dropped %s with %d event(s) for %s", name, len(events), FILES)
        return len(events)

    def _merge(self, journeys: list[Journey], updated: dict[str, Journey]) -> None:
        self._put_journeys([updated.get(j.tracking_id, j) for j in journeys])
