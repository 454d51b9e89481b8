"""The default settings: development and `make demo`. Never for production (see production.py)."""

from .base import *
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
# An insecure key for a developer's own machine only; production.py refuses to start without one.
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="django-insecure-prethrift-local-development-only")
# Serve static files straight from the app folders while developing.
WHITENOISE_USE_FINDERS = True

SETTINGS_MODE = "local"
