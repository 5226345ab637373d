from django.apps import AppConfig


class CarriersConfig(AppConfig):
    name = "carriers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from carriers import receivers
        from carriers.services.detection import carriers_detect
        from tracking.detection import carrier_detector_install

        receivers.connect()
        # Registration without a carrier_id asks this (tracking cannot import carriers).
        carrier_detector_install(carriers_detect)
