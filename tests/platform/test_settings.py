"""Settings come from the environment; each mode is checked in a fresh interpreter, as a process sees it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV_NAMES = (
    "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "OPENAI_API_KEY", "CLIP_MODEL_PATH", "VECTOR_SEARCH_CACHE_TTL",
    "BATCH_SIZE", "MAX_CONCURRENT_EMBEDDINGS", "DJANGO_SECRET_KEY", "DJANGO_DEBUG", "DJANGO_ALLOWED_HOSTS",
    "DJANGO_NUM_PROXIES", "CELERY_BROKER_VISIBILITY_TIMEOUT", "CELERY_TASK_SOFT_TIME_LIMIT", "CELERY_TASK_TIME_LIMIT",
    "DJANGO_ALLOW_PER_PROCESS_THROTTLES", "METRICS_TOKEN", "METRICS_PUBLIC", "API_DOCS_PUBLIC",
)  # fmt: skip
PROBE = """
import json, django
from django.conf import settings
django.setup()
from prethrift.celery import app
print(json.dumps({
    "engine": settings.DATABASES["default"]["ENGINE"],
    "db_host": settings.DATABASES["default"].get("HOST", ""),
    "db_name": settings.DATABASES["default"]["NAME"],
    "cache": settings.CACHES["default"]["BACKEND"],
    "broker": settings.CELERY_BROKER_URL,
    "eager": settings.CELERY_TASK_ALWAYS_EAGER,
    "ttl": settings.VECTOR_SEARCH_CACHE_TTL,
    "batch": settings.BATCH_SIZE,
    "concurrency": settings.MAX_CONCURRENT_EMBEDDINGS,
    "openai": settings.OPENAI_API_KEY,
    "clip": settings.CLIP_MODEL_PATH,
    "debug": settings.DEBUG,
    "hosts": settings.ALLOWED_HOSTS,
    "secret_set": bool(settings.SECRET_KEY),
    "celery": {k: app.conf[k] for k in ("task_acks_late", "task_reject_on_worker_lost", "worker_prefetch_multiplier",
               "task_soft_time_limit", "task_time_limit", "task_serializer", "accept_content", "task_always_eager",
               "broker_url", "broker_transport_options")},
}))
"""


def run_with(env: dict[str, str], module: str = "prethrift.settings.local", code: str = PROBE):
    clean = {k: v for k, v in os.environ.items() if k not in ENV_NAMES and k != "DJANGO_SETTINGS_MODULE"}
    clean.update(env, DJANGO_SETTINGS_MODULE=module)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


def probe(env: dict[str, str], module: str = "prethrift.settings.local") -> dict:
    result = run_with(env, module)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_with_no_configuration_everything_is_embedded_and_inline():
    values = probe({})
    assert values["engine"] == "prethrift.embedded_pg"
    assert values["db_name"] == "prethrift"
    assert values["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert values["broker"] == ""
    assert values["eager"] is True
    assert (values["ttl"], values["batch"], values["concurrency"]) == (3600, 50, 4)
    assert values["debug"] is True
    assert values["secret_set"] is True
    assert values["openai"] == ""
    assert values["clip"] == ""


def test_services_come_from_the_environment():
    values = probe(
        {
            "DATABASE_URL": "postgres://shop:pw@db.internal:5433/catalogue",
            "REDIS_URL": "redis://cache.internal:6379/2",
            "VECTOR_SEARCH_CACHE_TTL": "60",
            "BATCH_SIZE": "128",
            "MAX_CONCURRENT_EMBEDDINGS": "2",
            "OPENAI_API_KEY": "sk-test",
            "CLIP_MODEL_PATH": "/models/clip",
            "DJANGO_DEBUG": "false",
            "DJANGO_ALLOWED_HOSTS": "shop.example,api.example",
        }
    )
    assert values["engine"] == "django.db.backends.postgresql"
    assert (values["db_host"], values["db_name"]) == ("db.internal", "catalogue")
    assert values["cache"] == "django_redis.cache.RedisCache"
    assert values["broker"] == "redis://cache.internal:6379/2"
    assert values["eager"] is False
    assert (values["ttl"], values["batch"], values["concurrency"]) == (60, 128, 2)
    assert values["openai"] == "sk-test"
    assert values["clip"] == "/models/clip"
    assert values["debug"] is False
    assert values["hosts"] == ["shop.example", "api.example"]


def test_celery_broker_can_differ_from_redis_and_its_configuration_is_effective():
    values = probe({"REDIS_URL": "redis://cache:6379/0", "CELERY_BROKER_URL": "amqp://guest:guest@mq:5672//"})
    celery = values["celery"]
    assert celery["broker_url"] == "amqp://guest:guest@mq:5672//"
    assert celery["task_acks_late"] is True
    assert celery["task_reject_on_worker_lost"] is True
    assert celery["worker_prefetch_multiplier"] == 1
    assert (celery["task_soft_time_limit"], celery["task_time_limit"]) == (300, 360)
    assert celery["task_serializer"] == "json"
    assert celery["accept_content"] == ["json"]
    assert celery["task_always_eager"] is False
    # a task taken by a worker that died whole goes to another after this; above the hard limit, so a
    # task still running is never handed out twice
    assert celery["broker_transport_options"]["visibility_timeout"] == 720


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BATCH_SIZE": "0"}, "BATCH_SIZE"),
        ({"DATABASE_URL": "mysql://u:p@h/db"}, "must be PostgreSQL"),
        ({"VECTOR_SEARCH_CACHE_TTL": "soon"}, "invalid literal"),
        ({"CELERY_BROKER_VISIBILITY_TIMEOUT": "300"}, "CELERY_BROKER_VISIBILITY_TIMEOUT"),
        ({"CELERY_TASK_SOFT_TIME_LIMIT": "400"}, "CELERY_TASK_SOFT_TIME_LIMIT"),
    ],
)
def test_bad_values_stop_start_up_with_a_clear_error(env, message):
    result = run_with(env)
    assert result.returncode != 0
    assert message in result.stderr


PRODUCTION = {
    "DJANGO_SECRET_KEY": "p" * 20 + "Q7#x!k2Lm9@vR4$tZ8^wE1&yU6*iO3(aS5)dF0",
    "DATABASE_URL": "postgres://shop@db.internal/catalogue",
    "DJANGO_ALLOWED_HOSTS": "shop.example",
    "REDIS_URL": "redis://cache.internal:6379/0",
}


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "DATABASE_URL", "DJANGO_ALLOWED_HOSTS", "REDIS_URL"])
def test_production_refuses_to_start_without_its_secrets(missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    result = run_with(env, "prethrift.settings.production")
    assert result.returncode != 0
    assert f"{missing} must" in result.stderr


def test_production_passes_the_deploy_checklist():
    clean = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    clean.update(PRODUCTION, DJANGO_SETTINGS_MODULE="prethrift.settings.production")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


ENTRY_POINT = """
import os, sys
import {module}
from django.conf import settings
print(os.environ["DJANGO_SETTINGS_MODULE"], settings.SETTINGS_MODE, settings.DEBUG)
"""


def run_unset(env: dict[str, str], code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A process started with no DJANGO_SETTINGS_MODULE (and none of the settings variables) but `env`."""
    clean = {k: v for k, v in os.environ.items() if k not in ENV_NAMES and k != "DJANGO_SETTINGS_MODULE"}
    clean.update(env, PRELOAD_QUERY_ENCODERS="false")
    return subprocess.run(
        [sys.executable, *(["-c", code] if code else []), *args],
        cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize("module", ["prethrift.wsgi", "prethrift.asgi", "prethrift.celery"])
def test_entry_points_fail_closed_without_a_settings_module(module):
    """A deployment that forgets DJANGO_SETTINGS_MODULE gets production: it refuses to start without its
    secrets, and with them runs with DEBUG off; never the local settings' DEBUG and published key."""
    code = ENTRY_POINT.format(module=module)
    refused = run_unset({}, code)
    assert refused.returncode != 0
    assert "DJANGO_SECRET_KEY must be set in production" in refused.stderr
    started = run_unset(PRODUCTION, code)
    assert started.returncode == 0, started.stderr
    assert started.stdout.split()[-3:] == ["prethrift.settings.production", "production", "False"]


def test_gunicorn_config_names_the_production_settings():
    code = "import os, runpy\nrunpy.run_path('deploy/gunicorn.conf.py')\nprint(os.environ['DJANGO_SETTINGS_MODULE'])\n"
    done = run_unset({}, code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "prethrift.settings.production"


def test_manage_py_keeps_the_local_default_for_the_demo():
    code = "from django.conf import settings; print(settings.SETTINGS_MODE, settings.DEBUG)"
    done = run_unset({}, "", "manage.py", "shell", "-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["local", "True"]


def test_demo_users_refuses_a_real_database_with_debug_off():
    done = run_unset(
        {"DJANGO_SETTINGS_MODULE": "prethrift.settings.local", "DJANGO_DEBUG": "false",
         "DATABASE_URL": "postgres://shop@db.internal/catalogue"},
        "", "manage.py", "demo_users",
    )  # fmt: skip
    assert done.returncode != 0
    assert "CommandError: demo_users creates well-known passwords" in done.stderr


@pytest.mark.django_db
def test_demo_users_runs_where_debug_is_on(settings):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    settings.DEBUG = True
    call_command("demo_users", stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert get_user_model().objects.get(username="admin").is_superuser


def test_production_without_redis_starts_only_when_told_and_says_so():
    env = {k: v for k, v in PRODUCTION.items() if k != "REDIS_URL"}
    result = run_with({**env, "DJANGO_ALLOW_PER_PROCESS_THROTTLES": "true"}, "prethrift.settings.production",
                      code=SECURITY_PROBE)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "throttles count per process" in result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["throttle_cache"].endswith("LocMemCache")


SECURITY_PROBE = """
import json, django
from django.conf import settings
django.setup()
from rest_framework.settings import api_settings
print(json.dumps({
    "throttle_cache": settings.CACHES["throttle"]["BACKEND"],
    "throttle_ignores_errors": settings.CACHES["throttle"].get("OPTIONS", {}).get("IGNORE_EXCEPTIONS"),
    "num_proxies": api_settings.NUM_PROXIES,
    "throttles": api_settings.DEFAULT_THROTTLE_CLASSES and [c.__name__ for c in api_settings.DEFAULT_THROTTLE_CLASSES],
    "rates": api_settings.DEFAULT_THROTTLE_RATES,
    "metrics_public": settings.METRICS_PUBLIC,
    "docs": settings.SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"],
}))
"""


def test_production_throttles_count_in_redis_behind_the_configured_proxies():
    result = run_with({**PRODUCTION, "DJANGO_NUM_PROXIES": "1", "ANON_THROTTLE_RATE": "30/min"},
                      "prethrift.settings.production", code=SECURITY_PROBE)  # fmt: skip
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["throttle_cache"] == "django_redis.cache.RedisCache"
    assert values["throttle_ignores_errors"] is False  # a store that is down is seen, not read as "no count"
    assert values["num_proxies"] == 1
    assert values["throttles"] == ["AnonRateThrottle", "UserRateThrottle"]
    assert values["rates"]["anon"] == "30/min" and values["rates"]["user"] == "600/min"
    assert values["metrics_public"] is False
    assert values["docs"] == ["rest_framework.permissions.IsAdminUser"]


def test_by_default_the_socket_address_is_the_client_and_local_shows_metrics_and_docs():
    result = run_with({}, code=SECURITY_PROBE)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["num_proxies"] == 0
    assert values["metrics_public"] is True
    assert values["docs"] == ["rest_framework.permissions.AllowAny"]


def test_a_negative_proxy_count_stops_start_up():
    result = run_with({"DJANGO_NUM_PROXIES": "-1"})
    assert result.returncode != 0
    assert "DJANGO_NUM_PROXIES must be >= 0" in result.stderr
