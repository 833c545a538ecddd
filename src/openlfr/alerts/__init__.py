"""openlfr.alerts: the alert (a *possible match*) and its delivery.

Modules: ``model`` (:class:`~openlfr.alerts.model.Alert`), ``sinks`` (JSON lines, webhook,
MQTT, callback; the off-loop :class:`~openlfr.alerts.sinks.Dispatcher`). Recording and
adjudication of alerts live in :mod:`openlfr.governance.alerts`.
"""
