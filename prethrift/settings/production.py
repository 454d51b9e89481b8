"""Production settings: nothing secret has a default, and `manage.py check --deploy` passes."""

import logging

from django.core.exceptions import ImproperlyConfigured

from .base import *
from .base import DATABASE_URL, REDIS_URL, SECRET_KEY, env

DEBUG = False
if not SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set in production (50+ random characters).")
if not DATABASE_URL:
    raise ImproperlyConfigured("DATABASE_URL must be set in production; the embedded database is for development.")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=[])
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must name the hosts this service answers for.")

# Throttles count in Redis, shared by every worker (prethrift/throttling.py). Without it each process counts
# alone: N workers allow N times each rate, and a restarted worker forgets. Only an explicit opt-out starts so.
if not REDIS_URL:
    if not env.bool("DJANGO_ALLOW_PER_PROCESS_THROTTLES", default=False):
        raise ImproperlyConfigured(
            "REDIS_URL must be set in production: throttles count in Redis, shared by every worker "
            "(DJANGO_ALLOW_PER_PROCESS_THROTTLES=true starts without it, with per-process throttles)."
        )
    logging.getLogger("prethrift.settings").error(
        "REDIS_URL is not set and DJANGO_ALLOW_PER_PROCESS_THROTTLES=true: throttles count per process, so "
        "every web worker allows the full rate and a restarted worker forgets its counts"
    )

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# Health checks and Prometheus scrape over plain HTTP inside the cluster: /metrics needs METRICS_TOKEN
# (without one it is not found), and deploy/nginx/prethrift.conf keeps it off the public side.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

SETTINGS_MODE = "production"
