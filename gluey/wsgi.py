"""The WSGI application: Django's, with the hot routes answered in front of it — the two track
reads (tracking/api/wsgi.py; docs/architecture.md, "Reads") and the carrier webhooks
(carriers/wsgi.py; "Inbound carrier webhooks")."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gluey.settings")
django_application = get_wsgi_application()  # sets Django up: the apps' modules import after it

from carriers.wsgi import WebhookFastPath
from tracking.api.wsgi import TrackFastPath

application = WebhookFastPath(TrackFastPath(django_application))
