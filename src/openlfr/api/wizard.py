"""What the deployment wizard needs from the server (``templates/wizard.html``,
``static/wizard.js``): the watchlist categories with how many current entries each holds (the
snapshot review before there is a snapshot), the embedders that can match anything (the
server's, with its recorded threshold, and those the watchlist has templates from), and, when
editing, the draft as the API shows it. Counts only: no names, no images."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openlfr.api.schemas import DeploymentPublic
from openlfr.store.models import Category, Deployment, DeploymentKind, Subject, Template, User

__all__ = ["wizard_context", "STEPS"]

#: (id, title) of each step, in order.
STEPS: tuple[tuple[str, str], ...] = (
    ("purpose", "Purpose and legal basis"),
    ("place", "Place and window"),
    ("cameras", "Cameras"),
    ("watchlist", "Watchlist criteria and snapshot review"),
    ("safeguards", "Signage and DPIA"),
    ("authorise", "Review and authorisation"),
)


def _category_counts(db: Session, now: datetime) -> dict[str, int]:
    rows = db.execute(select(Subject.category, func.count()).where(
        Subject.expired_at.is_(None), Subject.expires_at > now).group_by(Subject.category))
    return {str(getattr(c, "value", c)): int(n) for c, n in rows}


def _template_embedders(db: Session) -> list[tuple[str, int]]:
    rows = db.execute(select(Template.embedder_key, func.count(func.distinct(
        Template.subject_id))).group_by(Template.embedder_key).order_by(Template.embedder_key))
    return [(k, int(n)) for k, n in rows]


def wizard_context(db: Session, me: User, default_embedder: tuple[str, float] | None,
                   now: datetime, draft: Deployment | None = None) -> dict[str, Any]:
    """Everything ``wizard.html`` renders; ``draft`` for editing one (PATCH)."""
    counts = _category_counts(db, now)
    embedders: list[dict[str, Any]] = []
    if default_embedder is not None:
        embedders.append({"key": default_embedder[0], "threshold": default_embedder[1],
                          "label": "the server's embedder"})
    for key, n in _template_embedders(db):
        if default_embedder is None or key != default_embedder[0]:
            embedders.append({"key": key, "threshold": None,
                              "label": f"templates of {n} watchlist entries"})
        else:
            embedders[0]["label"] += f" (templates of {n} watchlist entries)"
    officer = me.username
    values: dict[str, Any] | None = None
    if draft is not None:
        values = DeploymentPublic.model_validate(draft).model_dump(mode="json")
        officer_row = db.get(User, draft.authorising_officer_id)
        officer = officer_row.username if officer_row is not None else officer
        if not any(e["key"] == draft.embedder_key for e in embedders):
            embedders.append({"key": draft.embedder_key, "threshold": None,
                              "label": "this draft's embedder"})
    return {"steps": STEPS, "kinds": [k.value for k in DeploymentKind],
            "categories": [{"value": c.value, "label": c.value.replace("_", " "),
                            "entries": counts.get(c.value, 0)} for c in Category],
            "embedders": embedders, "officer": officer, "draft": values,
            "api": f"/api/deployments/{draft.id}" if draft is not None else "/api/deployments",
            "method": "PATCH" if draft is not None else "POST"}
