"""A small sFTP server on 127.0.0.1, rooted at one directory, built on paramiko's
server classes. It serves the carrier simulator and the tests, which need a real
SSH handshake, real host keys and real file transfer without a system sshd.

Fault hooks let tests cut a connection part-way through a transfer
(``cut_after_bytes``) or hide ``posix-rename`` (``posix_rename=False``).
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Self

import paramiko
from paramiko import SFTPAttributes, SFTPHandle, SFTPServer, SFTPServerInterface
from paramiko.common import AUTH_FAILED, AUTH_SUCCESSFUL, OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED, OPEN_SUCCEEDED
from paramiko.sftp import (
    SFTP_FAILURE,
    SFTP_OK,
    SFTP_OP_UNSUPPORTED,
    SFTP_PERMISSION_DENIED,
)

if TYPE_CHECKING:
    from typing_extensions import Buffer


def generate_ed25519_key() -> paramiko.PKey:
    """paramiko cannot generate Ed25519 keys itself; cryptography can."""
    import io

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    return paramiko.Ed25519Key.from_private_key(io.StringIO(pem.decode()))


def _errno_to_sftp(exc: OSError) -> int:
    return SFTPServer.convert_errno(exc.errno) if exc.errno else SFTP_FAILURE


class _Auth(paramiko.ServerInterface):
    def __init__(self, server: SftpServer) -> None:
        self.server = server

    def get_allowed_auths(self, username: str) -> str:
        return "password,publickey"

    def check_auth_password(self, username: str, password: str) -> int:
        ok = username == self.server.username and self.server.password and password == self.server.password
        return AUTH_SUCCESSFUL if ok else AUTH_FAILED

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        keys = {(k.get_name(), k.get_base64()) for k in self.server.authorized_keys}
        ok = username == self.server.username and (key.get_name(), key.get_base64()) in keys
        return AUTH_SUCCESSFUL if ok else AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return OPEN_SUCCEEDED if kind == "session" else OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


class _Handle(SFTPHandle):
    server: SftpServer
    transport: paramiko.Transport
    # Set by _RootedSftp.open; SFTPHandle's read/write/close look them up.
    filename: str
    readfile: IO[bytes]
    writefile: IO[bytes]

    def _count(self, n: int) -> None:
        self.server._transferred(n, self.transport)

    def read(self, offset: int, length: int) -> Any:
        data = super().read(offset, length)
        if isinstance(data, bytes):
            self._count(len(data))
        return data

    def write(self, offset: int, data: Buffer) -> int:
        self._count(memoryview(data).nbytes)
        return super().write(offset, data)

    def stat(self) -> Any:
        try:
            return SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))
        except OSError as exc:
            return _errno_to_sftp(exc)


class _RootedSftp(SFTPServerInterface):
    def __init__(self, server: paramiko.ServerInterface, *args: Any, **kwargs: Any) -> None:
        super().__init__(server, *args, **kwargs)
        self.auth = server
        self.sftp_server: SftpServer = server.server  # type: ignore[attr-defined]
        self.root = self.sftp_server.root.resolve()

    def _real(self, path: str) -> Path:
        rel = self.canonicalize(path).lstrip("/")
        real = (self.root / rel).resolve()
        if real != self.root and self.root not in real.parents:
            raise PermissionError("outside the server root")
        return real

    def canonicalize(self, path: str) -> str:
        parts: list[str] = []
        for part in path.replace("\\", "/").split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if parts:
                    parts.pop()
                continue
            parts.append(part)
        return "/" + "/".join(parts)

    def list_folder(self, path: str) -> Any:
        try:
            real = self._real(path)
            out = []
            for name in sorted(os.listdir(real)):
                attr = SFTPAttributes.from_stat(os.stat(real / name))
                attr.filename = name
                out.append(attr)
            return out
        except PermissionError:
            return SFTP_PERMISSION_DENIED
        except OSError as exc:
            return _errno_to_sftp(exc)

    def stat(self, path: str) -> Any:
        try:
            return SFTPAttributes.from_stat(os.stat(self._real(path)))
        except PermissionError:
            return SFTP_PERMISSION_DENIED
        except OSError as exc:
            return _errno_to_sftp(exc)

    lstat = stat

    def open(self, path: str, flags: int, attr: SFTPAttributes) -> Any:
        try:
            real = self._real(path)
            fd = os.open(real, flags | getattr(os, "O_BINARY", 0), 0o644)
        except PermissionError:
            return SFTP_PERMISSION_DENIED
        except OSError as exc:
            return _errno_to_sftp(exc)
        if flags & os.O_WRONLY:
            mode = "ab" if flags & os.O_APPEND else "wb"
        elif flags & os.O_RDWR:
            mode = "a+b" if flags & os.O_APPEND else "r+b"
        else:
            mode = "rb"
        handle = _Handle(flags)
        handle.server = self.sftp_server
        handle.transport = self.auth.transport  # type: ignore[attr-defined]
        fobj = os.fdopen(fd, mode)
        handle.filename = str(real)
        handle.readfile = fobj
        handle.writefile = fobj
        return handle

    def remove(self, path: str) -> int:
        try:
            os.remove(self._real(path))
        except OSError as exc:
            return _errno_to_sftp(exc)
        return SFTP_OK

    def rename(self, oldpath: str, newpath: str) -> int:
        # SFTP v3 rename must fail when the target exists; posix-rename replaces.
        try:
            target = self._real(newpath)
            if target.exists():
                return SFTP_FAILURE
            os.rename(self._real(oldpath), target)
        except OSError as exc:
            return _errno_to_sftp(exc)
        return SFTP_OK

    def posix_rename(self, oldpath: str, newpath: str) -> int:
        if not self.sftp_server.posix_rename:
            return SFTP_OP_UNSUPPORTED
        try:
            os.replace(self._real(oldpath), self._real(newpath))
        except OSError as exc:
            return _errno_to_sftp(exc)
        return SFTP_OK

    def mkdir(self, path: str, attr: SFTPAttributes) -> int:
        try:
            os.mkdir(self._real(path))
        except OSError as exc:
            return _errno_to_sftp(exc)
        return SFTP_OK

    def rmdir(self, path: str) -> int:
        try:
            os.rmdir(self._real(path))
        except OSError as exc:
            return _errno_to_sftp(exc)
        return SFTP_OK

    def chattr(self, path: str, attr: SFTPAttributes) -> int:
        try:
            real = self._real(path)
            if attr.st_mtime is not None:
                os.utime(real, (attr.st_atime or attr.st_mtime, attr.st_mtime))
        except OSError as exc:
            return _errno_to_sftp(exc)
        return SFTP_OK


class SftpServer:
    """Serve ``root`` over sFTP on ``host:port`` (port 0 picks a free one)."""

    def __init__(
        self,
        root: Path | str,
        *,
        username: str = "gluey",
        password: str = "",
        authorized_keys: list[paramiko.PKey] | None = None,
        host_key: paramiko.PKey | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        posix_rename: bool = True,
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.username = username
        self.password = password
        self.authorized_keys = authorized_keys or []
        self.host_key = host_key or generate_ed25519_key()
        self.host = host
        self.posix_rename = posix_rename
        self.cut_after_bytes: int | None = None
        self._lock = threading.Lock()
        self._bytes = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.port = self._sock.getsockname()[1]
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._transports: list[paramiko.Transport] = []

    @property
    def host_key_line(self) -> str:
        return f"{self.host_key.get_name()} {self.host_key.get_base64()}"

    def cut_connection_after(self, n_bytes: int | None) -> None:
        """Drop the connection once ``n_bytes`` more file bytes have moved (None: never)."""
        with self._lock:
            self.cut_after_bytes = n_bytes
            self._bytes = 0

    def _transferred(self, n: int, transport: paramiko.Transport) -> None:
        with self._lock:
            if self.cut_after_bytes is None:
                return
            self._bytes += n
            cut = self._bytes >= self.cut_after_bytes
            if cut:
                self.cut_after_bytes = None
        if cut:
            transport.close()
            raise EOFError("connection cut by the test server")

    def start(self) -> Self:
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._serve, name=f"sftp-server-{self.port}", daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            conn.settimeout(None)
            transport = paramiko.Transport(conn)
            transport.add_server_key(self.host_key)
            transport.set_subsystem_handler("sftp", SFTPServer, _RootedSftp)
            auth = _Auth(self)
            try:
                transport.start_server(server=auth)
            except (paramiko.SSHException, EOFError, OSError):
                transport.close()
                continue
            auth.transport = transport  # type: ignore[attr-defined]
            self._transports.append(transport)

    def stop(self) -> None:
        self._stopping.set()
        for transport in self._transports:
            transport.close()
        self._sock.close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
