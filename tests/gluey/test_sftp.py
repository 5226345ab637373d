"""The sFTP client wrapper against real SSH servers: paramiko's in-process one
always, OpenSSH's sshd where it is installed (CI installs it)."""

from __future__ import annotations

import pytest

from gluey.sftp import HostKeyError, SftpConfig, SftpError, host_key_scan, sftp_open
from gluey.sftp_server import SftpServer, generate_ed25519_key
from tests.sshd import sshd_available, start_sshd


@pytest.fixture
def server(tmp_path):
    with SftpServer(tmp_path / "root", password="s3cret") as srv:
        yield srv


def config(srv: SftpServer, **overrides) -> SftpConfig:
    base = {
        "host": "127.0.0.1",
        "port": srv.port,
        "username": "gluey",
        "password": "s3cret",
        "host_keys": (srv.host_key_line,),
    }
    return SftpConfig(**{**base, **overrides})


def test_upload_is_atomic_and_reads_back(server):
    with sftp_open(config(server)) as sftp:
        sftp.makedirs("/out")
        path = sftp.upload_atomic(b"ISA*00*...~" * 100, "/out", "file.edi")
        assert path == "/out/file.edi"
        assert [f.name for f in sftp.list("/out")] == ["file.edi"]
        assert sftp.read(path, max_bytes=10_000) == b"ISA*00*...~" * 100


def test_rename_falls_back_when_server_lacks_posix_rename(tmp_path):
    with SftpServer(tmp_path, password="s3cret", posix_rename=False) as srv, sftp_open(config(srv)) as sftp:
        sftp.upload_atomic(b"one", "/", "f.txt")
        sftp.upload_atomic(b"two", "/", "f.txt")  # replaces: rename alone would refuse
        assert sftp.read("/f.txt", max_bytes=10) == b"two"


def test_changed_host_key_is_refused_before_authentication(server):
    other = generate_ed25519_key()
    with (
        pytest.raises(HostKeyError, match="does not match the pinned key"),
        sftp_open(config(server, host_keys=(f"ssh-ed25519 {other.get_base64()}",), password="wrong")),
    ):
        pass


def test_no_pinned_key_is_refused(server):
    with pytest.raises(HostKeyError, match="no host key is pinned"), sftp_open(config(server, host_keys=())):
        pass


def test_wrong_password_is_a_clear_error(server):
    with pytest.raises(SftpError, match="authentication as 'gluey'"), sftp_open(config(server, password="nope")):
        pass


def test_oversized_download_is_refused(server):
    (server.root / "big.bin").write_bytes(b"x" * 5000)
    with sftp_open(config(server)) as sftp, pytest.raises(SftpError, match="over the 1000-byte limit"):
        sftp.read("/big.bin", max_bytes=1000)


def test_connection_cut_mid_upload_leaves_no_final_file(server):
    server.cut_connection_after(10_000)
    with pytest.raises(SftpError, match="connection lost|cannot write"), sftp_open(config(server)) as sftp:
        sftp.upload_atomic(b"y" * 200_000, "/", "export.edi")
    assert not (server.root / "export.edi").exists()


def test_host_key_scan_returns_the_pin_line(server):
    line, fp = host_key_scan("127.0.0.1", server.port)
    assert line == server.host_key_line and fp.startswith("SHA256:")


def test_unreachable_host_is_a_clear_error():
    with (
        pytest.raises(SftpError, match="cannot connect"),
        sftp_open(SftpConfig(host="127.0.0.1", port=1, host_keys=("ssh-ed25519 AAAA",), connect_timeout=2)),
    ):
        pass


@pytest.fixture
def sshd(tmp_path):
    if not sshd_available():
        pytest.skip("OpenSSH sshd is not installed (CI installs openssh-server)")
    server = start_sshd(tmp_path / "sshd")
    yield server
    server.stop()


def test_openssh_upload_rename_and_pinning(sshd):
    cfg = SftpConfig(
        host="127.0.0.1",
        port=sshd.port,
        username=sshd.username,
        private_key=sshd.client_private_key,
        host_keys=(sshd.host_key_line,),
    )
    with sftp_open(cfg) as sftp:
        sftp.upload_atomic(b"hello", str(sshd.root), "a.txt")
        assert sftp.read(f"{sshd.root}/a.txt", max_bytes=100) == b"hello"
    assert (sshd.root / "a.txt").read_bytes() == b"hello"
    wrong = SftpConfig(**{**cfg.__dict__, "host_keys": (f"ssh-ed25519 {generate_ed25519_key().get_base64()}",)})
    with pytest.raises(HostKeyError), sftp_open(wrong):
        pass
