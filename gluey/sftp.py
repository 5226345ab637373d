"""The one sFTP client wrapper, used by carrier fetch (1b) and customer exports (4b).

What it guarantees, whoever calls it:
- the server's host key must match one pinned key, else ``HostKeyError``
  before authentication (an unknown or changed key refuses the connection);
- every phase has a timeout: TCP connect, SSH banner, authentication, channel;
- downloads are bounded (``max_bytes``) with a bounded prefetch window;
- uploads go to a temporary name and are renamed into place, with
  ``posix-rename@openssh.com`` where the server offers it.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import io
import posixpath
import socket
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import paramiko

from gluey import http

RSA_ALGORITHMS = ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")


class SftpError(Exception):
    """A failed sFTP operation; the message is safe to show ops staff."""


class HostKeyError(SftpError):
    """The server presented a host key that is not pinned."""


@dataclass(frozen=True)
class RemoteFile:
    name: str
    path: str
    size: int
    mtime: int


@dataclass(frozen=True)
class SftpConfig:
    host: str
    port: int = 22
    username: str = ""
    password: str = ""
    private_key: str = ""  # PEM / OpenSSH text
    passphrase: str = ""
    # Pinned keys as OpenSSH public key lines: "ssh-ed25519 AAAA…" (comment ignored).
    host_keys: tuple[str, ...] = field(default_factory=tuple)
    connect_timeout: float = 10.0
    banner_timeout: float = 10.0
    auth_timeout: float = 15.0
    channel_timeout: float = 30.0
    # Follow the outbound address policy (gluey.http: public addresses unless WEBHOOK_ALLOWED_NETWORKS
    # opens a range). Customer destinations and the ops console's test set it; carrier fetches do not.
    public_only: bool = False

    @classmethod
    def from_settings(cls, config: dict[str, Any], credentials: dict[str, Any]) -> SftpConfig:
        """Build from a carrier's or destination's config dict and secret bundle."""
        raw_keys = config.get("host_keys") or config.get("host_key") or []
        if isinstance(raw_keys, str):
            raw_keys = [line for line in raw_keys.splitlines() if line.strip()]
        try:
            port = int(config.get("port") or 22)
        except (TypeError, ValueError):
            raise SftpError(f"port must be a number, got {config.get('port')!r}") from None
        if not config.get("host"):
            raise SftpError("host is not set")
        return cls(
            host=str(config["host"]),
            port=port,
            username=str(config.get("username") or credentials.get("username") or ""),
            password=str(credentials.get("password") or ""),
            private_key=str(credentials.get("private_key") or ""),
            passphrase=str(credentials.get("passphrase") or ""),
            host_keys=tuple(str(k) for k in raw_keys),
        )


def parse_public_key(line: str) -> tuple[str, str]:
    """'ssh-ed25519 AAAA… comment' (or 'host ssh-ed25519 AAAA…') → (type, base64)."""
    parts = line.split()
    for index, part in enumerate(parts[:-1]):
        if part.startswith(("ssh-", "ecdsa-", "sk-")):
            blob = parts[index + 1]
            try:
                base64.b64decode(blob, validate=True)
            except ValueError:
                break
            return part, blob
    raise SftpError(f"not an OpenSSH public key line: {line[:60]!r}")


def fingerprint(key: paramiko.PKey) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def key_line(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.get_base64()}"


def load_private_key(text: str, passphrase: str = "") -> paramiko.PKey:
    errors = []
    for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return kind.from_private_key(io.StringIO(text), password=passphrase or None)
        except (paramiko.SSHException, ValueError) as exc:
            errors.append(str(exc))
    raise SftpError("private key could not be read (expected an OpenSSH or PEM Ed25519, ECDSA or RSA key)")


def _open_transport(
    host: str, port: int, timeout: float, banner_timeout: float, *, public_only: bool = False
) -> paramiko.Transport:
    try:
        if public_only:
            sock = http.connect_allowed(host, port, timeout=timeout)
        else:
            sock = socket.create_connection((host, port), timeout=timeout)
    except http.BlockedAddress:
        raise SftpError(
            f"refused to connect to {host}: not a public address (WEBHOOK_ALLOWED_NETWORKS opens private ranges)"
        ) from None
    except OSError as exc:
        raise SftpError(f"cannot connect to {host}:{port}: {exc}") from None
    transport = paramiko.Transport(sock)
    transport.banner_timeout = banner_timeout
    transport.handshake_timeout = banner_timeout
    return transport


def host_key_scan(host: str, port: int = 22, timeout: float = 10.0, *, public_only: bool = False) -> tuple[str, str]:
    """Fetch a server's host key for pinning: returns (OpenSSH key line, SHA256 fingerprint)."""
    transport = _open_transport(host, port, timeout, timeout, public_only=public_only)
    try:
        transport.start_client(timeout=timeout)
        key = transport.get_remote_server_key()
        return key_line(key), fingerprint(key)
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise SftpError(f"SSH handshake with {host}:{port} failed: {exc}") from None
    finally:
        transport.close()


