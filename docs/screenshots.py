"""Screenshots of the search page, the admin and the API docs for docs/img/, taken from a running demo.

    make demo                      # in one terminal
    make screenshots               # in another: writes docs/img/*.png

Debian's Chromium through Playwright, as the browser tests drive it; the demo's staff login (admin/admin).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

OUT = Path(__file__).resolve().parent / "img"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]  # fmt: skip


def shoot(page: Any, name: str, *, full_page: bool = False) -> None:
    page.wait_for_load_state("networkidle")
    path = OUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    print(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--username", default="admin")
    parser.add_argument("--password", default="admin")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, base_url=args.url)

        page.goto("/?q=blue+shirt+under+%2450")
        shoot(page, "search-page")
        page.locator("details summary", has_text="Why this result").first.click()
        page.locator("details[open]").first.scroll_into_view_if_needed()
        shoot(page, "search-why")
        page.goto("/?q=striped+velvet+wellies+under+%245")
        shoot(page, "search-empty")

        page.goto("/admin/login/")
        page.fill("#id_username", args.username)
        page.fill("#id_password", args.password)
        page.click("input[type=submit]")
        page.goto("/admin/garments/garment/?q=blue+shirt")
        page.locator("#result_list tbody tr th a").first.click()
        shoot(page, "admin-garment", full_page=True)
        page.goto("/admin/garments/garment/playground/?q=blue+shirt+under+%2450")
        page.wait_for_load_state("networkidle")
        page.evaluate("document.getElementById('playground-summary').scrollIntoView()")
        shoot(page, "admin-playground")
        page.goto("/admin/garments/garment/status/")
        shoot(page, "admin-status")

        page.goto("/api/docs/")
        page.locator(".opblock-summary-path").first.wait_for()
        shoot(page, "api-docs")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
