"""The Celery app, configured from Django settings under the CELERY_ namespace."""

import os

from celery import Celery

# Fail closed: a deployment that forgets DJANGO_SETTINGS_MODULE gets production settings (which refuse to
# start without their secrets), never DEBUG and a published key. manage.py defaults to local for the demo.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prethrift.settings.production")

app = Celery("prethrift")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
