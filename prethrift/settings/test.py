"""Settings for the test suite: the local defaults, made fast and isolated."""

import tempfile
from pathlib import Path

from .local import *

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # tests create many users
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="prethrift-test-media-"))
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "prethrift-test"}}
# Tests run tasks inline unless a test starts a real worker on purpose.
CELERY_TASK_ALWAYS_EAGER = True
# Tests that exercise enqueue-on-save turn it on; the rest create garments without computing vectors.
EMBEDDINGS_ENQUEUE_ON_SAVE = False
ONTOLOGY_EXTRACT_ON_SAVE = False
# Two cores here: the suite runs one model call at a time.
EMBEDDINGS_TORCH_THREADS = 2

SETTINGS_MODE = "test"
# Static files come from the app folders (no collectstatic in tests).
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
# Tests that import the WSGI module need no model loaded; the suites that search load it themselves.
PRELOAD_QUERY_ENCODERS = False
