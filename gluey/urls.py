from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("carriers/", include("carriers.urls")),
    path("", include("tracking.api.urls")),
    path("", include("notifications.urls")),
]

# JSON {"detail": ...} for API paths, Django's pages under /admin/.
handler404 = "tracking.api.exceptions.page_not_found"
handler500 = "tracking.api.exceptions.server_error"
