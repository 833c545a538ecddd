"""The sink outbox as the control room sees it: ``GET /api/deliveries``.

Per sink (as named in ``alert_deliveries``): how many deliveries are pending, delivered and
given up (``failed``), and how many failed attempts were or will be retried; plus the most
recent given-up deliveries with their last error, so a delivery that is finally given up is
never silent. Operational figures only: alert ids, sink names, counts and error texts;
nothing about faces or people, so the roles that watch operations may see it
(``nodes.view``). Read on a reading session: never waits for the store's write lock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field
from sqlalchemy.orm import Session

from openlfr.api.deps import GuardedRoute, ReadDb
from openlfr.api.routes.nodes import CanViewNodes
from openlfr.api.schemas import ClosedModel
from openlfr.governance.outbox import delivery_stats, failed_deliveries

__all__ = ["router", "SinkFigures", "GivenUpDelivery", "DeliveryReport", "delivery_report",
           "MAX_FAILED"]

router = APIRouter(route_class=GuardedRoute, tags=["deliveries"])

#: The most given-up deliveries one request lists.
MAX_FAILED = 500


class SinkFigures(ClosedModel):
    sink: str = Field(description="The sink's name (as in the server config file).")
    pending: int = Field(ge=0, description="Deliveries not yet made (due or retrying).")
    delivered: int = Field(ge=0, description="Deliveries the sink accepted.")
    failed: int = Field(ge=0, description="Deliveries given up (see `failed`).")
    retries: int = Field(ge=0, description="Failed attempts that were, or will be, "
                         "tried again.")


class GivenUpDelivery(ClosedModel):
    id: int = Field(description="The delivery's id.")
    alert_id: int = Field(description="The alert's id in the store.")
    alert_uid: str = Field(description="The alert's id as the camera raised it.")
    sink: str
    attempts: int = Field(ge=0, description="Attempts made before giving up.")
    last_error: str | None = Field(description="The last attempt's error (no credentials).")
    created_at: datetime = Field(description="When the delivery was queued (UTC).")
    failed_at: datetime = Field(description="When it was given up (UTC).")


class DeliveryReport(ClosedModel):
    generated_at: datetime = Field(description="When this view was read (UTC).")
    sinks: list[SinkFigures] = Field(description="Every sink named in the outbox, by name.")
    failed: list[GivenUpDelivery] = Field(description="The most recently given-up "
                                          "deliveries, newest first (at most `limit`).")


def delivery_report(session: Session, limit: int = 50,
                    now: datetime | None = None) -> DeliveryReport:
    """Per-sink figures and the ``limit`` most recent given-up deliveries."""
    stats = delivery_stats(session)
    sinks = [SinkFigures(sink=name, pending=d["pending"], delivered=d["delivered"],
                         failed=d["failed"], retries=max(d["retries"], 0))
             for name, d in sorted(stats.items())]
    failed = [GivenUpDelivery(id=f.id, alert_id=f.alert_id, alert_uid=f.alert_uid,
                              sink=f.sink, attempts=f.attempts, last_error=f.last_error,
                              created_at=f.created_at, failed_at=f.failed_at)
              for f in failed_deliveries(session, limit=limit)]
    return DeliveryReport(generated_at=now or datetime.now(UTC), sinks=sinks, failed=failed)


@router.get("/api/deliveries", response_model=DeliveryReport)
def list_deliveries(db: ReadDb, me: CanViewNodes,
                    limit: Annotated[int, Query(ge=1, le=MAX_FAILED, description=(
                        f"At most this many given-up deliveries (1-{MAX_FAILED})."))] = 50,
                    ) -> DeliveryReport:
    """Per sink: deliveries pending, delivered and given up, and retries; and the most
    recent given-up deliveries (alert, sink, attempts, last error, when)."""
    return delivery_report(db, limit)
