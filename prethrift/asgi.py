"""ASGI entry point."""

import os

from django.core.asgi import get_asgi_application

# Fail closed: a deployment that forgets DJANGO_SETTINGS_MODULE gets production settings (which refuse to
# start without their secrets), never DEBUG and a published key. manage.py defaults to local for the demo.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prethrift.settings.production")
application = get_asgi_application()
