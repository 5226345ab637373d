from django.urls import path

from carriers.views import carrier_push_token, carrier_webhook

app_name = "carriers"

urlpatterns = [
    path("<str:carrier_id>/webhook", carrier_webhook, name="webhook"),
    path("<str:carrier_id>/oauth/token", carrier_push_token, name="push_token"),
]
