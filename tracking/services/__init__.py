"""Writes for tracking. Import from here; the submodules are an implementation detail.

- recording: ``events_record`` — the one door every channel records through; ``events_render``
  stores the track API's JSON of events recording did not render (or whose codes changed).
- mappings: the code-map CSV (``mapping_rows_from_csv`` / ``_from_file``, ``mapping_rows_validate``,
  ``code_mappings_csv``, ``code_mappings_import``) and ``events_reharmonise``.
- prediction: ``lane_stats_refresh``, ``predicted_deliveries(_for_track)``, ``transit_samples``.
- registration: ``customer_create``, ``shipment_register``, ``shipment_register_detected``,
  ``tracked_item_get_or_create``.
- scheduling: the polling columns of tracked items, written for the carriers app's poller
  (``tracked_items_take_due``, ``tracked_items_set_checks``, ``tracked_items_postpone``,
  ``tracked_items_check_soon``, ``CheckOutcome``).
"""

from tracking.services.mappings import (
    MappingError,
    MappingRow,
    code_mappings_csv,
    code_mappings_import,
    events_reharmonise,
    mapping_rows_from_csv,
    mapping_rows_from_file,
    mapping_rows_validate,
    reharmonisation_create,
    reharmonisation_run,
)
from tracking.services.prediction import (
    lane_stats_refresh,
    predicted_deliveries,
    predicted_deliveries_for_track,
    predicted_deliveries_load,
    transit_samples,
)
from tracking.services.recording import (
    InvalidEvent,
    RecordResult,
    events_check,
    events_record,
    events_render,
    item_histories_fill,
    tracked_items_refresh_state,
)
from tracking.services.registration import (
    CarrierNotDetected,
    ParcelInput,
    RegistrationConflict,
    UnknownCarrier,
    customer_create,
    shipment_register,
    shipment_register_detected,
    tracked_item_get_or_create,
    tracked_items_purge_expired,
)
from tracking.services.scheduling import (
    CheckOutcome,
    tracked_items_check_soon,
    tracked_items_postpone,
    tracked_items_set_checks,
    tracked_items_take_due,
)

__all__ = [
    "CarrierNotDetected",
    "CheckOutcome",
    "InvalidEvent",
    "MappingError",
    "MappingRow",
    "ParcelInput",
    "RecordResult",
    "RegistrationConflict",
    "UnknownCarrier",
    "code_mappings_csv",
    "code_mappings_import",
    "customer_create",
    "events_check",
    "events_record",
    "events_reharmonise",
    "events_render",
    "item_histories_fill",
    "lane_stats_refresh",
    "mapping_rows_from_csv",
    "mapping_rows_from_file",
    "mapping_rows_validate",
    "predicted_deliveries",
    "predicted_deliveries_for_track",
    "predicted_deliveries_load",
    "reharmonisation_create",
    "reharmonisation_run",
    "shipment_register",
    "shipment_register_detected",
    "tracked_item_get_or_create",
    "tracked_items_check_soon",
    "tracked_items_postpone",
    "tracked_items_purge_expired",
    "tracked_items_refresh_state",
    "tracked_items_set_checks",
    "tracked_items_take_due",
    "transit_samples",
]
