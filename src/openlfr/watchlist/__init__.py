"""openlfr.watchlist: templates and search.

Modules: ``enrol`` (one template from one image with exactly one usable face; folder
enrolment), ``index`` (exact top-k cosine; numpy or FAISS by size), ``distractors`` (LFW
people as distractors for tests). The ``openlfr watchlist`` commands are
:mod:`openlfr.cli.watchlist`.
Accountable entries and snapshots live in :mod:`openlfr.governance.watchlist`.
"""
