"""WSGI entry point (gunicorn prethrift.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prethrift.settings.local")
application = get_wsgi_application()
