"""Notifications: webhook endpoints and subscriptions, the Delivery outbox and its
attempts, retry / dead-letter / replay, and sFTP destinations with their EDI exports.

Public functions (``notifications.services``):

- ``outbox_write_for_events`` — receiver of ``tracking.signals.events_recorded``
  (inside the recording transaction: two statements, wakes senders after commit)
- ``endpoint_subscribe`` / ``endpoint_unsubscribe`` / ``endpoint_enable`` /
  ``endpoint_disable`` / ``endpoint_url_validate`` / ``secret_generate``
- ``endpoint_deliver`` — drain one endpoint in order under its lease
- ``endpoint_send_test`` — the admin's test event; ``delivery_headers`` /
  ``endpoint_signers`` — Standard Webhooks signing; ``retry_delay`` /
  ``retry_after_seconds`` — retry timing
- ``deliveries_requeue`` / ``deliveries_replay`` / ``deliveries_sweep`` /
  ``deliveries_purge``
- ``export_run`` / ``export_enqueue`` / ``sftp_destination_validate`` /
  ``sftp_destination_schedule`` / ``status_event`` / ``export_file_name``

Reads: ``notifications.selectors`` (``endpoints_with_health``,
``endpoint_health_dict``, ``delivery_head``). Tasks: ``notifications.tasks``
(``delivery_send``, ``delivery_sweep``, ``delivery_purge`` on queue notify;
``export_run`` on queue sftp). Commands: ``demo_receiver``,
``seed_demo_notifications``.
"""
