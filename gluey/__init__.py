"""Project package: settings, the Celery app, root urls and shared infrastructure.

Shared infrastructure lives here because every app needs it and none owns it:
``gluey.env`` (typed settings helpers), ``gluey.fields`` (encrypted model fields).
No domain logic belongs in this package.
"""

from gluey.celery import app as celery_app

__all__ = ["celery_app"]
