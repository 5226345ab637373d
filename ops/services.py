"""What the ops console does that no app service covers: probing a carrier's sFTP
server and pinning its host key.

Everything else the console does calls the apps' own services. Like the
dashboard, this module sits above the apps; apps never import it.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field, replace

from django.db import transaction

from carriers.health import carrier_sftp_settings
from carriers.models import Carrier
from gluey import sftp


class OpsError(Exception):
    """An ops action that could not be done; the message says why and what to do."""


def key_fingerprint(key_line: str) -> str:
    """SHA256 fingerprint of an OpenSSH public key line, as ``ssh-keygen -lf`` prints it."""
    _, blob = sftp.parse_public_key(key_line)
    return "SHA256:" + base64.b64encode(hashlib.sha256(base64.b64decode(blob)).digest()).decode().rstrip("=")


def _same_key(a: str, b: str) -> bool:
    try:
        return sftp.parse_public_key(a) == sftp.parse_public_key(b)
    except sftp.SftpError:
        return False


@dataclass
class SftpProbe:
    """What a connection test found. ``login_ok`` is None when login was not tried."""

    host: str
    port: int
    key_line: str = ""
    fingerprint: str = ""
    pinned: list[tuple[str, str]] = field(default_factory=list)  # (key line, fingerprint or problem)
    matches_pin: bool = False
    is_configured_host: bool = False
    login_ok: bool | None = None
    remote_dir: str = ""
    files: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def can_pin(self) -> bool:
        return bool(self.key_line) and self.is_configured_host and not self.matches_pin


def carrier_sftp_probe(*, carrier: Carrier, host: str, port: int, timeout: float = 10.0) -> SftpProbe:
    """Fetch the host key ``host:port`` presents; for the carrier's own server with a pinned
    key, also log in and list ``remote_dir``.

    Login uses the carrier's stored credentials and only ever the pinned keys,
    exactly as the fetch job does, so a changed key fails the login.
    """
    current = carrier_sftp_settings(carrier=carrier)
    probe = SftpProbe(host=host, port=port, remote_dir=str(current["remote_dir"]))
    for line in current["pinned"]:
        try:
            probe.pinned.append((line, key_fingerprint(line)))
        except sftp.SftpError as exc:
            probe.pinned.append((line, f"unreadable: {exc}"))
    try:
        configured_port = int(current["port"])
    except (TypeError, ValueError):
        configured_port = -1
    probe.is_configured_host = bool(current["host"]) and (host, port) == (current["host"], configured_port)
    try:
        probe.key_line, probe.fingerprint = sftp.host_key_scan(host, port, timeout=timeout, public_only=True)
    except sftp.SftpError as exc:
        probe.error = str(exc)
        return probe
    probe.matches_pin = any(_same_key(probe.key_line, line) for line in current["pinned"])
    if probe.is_configured_host and current["pinned"]:
        # The login is the real test: it asks the server for a pinned key type, so a
        # server with several host keys is judged on the one we pinned, not the one scanned.
        try:
            config = replace(
                sftp.SftpConfig.from_settings(carrier.config or {}, carrier.credentials or {}), public_only=True
            )
            with sftp.sftp_open(config) as session:
                listing = session.list(probe.remote_dir or ".")
        except sftp.SftpError as exc:
            probe.login_ok = False
            probe.error = str(exc)
        else:
            probe.login_ok = True
            probe.matches_pin = True
            probe.files = sorted(f.name for f in listing)
    return probe


def carrier_host_key_pin(*, carrier_id: str, host: str, port: int, key_line: str) -> str:
    """Pin ``key_line`` as the carrier's sFTP host key, replacing the pinned one(s).

    The server is asked again first: if it no longer presents the key the
    person confirmed, nothing is saved. Returns the pinned key's fingerprint.
    """
    carrier = Carrier.objects.get(pk=carrier_id)
    current = carrier_sftp_settings(carrier=carrier)
    try:
        configured_port = int(current["port"])
    except (TypeError, ValueError):
        configured_port = -1
    if not current["host"] or (host, port) != (current["host"], configured_port):
        raise OpsError(
            f"{host}:{port} is not {carrier_id}'s configured sFTP server; set host and port in the carrier first"
        )
    try:
        expected = key_fingerprint(key_line)
        scanned_line, scanned = sftp.host_key_scan(host, port, public_only=True)
    except sftp.SftpError as exc:
        raise OpsError(f"nothing saved: {exc}") from None
    if scanned != expected or not _same_key(scanned_line, key_line):
        raise OpsError(f"nothing saved: {host}:{port} now presents {scanned}, not the confirmed {expected}")
    with transaction.atomic():
        carrier = Carrier.objects.select_for_update().get(pk=carrier_id)
        config = dict(carrier.config or {})
        # SftpConfig reads host_keys before host_key, so write to the one in use.
        if config.get("host_keys"):
            config["host_keys"] = [scanned_line]
        else:
            config["host_key"] = scanned_line
        carrier.config = config
        carrier.save(update_fields=["config", "updated_at"])
    return scanned
