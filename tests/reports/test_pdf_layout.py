"""The PDFs as a reader sees them: no two words overlap (a column header running into the
next), the metadata says what and when. Renders with poppler's ``pdftotext -bbox``."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime
from itertools import combinations

import pytest

from openlfr.reports import deployment, transparency
from openlfr.reports._pdf import pdf_table

from .conftest import make_figures
from .test_transparency import _report

WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">'
                  r"([^<]*)</word>")
AT = datetime(2026, 12, 2, 3, 4, 5, tzinfo=UTC)

needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None,
                                   reason="pdftotext (poppler-utils) is not installed")


def word_boxes(pdf: bytes) -> list[list[tuple[float, float, float, float, str]]]:
    """Per page, every word's box (x0, y0, x1, y1, text) as poppler lays it out."""
    out = subprocess.run(["pdftotext", "-bbox", "-", "-"], input=pdf, capture_output=True,
                         check=True, timeout=60).stdout.decode()
    return [[(float(a), float(b), float(c), float(d), w) for a, b, c, d, w in WORD.findall(p)]
            for p in out.split("<page ")[1:]]


def overlaps(pdf: bytes, tolerance: float = 0.5) -> list[tuple[str, str]]:
    """Pairs of words on one page whose boxes intersect by more than ``tolerance`` points."""
    bad = []
    for page in word_boxes(pdf):
        for a, b in combinations(page, 2):
            dx = min(a[2], b[2]) - max(a[0], b[0])
            dy = min(a[3], b[3]) - max(a[1], b[1])
            if dx > tolerance and dy > tolerance:
                bad.append((a[4], b[4]))
    return bad


@needs_poppler
def test_the_check_sees_an_overlap() -> None:
    """A plain reportlab table with a header wider than its column overlaps: the check
    must catch what the reports used to do."""
    from reportlab.lib.pagesizes import A4
    from reportlab.platypus import Table

    from openlfr.reports._pdf import build_pdf

    bad = build_pdf([Table([["False alert rate", "Precision"]], colWidths=[30, 30])],
                    title="t", subject="s", pagesize=A4)
    assert overlaps(bad)
    good = build_pdf([pdf_table([["False alert rate", "Precision"]], col_widths=[30, 30])],
                     title="t", subject="s", pagesize=A4)
    assert not overlaps(good)


@needs_poppler
@pytest.mark.parametrize("render", [
    lambda: transparency.render_pdf(_report(), generated_at=AT),
    lambda: deployment.render_pdf(make_figures(), generated_at=AT),
], ids=["transparency", "deployment"])
def test_report_pdfs_have_no_overlapping_text(render) -> None:  # type: ignore[no-untyped-def]
    pdf = render()
    words = [w for page in word_boxes(pdf) for *_, w in page]
    assert len(words) > 100
    assert overlaps(pdf) == []


def test_pdf_metadata_is_the_report_and_its_time() -> None:
    pdf = transparency.render_pdf(_report(), generated_at=AT)
    assert b"/CreationDate (D:20261202030405+00'00')" in pdf  # not 2000-01-01
    assert re.search(rb"/Title \(OpenLFR transparency report [^)]+\)", pdf)
    assert re.search(rb"/Subject \(LFR use in [^)]*: \d+ deployments?\)", pdf)
    # the same figures at the same moment: the same bytes
    assert pdf == transparency.render_pdf(_report(), generated_at=AT)
