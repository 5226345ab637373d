"""Typed helpers for reading settings from the environment.

Each helper raises ``ImproperlyConfigured`` naming the variable when its value
cannot be used, so a typo fails at start-up instead of at 3 a.m.
"""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None, *, environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    value = environ.get(name)
    if value is None:
        if default is None:
            raise ImproperlyConfigured(f"{name} must be set")
        return default
    return value


def env_bool(name: str, default: bool, *, environ: Mapping[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    raw = environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None, environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def env_float(
    name: str, default: float, *, minimum: float | None = None, environ: Mapping[str, str] | None = None
) -> float:
    environ = os.environ if environ is None else environ
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ImproperlyConfigured(f"{name} must be a finite number, got {raw!r}")
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum:g}, got {value:g}")
    return value


def env_floats(
    name: str, default: tuple[float, ...], *, minimum: float | None = None, environ: Mapping[str, str] | None = None
) -> tuple[float, ...]:
    """Comma-separated numbers (e.g. a retry schedule in seconds); each is checked like ``env_float``."""
    environ = os.environ if environ is None else environ
    if environ.get(name) is None:
        return tuple(default)
    return tuple(
        env_float(f"{name}[{i}]", 0.0, minimum=minimum, environ={f"{name}[{i}]": item})
        for i, item in enumerate(env_list(name, [], environ=environ))
    )


def env_list(name: str, default: list[str], *, environ: Mapping[str, str] | None = None) -> list[str]:
    environ = os.environ if environ is None else environ
    raw = environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_networks(
    name: str, default: list[str], *, environ: Mapping[str, str] | None = None
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for item in env_list(name, default, environ=environ):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(f"{name} has an invalid network {item!r} (expected e.g. 127.0.0.0/8)") from None
    return networks


def env_fernet_keys(name: str, *, environ: Mapping[str, str] | None = None) -> list[str]:
    """Comma-separated Fernet keys, newest first; older keys still decrypt."""
    from cryptography.fernet import Fernet

    keys = env_list(name, [], environ=environ)
    for key in keys:
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"{name} holds a value that is not a Fernet key (32 url-safe base64-encoded bytes)"
            ) from None
    return keys
