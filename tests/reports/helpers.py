"""Test helpers for the reports: an independent Wilson interval and HTML checks."""

from __future__ import annotations

import math
import re
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


def wilson_reference(k: int, n: int) -> tuple[float, float]:
    """Wilson 95% interval written out from the textbook formula (z = 1.96)."""
    z = 1.959963984540054
    p = k / n
    centre = (2 * n * p + z * z) / (2 * (n + z * z))
    half = z * math.sqrt(z * z + 4 * n * p * (1 - p)) / (2 * (n + z * z))
    return max(0.0, centre - half), min(1.0, centre + half)


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "action", "poster", "srcset") and value:
                self.urls.append(value)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}"
                                 f" at line {self.getpos()[0]}")
            return
        self.stack.pop()


def check_html(html: str) -> list[str]:
    """Problems that make a report page ill-formed or not self-contained."""
    c = _Checker()
    c.feed(html)
    c.close()
    problems = list(c.problems)
    if c.stack:
        problems.append(f"unclosed: {c.stack}")
    if not html.lstrip().lower().startswith("<!doctype html>"):
        problems.append("no <!DOCTYPE html>")
    for url in c.urls:
        if not url.startswith(("data:", "#")):
            problems.append(f"external resource {url[:60]!r}")
    for m in re.finditer(r"url\(\s*['\"]?([^)'\"]+)", html):
        if not m.group(1).startswith("data:"):
            problems.append(f"CSS url() to {m.group(1)!r}")
    if re.search(r"https?://|<script\b|@import", html):
        problems.append("external URL, script or @import in the page")
    return problems
