"""API keys and secrets are never stored in clear.

Every secret the personas handed over — API keys, webhook endpoint secrets
(current and rotated out), the carrier's webhook secret, sFTP passwords and
passphrases, API client secrets — is looked for in the raw database: every
column of every table, read with a cursor past the ORM (so no field decrypts
anything), as text and inside binary columns. The encrypted columns must
still decrypt to the secret through the ORM, or the test would pass on a
blanked column.
"""

from __future__ import annotations

import pytest
from django.db import connection

from carriers.models import Carrier
from notifications.models import SftpDestination, WebhookEndpoint
from tracking.models import CustomerAPIKey

pytestmark = pytest.mark.django_db


def raw_dump() -> str:
    """Every value of every column of every table, as one big string."""
    chunks: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                for value in row:
                    if value is None:
                        continue
                    if isinstance(value, (bytes, bytearray, memoryview)):
                        chunks.append(bytes(value).decode("utf-8", errors="replace"))
                    else:
                        chunks.append(str(value))
    return "\n".join(chunks)


def test_no_secret_is_stored_in_clear_anywhere(world):
    dump = raw_dump()
    assert len(dump) > 10_000  # the dump really holds the data
    leaked = [name for name, secret in world.secrets.items() if secret and secret in dump]
    assert leaked == []


def test_the_encrypted_columns_still_give_the_secrets_back(world):
    acme = world.acme
    endpoint = WebhookEndpoint.objects.get(customer=acme.customer)
    assert endpoint.secret == acme.endpoint_secret
    assert endpoint.previous_secret == world.secrets["acme rotated-out secret"]
    destination = SftpDestination.objects.get(pk=acme.destination.pk)
    assert destination.password == "acme-dest-pw-4K8" and destination.passphrase == "acme-passphrase-3J5"
    carrier = Carrier.objects.get(pk="acme-post")
    assert carrier.webhook_secret == world.secrets["carrier webhook secret"]
    assert carrier.credentials["password"] == "carrier-sftp-pw-7Q2"
    assert carrier.credentials["client_secret"] == "carrier-client-secret-9Z1"


def test_api_keys_are_stored_as_a_hash_that_still_checks(world):
    key = CustomerAPIKey.objects.get(customer=world.acme.customer)
    prefix, _, secret = world.acme.key.partition(".")
    assert key.prefix == prefix and secret not in key.hashed_key
    assert key.is_valid(world.acme.key) and not key.is_valid(world.acme.key + "x")
    # A one-way digest of a secret too long to guess: a fast hash is fine for 32 random characters.
    assert key.hashed_key.split("$", 1)[0] in {"sha512", "pbkdf2_sha256", "argon2", "bcrypt_sha256", "scrypt"}
    assert len(secret) >= 32 and secret.isalnum()


def test_secrets_in_encrypted_columns_are_unreadable_with_another_key(world, settings):
    from cryptography.fernet import Fernet

    from gluey.fields import _fernet

    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    _fernet.cache_clear()
    try:
        with pytest.raises(Exception, match="FIELD_ENCRYPTION_KEY"):
            WebhookEndpoint.objects.get(customer=world.acme.customer).secret  # noqa: B018
    finally:
        _fernet.cache_clear()
