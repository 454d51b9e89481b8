"""The default settings: development and `make demo`. Never for production (see production.py)."""

from .base import *
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
# An insecure key for a developer's own machine only; production.py refuses to start without one.
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="django-insecure-prethrift-local-development-only")
# Serve static files straight from the app folders while developing.
WHITENOISE_USE_FINDERS = True
# The demo shows its metrics and API docs to anyone on the developer's machine (production does not).
METRICS_PUBLIC = env.bool("METRICS_PUBLIC", default=True)
API_DOCS_PUBLIC = env.bool("API_DOCS_PUBLIC", default=True)
# The demo is a storefront on the developer's own machine: the search page at / and the search API answer
# without signing in (production keeps base.py's default: search needs a token or a session).
SEARCH_ALLOW_ANONYMOUS = env.bool("SEARCH_ALLOW_ANONYMOUS", default=True)
SPECTACULAR_SETTINGS = {
    **SPECTACULAR_SETTINGS,
    "SERVE_PERMISSIONS": [
        "rest_framework.permissions.AllowAny" if API_DOCS_PUBLIC else "rest_framework.permissions.IsAdminUser"
    ],
}

SETTINGS_MODE = "local"
