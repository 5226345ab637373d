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
def served_over_http(settings):
    """For the WSGI layers in front of Django (tests/wsgi_support.py): plain HTTP to "testserver",
    with HSTS on as in production (it applies to answers over HTTPS)."""
    settings.ALLOWED_HOSTS = ["testserver"]
    settings.SECURE_SSL_REDIRECT = False
    settings.SECURE_HSTS_SECONDS = 3600


@pytest.fixture
def postgres_only(db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://… (CI does)")


@pytest.fixture(autouse=True)
def _lane_models_forgotten():
    """Lane models cached by one test's process must not answer in the next (its rows were rolled back)."""
    from tracking.services.prediction import lane_models_forget

    lane_models_forget()
    yield
    lane_models_forget()


@pytest.fixture(scope="session", autouse=True)
def _contract_checked():
    """Every webhook body and track response any test builds is checked against
    our published schema and Gluey's models (tests/contract/checks.py)."""
    from tests.contract import checks

    with pytest.MonkeyPatch.context() as patch:
        checks.install(patch)
        yield checks.checked
