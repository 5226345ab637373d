"""Run the carrier simulator: events arrive by webhook, sFTP file and API poll."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from carriers.simulator import Simulator


class Command(BaseCommand):
    help = (
        "Create the simulated carriers (sim-push, sim-files, sim-api) and demo shipments for the first customer, "
        "then feed events by webhook, sFTP and API polling until stopped."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--base-url", default=settings.PUBLIC_BASE_URL, help="where our web server listens (for webhooks)"
        )
        parser.add_argument(
            "--sftp-port",
            type=int,
            default=0,
            help="port of the simulated sFTP server (0: any free port; the carrier follows it)",
        )
        parser.add_argument(
            "--api-port", type=int, default=0, help="port of the simulated tracking API (0: any free port)"
        )
        parser.add_argument("--step-seconds", type=float, default=20.0, help="time between two steps of a journey")
        parser.add_argument("--shipments", type=int, default=2, help="journeys kept running per carrier")
        parser.add_argument(
            "--history-days",
            type=int,
            default=90,
            help="on first start, record this many days of past parcels so delivery dates can be predicted (0: none)",
        )
        parser.add_argument("--once", action="store_true", help="set up, send what is due once, and exit")
        parser.add_argument(
            "--duration", type=float, default=0, help="stop after this many seconds (0: run until stopped)"
        )
        parser.add_argument("--state-dir", default=str(Path(settings.VAR_DIR) / "simulator"))

    def handle(self, *args, **options):
        if options["step_seconds"] <= 0:
            raise CommandError("--step-seconds must be positive")
        if options["history_days"] < 0:
            raise CommandError("--history-days must be 0 or more")
        if options["shipments"] < 1:
            raise CommandError("--shipments must be at least 1")
        simulator = Simulator(
            state_dir=Path(options["state_dir"]),
            base_url=options["base_url"],
            sftp_port=options["sftp_port"],
            api_port=options["api_port"],
            step_seconds=options["step_seconds"],
            shipments_per_carrier=options["shipments"],
            history_days=options["history_days"],
        )
        try:
            simulator.start()
        except OSError as exc:
            raise CommandError(f"cannot start the simulated carriers' servers: {exc}") from None
        self.stdout.write(
            f"Carrier simulator: webhooks to {options['base_url']}/carriers/sim-push/webhook, "
            f"sFTP on 127.0.0.1:{simulator.sftp_server.port}, API on {simulator.api_server.base_url}; "
            f"demo shipments for {simulator.customer}."
        )
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        deadline = time.monotonic() + options["duration"] if options["duration"] else None
        try:
            while True:
                sent = simulator.tick()
                if any(sent.values()):
                    self.stdout.write(f"sent {sent}")
                if options["once"] or stopping or (deadline and time.monotonic() >= deadline):
                    break
                time.sleep(min(5.0, options["step_seconds"] / 2))
        except KeyboardInterrupt:
            pass
        finally:
            simulator.stop()
