"""Event Service records: carrier configuration, the raw inbound ledger, the sFTP
file ledger, and the small bits of shared state polling and fetching need
(rate-limit buckets, leases)."""

from __future__ import annotations

import secrets

from django.core.validators import RegexValidator
from django.db import models

from gluey.fields import EncryptedJSONField, EncryptedTextField

carrier_id_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]{1,49}$", "Carrier id must be 2–50 lowercase letters, digits, '-' or '_'."
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
    rate_limit_per_minute = models.PositiveIntegerField(default=60)
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

    carrier = models.ForeignKey(Carrier, on_delete=models.PROTECT, related_name="inbound_messages")
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
    duplicate_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["carrier", "sha256"], name="inbound_carrier_sha_idx"),
            models.Index(fields=["status", "received_at"], name="inbound_status_idx"),
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
    """A token bucket per carrier, shared by every worker (one row, updated under a lock)."""

    carrier = models.OneToOneField(Carrier, on_delete=models.CASCADE, primary_key=True, related_name="rate_bucket")
    tokens = models.FloatField(default=0)
    updated_at = models.DateTimeField()


class Lease(models.Model):
    """A named lock with an expiry, so a crashed holder cannot block others forever."""

    name = models.CharField(max_length=200, primary_key=True)
    owner = models.CharField(max_length=64)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} until {self.expires_at:%H:%M:%S}"
