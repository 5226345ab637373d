"""Notifications: webhook endpoints and subscriptions, the Delivery outbox and its
attempts, retry / dead-letter / replay, and sFTP destinations with their EDI exports.

Public functions: ``notifications.services.outbox_write_for_events`` (the
receiver of ``tracking.signals.events_recorded``).
"""
