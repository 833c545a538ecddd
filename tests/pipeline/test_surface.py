"""Public surface of the pipeline, alerts and watchlist modules: ``__all__`` lists exactly
the public classes and functions each module defines."""

from __future__ import annotations

import importlib
import inspect

import pytest

MODULES = ["openlfr.pipeline.sources", "openlfr.pipeline.tracker", "openlfr.pipeline.matcher",
           "openlfr.pipeline.kalman", "openlfr.pipeline.trackstate",
           "openlfr.pipeline.privacy", "openlfr.pipeline.worker", "openlfr.pipeline.scan",
           "openlfr.pipeline.config", "openlfr.pipeline.tracking", "openlfr.pipeline.testing",
           "openlfr.alerts.model", "openlfr.alerts.sinks", "openlfr.watchlist.index",
           "openlfr.watchlist.enrol", "openlfr.watchlist.distractors"]

@pytest.mark.parametrize("name", MODULES)
def test_all_matches_public_definitions(name):
    mod = importlib.import_module(name)
    exported = set(mod.__all__)
    assert all(hasattr(mod, n) for n in exported), exported - set(dir(mod))
    defined = {n for n, obj in vars(mod).items()
               if not n.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj))
               and getattr(obj, "__module__", None) == name}
    missing = defined - exported
    assert not missing, f"{name}: public but not in __all__: {sorted(missing)}"
