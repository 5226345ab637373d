"""Customer API routes of the carriers app, included at the site root (no trailing slashes)."""

from django.urls import path

from carriers import api

urlpatterns = [
    path("carriers", api.CarrierListView.as_view(), name="api-carriers"),
    path("carriers/detect", api.CarrierDetectView.as_view(), name="api-carriers-detect"),
]
