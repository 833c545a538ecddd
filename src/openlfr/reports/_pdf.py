"""PDF building blocks shared by the reports: styles, tables whose cells wrap (so no text
runs into the next column), and a document builder whose metadata is right.

Reproducible and honest at once: reportlab's ``invariant`` mode (no random file id, no
wall-clock time) is on, and the creation date it would pin to 2000-01-01 is set to the
report's ``generated_at`` instead. The same figures generated at the same moment give the
same bytes; the PDF's creation date is when the report was made.
"""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.lib.utils import TimeStamp
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Table, TableStyle

__all__ = ["pdf_styles", "pdf_table", "pdf_escape", "build_pdf", "plural"]

_GRID = colors.HexColor("#d6dbe3")


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 deployment``, ``2 deployments``, ``1,204 alerts`` (``many`` for irregular ones)."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def pdf_styles() -> dict[str, ParagraphStyle]:
    ss = getSampleStyleSheet()
    return {
        "title": ParagraphStyle("t", parent=ss["Title"], alignment=0, fontSize=18, leading=22),
        "h2": ParagraphStyle("h2", parent=ss["Heading2"], fontSize=12.5, leading=15,
                             spaceBefore=10, textColor=colors.HexColor("#0b5d8f")),
        "body": ParagraphStyle("b", parent=ss["BodyText"], fontSize=9.5, leading=12.5),
        "cell": ParagraphStyle("c", parent=ss["BodyText"], fontSize=8.5, leading=10.5),
        "small": ParagraphStyle("s", parent=ss["BodyText"], fontSize=8, leading=10,
                                textColor=colors.HexColor("#5b6575")),
        "banner": ParagraphStyle("bn", parent=ss["BodyText"], fontSize=9.5, leading=12.5,
                                 backColor=colors.HexColor("#fff4d6"), borderPadding=5,
                                 textColor=colors.HexColor("#8a5a00")),
    }


def _cell_styles() -> dict[tuple[bool, bool], ParagraphStyle]:
    """(bold, right-aligned) -> the style of a table cell."""
    out = {}
    for bold in (False, True):
        for right in (False, True):
            out[bold, right] = ParagraphStyle(
                f"cell{int(bold)}{int(right)}", fontName="Helvetica-Bold" if bold
                else "Helvetica", fontSize=8.5, leading=10.2, alignment=TA_RIGHT if right
                else 0, splitLongWords=True)
    return out


def pdf_table(rows: Sequence[Sequence[Any]], col_widths: list[float] | None = None,
              header: bool = True, numeric_cols: tuple[int, ...] = (),
              footer: bool = False) -> Table:
    """A plain table: light grid, shaded header, numbers right-aligned. Text cells (already
    escaped, see :func:`pdf_escape`) become paragraphs that wrap within their column, so a
    header such as "False alert rate" never runs into its neighbour."""
    styles = _cell_styles()
    last = len(rows) - 1

    def cell(value: Any, r: int, c: int) -> Any:
        if not isinstance(value, str):
            return value  # a flowable already
        bold = (header and r == 0) or (footer and r == last)
        return Paragraph(value, styles[bold, c in numeric_cols])

    t = Table([[cell(v, r, c) for c, v in enumerate(row)] for r, row in enumerate(rows)],
              colWidths=col_widths, repeatRows=1 if header else 0, hAlign="LEFT")
    style: list[tuple[Any, ...]] = [
        ("LINEBELOW", (0, 0), (-1, -1), 0.4, _GRID), ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5)]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f0f3f7")))
    if footer:
        style.append(("LINEABOVE", (0, -1), (-1, -1), 1.0, colors.black))
    t.setStyle(TableStyle(style))
    return t


def pdf_escape(text: str) -> str:
    """Escape for reportlab Paragraph markup and keep to the Latin-1 range of its base fonts."""
    text = text.replace("\u2013", "-").replace("\u2014", "-").replace("\u2248", "~")
    return escape(text.encode("latin-1", "replace").decode("latin-1"))


def _stamp(at: datetime) -> TimeStamp:
    ts = TimeStamp(invariant=True)
    ts.t = at.timestamp()
    ts.lt = time.gmtime(ts.t)
    ts.YMDhms = tuple(ts.lt)[:6]
    return ts


def build_pdf(story: list[Flowable], *, title: str, subject: str,
              generated_at: datetime | None = None, pagesize: tuple[float, float],
              margins_mm: tuple[float, float, float, float] = (20, 20, 18, 18)) -> bytes:
    """Lay out ``story``; the PDF's title, subject, author and creation date (UTC,
    ``generated_at``, default now) are set. ``margins_mm``: left, right, top, bottom."""
    at = (generated_at or datetime.now(UTC)).astimezone(UTC)

    def canvas(*args: Any, **kwargs: Any) -> Canvas:
        c = Canvas(*args, **kwargs)
        c._doc._timeStamp = _stamp(at)  # the creation date: when the report was made
        return c

    left, right, top, bottom = (m * mm for m in margins_mm)
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=pagesize, leftMargin=left, rightMargin=right,
                            topMargin=top, bottomMargin=bottom, title=title, subject=subject,
                            author="OpenLFR", creator="OpenLFR", invariant=True)
    doc.build(story, canvasmaker=canvas)
    return buf.getvalue()
