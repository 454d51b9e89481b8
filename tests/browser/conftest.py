"""Browser tests: Playwright's Python client driving Debian's Chromium (/usr/bin/chromium, installed by .ci/run;
never a browser Playwright downloads) against a live server this suite starts on loopback.

Fixtures:
- `site`: pytest-django's live server with a small catalogue loaded (every 8th garment of data/sample: photos,
  extracted attributes, text vectors and image vectors from a tiny random CLIP), search open to anonymous shoppers,
  and a superuser to sign in with.
- `page`: a fresh browser context and page per test. Every request to a host other than the live server is
  aborted and recorded in `blocked_requests` (the product must work with no network); errors the page's scripts
  throw and console errors (a CSP violation is one) are recorded in `console_errors`. A failing test leaves a
  screenshot in var/browser/.
- `admin_page`: `page`, signed in as the site's superuser.

Everything under tests/browser is marked `browser`. Without Chromium or Playwright the tests skip, naming what is
missing; CI installs both, so nothing skips there.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from embeddings.random_clip import build_random_clip
from embeddings.services import embed_garments
from garments.catalog_import import catalog_import
from garments.models import Garment
from ontology.services import extract_garments

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DIR = ROOT / "data" / "sample"
CHROMIUM = Path(os.environ.get("PRETHRIFT_CHROMIUM", "/usr/bin/chromium"))
# What the machine's closed network needs: without the background-networking flags Chromium keeps trying to reach
# Google's hosts. --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "var" / "browser"
CATALOGUE_STRIDE = 8  # every 8th sample row: ~60 garments of every kind, loaded in a few seconds per test
VIEWPORT = {"width": 1280, "height": 900}
PASSWORD = "browser-test-password"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)  # the page fixture reads it to decide on a screenshot
    return report


@pytest.fixture(autouse=True, scope="module")
def _orm_beside_playwright() -> Iterator[None]:
    """Playwright's sync client keeps an asyncio loop running on the test's thread while the browser is open, and
    Django refuses ORM calls while one runs; the test bodies and the database flush between tests are still plain
    synchronous code, so the check is lifted while a browser module runs, and restored once its browser is closed."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture(scope="module")
def chromium(_orm_beside_playwright: None) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (CI installs Debian's chromium package)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (requirements-dev.txt pins it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Site:
    url: str
    garment_ids: list[int]
    staff: Any
    password: str = PASSWORD
    host: str = field(init=False)

    def __post_init__(self) -> None:
        self.host = urlsplit(self.url).netloc


@pytest.fixture(scope="session")
def browser_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_random_clip(tmp_path_factory.mktemp("clip") / "tiny-clip", tiny=True, image_size=32)


def _catalogue_csv(target: Path) -> Path:
    with (SAMPLE_DIR / "styles.csv").open(newline="", encoding="utf-8") as source:
        rows = list(csv.reader(source))
    with target.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(rows[0])
        writer.writerows(rows[1::CATALOGUE_STRIDE])
    return target


@pytest.fixture
def site(live_server: Any, transactional_db: None, settings: Any, browser_clip: Path, tmp_path: Path) -> Site:
    settings.SEARCH_ALLOW_ANONYMOUS = True
    settings.CLIP_MODEL_PATH = str(browser_clip)
    catalog_import(path=_catalogue_csv(tmp_path / "styles.csv"), images_dir=SAMPLE_DIR / "images", synthesize=True)
    ids = list(Garment.objects.order_by("pk").values_list("pk", flat=True))
    extract_garments(garment_ids=ids)
    embed_garments(garment_ids=ids, space="text")
    embed_garments(garment_ids=ids, space="image")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE garments_garment")
    staff = get_user_model().objects.create_superuser("admin", "admin@example.com", PASSWORD)
    return Site(url=live_server.url, garment_ids=ids, staff=staff)


@pytest.fixture
def blocked_requests() -> list[str]:
    return []


@pytest.fixture
def console_errors() -> list[str]:
    return []


@pytest.fixture
def page(
    chromium: Any, site: Site, blocked_requests: list[str], console_errors: list[str], request: pytest.FixtureRequest
) -> Iterator[Any]:
    context = chromium.new_context(viewport=VIEWPORT, base_url=site.url)

    def only_the_site(route: Any) -> None:
        if urlsplit(route.request.url).netloc == site.host:
            route.continue_()
        else:
            blocked_requests.append(route.request.url)
            route.abort()

    context.route(re.compile(r"^https?://"), only_the_site)
    browser_page = context.new_page()
    browser_page.set_default_timeout(20_000)  # a busy 2-core CI machine; the first search loads the text model
    browser_page.on("pageerror", lambda error: console_errors.append(f"pageerror: {error}"))
    browser_page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    try:
        yield browser_page
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', request.node.name)}.png"
            browser_page.screenshot(path=str(path), full_page=True)
            print(f"screenshot of the failed page: {path}")
        context.close()


@pytest.fixture
def admin_page(page: Any, site: Site) -> Any:
    """`page` with the superuser's session cookie: signed in without going through the login form."""
    client = Client()
    client.force_login(site.staff)
    cookie = client.cookies["sessionid"]
    page.context.add_cookies([{"name": "sessionid", "value": cookie.value, "url": site.url}])
    return page


@pytest.fixture(autouse=True, scope="session")
def _clean_screenshots() -> None:
    """Screenshots are of this run's failures only."""
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
