from django.contrib import admin
from django.urls import include, path

from gluey import health
from ops import metrics
from tracking.api.urls import track_urlpatterns

urlpatterns = [
    *track_urlpatterns,  # first: customers' hot reads (tracking/api/urls.py)
    path("healthz", health.healthz, name="healthz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    # The ops console (staff only) inside the admin; before admin.site.urls so its paths win.
    path("admin/", include("ops.urls", namespace="ops")),
    path("admin/", admin.site.urls),
    path("", include("carriers.api_urls")),
    path("carriers/", include("carriers.urls")),
    path("", include("notifications.urls")),
    # Last: it ends with the catch-all that answers every other path in JSON.
    path("", include("tracking.api.urls")),
]

# JSON {"detail": ...} for API paths, Django's pages under /admin/.
handler404 = "tracking.api.exceptions.page_not_found"
handler500 = "tracking.api.exceptions.server_error"
