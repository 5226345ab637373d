from django.apps import AppConfig


class EdiConfig(AppConfig):
    """Installed only so ``manage.py edi`` is found; the library has no models."""

    name = "edi"
    verbose_name = "EDI"
