"""Notifications records: webhook endpoints, the Delivery outbox and its attempts,
sFTP destinations and the exports sent to them."""

from __future__ import annotations

import uuid

from django.db import models

from gluey.fields import EncryptedTextField


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


class WebhookEndpoint(models.Model):
    """A customer's subscription: where tracking webhooks go and how they are signed.

    While the endpoint fails, ``retry_at`` gates it: nothing is sent before
    then, and its later deliveries wait behind the failing one instead of
    occupying workers (one delivery in flight per endpoint, via the lease).
    """

    customer = models.ForeignKey("tracking.Customer", on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.CharField(max_length=2000)
    secret = EncryptedTextField()
    # During a rotation both secrets sign, until previous_secret_expires_at.
    previous_secret = EncryptedTextField(blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)

    is_active = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True, default="")
    # Set when the customer unsubscribed (or staff deleted it): the row and its deliveries stay for the
    # retention period, inactive, so the history can still be read and replayed; the purge removes them.
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    # Health.
    failing_since = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=1000, blank=True, default="")
    retry_at = models.DateTimeField(null=True, blank=True)

    # The sender's lease: one worker at a time sends to an endpoint, in order.
    lease_token = models.CharField(max_length=32, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["customer", "url"]
        constraints = [models.UniqueConstraint(fields=["customer", "url"], name="webhookendpoint_customer_url_unique")]
        verbose_name = "webhook endpoint"

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead", "dead-lettered"


class DeliveryKind(models.TextChoices):
    EVENTS = "events"
    TEST = "test"


class Delivery(models.Model):
    """One signed POST to one endpoint: up to 100 events, body fixed at creation.

    ``msg_id`` is the ``webhook-id`` header, the same on every retry and replay.
    Deliveries of an endpoint are sent in ``id`` order, one at a time.
    """

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    customer = models.ForeignKey("tracking.Customer", on_delete=models.CASCADE, related_name="+")
    msg_id = models.CharField(max_length=40, unique=True, default=new_message_id)
    kind = models.CharField(max_length=10, choices=DeliveryKind.choices, default=DeliveryKind.EVENTS)
    body = models.TextField()
    event_count = models.PositiveIntegerField(default=0)
    first_event_id = models.BigIntegerField(null=True, blank=True)
    last_event_id = models.BigIntegerField(null=True, blank=True)

    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField()
    # Retried until then, then dead-lettered; a replay starts a new window.
    deadline_at = models.DateTimeField()
    attempt_count = models.PositiveIntegerField(default=0)
    # Failures since the delivery was queued or replayed: the index into the retry schedule.
    schedule_step = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=1000, blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    dead_at = models.DateTimeField(null=True, blank=True)
    replay_count = models.PositiveIntegerField(default=0)
    replayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(
                fields=["endpoint", "id"],
                name="delivery_pending_idx",
                condition=models.Q(status="pending"),
            ),
            models.Index(fields=["customer", "created_at"], name="delivery_customer_created_idx"),
            models.Index(fields=["status", "created_at"], name="delivery_status_created_idx"),
        ]

    def __str__(self) -> str:
        return self.msg_id


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    # The first 2 KB of the response body, decoded leniently.
    response_body = models.TextField(blank=True, default="")
    error = models.CharField(max_length=1000, blank=True, default="")
    succeeded = models.BooleanField(default=False)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="deliveryattempt_number_unique")]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number}"


class ExportFormat(models.TextChoices):
    X12_214 = "x12_214", "X12 214"
    EDIFACT_IFTSTA = "edifact_iftsta", "EDIFACT IFTSTA"
    CSV = "csv", "CSV"


class SftpDestination(models.Model):
    """A customer's sFTP server that receives an EDI file of new events every interval.

    ``cursor`` is the feed position (``tracking.selectors`` cursor string) up to
    which events have been uploaded and renamed into place.
    """

    customer = models.ForeignKey("tracking.Customer", on_delete=models.CASCADE, related_name="sftp_destinations")
    name = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)

    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField(default=22)
    username = models.CharField(max_length=100)
    password = EncryptedTextField(blank=True, default="")
    private_key = EncryptedTextField(blank=True, default="", help_text="OpenSSH or PEM private key text.")
    passphrase = EncryptedTextField(blank=True, default="")
    host_keys = models.TextField(
        help_text="Pinned host key(s), one OpenSSH public key line each (ssh-ed25519 AAAA…). Any other key is refused."
    )
    remote_dir = models.CharField(max_length=500, default="/")

    format = models.CharField(max_length=20, choices=ExportFormat.choices, default=ExportFormat.X12_214)
    interval_minutes = models.PositiveIntegerField(default=15)

    # EDI identifiers. X12: ISA sender/receiver with qualifiers, GS application codes.
    isa_sender_qualifier = models.CharField(max_length=2, default="ZZ")
    isa_sender_id = models.CharField(max_length=15, default="GLUEY")
    isa_receiver_qualifier = models.CharField(max_length=2, default="ZZ")
    isa_receiver_id = models.CharField(max_length=15, blank=True, default="")
    gs_sender_id = models.CharField(max_length=15, blank=True, default="")
    gs_receiver_id = models.CharField(max_length=15, blank=True, default="")
    # EDIFACT: UNB sender and recipient (with optional identification code qualifiers).
    unb_sender = models.CharField(max_length=35, default="GLUEY")
    unb_sender_qualifier = models.CharField(max_length=4, blank=True, default="")
    unb_recipient = models.CharField(max_length=35, blank=True, default="")
    unb_recipient_qualifier = models.CharField(max_length=4, blank=True, default="")
    test_indicator = models.BooleanField(default=False, help_text="Mark interchanges as test data.")

    cursor = models.CharField(max_length=100, blank=True, default="")
    # The next interchange control number; numbers are never reused.
    next_control_number = models.PositiveBigIntegerField(default=1)
    last_export_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=1000, blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)

    # One export run at a time per destination.
    lease_token = models.CharField(max_length=32, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)

    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["customer", "name"]
        constraints = [models.UniqueConstraint(fields=["customer", "name"], name="sftpdestination_name_unique")]
        verbose_name = "sFTP destination"

    def __str__(self) -> str:
        return f"{self.name} ({self.username}@{self.host}:{self.port}{self.remote_dir})"


class ExportStatus(models.TextChoices):
    PENDING = "pending"  # built and persisted; not yet renamed into place
    UPLOADED = "uploaded"


class Export(models.Model):
    """One file for one destination, persisted before upload so a retry sends the same bytes."""

    destination = models.ForeignKey(SftpDestination, on_delete=models.CASCADE, related_name="exports")
    control_number = models.PositiveBigIntegerField()
    file_name = models.CharField(max_length=255)
    format = models.CharField(max_length=20, choices=ExportFormat.choices)
    cursor_from = models.CharField(max_length=100, blank=True, default="")
    cursor_to = models.CharField(max_length=100)
    event_count = models.PositiveIntegerField()
    content = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=ExportStatus.choices, default=ExportStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=1000, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    uploaded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["destination", "control_number"], name="export_control_number_unique"),
            models.UniqueConstraint(
                fields=["destination"], condition=models.Q(status="pending"), name="export_one_pending_per_destination"
            ),
        ]

    def __str__(self) -> str:
        return self.file_name
