"""Start OpenSSH's sshd on a free high port with its own config, for sFTP tests.

Used when /usr/sbin/sshd exists (CI installs openssh-server). The server runs
as the current user, serves the internal sftp subsystem, and accepts one
generated client key.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def sshd_available() -> bool:
    return os.path.exists(SSHD) and os.access(SSHD, os.X_OK)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keypair() -> tuple[str, str]:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return private, public


@dataclass
class Sshd:
    process: subprocess.Popen
    port: int
    username: str
    client_private_key: str
    host_key_line: str
    root: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_sshd(workdir: Path) -> Sshd:
    workdir.mkdir(parents=True, exist_ok=True)
    os.chmod(workdir, 0o755)
    host_private, host_public = _keypair()
    client_private, client_public = _keypair()
    host_key = workdir / "host_ed25519"
    host_key.write_text(host_private)
    host_key.chmod(0o600)
    authorized = workdir / "authorized_keys"
    authorized.write_text(client_public + "\n")
    authorized.chmod(0o600)
    root = workdir / "files"
    root.mkdir(exist_ok=True)
    port = _free_port()
    config = workdir / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {host_key}",
                f"AuthorizedKeysFile {authorized}",
                f"PidFile {workdir / 'sshd.pid'}",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "PermitRootLogin prohibit-password",
                "StrictModes no",
                "UsePAM no",
                "Subsystem sftp internal-sftp",
                f"ForceCommand internal-sftp -d {root}",
                "LogLevel ERROR",
            ]
        )
        + "\n"
    )
    os.makedirs("/run/sshd", exist_ok=True) if os.geteuid() == 0 else None
    process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError("sshd did not start listening within 10 s")
    parts = host_public.split()
    return Sshd(process, port, getpass.getuser(), client_private, f"{parts[0]} {parts[1]}", root)


__all__ = ["Sshd", "sshd_available", "start_sshd"]
