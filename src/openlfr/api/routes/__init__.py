"""The app's routers, in the order they are mounted."""

from openlfr.api.routes import (
    alerts,
    audit,
    auth,
    console,
    deliveries,
    deployments,
    live,
    nodes,
    public,
    reports,
    users,
    watchlist,
)

# live before alerts: /api/alerts/stream must not be taken for /api/alerts/{alert_id}
ROUTERS = [auth.router, console.router, deployments.router, watchlist.router, live.router,
           alerts.router, reports.router, audit.router, users.router, nodes.router,
           deliveries.router, public.router]

__all__ = ["ROUTERS"]
