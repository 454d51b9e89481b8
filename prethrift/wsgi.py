"""WSGI entry point (gunicorn prethrift.wsgi; manage.py runserver for `make demo`, with manage.py's local settings)."""

import os

from django.core.wsgi import get_wsgi_application

# Fail closed: a deployment that forgets DJANGO_SETTINGS_MODULE gets production settings (which refuse to
# start without their secrets), never DEBUG and a published key. manage.py defaults to local for the demo.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prethrift.settings.production")
application = get_wsgi_application()


def _preload_query_encoders() -> None:
    """Load the query encoders now, so that the first search after start-up costs no model load
    (~4.7 s measured): under gunicorn every worker imports this module after forking, and
    runserver's serving process imports it before its first request."""
    from django.conf import settings

    if not settings.PRELOAD_QUERY_ENCODERS:
        return
    from embeddings.registry import configured_spaces, get_encoder

    for space in configured_spaces():
        get_encoder(space)


_preload_query_encoders()
