"""The notification of a use to the authorities (EU AI Act Art. 5(4)), as JSON and PDF.

Art. 5(4): each use of a real-time remote biometric identification system in a publicly
accessible space for law enforcement is notified to the market-surveillance authority and the
national data-protection authority; the notification holds at least what those authorities
report on (Art. 5(6)) and no sensitive operational data. :func:`build_notice` gathers, for one
deployment:

* the deployer, the system (software, version, model, threshold, human verification);
* the place, the authorised window, the purpose and the legal basis;
* the authorisation: the authorising officer, the external (judicial or independent
  administrative) decision, urgent use, the impact assessments referenced;
* the authorities notified and the notification reference;
* the watchlist: its size and its entries per category, as counts only.

Nothing biometric and nothing that identifies anyone on the watchlist: no names, references,
images, templates or snapshot hash, no camera addresses (their count only). Building a notice
is audited (``deployment_notice``, with the SHA-256 of the notice) in the caller's
transaction: the caller commits.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Spacer

from openlfr import __version__
from openlfr.errors import NotFound
from openlfr.governance import audit
from openlfr.reports._format import fmt_dt, iso
from openlfr.reports._loader import _deployment_id, _watchlist
from openlfr.reports._pdf import build_pdf, pdf_escape, pdf_table
from openlfr.store.models import Deployment, User

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = ["build_notice", "notice_pdf", "NOTICE_FIELDS", "NOT_INCLUDED"]

#: The top-level fields of a notice, in order (a test fails on any other).
NOTICE_FIELDS = ("notice", "generated_at", "deployment_id", "deployer", "system", "place",
                 "window", "purpose", "legal_basis", "status", "authorisation",
                 "authorities_notified", "watchlist", "not_included")
NOT_INCLUDED = ("watchlist names, references, images and templates", "probe images",
                "the watchlist snapshot hash", "camera addresses")
AUTHORITIES = ("market-surveillance authority", "national data-protection authority")


def _person(user: Any) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"name": user.display_name or user.username}


def _authorisation(session: Session, dep: Any) -> dict[str, Any]:
    officer = _person(session.get(User, dep.authorising_officer_id))
    if officer is not None:
        officer["rank"] = dep.authorising_officer_rank
    return {
        "authorised_at": iso(dep.authorised_at), "authorising_officer": officer,
        "profile": dep.profile, "profile_version": dep.profile_version,
        "external": {"authority": dep.external_authority,
                     "reference": dep.external_reference, "date": iso(dep.external_date),
                     "scope": dep.external_scope, "decision": dep.external_decision},
        "urgent_use": {"urgent": bool(dep.urgent), "reason": dep.urgent_reason,
                       "deadline": iso(dep.urgent_deadline)},
        "dpia_reference": dep.dpia_reference, "fria_reference": dep.fria_reference,
    }


def build_notice(session: Session, deployment_id: int, *, actor: str = audit.SYSTEM,
                 now: datetime | None = None, deployer: str | None = None) -> dict[str, Any]:
    """The Art. 5(4) notification of one deployment (NotFound if there is none); audited."""
    now = now or datetime.now(UTC)
    dep = session.get(Deployment, _deployment_id(deployment_id))
    if dep is None:
        raise NotFound(f"no deployment {deployment_id}")
    size, categories = _watchlist(session, dep)
    notice: dict[str, Any] = {
        "notice": "Notification of the use of a real-time remote biometric identification "
                  "system in a publicly accessible space (EU AI Act Art. 5(4))",
        "generated_at": iso(now), "deployment_id": dep.id,
        "deployer": deployer or "(not named: pass the deploying authority)",
        "system": {"software": "OpenLFR", "version": __version__,
                   "kind": getattr(dep.kind, "value", str(dep.kind)),
                   "model": dep.embedder_key, "threshold": dep.threshold,
                   "two_person_verification": bool(dep.two_person_verification),
                   "two_person_exception": dep.two_person_exception,
                   "cameras": len(dep.cameras)},
        "place": dep.location,
        "window": {"start": iso(dep.window_start), "end": iso(dep.window_end)},
        "purpose": dep.purpose, "legal_basis": dep.legal_basis,
        "status": getattr(dep.status, "value", str(dep.status)),
        "authorisation": _authorisation(session, dep),
        "authorities_notified": {"authorities": list(AUTHORITIES),
                                 "notification_reference": dep.notification_reference},
        "watchlist": {"size": size, "criteria": dep.watchlist_criteria,
                      "categories": [{"category": c, "entries": n}
                                     for c, n in sorted(categories.items())]},
        "not_included": list(NOT_INCLUDED),
    }
    audit.append(session, actor=actor, action="deployment_notice", now=now,
                 target=f"deployment:{dep.id}",
                 details={"sha256": hashlib.sha256(
                     audit.canonical_json(notice).encode()).hexdigest()})
    return notice


def _rows(d: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Flatten nested fields to (label, text) rows for the PDF."""
    out: list[tuple[str, str]] = []
    for k, v in d.items():
        label = f"{prefix}{k.replace('_', ' ')}"
        if isinstance(v, dict):
            out += _rows(v, label + ": ")
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            out += [(label, ", ".join(f"{x['category']}: "
                                      f"{'-' if x['entries'] is None else x['entries']}"
                                      for x in v))]
        elif isinstance(v, list):
            out.append((label, "; ".join(str(x) for x in v) or "-"))
        else:
            out.append((label, "-" if v is None else str(v)))
    return out


def notice_pdf(notice: dict[str, Any]) -> bytes:
    """The notice as a one-page A4 PDF (reportlab, as the other reports)."""
    ss = getSampleStyleSheet()
    cell = ss["BodyText"].clone("cell", fontSize=8.5, leading=10.5)
    head = {k: v for k, v in notice.items() if k not in ("notice", "generated_at")}
    story: list[Any] = [
        Paragraph(pdf_escape(str(notice["notice"])), ss["Title"].clone("t", fontSize=14,
                                                                       leading=18)),
        Paragraph(pdf_escape(f"Deployment {notice['deployment_id']}, generated "
                             f"{_when(notice.get('generated_at'))}"), ss["BodyText"]),
        Spacer(1, 6),
        pdf_table([[pdf_escape(k), Paragraph(pdf_escape(v), cell)] for k, v in _rows(head)],
                  col_widths=[60 * mm, 110 * mm], header=False),
    ]
    return build_pdf(story, title=f"OpenLFR notice, deployment {notice['deployment_id']}",
                     subject="EU AI Act Art. 5(4) notification",
                     generated_at=_generated(notice.get("generated_at")), pagesize=A4)


def _generated(text: Any) -> datetime | None:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")) if text else None


def _when(text: Any) -> str:
    if not text:
        return "-"
    return fmt_dt(datetime.fromisoformat(str(text).replace("Z", "+00:00")))
