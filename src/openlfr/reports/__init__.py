"""Reports: the base-rate calculator, per-deployment reports and transparency reports.

Submodules are imported on use: ``import openlfr.reports`` loads none of them; reportlab and
jinja2 load with ``deployment`` or ``transparency``, matplotlib only when a plot is drawn:

* ``openlfr.reports.baserate``: ``expected_alerts`` (crowd, watchlisted present, TPIR, FPIR
  -> expected true/false alerts and precision), ``observed_rates`` (published counts ->
  false alert rate and precision with Wilson 95% intervals), ``WORKED_EXAMPLES``;
* ``openlfr.reports.deployment``: ``DeploymentFigures``, ``load_deployment_figures(session,
  id)``, ``figures_json``, ``render_html``, ``render_pdf``, ``timeline_png``;
* ``openlfr.reports.transparency``: ``TransparencyFigures``, ``load_transparency_figures(
  session, start, end)``, ``transparency_json``, ``render_html``, ``render_pdf``.

Loaders only read; callers (API routes, CLI) check who may see a report.
"""
