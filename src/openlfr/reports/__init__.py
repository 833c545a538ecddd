"""Reports: the base-rate calculator, per-deployment reports and transparency reports.

Submodules are imported on use (matplotlib, reportlab and jinja2 load only when a report is
rendered): ``openlfr.reports.baserate``, ``openlfr.reports.deployment``,
``openlfr.reports.transparency``.
"""
