"""Waiting for photos in a page under test: wait_for_function would evaluate a string, which the pages' CSP
(no 'unsafe-eval') refuses, so the wait is a promise evaluated over the images themselves."""

from __future__ import annotations

from typing import Any

# Every image loads or fails (lazy ones are asked for now); the result is how many the browser decoded
# (a broken or blocked image has naturalWidth 0).
SETTLED = """imgs => Promise.all(imgs.map(img => {
    img.loading = "eager";
    return img.complete ? 0 : new Promise(done => {
        img.addEventListener("load", done); img.addEventListener("error", done);
    });
})).then(() => imgs.filter(img => img.naturalWidth > 0).length)"""


def decoded_images(locator: Any) -> int:
    """How many of the images `locator` matches the browser loaded and decoded, once each has settled."""
    return int(locator.evaluate_all(SETTLED))
