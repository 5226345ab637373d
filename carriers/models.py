"""Event Service records: carrier configuration, the raw inbound ledger, the sFTP
file ledger, and the small bits of shared state polling and fetching need
(rate-limit buckets, leases)."""

from __future__ import annotations

import secrets

from django.core.validators import RegexValidator
from django.db import models

from gluey.fields import EncryptedJSONField, EncryptedTextField

CARRIER_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{1,49}$"
carrier_id_validator = RegexValidator(
    CARRIER_ID_PATTERN, "Carrier id must be 2–50 lowercase letters, digits, '-' or '_'."
)


def new_webhook_secret() -> str:
    import base64

    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class Carrier(models.Model):
    id = models.CharField(primary_key=True, max_length=50, validators=[carrier_id_validator], verbose_name="carrier id")
    name = models.CharField(max_length=200, blank=True, default="")
    adapter = models.CharField(max_length=50)
    enabled = models.BooleanField(default=True)

    # Inbound webhook (1a): a Standard Webhooks secret unless the adapter has its own scheme.
    webhook_secret = EncryptedTextField(blank=True, default="")
    # Channel settings that are not secret (sFTP host, port, remote_dir, pattern,
    # archive_dir, format, host_key; API base URL; CSV column mapping).
    config = models.JSONField(default=dict, blank=True)
    # Secrets (sFTP password or private key, API client id/secret), encrypted at rest.
    credentials = EncryptedJSONField(default=dict, blank=True)
    # Zone for carrier times that come without an offset (EDI local times).
    default_zone = models.CharField(max_length=64, default="UTC")

    # Polling (1c).
    poll_interval_minutes = models.PositiveIntegerField(default=15)
    poll_batch_size = models.PositiveIntegerField(default=10)
    # Quotas (README, "Carrier APIs"): empty means the adapter's documented default.
    # A steady rate with a small burst, so a minute's calls never leave at once.
    quota_per_second = models.FloatField(null=True, blank=True)
    quota_burst = models.PositiveIntegerField(null=True, blank=True)
    quota_per_hour = models.PositiveIntegerField(null=True, blank=True)
    quota_per_day = models.PositiveIntegerField(null=True, blank=True)
    # Most fetches of one number in one (UTC) day, where the carrier sets such a cap.
    quota_per_item_day = models.PositiveIntegerField(null=True, blank=True)
    # Written by the dispatcher: how much the cadence is stretched to fit the
    # budget (1 = not at all), and the ops-visible sentence when it is.
    poll_stretch = models.FloatField(default=1.0)
    quota_warning = models.CharField(max_length=500, blank=True, default="")
    # A carrier-wide failure ops must act on (credentials refused, plan blocked).
    poll_alert = models.CharField(max_length=500, blank=True, default="")
    poll_alert_at = models.DateTimeField(null=True, blank=True)
    backoff_until = models.DateTimeField(null=True, blank=True)
    # Consecutive failed poll requests (429/5xx/network); drives the back-off length.
    poll_failures = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.id


class InboundStatus(models.TextChoices):
    PENDING = "pending"
    PROCESSED = "processed"
    FAILED = "failed"
    DUPLICATE = "duplicate"


