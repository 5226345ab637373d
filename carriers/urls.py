from django.urls import path

from carriers.views import carrier_webhook

app_name = "carriers"

urlpatterns = [
    path("<str:carrier_id>/webhook", carrier_webhook, name="webhook"),
]
