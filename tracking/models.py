"""Tracking records: customers, tracked items, shipments, parcels, events, taxonomy, mappings."""

from __future__ import annotations

import secrets
import uuid

from django.db import models
from rest_framework_api_key.models import AbstractAPIKey


class Milestone(models.TextChoices):
    START = "start"
    COLLECTION = "collection"
    IN_TRANSIT = "in_transit"
    CUSTOMS = "customs"
    DELIVERY = "delivery"
    POST_DELIVERY = "post_delivery"
    RETURN_TO_SENDER = "return_to_sender"
    RETURN_CENTRE = "return_centre"
    EXCEPTION = "exception"
    ADMIN = "admin"


class Channel(models.TextChoices):
    WEBHOOK = "webhook"
    SFTP = "sftp"
    POLL = "poll"
    MANUAL = "manual"


UNMAPPED = ("admin", "other", "other")


class StatusCode(models.Model):
    """One row of the harmonised vocabulary (milestone, code, sub_code)."""

    milestone = models.CharField(max_length=32, choices=Milestone.choices)
    code = models.CharField(max_length=64)
    sub_code = models.CharField(max_length=64)
    description = models.CharField(max_length=200)

    class Meta:
        ordering = ["milestone", "code", "sub_code"]
        constraints = [models.UniqueConstraint(fields=["milestone", "code", "sub_code"], name="statuscode_unique")]

    def __str__(self) -> str:
        return f"{self.milestone} / {self.code} / {self.sub_code}"

    @property
    def triple(self) -> tuple[str, str, str]:
        return (self.milestone, self.code, self.sub_code)


def _account_number() -> str:
    return f"{secrets.randbelow(10**8):08d}"


class Customer(models.Model):
    name = models.CharField(max_length=200)
    account_number = models.CharField(max_length=20, unique=True, default=_account_number)
    is_active = models.BooleanField(default=True)
    # Polling policy: stop checking a tracked item this many days after its last event.
    expire_after_days = models.PositiveIntegerField(default=30)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.account_number})"


class CustomerAPIKey(AbstractAPIKey):
    """A hashed API key; the clear key is shown once, at creation."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="api_keys")

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"


class TrackedItem(models.Model):
    """One (carrier, carrier tracking id): events attach here and polling is scheduled here."""

    # Indexed by the (carrier, tracking_id) unique constraint.
    carrier = models.ForeignKey(
        "carriers.Carrier", on_delete=models.PROTECT, related_name="tracked_items", db_index=False
    )
    tracking_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set while no customer has registered the number; rows past it are purged.
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)

    # Current state: the harmonised state of the latest event by carrier time.
    # Not indexed: nothing looks items up by it, and an index would stop the
    # per-batch state update from being a cheap in-page (HOT) update.
    current_event = models.ForeignKey(
        "TrackingEvent",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        # Written only by the recording service inside its own transaction; a
        # database-level check per updated item costs more than it protects.
        db_constraint=False,
    )
    status_milestone = models.CharField(max_length=32, blank=True, default="")
    status_code = models.CharField(max_length=64, blank=True, default="")
    status_sub_code = models.CharField(max_length=64, blank=True, default="")
    status_at = models.DateTimeField(null=True, blank=True)
    last_event_recorded_at = models.DateTimeField(null=True, blank=True)

    # Polling schedule (used by polling carriers only).
    next_check_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    check_failures = models.PositiveIntegerField(default=0)
    invalid_reason = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["carrier", "tracking_id"], name="trackeditem_carrier_tracking_unique")
        ]
        indexes = [
            models.Index(
                fields=["next_check_at"], name="trackeditem_due_idx", condition=models.Q(next_check_at__isnull=False)
            ),
            models.Index(fields=["tracking_id"], name="trackeditem_tracking_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.carrier_id}:{self.tracking_id}"

    @property
    def is_delivered(self) -> bool:
        return self.status_milestone == Milestone.DELIVERY and self.status_code == "delivered"


class TrackingLevel(models.TextChoices):
    SHIPMENT = "shipment"
    PARCEL = "parcel"


class Shipment(models.Model):
    """A customer's registration of one tracking number."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="shipments")
    tracked_item = models.ForeignKey(TrackedItem, on_delete=models.PROTECT, related_name="shipments")
    carrier = models.ForeignKey("carriers.Carrier", on_delete=models.PROTECT, related_name="+")
    carrier_tracking_id = models.CharField(max_length=64)
    uuid_ref = models.CharField(max_length=100, blank=True, default="")
    tracking_level = models.CharField(max_length=16, choices=TrackingLevel.choices, default=TrackingLevel.SHIPMENT)
    reference_shipper = models.CharField(max_length=200, blank=True, default="")
    reference_receiver = models.CharField(max_length=200, blank=True, default="")
    meta_data = models.JSONField(default=list, blank=True)
    # Set when the customer gave no carrier_id and we recognised the number's format
    # (an id from carriers/numbers/formats.toml); empty when the customer named the carrier.
    detected_format = models.CharField(max_length=50, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "carrier", "carrier_tracking_id"], name="shipment_customer_tracking_unique"
            )
        ]
        indexes = [
            models.Index(fields=["customer", "carrier_tracking_id"], name="shipment_cust_tracking_idx"),
            models.Index(fields=["customer", "uuid_ref"], name="shipment_cust_uuidref_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.carrier_id}:{self.carrier_tracking_id}"

    @property
    def carrier_detected(self) -> bool:
        return bool(self.detected_format)


class Parcel(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="parcels")
    tracked_item = models.ForeignKey(TrackedItem, on_delete=models.PROTECT, related_name="parcels")
    carrier_tracking_id = models.CharField(max_length=64)
    uuid_ref = models.CharField(max_length=100, blank=True, default="")
    meta_data = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["shipment", "carrier_tracking_id"], name="parcel_shipment_tracking_unique")
        ]

    def __str__(self) -> str:
        return self.carrier_tracking_id