class SftpSession:
    def __init__(self, transport: paramiko.Transport, client: paramiko.SFTPClient) -> None:
        self.transport = transport
        self.client = client

    def list(self, remote_dir: str, pattern: str = "*") -> list[RemoteFile]:
        try:
            entries = self.client.listdir_attr(remote_dir)
        except OSError as exc:
            raise SftpError(f"cannot list {remote_dir}: {exc}") from None
        files = []
        for entry in entries:
            if entry.st_mode is not None and not stat.S_ISREG(entry.st_mode):
                continue
            if not fnmatch.fnmatch(entry.filename, pattern):
                continue
            files.append(
                RemoteFile(
                    name=entry.filename,
                    path=posixpath.join(remote_dir, entry.filename),
                    size=entry.st_size or 0,
                    mtime=int(entry.st_mtime or 0),
                )
            )
        return sorted(files, key=lambda f: (f.mtime, f.name))

    def stat(self, path: str) -> RemoteFile:
        try:
            attrs = self.client.stat(path)
        except OSError as exc:
            raise SftpError(f"cannot stat {path}: {exc}") from None
        return RemoteFile(posixpath.basename(path), path, attrs.st_size or 0, int(attrs.st_mtime or 0))

    def exists(self, path: str) -> bool:
        try:
            self.client.stat(path)
        except OSError:
            return False
        return True

    def read(self, path: str, *, max_bytes: int, prefetch_requests: int = 16) -> bytes:
        """Download a whole file, refusing anything larger than ``max_bytes``."""
        try:
            with self.client.open(path, "rb") as handle:
                size = handle.stat().st_size or 0
                if size > max_bytes:
                    raise SftpError(f"{path} is {size} bytes, over the {max_bytes}-byte limit")
                handle.prefetch(size, max_concurrent_requests=prefetch_requests)
                data = handle.read(max_bytes + 1)
        except OSError as exc:
            raise SftpError(f"cannot read {path}: {exc}") from None
        except (paramiko.SSHException, EOFError) as exc:
            raise SftpError(f"connection lost while reading {path}: {exc}") from None
        if len(data) > max_bytes:
            raise SftpError(f"{path} grew past the {max_bytes}-byte limit while reading")
        if len(data) < size and not self.transport.is_active():
            # paramiko's prefetch can end a read early, without an error, when the connection drops:
            # a short read on a dead connection is a lost connection, not a file that shrank.
            raise SftpError(f"connection lost while reading {path}: {len(data)} of {size} bytes arrived")
        return data

    def makedirs(self, path: str) -> None:
        current = "/" if path.startswith("/") else ""
        for part in [p for p in path.split("/") if p]:
            current = posixpath.join(current, part) if current else part
            if not self.exists(current):
                try:
                    self.client.mkdir(current)
                except OSError as exc:
                    raise SftpError(f"cannot create {current}: {exc}") from None

    def rename(self, source: str, target: str) -> None:
        """Atomic replace where the server supports posix-rename, else plain rename."""
        try:
            self.client.posix_rename(source, target)
            return
        except OSError as exc:
            if "unsupported" not in str(exc).lower() and "not supported" not in str(exc).lower():
                raise SftpError(f"cannot rename {source} to {target}: {exc}") from None
        except paramiko.SSHException:
            pass
        try:
            if self.exists(target):
                self.client.remove(target)
            self.client.rename(source, target)
        except OSError as exc:
            raise SftpError(f"cannot rename {source} to {target}: {exc}") from None

    def remove(self, path: str) -> None:
        try:
            self.client.remove(path)
        except OSError as exc:
            raise SftpError(f"cannot remove {path}: {exc}") from None

    def upload_atomic(self, data: bytes, remote_dir: str, name: str, *, temp_suffix: str = ".part") -> str:
        """Write under a temporary name, then rename into place; returns the final path."""
        final = posixpath.join(remote_dir, name)
        temp = posixpath.join(remote_dir, f".{name}{temp_suffix}")
        try:
            with self.client.open(temp, "wb") as handle:
                handle.set_pipelined(True)
                handle.write(data)
        except OSError as exc:
            raise SftpError(f"cannot write {temp}: {exc}") from None
        except (paramiko.SSHException, EOFError) as exc:
            raise SftpError(f"connection lost while writing {temp}: {exc}") from None
        attrs = self.client.stat(temp)
        if attrs.st_size != len(data):
            raise SftpError(f"{temp} has {attrs.st_size} bytes after upload, expected {len(data)}")
        self.rename(temp, final)
        return final


