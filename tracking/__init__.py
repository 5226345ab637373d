"""Tracking: customers and API keys, tracked items, shipments, parcels, events, the taxonomy.

Public functions:
- ``tracking.services.events_record`` — the one recording service for every channel.
- ``tracking.services.events_reharmonise`` / ``code_mappings_import`` — mapping changes.
- ``tracking.services.shipment_register`` — a customer's registration.
- ``tracking.selectors`` — reads (event feed, track views).
- ``tracking.signals.events_recorded`` — sent inside the recording transaction.
- ``tracking.types.CarrierEvent`` — the neutral event every channel produces.
"""