class TrackingEvent(models.Model):
    """One carrier event, harmonised. ``id`` is the global recording sequence."""

    # Indexed by the composite indexes below (item + time, item + dedupe key). No
    # database-level constraint: recording inserts events only while holding the
    # item's row lock, and items are deleted through the ORM, which deletes their
    # events first; the per-row check repeated that guarantee at a quarter of a
    # batch's recording time (docs/architecture.md, "One event, from carrier to customer").
    tracked_item = models.ForeignKey(
        TrackedItem, on_delete=models.CASCADE, related_name="events", db_index=False, db_constraint=False
    )
    # Denormalised from the tracked item so re-harmonising a carrier code is one indexed update.
    carrier = models.ForeignKey(
        "carriers.Carrier", on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    # PostgreSQL transaction id of the recording transaction (0 on SQLite, where
    # writers are serial): feed readers use it to never skip an in-flight event.
    txid = models.BigIntegerField(default=0)
    # First 64 bits of sha256(code, sub-code, carrier time in UTC, place): a
    # small index, and a collision within one tracked item is beyond unlikely.
    dedupe_key = models.BigIntegerField()

    carrier_code = models.CharField(max_length=64)
    carrier_sub_code = models.CharField(max_length=64, blank=True, default="")
    carrier_text = models.TextField(blank=True, default="")
    milestone = models.CharField(max_length=32)
    code = models.CharField(max_length=64)
    sub_code = models.CharField(max_length=64)
    unmapped = models.BooleanField(default=False)
    # An ETA update, not a status: never moves the current state (tracking/state_rules.py).
    estimate = models.BooleanField(default=False, db_default=False)

    occurred_at = models.DateTimeField()  # stored in UTC
    utc_offset_minutes = models.SmallIntegerField(default=0)  # the carrier's offset, kept for display
    recorded_at = models.DateTimeField()

    location = models.JSONField(default=dict, blank=True)
    eta = models.DateTimeField(null=True, blank=True)
    signed_by = models.CharField(max_length=200, blank=True, default="")
    weight_kg = models.FloatField(null=True, blank=True)
    carrier_meta = models.JSONField(default=list, blank=True)
    # The rest of Gluey's OtherUpdates as the carrier gave them (condition,
    # dimensions, cost, CO2, photo, re-label) plus the ETA's own UTC offset:
    # see tracking.representations for the keys. Empty for most events.
    other = models.JSONField(default=dict, db_default=models.Value({}, output_field=models.JSONField()), blank=True)
    # Set when re-harmonisation changed this event's codes after it was first
    # delivered: the event is delivered again marked as a correction.
    corrected_at = models.DateTimeField(null=True, blank=True)
    # The event as the track API shows it (Gluey's TrackingEvent), rendered once when it is
    # recorded and again when its codes change, so a read joins stored JSON instead of
    # rebuilding it: tracking.representations.track_event_json, docs/architecture.md, "Reads".
    # NULL for rows written another way (reads then render the row themselves).
    track_json = models.TextField(null=True, blank=True, editable=False)

    channel = models.CharField(max_length=16, choices=Channel.choices)
    inbound_message_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tracked_item", "dedupe_key"], name="event_dedupe_unique"),
        ]
        indexes = [
            models.Index(fields=["tracked_item", "occurred_at", "id"], name="event_item_time_idx"),
            models.Index(fields=["txid", "id"], name="event_feed_idx"),
            models.Index(fields=["carrier", "carrier_code", "carrier_sub_code"], name="event_carrier_code_idx"),
            # The ops dashboard and /metrics count recent events per carrier.
            models.Index(fields=["carrier", "recorded_at"], name="event_carrier_recorded_idx"),
            # The few events that re-label a parcel: every later webhook of the item repeats the new number.
            models.Index(
                fields=["tracked_item", "occurred_at"],
                name="event_relabel_idx",
                condition=models.Q(other__has_key="new_tracking_id"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.carrier_code} → {self.milestone}/{self.code}/{self.sub_code}"


class ItemHistory(models.Model):
    """A tracked item's history as a track read takes it, kept in step with its events (PostgreSQL).

    What ``tracking.db.histories_sql`` aggregates from the item's events —
    their stored JSON joined in carrier-time order, the latest recorded_at,
    whether it is settled, and the few events a summary or a prediction reads —
    written whenever the item's events are (recording, registering the number,
    ``events_render``), under the item's row lock, for items registered once
    (``expires_at`` cleared): only those are read. A 100-shipment read then fetches 100 rows
    instead of aggregating every event again (docs/architecture.md, "Reads").
    Registering a number writes one, empty while the item has no events. An item
    without a row (events written another way, or before the table existed) has
    its events read as rows by a second statement; ``manage.py events_render``
    fills the rows in.
    """

    # Deleted with its item through the ORM (as events are); no per-row check on the hot write.
    tracked_item = models.OneToOneField(
        TrackedItem, primary_key=True, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    events_json = models.TextField()  # lz4-compressed on a server that has it (migration 0016)
    unrendered = models.IntegerField(default=0)  # events without stored JSON: the read renders rows instead
    last_recorded_at = models.DateTimeField(null=True)
    settled = models.BooleanField(default=False)  # delivered or finished: no prediction
    notable = models.TextField(null=True)  # JSON rows of the events a summary field reads
    first_scan = models.TextField(null=True)  # JSON row of the first scan, while not settled

    def __str__(self) -> str:
        return f"history of item {self.pk}"


class CodeMapping(models.Model):
    """(carrier, carrier code, carrier sub-code) → harmonised status. Blank sub-code = fallback."""

    carrier = models.ForeignKey("carriers.Carrier", on_delete=models.CASCADE, related_name="code_mappings")
    carrier_code = models.CharField(max_length=64)
    carrier_sub_code = models.CharField(max_length=64, blank=True, default="")
    status = models.ForeignKey(StatusCode, on_delete=models.PROTECT, related_name="+")
    note = models.CharField(max_length=200, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["carrier", "carrier_code", "carrier_sub_code"]
        constraints = [
            models.UniqueConstraint(fields=["carrier", "carrier_code", "carrier_sub_code"], name="codemapping_unique")
        ]

    def __str__(self) -> str:
        sub = f"/{self.carrier_sub_code}" if self.carrier_sub_code else ""
        return f"{self.carrier_id}:{self.carrier_code}{sub} → {self.status}"


class UnmappedCode(models.Model):
    """A carrier code seen without a mapping; ops map it and stored events are re-harmonised."""

    carrier = models.ForeignKey("carriers.Carrier", on_delete=models.CASCADE, related_name="unmapped_codes")
    carrier_code = models.CharField(max_length=64)
    carrier_sub_code = models.CharField(max_length=64, blank=True, default="")
    example_text = models.TextField(blank=True, default="")
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-last_seen"]
        constraints = [
            models.UniqueConstraint(fields=["carrier", "carrier_code", "carrier_sub_code"], name="unmapped_unique")
        ]

    def __str__(self) -> str:
        return f"{self.carrier_id}:{self.carrier_code}/{self.carrier_sub_code}"


class ApiRateCounter(models.Model):
    """Requests per API key in the current rate window, when no Redis counts them.

    One row per key, incremented by an atomic upsert (tracking.api.throttle),
    so concurrent requests can never overwrite each other's counts.
    """

    key = models.CharField(max_length=100, primary_key=True)
    period = models.BigIntegerField()  # the window's number: Unix time // window length
    hits = models.PositiveIntegerField()


class LaneTransitStat(models.Model):
    """Transit times learnt for one lane at one level of detail (tracking/prediction.py).

    Rebuilt as a whole by ``lane_stats_refresh`` (a beat task); ``model`` holds
    what a prediction needs (cut-off, delivery weekdays, transit histogram).
    """

    key = models.CharField(max_length=300, unique=True)
    carrier = models.ForeignKey("carriers.Carrier", on_delete=models.CASCADE, related_name="+", db_constraint=False)
    level = models.PositiveSmallIntegerField()
    label = models.CharField(max_length=300)
    sample_size = models.PositiveIntegerField()
    low_days = models.PositiveSmallIntegerField()
    median_days = models.PositiveSmallIntegerField()
    high_days = models.PositiveSmallIntegerField()
    coverage = models.FloatField()
    model = models.JSONField()
    refreshed_at = models.DateTimeField()

    class Meta:
        ordering = ["carrier", "level", "label"]
        verbose_name = "lane transit time"

    def __str__(self) -> str:
        return self.label


class Reharmonisation(models.Model):
    """One queued re-application of the mapping table to a carrier's stored events, with its progress.

    Every way of starting one (the mapping admin, the bulk map of unmapped
    codes, the ops console, a CSV import) queues a row and the worker runs it
    (``tracking.tasks.reharmonise_carrier_after_commit``).
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    carrier = models.ForeignKey("carriers.Carrier", on_delete=models.CASCADE, related_name="+")
    codes = models.JSONField(null=True, blank=True, help_text="Carrier codes to re-apply; empty means all.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.CharField(max_length=100, blank=True, default="")
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    events_changed = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.carrier_id} re-harmonisation ({self.status})"
