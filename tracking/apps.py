from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TrackingConfig(AppConfig):
    name = "tracking"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tracking.taxonomy import sync_after_migrate

        post_migrate.connect(sync_after_migrate, sender=self, dispatch_uid="tracking.taxonomy_sync")
