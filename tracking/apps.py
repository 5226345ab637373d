from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate, post_save


class TrackingConfig(AppConfig):
    name = "tracking"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tracking.api.auth import api_keys_forget
        from tracking.models import Customer, CustomerAPIKey, LaneTransitStat
        from tracking.services.prediction import lane_models_forget
        from tracking.taxonomy import sync_after_migrate

        post_migrate.connect(sync_after_migrate, sender=self, dispatch_uid="tracking.taxonomy_sync")
        # A revoked key or a deactivated customer stops working at once in this process.
        for model in (CustomerAPIKey, Customer):
            post_save.connect(
                api_keys_forget, sender=model, dispatch_uid=f"tracking.api_keys_forget.save.{model.__name__}"
            )
            post_delete.connect(
                api_keys_forget, sender=model, dispatch_uid=f"tracking.api_keys_forget.delete.{model.__name__}"
            )
        # Lane models edited in this process are read again at once (others: PREDICTION_CACHE_SECONDS).
        post_save.connect(lane_models_forget, sender=LaneTransitStat, dispatch_uid="tracking.lane_models_forget.save")
        post_delete.connect(
            lane_models_forget, sender=LaneTransitStat, dispatch_uid="tracking.lane_models_forget.delete"
        )
