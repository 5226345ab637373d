"""URLs of the ops console, mounted under ``/admin/`` (before ``admin.site.urls``) as namespace ``ops``.

Besides its own pages under ``/admin/ops/``, the console serves the code-mapping
CSV pages at the code-mapping admin's address, so tracking's admin links to them
by URL name (``ops:codemapping-import-csv``) without importing this app.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.urls import path

from ops import dashboard, views

app_name = "ops"


def _admin(view: Any) -> Any:
    return admin.site.admin_view(view)


urlpatterns = [
    path("ops/", _admin(dashboard.dashboard_view), name="dashboard"),
    path(
        "ops/carriers/<str:carrier_id>/reprocess-failed/",
        _admin(views.carrier_reprocess_failed),
        name="carrier-reprocess-failed",
    ),
    path("ops/carriers/<str:carrier_id>/reharmonise/", _admin(views.carrier_reharmonise), name="carrier-reharmonise"),
    path("ops/carriers/<str:carrier_id>/sftp-test/", _admin(views.carrier_sftp_test), name="carrier-sftp-test"),
    path("ops/endpoints/<int:endpoint_id>/replay/", _admin(views.endpoint_replay), name="endpoint-replay"),
    path("ops/endpoints/<int:endpoint_id>/test-event/", _admin(views.endpoint_test_event), name="endpoint-test-event"),
    path("ops/endpoints/<int:endpoint_id>/retry-now/", _admin(views.endpoint_retry_now), name="endpoint-retry-now"),
    path("tracking/codemapping/import-csv/", _admin(views.mappings_import_csv), name="codemapping-import-csv"),
    path("tracking/codemapping/export-csv/", _admin(views.mappings_export_csv), name="codemapping-export-csv"),
]
