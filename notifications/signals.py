"""Receivers for notifications' own models: a destination's beat job follows its row."""

from __future__ import annotations

from typing import Any

from notifications.models import SftpDestination


def destination_saved(sender: type[SftpDestination], instance: SftpDestination, **kwargs: Any) -> None:
    from notifications.services import sftp_destination_schedule

    sftp_destination_schedule(destination=instance)


def destination_deleted(sender: type[SftpDestination], instance: SftpDestination, **kwargs: Any) -> None:
    from notifications.services import sftp_destination_unschedule

    sftp_destination_unschedule(destination=instance)
