"""Writes for the Event Service, by sub-domain:

- ``setup``: carrier creation, config checks, default code maps;
- ``inbound``: the raw ledger — store, process, reprocess, sweep;
- ``polling``: the dispatcher and one poll batch; rescheduling;
- ``sftp``: one fetch run for one carrier;
- ``limits``: the shared token bucket and leases;
- ``schedules``: django-celery-beat rows for all of the above.
"""

from carriers.services.inbound import (
    MAX_WEBHOOK_BYTES,
    inbound_message_process,
    inbound_message_store,
    inbound_messages_reprocess,
    inbound_messages_sweep,
)
from carriers.services.setup import (
    CarrierSetupError,
    carrier_config_problems,
    carrier_create,
    default_mappings,
)

__all__ = [
    "MAX_WEBHOOK_BYTES",
    "CarrierSetupError",
    "carrier_config_problems",
    "carrier_create",
    "default_mappings",
    "inbound_message_process",
    "inbound_message_store",
    "inbound_messages_reprocess",
    "inbound_messages_sweep",
]
