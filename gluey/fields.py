"""Model fields whose values are encrypted at rest with Fernet.

Keys come from FIELD_ENCRYPTION_KEY (comma-separated, newest first), so a key
can be rotated: new writes use the first key, older ciphertexts still decrypt.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models.expressions import Combinable


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k.encode()) for k in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured(
            "An encrypted field could not be decrypted: FIELD_ENCRYPTION_KEY does not hold the key it was written with"
        ) from None


class EncryptedTextField(models.TextField):
    """A text value stored as a Fernet token; empty strings stay empty."""

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return encrypt(str(value))

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value in (None, ""):
            return value
        return decrypt(value)


if TYPE_CHECKING:
    # For django-stubs: the model attribute holds a dict, not the text it is stored as.
    _JSONText = models.TextField[dict[str, Any] | Combinable, dict[str, Any]]
else:
    _JSONText = models.TextField


class EncryptedJSONField(_JSONText):
    """A JSON object stored as a Fernet token (for credential bundles)."""

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return None
        return encrypt(json.dumps(value, sort_keys=True))

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value in (None, ""):
            return {}
        return json.loads(decrypt(value))

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value) if value else {}
            except ValueError:
                from django.core.exceptions import ValidationError

                raise ValidationError("Enter valid JSON.") from None
        return value if value is not None else {}

    def value_to_string(self, obj: Any) -> str:
        return json.dumps(self.value_from_object(obj))

    def formfield(self, **kwargs: Any) -> Any:
        from django import forms

        return forms.JSONField(**{"required": False, **kwargs})
