"""Settings for the test suite: the local defaults, made fast and isolated."""

import tempfile
from pathlib import Path

from .base import env
from .local import *

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # tests create many users
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="prethrift-test-media-"))
# The throttle store shares the default cache's memory, so a test that clears the cache resets its counts.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "prethrift-test"},
    "throttle": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "prethrift-test"},
}
# One test client (127.0.0.1) makes every request of the suite: the default throttles must not trip on it.
# The throttle tests set their own rates (tests/platform/test_throttles.py).
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {**REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "anon": "100000/min", "user": "100000/min"},
}
# Tests run tasks inline unless a test starts a real worker on purpose.
CELERY_TASK_ALWAYS_EAGER = True
# Tests that exercise enqueue-on-save turn it on; the rest create garments without computing vectors.
EMBEDDINGS_ENQUEUE_ON_SAVE = False
ONTOLOGY_EXTRACT_ON_SAVE = False
# Two cores here: the suite runs one model call at a time.
EMBEDDINGS_TORCH_THREADS = 2

# The suite runs under base.py's default (search needs a sign-in), not the demo's; tests of a public storefront
# turn it on (the servers some tests start, through the environment).
SEARCH_ALLOW_ANONYMOUS = env.bool("SEARCH_ALLOW_ANONYMOUS", default=False)

SETTINGS_MODE = "test"
# Static files come from the app folders (no collectstatic in tests).
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
# Tests that import the WSGI module need no model loaded; the suites that search load it themselves.
PRELOAD_QUERY_ENCODERS = False
