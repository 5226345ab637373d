"""Carriers — the Event Service: carrier configuration and credentials, adapters
(``carriers.adapters.registry``), the inbound webhook view, sFTP fetch and API
polling tasks, and the raw ``InboundMessage`` ledger.

Events reach tracking only through ``tracking.services.events_record``.
"""
