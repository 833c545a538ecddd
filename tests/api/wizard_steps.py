"""Filling the deployment wizard in a Playwright page (shared by the browser tests)."""

from __future__ import annotations

from typing import Any


def fill_wizard(page: Any, *, name: str, kind: str, cameras: list[tuple[str, str]],
                categories: list[str], signage: bool, place: str = "test bench") -> None:
    """Walk the six steps of a new deployment, up to the review (not saved)."""
    page.fill("#w-name", name)
    page.select_option("#w-kind", kind)
    page.fill("#w-purpose", "Test the console end to end")
    page.fill("#w-legal", "test")
    page.click("#w-next")
    page.fill("#w-place", place)
    page.click("#w-next")
    rows = page.locator("#w-cameras tr")
    for i, (cam, src) in enumerate(cameras):
        if i >= rows.count():
            page.click("#w-add-camera")
        rows.nth(i).locator(".cam-id").fill(cam)
        rows.nth(i).locator(".cam-src").fill(src)
    page.click("#w-next")
    for c in categories:
        page.check(f"#w-categories input[value={c}]")
    page.click("#w-next")
    page.fill("#w-dpia", "DPIA-TEST")
    if signage:
        page.check("#w-sign")
    page.click("#w-next")
