"""openlfr.alerts: the alert (a *possible match*) and its delivery.

Modules: ``model`` (:class:`~openlfr.alerts.model.AlertEvent`), ``sinks`` (JSON lines, webhook,
MQTT, callback; the off-loop :class:`~openlfr.alerts.sinks.Dispatcher`), ``outbox_worker``
(:class:`~openlfr.alerts.outbox_worker.OutboxDelivery`: the store's sink outbox delivered at
least once). Recording and adjudication of alerts live in :mod:`openlfr.governance.alerts`,
the outbox's policy and store side in :mod:`openlfr.governance.outbox`.
"""