class InboundMessage(models.Model):
    """Every raw payload or file exactly as received, stored before anything acts on it.

    A duplicate (same carrier, same sha256) is recorded as its own row pointing
    at the original; its body is not stored twice.
    """

    # Indexed by inbound_carrier_sha_idx and inbound_pending_idx, which lead with it: an index of its
    # own (and Django's LIKE twin of it) would be two more entries to write on every webhook.
    carrier = models.ForeignKey(Carrier, on_delete=models.PROTECT, related_name="inbound_messages", db_index=False)
    channel = models.CharField(max_length=16)
    # The adapter that parses the body (an sFTP carrier may drop files in another format).
    parser = models.CharField(max_length=50, blank=True, default="")
    body = models.BinaryField()
    content_type = models.CharField(max_length=100, blank=True, default="")
    filename = models.CharField(max_length=500, blank=True, default="")
    sha256 = models.CharField(max_length=64)
    size = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=InboundStatus.choices, default=InboundStatus.PENDING)
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    event_count = models.PositiveIntegerField(default=0)
    # Indexed only where set (inbound_duplicate_of_idx): most rows are not duplicates.
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    # A poll answer: the numbers asked, with what we told the carrier about them
    # (number → hints), so processing keeps only what is about them, every time.
    asked = models.JSONField(default=dict, blank=True)
    # What processing flagged without failing the message: [{"tracking_id", "problem"}].
    problems = models.JSONField(default=list, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["carrier", "sha256"], name="inbound_carrier_sha_idx"),
            models.Index(fields=["status", "received_at"], name="inbound_status_idx"),
            # The ingest drain's claim: a carrier's pending messages in arrival order. Only pending
            # rows are in it, so a claim reads a handful of entries however large the ledger grows
            # (docs/architecture.md, "Inbound carrier webhooks").
            models.Index(fields=["carrier", "id"], condition=models.Q(status="pending"), name="inbound_pending_idx"),
            # Deleting an original (retention) looks up its duplicates, to clear their link.
            models.Index(
                fields=["duplicate_of"], condition=models.Q(duplicate_of__isnull=False), name="inbound_duplicate_of_idx"
            ),
        ]
        constraints = [
            # Two concurrent deliveries of the same body cannot both become originals.
            models.UniqueConstraint(
                fields=["carrier", "sha256"],
                condition=~models.Q(status="duplicate"),
                name="inbound_original_unique",
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.carrier_id} {self.channel} {self.status}"


class SftpFileStatus(models.TextChoices):
    INGESTED = "ingested"
    QUARANTINED = "quarantined"


class SftpFile(models.Model):
    """The sFTP ledger: one row per remote file taken, so nothing is ingested twice."""

    carrier = models.ForeignKey(Carrier, on_delete=models.CASCADE, related_name="sftp_files")
    name = models.CharField(max_length=255)
    size = models.BigIntegerField()
    mtime = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=SftpFileStatus.choices)
    inbound_message = models.ForeignKey(
        InboundMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    error = models.TextField(blank=True, default="")
    # Where the file was moved to; empty until the move succeeded (a later run retries it).
    moved_to = models.CharField(max_length=500, blank=True, default="")
    taken_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-taken_at"]
        constraints = [
            models.UniqueConstraint(fields=["carrier", "name", "size", "mtime", "sha256"], name="sftpfile_unique")
        ]
        indexes = [models.Index(fields=["carrier", "name", "size", "mtime"], name="sftpfile_lookup_idx")]
        verbose_name = "sFTP file"

    def __str__(self) -> str:
        return f"{self.carrier_id}:{self.name} ({self.status})"


class RateBucket(models.Model):
    """A carrier's quota usage, shared by every worker (one row, updated under a lock):
    a token bucket for the per-second rate, and counters of the current UTC hour and day."""

    carrier = models.OneToOneField(Carrier, on_delete=models.CASCADE, primary_key=True, related_name="rate_bucket")
    tokens = models.FloatField(default=0)
    updated_at = models.DateTimeField()
    hour_start = models.DateTimeField(null=True, blank=True)
    hour_used = models.PositiveIntegerField(default=0)
    day_start = models.DateTimeField(null=True, blank=True)
    day_used = models.PositiveIntegerField(default=0)


class SubscriptionStatus(models.TextChoices):
    NONE = "", "not subscribed"
    ACTIVE = "active"
    REFUSED = "refused", "refused by the carrier"
    STOPPED = "stopped", "stopped (delivered)"


class ItemState(models.Model):
    """The Event Service's side of one tracked item: its conversation with the carrier's API.

    (The polling schedule itself, ``next_check_at``, belongs to tracking and is
    written through ``tracking.services.scheduling``.)
    """

    tracked_item = models.OneToOneField(
        "tracking.TrackedItem", on_delete=models.CASCADE, primary_key=True, related_name="carrier_state"
    )
    carrier = models.ForeignKey(Carrier, on_delete=models.CASCADE, related_name="+")
    # What the carrier's answers taught us to send next time (DHL ``service``, FedEx ``unique_id``).
    hints = models.JSONField(default=dict, blank=True)
    # Per-number daily cap (DHL: 10 fetches of one shipment a day).
    fetch_day = models.DateField(null=True, blank=True)
    fetches_today = models.PositiveIntegerField(default=0)
    # Requests refused (400 without a per-number answer) while this number was in them.
    request_failures = models.PositiveIntegerField(default=0)
    last_failure = models.CharField(max_length=500, blank=True, default="")
    # Set when the number kept breaking requests: it is no longer polled until ops release it.
    isolated_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # The carrier answered about another shipment than the one asked (see the DHL adapter).
    reply_problem = models.CharField(max_length=500, blank=True, default="")
    reply_problem_at = models.DateTimeField(null=True, blank=True)
    # Push subscription (UPS Track Alert): 14 days, renewed before it runs out, stopped after delivery.
    subscription = models.CharField(max_length=16, choices=SubscriptionStatus.choices, blank=True, default="")
    subscribed_at = models.DateTimeField(null=True, blank=True)
    subscription_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    subscription_error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        verbose_name = "carrier state of a tracked item"
        indexes = [models.Index(fields=["carrier", "subscription"], name="itemstate_subscription_idx")]

    def __str__(self) -> str:
        return f"carrier state of item {self.tracked_item_id}"


class Lease(models.Model):
    """A named lock with an expiry, so a crashed holder cannot block others forever."""

    name = models.CharField(max_length=200, primary_key=True)
    owner = models.CharField(max_length=64)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} until {self.expires_at:%H:%M:%S}"


class WebhookRefusal(models.Model):
    """Inbound webhooks refused at the door (401, 400, 413), counted per carrier, hour and status.

    Nothing of a refused request is stored (it may be an attacker's), but ops must see that a
    carrier's pushes are bouncing: the count and the last reason are. One row per carrier, hour
    and status keeps the table small whatever the traffic; rows older than a week are dropped.
    """

    carrier = models.ForeignKey(Carrier, on_delete=models.CASCADE, related_name="webhook_refusals")
    hour = models.DateTimeField()
    status = models.PositiveSmallIntegerField()
    count = models.PositiveIntegerField(default=0)
    last_reason = models.CharField(max_length=300, blank=True, default="")
    last_at = models.DateTimeField()

    class Meta:
        ordering = ["-hour", "carrier"]
        constraints = [
            models.UniqueConstraint(fields=["carrier", "hour", "status"], name="webhookrefusal_carrier_hour_status")
        ]
        verbose_name = "refused webhook"

    def __str__(self) -> str:
        return f"{self.carrier_id} {self.status} ×{self.count} at {self.hour:%Y-%m-%d %H:00}"
