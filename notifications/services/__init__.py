"""Writes for notifications, by sub-domain:

- ``outbox``    — the ``events_recorded`` receiver, requeue / replay, sweeper, purge
- ``sending``   — draining an endpoint in order, signing, retry timing, the admin test event
- ``endpoints`` — subscribe (and secret rotation), unsubscribe, disable, enable
- ``exports``   — sFTP destinations' scheduling and export runs
- ``demo``      — the demo customer's endpoint and destination (``seed_demo_notifications``)
"""

from notifications.services.endpoints import (
    InvalidEndpoint,
    endpoint_disable,
    endpoint_enable,
    endpoint_subscribe,
    endpoint_unsubscribe,
    endpoint_url_validate,
    endpoints_purge_unsubscribed,
    secret_generate,
)
from notifications.services.exports import (
    ExportFailed,
    ExportRunResult,
    InvalidDestination,
    export_enqueue,
    export_file_name,
    export_run,
    sftp_destination_schedule,
    sftp_destination_unschedule,
    sftp_destination_validate,
    status_event,
)
from notifications.services.outbox import (
    deliveries_purge,
    deliveries_replay,
    deliveries_requeue,
    deliveries_sweep,
    endpoint_retry_now,
    endpoints_wake,
    outbox_write_for_events,
)
from notifications.services.sending import (
    DrainResult,
    delivery_headers,
    endpoint_deliver,
    endpoint_send_test,
    endpoint_signers,
    retry_after_seconds,
    retry_delay,
)

__all__ = [
    "DrainResult",
    "ExportFailed",
    "ExportRunResult",
    "InvalidDestination",
    "InvalidEndpoint",
    "deliveries_purge",
    "deliveries_replay",
    "deliveries_requeue",
    "deliveries_sweep",
    "delivery_headers",
    "endpoint_deliver",
    "endpoint_disable",
    "endpoint_enable",
    "endpoint_retry_now",
    "endpoint_send_test",
    "endpoint_signers",
    "endpoint_subscribe",
    "endpoint_unsubscribe",
    "endpoint_url_validate",
    "endpoints_purge_unsubscribed",
    "endpoints_wake",
    "export_enqueue",
    "export_file_name",
    "export_run",
    "outbox_write_for_events",
    "retry_after_seconds",
    "retry_delay",
    "secret_generate",
    "sftp_destination_schedule",
    "sftp_destination_unschedule",
    "sftp_destination_validate",
    "status_event",
]
