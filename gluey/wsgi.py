"""The WSGI application: Django's, with the two hot track reads answered in front of it
(tracking/api/wsgi.py; docs/architecture.md, "Reads")."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gluey.settings")
django_application = get_wsgi_application()  # sets Django up: the apps' modules import after it

from tracking.api.wsgi import TrackFastPath

application = TrackFastPath(django_application)
