"""Customer API routes, included at the site root (no trailing slashes)."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from tracking.api import views
from tracking.api.exceptions import not_found_view

# The two reads customers poll all day: gluey/urls.py lists them before every other route, so
# resolving their path does not first try every app's patterns (a third of Django's own cost
# of a read).
track_urlpatterns = [
    path("shipments/<str:id>/track", views.ShipmentTrackView.as_view(), name="api-shipment-track"),
    path("track", views.BatchTrackView.as_view(), name="api-track"),
]

urlpatterns = [
    path("shipments", views.ShipmentCreateView.as_view(), name="api-shipments"),
    path("events", views.EventFeedView.as_view(), name="api-events"),
    path("api/schema", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's initialiser as a script file: no inline script for the CSP to allow.
    path("api/docs", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    # Included last at the root: every path nothing else answers is a JSON 404, even
    # with DEBUG on and for unsafe methods (no CSRF page); the admin and static files keep Django's own.
    re_path(r"^(?!admin/|static/).*$", not_found_view),
]
