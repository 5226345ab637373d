"""A carrier simulator for demos and tests: three pretend carriers, one per channel.

- ``sim-push`` (generic_json) POSTs signed events to our webhook;
- ``sim-files`` (x12_214) drops X12 214 files on an sFTP server we run on
  127.0.0.1 (gluey.sftp_server), which the normal sFTP fetch picks up;
- ``sim-api`` (dhl) answers polls from an HTTP server on 127.0.0.1 shaped like
  DHL's Unified Tracking API; the carrier's ``base_url`` points at it.

Each demo shipment walks a fixed journey, one step every ``step_seconds``.
Event times are derived from the journey's start, so re-sending a step (after
a restart, or a poll that sees the same history again) records nothing twice.
"""

from carriers.simulator.core import Simulator

__all__ = ["Simulator"]
