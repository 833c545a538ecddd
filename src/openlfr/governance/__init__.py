"""Governance: users and roles, deployments and their state machine, accountable watchlists
and snapshots, alerts and adjudication, retention, the audit chain, encryption at rest.

Modules: ``auth``, ``deployments``, ``watchlist``, ``alerts``, ``retention``, ``audit``,
``crypto``, ``schemas``, ``runtime`` (``open_store``). Service functions take the session,
the acting user and ``now``; they flush, the caller commits.
"""
