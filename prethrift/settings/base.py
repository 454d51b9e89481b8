"""Settings shared by every mode, all read from the environment (12-factor, django-environ).

Variables: DATABASE_URL, DATABASE_REPLICA_URLS, REDIS_URL, CELERY_BROKER_URL, OPENAI_API_KEY,
CLIP_MODEL_PATH, VECTOR_SEARCH_CACHE_TTL, BATCH_SIZE, MAX_CONCURRENT_EMBEDDINGS, DJANGO_SECRET_KEY,
DJANGO_DEBUG, DJANGO_ALLOWED_HOSTS; security ones are in the Security section (docs/deployment.md#security).
With none of them set, the project runs on an embedded
PostgreSQL and a local-memory cache, and Celery tasks run inline.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import django_stubs_ext
import environ

django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("PRETHRIFT_VAR_DIR", BASE_DIR / "var"))

# Nothing may fetch models or data from a hub at run time; set before transformers is imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_prometheus",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc as static files: the API docs work offline
    "prethrift",
    "garments",
    "ontology",  # before embeddings: its save receiver must run first (see ontology/apps.py)
    "embeddings",
    "search",
    "storefront",  # the search page at / (templates over the search engine)
]

MIDDLEWARE = [
    "prethrift.logging.RequestIdMiddleware",  # first: every response and log line carries the request id
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "prethrift.security.ContentSecurityPolicyMiddleware",
    "prethrift.middleware.RequestBodyGuardMiddleware",  # chunked -> 411, oversized -> 413, before any read
    "prethrift.security.MetricsAccessMiddleware",
    "prethrift.security.AdminLoginThrottleMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "prethrift.replicas.ReadYourWritesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "prethrift.resilience.DatabaseUnavailableMiddleware",  # a database that does not answer: 503, not 500
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "prethrift.urls"
WSGI_APPLICATION = "prethrift.wsgi.application"
ASGI_APPLICATION = "prethrift.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


# --- Database -------------------------------------------------------------------------------
EMBEDDED_PGDATA = Path(env.str("PRETHRIFT_PGDATA", default=str(VAR_DIR / "pgdata")))
EMBEDDED_DATABASE_NAME = "prethrift"


def database_config(url: str | None, *, variable: str = "DATABASE_URL") -> dict[str, Any]:
    """DATABASE_URL when set, else the embedded PostgreSQL started on first connection."""
    if url:
        config: dict[str, Any] = environ.Env.db_url_config(url)
        if config["ENGINE"] in ("django.db.backends.postgresql_psycopg2", "django.db.backends.postgis"):
            config["ENGINE"] = "django.db.backends.postgresql"
        # A Unix-socket folder as the host: postgres://user@%2Frun%2Fpostgresql/db
        config["HOST"] = unquote(config.get("HOST") or "")
    else:
        config = {"ENGINE": "prethrift.embedded_pg", "NAME": EMBEDDED_DATABASE_NAME, "PGDATA": str(EMBEDDED_PGDATA)}
    if config["ENGINE"] not in ("django.db.backends.postgresql", "prethrift.embedded_pg"):
        raise environ.ImproperlyConfigured(f"{variable} must be PostgreSQL (with pgvector), got {config['ENGINE']}")
    config.setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    config["CONN_HEALTH_CHECKS"] = True
    return config


DATABASE_URL = env.str("DATABASE_URL", default="")
DATABASES = {"default": database_config(DATABASE_URL)}
# A primary that does not answer fails a request within this many seconds (a 503, prethrift/resilience.py)
# instead of waiting for TCP to give up (minutes); libpq's minimum is 2.
DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
    "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=3)
)
# Streaming replicas that searches may read (docs/scaling.md), comma-separated: each becomes
# DATABASES["replica_<n>"]. They mirror "default" in tests, so the test runner creates no database for them.
DATABASE_REPLICA_URLS = [url for url in env.list("DATABASE_REPLICA_URLS", default=[]) if url]
for _index, _url in enumerate(DATABASE_REPLICA_URLS):
    _replica = database_config(_url, variable="DATABASE_REPLICA_URLS")
    # A replica that does not answer costs one search this long, then is skipped until its next probe;
    # libpq's default is to wait for TCP to give up (minutes).
    _replica.setdefault("OPTIONS", {}).setdefault("connect_timeout", 2)
    DATABASES[f"replica_{_index}"] = {**_replica, "TEST": {"MIRROR": "default"}}
# A replica further behind than this many seconds is skipped: searches read the primary instead.
DATABASE_REPLICA_MAX_LAG = env.float("DATABASE_REPLICA_MAX_LAG", default=5.0)
# Read-your-writes: a client that wrote reads the primary this many seconds (longer than the usual lag).
DATABASE_REPLICA_STICKY_SECONDS = env.float("DATABASE_REPLICA_STICKY_SECONDS", default=10.0)
# Each process probes a replica's lag at most this often; a probe is one round trip.
DATABASE_REPLICA_CHECK_SECONDS = env.float("DATABASE_REPLICA_CHECK_SECONDS", default=2.0)
if min(DATABASE_REPLICA_MAX_LAG, DATABASE_REPLICA_STICKY_SECONDS, DATABASE_REPLICA_CHECK_SECONDS) < 0:
    raise environ.ImproperlyConfigured(
        "DATABASE_REPLICA_MAX_LAG, DATABASE_REPLICA_STICKY_SECONDS and DATABASE_REPLICA_CHECK_SECONDS must be >= 0"
    )
# Every ORM query goes to the primary; the search engine picks a replica explicitly (prethrift/replicas.py).
DATABASE_ROUTERS = ["prethrift.replicas.PrimaryRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


# --- Cache, Celery -----------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                # A cache that is down slows search; it must never break it.
                "IGNORE_EXCEPTIONS": True,
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
            },
        }
    }
    DJANGO_REDIS_IGNORE_EXCEPTIONS = True
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "prethrift"}}
# Throttle counts (prethrift/throttling.py): one store for every process, so N workers allow the rate once.
# Errors are not ignored here: the throttles see a store that is down and count per process instead.
CACHES["throttle"] = (
    {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {"IGNORE_EXCEPTIONS": False, "SOCKET_CONNECT_TIMEOUT": 0.25, "SOCKET_TIMEOUT": 0.25},
    }
    if REDIS_URL
    else {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "prethrift-throttle",
        "OPTIONS": {"MAX_ENTRIES": 100_000},
    }
)

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or REDIS_URL
# No broker configured: tasks run inline in the calling process, so the embedded default works alone.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
# Model work is long and idempotent: acknowledge after the work, requeue when a worker dies,
# take one task at a time so a slow batch does not hold others hostage.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A broker that is down or silent must not hold a save: enqueues give up after three short tries
# (embeddings/tasks.py PUBLISH_RETRY_POLICY) and each try waits at most these seconds; socket_timeout
# stays above kombu's 1 s BRPOP so workers are unaffected.
CELERY_BROKER_CONNECTION_TIMEOUT = 1.0
# A task taken by a worker that then dies whole (the OOM killer takes the parent and its pool, a node is
# lost) is unacknowledged: Redis hands it to another worker after visibility_timeout. It must exceed the
# hard time limit, or a slow task still running would be handed out twice; kombu's default is an hour.
CELERY_BROKER_VISIBILITY_TIMEOUT = env.int("CELERY_BROKER_VISIBILITY_TIMEOUT", default=2 * CELERY_TASK_TIME_LIMIT)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 1.0,
    "socket_timeout": 2.0,
    "visibility_timeout": CELERY_BROKER_VISIBILITY_TIMEOUT,
}
if not 0 < CELERY_TASK_SOFT_TIME_LIMIT < CELERY_TASK_TIME_LIMIT < CELERY_BROKER_VISIBILITY_TIMEOUT:
    raise environ.ImproperlyConfigured(
        "Need 0 < CELERY_TASK_SOFT_TIME_LIMIT < CELERY_TASK_TIME_LIMIT < CELERY_BROKER_VISIBILITY_TIMEOUT "
        "(a task still running must never be handed to a second worker)"
    )
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.25, "interval_max": 0.25}
CELERY_TIMEZONE = "UTC"


# --- Metrics (docs/operations.md#metrics) ------------------------------------------------------
# Multiprocess mode: every web and worker process writes its values under PROMETHEUS_MULTIPROC_DIR and a
# scrape merges them. prometheus_client reads the variable when it is imported (django_prometheus, as the
# apps load, after these settings) and opens its files there from the first value, so it must exist now.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
# garments_missing_embeddings is one aggregate over the available garments, computed at most this often
# (shared cache) however often Prometheus scrapes; 0 computes it on every scrape.
METRICS_MISSING_EMBEDDINGS_CACHE_SECONDS = env.int("METRICS_MISSING_EMBEDDINGS_CACHE_SECONDS", default=60)
# celery_queue_length asks the Redis broker at scrape time; a broker slower than this costs only that metric.
METRICS_BROKER_TIMEOUT_SECONDS = env.float("METRICS_BROKER_TIMEOUT_SECONDS", default=0.5)
# vector_search_recall: every interval, a worker samples this many garments' own vectors per space as
# queries and compares the planner's top 10 with the exact top 10 (search/recall.py).
SEARCH_RECALL_INTERVAL_SECONDS = env.int("SEARCH_RECALL_INTERVAL_SECONDS", default=15 * 60)
SEARCH_RECALL_SAMPLE_SIZE = env.int("SEARCH_RECALL_SAMPLE_SIZE", default=20)
if SEARCH_RECALL_INTERVAL_SECONDS < 1 or SEARCH_RECALL_SAMPLE_SIZE < 1 or METRICS_MISSING_EMBEDDINGS_CACHE_SECONDS < 0:
    raise environ.ImproperlyConfigured(
        "SEARCH_RECALL_INTERVAL_SECONDS and SEARCH_RECALL_SAMPLE_SIZE must be >= 1, "
        "METRICS_MISSING_EMBEDDINGS_CACHE_SECONDS >= 0"
    )
# `celery -A prethrift beat` sends these; one beat per deployment (two would measure twice as often).
CELERY_BEAT_SCHEDULE = {
    "vector-search-recall": {
        "task": "search.tasks.measure_vector_search_recall_task",
        "schedule": float(SEARCH_RECALL_INTERVAL_SECONDS),
        # A beat that was down does not send a backlog: one measurement is as good as several.
        "options": {"expires": float(SEARCH_RECALL_INTERVAL_SECONDS)},
    }
}


# --- Product settings --------------------------------------------------------------------------
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="")
CLIP_MODEL_PATH = env.str("CLIP_MODEL_PATH", default="")
VECTOR_SEARCH_CACHE_TTL = env.int("VECTOR_SEARCH_CACHE_TTL", default=3600)
BATCH_SIZE = env.int("BATCH_SIZE", default=50)
MAX_CONCURRENT_EMBEDDINGS = env.int("MAX_CONCURRENT_EMBEDDINGS", default=4)
OPENAI_EMBEDDING_MODEL = env.str("OPENAI_EMBEDDING_MODEL", default="text-embedding-3-small")
# "int8": dynamic int8 quantisation of CLIP's linear layers (4x faster here, cosine >= 0.999 to fp32).
EMBEDDINGS_CLIP_PRECISION = env.str("EMBEDDINGS_CLIP_PRECISION", default="int8")
# "auto": bfloat16 weights for the local text model where the CPU computes bf16 natively
# (2.4x faster per query here, cosine >= 0.9999 to fp32), fp32 elsewhere.
EMBEDDINGS_TEXT_PRECISION = env.str("EMBEDDINGS_TEXT_PRECISION", default="auto")
# torch intra-op threads per process; 0 means the cores this process may use.
EMBEDDINGS_TORCH_THREADS = env.int("EMBEDDINGS_TORCH_THREADS", default=0)
# Saving a garment enqueues the vectors it made stale (after the transaction commits).
EMBEDDINGS_ENQUEUE_ON_SAVE = env.bool("EMBEDDINGS_ENQUEUE_ON_SAVE", default=True)
# Saving a garment re-extracts its attributes when its words, photo or stated brand changed.
ONTOLOGY_EXTRACT_ON_SAVE = env.bool("ONTOLOGY_EXTRACT_ON_SAVE", default=True)
# The category from the text's meaning (local text model) where the words name none.
ONTOLOGY_EMBEDDING_FALLBACK = env.bool("ONTOLOGY_EMBEDDING_FALLBACK", default=True)
# Language-model extraction (opt-in: a request per garment), with OPENAI_API_KEY and OPENAI_BASE_URL.
ONTOLOGY_LLM_EXTRACTION = env.bool("ONTOLOGY_LLM_EXTRACTION", default=False)
ONTOLOGY_LLM_MODEL = env.str("ONTOLOGY_LLM_MODEL", default="gpt-4o-mini")
# One worker process per allowed concurrent model call; each gets cores / concurrency threads.
CELERY_WORKER_CONCURRENCY = MAX_CONCURRENT_EMBEDDINGS
if BATCH_SIZE < 1 or MAX_CONCURRENT_EMBEDDINGS < 1 or VECTOR_SEARCH_CACHE_TTL < 0:
    raise environ.ImproperlyConfigured(
        "BATCH_SIZE and MAX_CONCURRENT_EMBEDDINGS must be >= 1, VECTOR_SEARCH_CACHE_TTL >= 0"
    )
if EMBEDDINGS_TEXT_PRECISION not in ("auto", "fp32", "bf16"):
    raise environ.ImproperlyConfigured("EMBEDDINGS_TEXT_PRECISION must be auto, fp32 or bf16")
if EMBEDDINGS_CLIP_PRECISION not in ("int8", "fp32"):
    raise environ.ImproperlyConfigured(
        f"EMBEDDINGS_CLIP_PRECISION must be int8 or fp32, not {EMBEDDINGS_CLIP_PRECISION!r}"
    )


# --- Search ------------------------------------------------------------------------------------
# At or below this many filtered rows, vector search scans them exactly (a few ms for 2,000 rows of
# 384 floats); above, it uses HNSW (docs/search.md has the measurements behind the number).
SEARCH_EXACT_SCAN_MAX_ROWS = env.int("SEARCH_EXACT_SCAN_MAX_ROWS", default=2000)
SEARCH_HNSW_MAX_SCAN_TUPLES = env.int("SEARCH_HNSW_MAX_SCAN_TUPLES", default=20000)
# Candidates per signal: beyond rank 100, RRF's 1/(60+rank) adds little, and pool size drives
# both HNSW's ef_search and the keyword ranking cost.
SEARCH_CANDIDATES_PER_SIGNAL = env.int("SEARCH_CANDIDATES_PER_SIGNAL", default=100)
# Facet counts depend on the filters only: cached per filter set (and newest garment) this many
# seconds, so a status change shows in the counts within it; 0 computes them on every search.
SEARCH_FACETS_CACHE_TTL = env.int("SEARCH_FACETS_CACHE_TTL", default=30)
SEARCH_RRF_K = 60  # reciprocal rank fusion constant (Cormack et al.): damps the top ranks' weight
# Weight of each signal in fusion, and the boost per matched soft term (times its confidence).
SEARCH_SIGNAL_WEIGHTS = {"text": 1.0, "openai_text": 1.0, "image": 1.0, "keyword": 1.0, "trigram": 0.5}
SEARCH_SOFT_TERM_BOOSTS = {
    "subcategory": 0.03, "category": 0.01, "primary_color": 0.02, "secondary_color": 0.005, "gender": 0.02,
    "brand": 0.03, "material": 0.015, "pattern": 0.01, "style": 0.005, "fit": 0.005, "season": 0.005,
    "occasion": 0.005, "sleeve_length": 0.005, "era": 0.005, "condition": 0.01, "size": 0.01,
}  # fmt: skip


# Web processes load the query encoders when they start (prethrift/wsgi.py), not on the first search.
PRELOAD_QUERY_ENCODERS = env.bool("PRELOAD_QUERY_ENCODERS", default=True)
# /readyz (prethrift/health.py) answers within this many seconds, a check still running then is a "timeout";
# the cache is optional unless required (search works without it, only slower).
READINESS_TIMEOUT = env.float("READINESS_TIMEOUT", default=2.0)
READINESS_REQUIRE_CACHE = env.bool("READINESS_REQUIRE_CACHE", default=False)

# A public storefront searches without a token; otherwise search needs one (or a staff session).
SEARCH_ALLOW_ANONYMOUS = env.bool("SEARCH_ALLOW_ANONYMOUS", default=False)
SEARCH_MAX_IMAGE_BYTES = 10 * 1024 * 1024


# --- Auth, i18n, static and media --------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("DJANGO_MEDIA_ROOT", default=str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Uploads above this size go to a temporary file rather than memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024


# --- Security (docs/deployment.md#security) -----------------------------------------------------
# How many reverse proxies of ours append to X-Forwarded-For (nginx in front: 1). 0 uses the socket's
# address: a client-written X-Forwarded-For is never trusted, so changing it escapes no throttle.
NUM_PROXIES = env.int("DJANGO_NUM_PROXIES", default=0)
if NUM_PROXIES < 0:
    raise environ.ImproperlyConfigured("DJANGO_NUM_PROXIES must be >= 0")
# /metrics: a bearer of METRICS_TOKEN may read it; without a token it is open only if METRICS_PUBLIC.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_PUBLIC = env.bool("METRICS_PUBLIC", default=False)
API_DOCS_PUBLIC = env.bool("API_DOCS_PUBLIC", default=False)
# Admin sign-in: failures allowed per username and per client address in a window, then 429.
ADMIN_LOGIN_FAILURES_PER_USERNAME = env.int("ADMIN_LOGIN_FAILURES_PER_USERNAME", default=5)
ADMIN_LOGIN_FAILURES_PER_ADDRESS = env.int("ADMIN_LOGIN_FAILURES_PER_ADDRESS", default=20)
ADMIN_LOGIN_WINDOW_SECONDS = env.int("ADMIN_LOGIN_WINDOW_SECONDS", default=900)
# HTML pages (the search page, admin, API docs: every script and style our own, no outside host, no inline
# script) and everything else (JSON: nothing loads).
CONTENT_SECURITY_POLICY = env.str(
    "DJANGO_CONTENT_SECURITY_POLICY",
    default="default-src 'self'; script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'",
)
CONTENT_SECURITY_POLICY_API = "default-src 'none'; frame-ancestors 'none'"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])


# --- REST framework ----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "prethrift.errors.api_exception_handler",
    # Bounded: refused by Content-Length before reading, JSON depth and numbers checked (prethrift.parsers).
    "DEFAULT_PARSER_CLASSES": [
        "prethrift.parsers.BoundedJSONParser",
        "prethrift.parsers.BoundedFormParser",
        "prethrift.parsers.BoundedMultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": 20,
    # Every view without throttle_classes of its own (garments, ontology, schema): per address and per user.
    "DEFAULT_THROTTLE_CLASSES": ["prethrift.throttling.AnonRateThrottle", "prethrift.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("ANON_THROTTLE_RATE", default="60/min"),
        "user": env.str("USER_THROTTLE_RATE", default="600/min"),
        "search": env.str("SEARCH_THROTTLE_RATE", default="120/min"),
        "image_search": env.str("IMAGE_SEARCH_THROTTLE_RATE", default="20/min"),
    },
    "NUM_PROXIES": NUM_PROXIES,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Prethrift API",
    "DESCRIPTION": "Search and catalogue API for second-hand garments.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # /api/schema/ and /api/docs/: staff only unless API_DOCS_PUBLIC (local.py opens them for the demo).
    "SERVE_PERMISSIONS": [
        "rest_framework.permissions.AllowAny" if API_DOCS_PUBLIC else "rest_framework.permissions.IsAdminUser"
    ],
    # Swagger UI and ReDoc from drf-spectacular-sidecar's static files (pinned), never a CDN: the docs
    # render on a machine with no network, and the page's CSP names no outside host.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}


# --- Logging -----------------------------------------------------------------------------------
LOG_LEVEL = env.str("DJANGO_LOG_LEVEL", default="INFO")
# "json" (one object per line, for a log pipeline) or "text"; unset: JSON under production settings, text
# elsewhere (prethrift/logging.py decides once the settings module has run). Every line has a request id.
LOG_FORMAT = env.str("DJANGO_LOG_FORMAT", default="")
if LOG_FORMAT not in ("", "json", "text"):
    raise environ.ImproperlyConfigured(f"DJANGO_LOG_FORMAT must be json or text, not {LOG_FORMAT!r}")
# Celery workers keep these handlers (and so the same format) instead of installing their own on the root logger.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"configured": {"()": "prethrift.logging.configured_formatter"}},
    "filters": {"request_id": {"()": "prethrift.logging.RequestIdFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "configured", "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "pgserver": {"level": "WARNING"},  # it logs every command line at INFO
        "django.db.backends": {"level": "INFO"},
    },
}

SETTINGS_MODE = "base"
