"""Notifications records (filled by the delivery issue)."""
