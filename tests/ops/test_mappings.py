"""Code mappings from the admin: bulk-map unmapped codes; export and import a carrier's mappings as CSV."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tracking.models import CodeMapping, Reharmonisation, StatusCode, TrackingEvent, UnmappedCode

pytestmark = pytest.mark.django_db

EXPORT = "/admin/tracking/codemapping/export-csv/"
IMPORT = "/admin/tracking/codemapping/import-csv/"


def messages_of(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])


def upload(text: str, name: str = "map.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode("utf-8"), content_type="text/csv")


def test_bulk_map_unmapped_codes_from_the_list(ops, busy_day, eager_tasks, django_capture_on_commit_callbacks):
    unmapped = UnmappedCode.objects.get(carrier_code="ZZZ-UNKNOWN")
    status = StatusCode.objects.get(milestone="exception", code="damage_loss", sub_code="parcel_damaged")
    changelist = "/admin/tracking/unmappedcode/"
    form = ops.post(changelist, {"action": "map_codes", "_selected_action": [unmapped.pk]})
    assert form.status_code == 200 and "ZZZ-UNKNOWN" in form.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = ops.post(
            changelist,
            {
                "action": "map_codes",
                "_selected_action": [unmapped.pk],
                "apply": "1",
                "status": status.pk,
                "note": "ops",
            },
            follow=True,
        )
    assert "Mapped 1 code(s)" in messages_of(response) and "queued" in messages_of(response)
    assert not UnmappedCode.objects.exists()
    assert TrackingEvent.objects.get(carrier_code="ZZZ-UNKNOWN").code == "damage_loss"
    # The same queued path as every other start, with its progress recorded.
    job = Reharmonisation.objects.get()
    assert (job.status, job.codes, job.events_changed) == ("done", ["ZZZ-UNKNOWN"], 1)
    assert "done" in ops.get("/admin/tracking/reharmonisation/").content.decode()


def test_changelist_links_to_import_and_export(ops, busy_day):
    page = ops.get("/admin/tracking/codemapping/?carrier__id__exact=acme-post").content.decode()
    assert f'href="{IMPORT}?carrier=acme-post"' in page and f'href="{EXPORT}?carrier=acme-post"' in page


def test_export_a_carriers_mappings(ops, busy_day):
    response = ops.get(EXPORT, {"carrier": "acme-post"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="acme-post-code-mappings-' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == CodeMapping.objects.filter(carrier=busy_day.carrier).count() > 5
    hub = next(r for r in rows if r["carrier_code"] == "HUB")
    assert (hub["milestone"], hub["code"], hub["sub_code"]) == (
        "in_transit",
        "arrived_at_carrier_facility",
        "sortation_hub",
    )
    # Without a carrier, a form asks for one.
    assert "Download CSV" in ops.get(EXPORT).content.decode()


def test_export_then_import_into_another_carrier(ops, busy_day, eager_tasks, django_capture_on_commit_callbacks):
    exported = ops.get(EXPORT, {"carrier": "acme-post"}).content.decode()
    CodeMapping.objects.filter(carrier=busy_day.quiet).delete()
    with django_capture_on_commit_callbacks(execute=True):
        response = ops.post(IMPORT, {"carrier": "parcelco", "file": upload(exported)}, follow=True)
    count = CodeMapping.objects.filter(carrier=busy_day.carrier).count()
    assert f"parcelco: {count} row(s) — {count} created, 0 updated, 0 unchanged" in messages_of(response)
    assert CodeMapping.objects.filter(carrier=busy_day.quiet).count() == count


def test_import_maps_a_code_and_reharmonises_its_events(ops, busy_day, eager_tasks, django_capture_on_commit_callbacks):
    text = "carrier_code,carrier_sub_code,milestone,code,sub_code,note\nZZZ-UNKNOWN,,exception,damage_loss,parcel_damaged,crushed\n"
    with django_capture_on_commit_callbacks(execute=True):
        response = ops.post(IMPORT, {"carrier": "acme-post", "file": upload(text)}, follow=True)
    assert "1 created" in messages_of(response)
    mapping = CodeMapping.objects.get(carrier=busy_day.carrier, carrier_code="ZZZ-UNKNOWN")
    assert mapping.note == "crushed"
    event = TrackingEvent.objects.get(carrier_code="ZZZ-UNKNOWN")
    assert (event.code, event.unmapped) == ("damage_loss", False)
    assert not UnmappedCode.objects.filter(carrier_code="ZZZ-UNKNOWN").exists()


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("code,milestone\nX,start\n", "missing column(s): carrier_code"),
        (
            (
                "carrier_code,carrier_sub_code,milestone,code,sub_code\nOK1,,start,order_created,acknowledged_by_carrier\n"
                "BAD,,start,nonsense,nothing\n"
            ),
            "row 2: start/nonsense/nothing is not in the harmonised taxonomy",
        ),
        ("carrier_code,carrier_sub_code,milestone,code,sub_code\n", "no rows"),
    ],
)
def test_a_bad_file_imports_nothing_and_says_why(ops, busy_day, text, error):
    before = CodeMapping.objects.count()
    response = ops.post(IMPORT, {"carrier": "acme-post", "file": upload(text)})
    assert response.status_code == 200
    assert error in response.content.decode()
    assert CodeMapping.objects.count() == before
    assert not CodeMapping.objects.filter(carrier_code="OK1").exists()


def test_a_file_that_is_not_utf8_is_refused(ops, busy_day):
    response = ops.post(IMPORT, {"carrier": "acme-post", "file": SimpleUploadedFile("m.csv", "é".encode("latin-1"))})
    assert "not UTF-8" in response.content.decode()


def test_csv_views_need_staff_and_permissions(client, clerk, busy_day):
    assert clerk.get(EXPORT, {"carrier": "acme-post"})["Location"].startswith("/admin/login/")
    clerk.logout()
    assert client.get(IMPORT)["Location"].startswith("/admin/login/")
