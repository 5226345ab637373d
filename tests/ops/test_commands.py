"""`manage.py reharmonise`: one-line errors, JSON counts, a progress bar on stderr."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from tracking.models import CodeMapping, StatusCode, TrackingEvent

pytestmark = pytest.mark.django_db


def test_reharmonise_a_carrier_with_a_progress_bar(busy_day):
    status = StatusCode.objects.get(milestone="exception", code="damage_loss", sub_code="parcel_damaged")
    CodeMapping.objects.create(carrier=busy_day.carrier, carrier_code="ZZZ-UNKNOWN", status=status)
    out, err = io.StringIO(), io.StringIO()
    call_command("reharmonise", "acme-post", stdout=out, stderr=err)
    assert json.loads(out.getvalue()) == {"carrier_id": "acme-post", "events_changed": 1}
    assert "refreshing shipment states" in err.getvalue() and "100%" in err.getvalue()
    assert TrackingEvent.objects.get(carrier_code="ZZZ-UNKNOWN").code == "damage_loss"
    # Nothing left to change the second time.
    out = io.StringIO()
    call_command("reharmonise", "acme-post", "--code", "ZZZ-UNKNOWN", "--no-progress", stdout=out, stderr=io.StringIO())
    assert json.loads(out.getvalue())["events_changed"] == 0


def test_unknown_carrier_is_a_one_line_error(db):
    with pytest.raises(CommandError, match="unknown carrier 'nope'"):
        call_command("reharmonise", "nope", stdout=io.StringIO(), stderr=io.StringIO())
