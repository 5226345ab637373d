"""Request and response shapes of the subscription and replay endpoints."""

from __future__ import annotations

from rest_framework import serializers


class SubscriptionCreate(serializers.Serializer):
    endpoint = serializers.CharField(max_length=2000, help_text="An https:// (or http://) URL we POST events to.")


class SubscriptionCreated(serializers.Serializer):
    endpoint = serializers.CharField()
    secret = serializers.CharField(help_text="whsec_… signing secret, shown only now.")


class SubscriptionDelete(serializers.Serializer):
    endpoint = serializers.CharField(
        max_length=2000, required=False, help_text="The endpoint to remove; without it, all are removed."
    )


class SubscriptionHealth(serializers.Serializer):
    endpoint = serializers.CharField()
    active = serializers.BooleanField()
    disabled = serializers.BooleanField()
    disabled_at = serializers.DateTimeField(allow_null=True)
    disabled_reason = serializers.CharField(allow_null=True)
    failing_since = serializers.DateTimeField(allow_null=True)
    consecutive_failures = serializers.IntegerField()
    last_success_at = serializers.DateTimeField(allow_null=True)
    last_failure_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(allow_null=True)
    next_retry_at = serializers.DateTimeField(allow_null=True)
    pending_deliveries = serializers.IntegerField()
    dead_lettered_deliveries = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class Replay(serializers.Serializer):
    since = serializers.DateTimeField(help_text="ISO 8601 with offset; deliveries created at or after this.")
    until = serializers.DateTimeField(required=False, help_text="Optional end (exclusive); default now.")

    def validate(self, attrs: dict) -> dict:
        if attrs.get("until") is not None and attrs["until"] <= attrs["since"]:
            raise serializers.ValidationError({"until": ["must be after since."]})
        return attrs


class Replayed(serializers.Serializer):
    replayed = serializers.IntegerField(help_text="Deliveries queued to be sent again.")
