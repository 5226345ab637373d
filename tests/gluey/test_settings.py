"""Settings fail loudly on bad values instead of starting half-configured."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from gluey.env import env_bool, env_fernet_keys, env_float, env_floats, env_int, env_networks

ROOT = Path(__file__).resolve().parents[2]


def test_env_bool_rejects_garbage():
    assert env_bool("X", False, environ={"X": "yes"}) is True
    with pytest.raises(ImproperlyConfigured, match="X must be a boolean"):
        env_bool("X", False, environ={"X": "maybe"})


def test_env_int_rejects_non_numbers_and_small_values():
    assert env_int("N", 3, environ={}) == 3
    with pytest.raises(ImproperlyConfigured, match="N must be an integer"):
        env_int("N", 3, environ={"N": "ten"})
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("N", 3, minimum=1, environ={"N": "0"})


def test_env_float_and_floats_parse_and_reject():
    assert env_float("F", 2.5, environ={}) == 2.5
    assert env_float("F", 2.5, environ={"F": "0.75"}) == 0.75
    with pytest.raises(ImproperlyConfigured, match="F must be a number, got 'soon'"):
        env_float("F", 1.0, environ={"F": "soon"})
    with pytest.raises(ImproperlyConfigured, match="F must be a finite number"):
        env_float("F", 1.0, environ={"F": "nan"})
    with pytest.raises(ImproperlyConfigured, match="at least 0"):
        env_float("F", 1.0, minimum=0, environ={"F": "-1"})
    assert env_floats("S", (1.0,), environ={}) == (1.0,)
    assert env_floats("S", (1.0,), environ={"S": "10, 30,60"}) == (10.0, 30.0, 60.0)
    with pytest.raises(ImproperlyConfigured, match=re.escape("S[1] must be a number")):
        env_floats("S", (1.0,), environ={"S": "10,later"})


def test_every_environment_variable_is_documented_in_env_example():
    read = set(re.findall(r'env_\w+\(\s*"([A-Z][A-Z0-9_]*)"', (ROOT / "gluey" / "settings.py").read_text()))
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), flags=re.MULTILINE))
    assert read, "no env_* calls found in gluey/settings.py"
    assert read - documented == set(), "add these to .env.example with a one-line comment"


def test_env_networks_parses_and_rejects():
    nets = env_networks("W", [], environ={"W": "127.0.0.0/8, ::1/128"})
    assert [str(n) for n in nets] == ["127.0.0.0/8", "::1/128"]
    with pytest.raises(ImproperlyConfigured, match="invalid network 'localhost'"):
        env_networks("W", [], environ={"W": "localhost"})


def test_fernet_keys_must_be_keys():
    with pytest.raises(ImproperlyConfigured, match="not a Fernet key"):
        env_fernet_keys("K", environ={"K": "hunter2"})


def _django_check(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DEBUG", "SECRET_KEY"}}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "false"}, "SECRET_KEY must be set"),
        ({"DEBUG": "false", "SECRET_KEY": "x" * 50}, "FIELD_ENCRYPTION_KEY must be set"),
        ({"DATABASE_URL": "nosuchdb://x"}, "DATABASE_URL"),
        ({"WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0/33"}, "WEBHOOK_ALLOWED_NETWORKS"),
        ({"DEBUG": "perhaps"}, "DEBUG must be a boolean"),
        ({"WEBHOOK_RETRY_SCHEDULE": "10,soon"}, "WEBHOOK_RETRY_SCHEDULE[1] must be a number"),
    ],
)
def test_bad_environment_stops_start_up(env, message, tmp_path):
    result = _django_check({**env, "GLUEY_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.slow  # a manage.py subprocess: seconds
def test_production_settings_start_with_required_values(tmp_path):
    from cryptography.fernet import Fernet

    result = _django_check(
        {
            "DEBUG": "false",
            "SECRET_KEY": "s" * 60,
            "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "ALLOWED_HOSTS": "track.example.com",
            "GLUEY_VAR_DIR": str(tmp_path),
        }
    )
    assert result.returncode == 0, result.stderr
