import pytest
from django.db import connection

from tests.factories import make_carrier, make_customer


@pytest.fixture
def carrier(db):
    return make_carrier()


@pytest.fixture
def acme(db):
    customer, key = make_customer("acme")
    customer.api_key = key
    return customer


@pytest.fixture
def postgres_only(db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://… (CI does)")
