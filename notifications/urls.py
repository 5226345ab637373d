"""Customer webhook routes, included at the site root (no trailing slashes)."""

from django.urls import path

from notifications.api import views

urlpatterns = [
    path(
        "accounts/<str:account_number>/webhooks/tracking/subscriptions",
        views.SubscriptionsView.as_view(),
        name="api-webhook-subscriptions",
    ),
    path(
        "accounts/<str:account_number>/webhooks/tracking/replay",
        views.ReplayView.as_view(),
        name="api-webhook-replay",
    ),
]