@contextmanager
def sftp_open(cfg: SftpConfig) -> Iterator[SftpSession]:
    """Connect, check the pinned host key, authenticate, and yield a session."""
    if not cfg.host_keys:
        raise HostKeyError(f"no host key is pinned for {cfg.host}:{cfg.port}; fetch it and pin it first")
    pinned = {parse_public_key(line) for line in cfg.host_keys}
    key_types: list[str] = []
    for kind, _ in pinned:
        key_types.extend(RSA_ALGORITHMS if kind == "ssh-rsa" else (kind,))
    transport = _open_transport(
        cfg.host, cfg.port, cfg.connect_timeout, cfg.banner_timeout, public_only=cfg.public_only
    )
    try:
        options = transport.get_security_options()
        supported = [k for k in key_types if k in options.key_types]
        if supported:
            # Ask for a key type we pinned, so a server with several keys shows the right one.
            options.key_types = supported
        try:
            transport.start_client(timeout=cfg.banner_timeout)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise SftpError(f"SSH handshake with {cfg.host}:{cfg.port} failed: {exc}") from None
        server_key = transport.get_remote_server_key()
        if (server_key.get_name(), server_key.get_base64()) not in pinned:
            raise HostKeyError(
                f"host key of {cfg.host}:{cfg.port} ({server_key.get_name()} {fingerprint(server_key)}) "
                "does not match the pinned key; refusing to connect"
            )
        transport.auth_timeout = cfg.auth_timeout
        try:
            if cfg.private_key:
                transport.auth_publickey(cfg.username, load_private_key(cfg.private_key, cfg.passphrase))
            else:
                transport.auth_password(cfg.username, cfg.password)
        except paramiko.AuthenticationException:
            raise SftpError(f"authentication as {cfg.username!r} on {cfg.host}:{cfg.port} failed") from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise SftpError(f"authentication on {cfg.host}:{cfg.port} failed: {exc}") from None
        try:
            client = paramiko.SFTPClient.from_transport(transport)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise SftpError(f"cannot open the sftp subsystem on {cfg.host}:{cfg.port}: {exc}") from None
        if client is None:
            raise SftpError(f"cannot open the sftp subsystem on {cfg.host}:{cfg.port}")
        channel = client.get_channel()
        assert channel is not None  # from_transport opened it
        channel.settimeout(cfg.channel_timeout)
        try:
            yield SftpSession(transport, client)
        finally:
            try:
                client.close()
            except (paramiko.SSHException, OSError, EOFError):
                # The connection is already gone (e.g. dropped mid-transfer): closing must
                # not replace the SftpError the caller is handling with an EOFError.
                pass
    finally:
        transport.close()
