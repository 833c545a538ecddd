"""The camera fleet as the control room sees it: ``GET /api/nodes``.

Each camera node's last report (:class:`~openlfr.fleet.health.NodeStatus`), dead nodes
included and marked (``alive`` false), with the seconds since it last reported by this
server's clock. Operational figures only: frames, drops, lag, restarts, errors; nothing about
faces or people, so the roles that watch operations may see it (``nodes.view``).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import Field
from starlette.exceptions import HTTPException

from openlfr.api.deps import GuardedRoute, Principal, permit
from openlfr.api.prometheus import contact_age_s
from openlfr.api.schemas import ClosedModel
from openlfr.fleet.health import NodeStatus
from openlfr.governance.auth import Action

__all__ = ["router", "NodeView", "NodeList", "fleet_view", "FleetUnavailable"]

log = logging.getLogger(__name__)

router = APIRouter(route_class=GuardedRoute, tags=["nodes"])

CanViewNodes = Annotated[Principal, permit(Action.NODES_VIEW)]


class NodeView(NodeStatus):
    """A node's last report plus how long ago it came."""

    last_contact_s: float = Field(ge=0.0, description="Seconds since the node last reported "
                                  "(this server's clock against the report's time).")


class NodeList(ClosedModel):
    generated_at: datetime
    """When this view was read (UTC)."""
    alive: int
    """Nodes reporting within their liveness window."""
    dead: int
    """Nodes known but silent for longer than that."""
    nodes: list[NodeView]
    """Every known node, by name."""


class FleetUnavailable(Exception):
    """The fleet's status could not be read (the bus is down, say)."""


def fleet_view(ctx: Any, now: float | None = None) -> NodeList:
    """The fleet as ``ctx.fleet_status()`` reports it, sorted by node name."""
    now_s = time.time() if now is None else now
    try:
        statuses = list(ctx.fleet_status())
    except Exception as exc:
        log.exception("fleet status unavailable")
        raise FleetUnavailable(f"fleet status unavailable: {type(exc).__name__}") from exc
    nodes = [NodeView(**s.model_dump(), last_contact_s=contact_age_s(s, now_s))
             for s in sorted(statuses, key=lambda s: s.name)]
    alive = sum(1 for n in nodes if n.alive)
    return NodeList(generated_at=datetime.fromtimestamp(now_s, UTC), alive=alive,
                    dead=len(nodes) - alive, nodes=nodes)


@router.get("/api/nodes", response_model=NodeList)
def list_nodes(request: Request, me: CanViewNodes) -> NodeList:
    """Each camera node, alive or not, with its cameras: state, frames/s, frames and drops,
    lag, alerts pending, restarts, last error; and the seconds since it last reported.
    503 when the fleet's status cannot be read."""
    try:
        return fleet_view(request.app.state.ctx)
    except FleetUnavailable as exc:
        raise HTTPException(503, str(exc)) from None
