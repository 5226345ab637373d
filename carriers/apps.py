from django.apps import AppConfig


class CarriersConfig(AppConfig):
    name = "carriers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from carriers import receivers

        receivers.connect()
