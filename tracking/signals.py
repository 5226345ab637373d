"""Signals tracking sends; other apps connect receivers in their ready().

``events_recorded`` is sent inside the recording transaction, so receivers can
write rows (the notifications outbox) that commit or roll back with the events.
Keyword arguments: ``events`` (new TrackingEvent rows, recording order),
``shipments`` (item id → Shipment list), ``parcels`` (item id → Parcel list),
and ``correction=True`` when the events were recorded before and
re-harmonisation just changed their codes (they are delivered again).
"""

from django.dispatch import Signal

events_recorded = Signal()

# Sent inside the registration transaction with ``shipment`` and
# ``tracked_items`` (the shipment's and its parcels'), so a polling carrier can
# schedule the first check.
shipment_registered = Signal()
