"""Production settings pass ``manage.py check --deploy`` and send the security headers.

Both run in a subprocess with the environment production sets (DEBUG=false,
SECRET_KEY, FIELD_ENCRYPTION_KEY, ALLOWED_HOSTS), so the settings module is
read exactly as it would be there, not as this test process read it.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def production_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECURE_", "CSRF_"))}
    env.update(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="track.example.com",
        GLUEY_VAR_DIR=str(tmp_path / "var"),
        DJANGO_SETTINGS_MODULE="gluey.settings",
        PYTHONPATH=str(ROOT),
    )
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.slow  # a manage.py subprocess: seconds
def test_check_deploy_reports_no_issues(production_env):
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues (0 silenced)." in output
    assert "WARNINGS" not in output and "?:" not in output


def test_debug_off_refuses_to_start_without_its_secrets(production_env):
    for missing in ("SECRET_KEY", "FIELD_ENCRYPTION_KEY"):
        env = {k: v for k, v in production_env.items() if k != missing}
        result = run(["manage.py", "check"], env)
        assert result.returncode != 0 and missing in result.stderr


PROBE = """
from django.test import Client
c = Client(HTTP_HOST="track.example.com")
plain = c.get("/events")
secure = c.get("/events", secure=True)
other_host = c.get("/events", secure=True, HTTP_HOST="evil.example.net")
admin = c.get("/admin/login/", secure=True)
print("plain", plain.status_code, plain.get("Location", ""))
print("secure", secure.status_code)
for name in ("Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy",
             "Cross-Origin-Opener-Policy"):
    print("header", name, secure.get(name, "-"))
print("host", other_host.status_code)
print("cookie", ";".join(sorted(k for k, m in admin.cookies.items() if m["secure"] and m["httponly"] is not None)))
"""


@pytest.mark.slow  # a production server subprocess: seconds
def test_production_responses_redirect_to_https_and_carry_the_security_headers(production_env):
    result = run(["manage.py", "shell", "-c", PROBE], production_env)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
    assert lines["plain"].startswith("301 https://track.example.com/events")
    assert lines["secure"].startswith("400")  # reached the API, which wants its x-version header
    headers = {
        line.split(" ", 2)[1]: line.split(" ", 2)[2]
        for line in result.stdout.splitlines()
        if line.startswith("header ")
    }
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] != "-" and headers["Cross-Origin-Opener-Policy"] != "-"
    assert lines["host"].startswith("400")  # a Host header not in ALLOWED_HOSTS
    assert "csrftoken" in lines.get("cookie", "")
