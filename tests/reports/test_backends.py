"""A heavy backend imported only where it is used says, when it is not installed, which module
is missing, what needs it and how to install it: a ConfigError (one line from the CLI), not a
bare ImportError."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from openlfr.alerts.sinks import MqttSink
from openlfr.demoscene import demo_photos
from openlfr.errors import ConfigError
from openlfr.evaluation.plots import verification_plot
from openlfr.reports.deployment import DeploymentFigures, timeline_png
from openlfr.vision.detectors import YunetDetector
from openlfr.vision.embedders import DlibEmbedder
from openlfr.watchlist import index

ONE = np.ones(1)


def _faiss_index(_f: DeploymentFigures) -> object:
    n = index.FAISS_MIN_TEMPLATES
    ids = [str(i) for i in range(n)]
    return index.WatchlistIndex(ids, ids, np.eye(n, dtype=np.float32))

CASES: list[tuple[str, str, Callable[[DeploymentFigures], object]]] = [
    ("matplotlib", "timeline plot", timeline_png),
    ("matplotlib", "evaluation plots",
     lambda _f: verification_plot(Path("unused.png"), ONE, ONE, ONE, ONE, "t")),
    ("matplotlib", "demo photographs", lambda _f: demo_photos()),
    ("paho.mqtt.client", "mqtt sink", lambda _f: MqttSink()),
    ("dlib", "dlib embedder", lambda _f: DlibEmbedder()),
    ("yuface", "YuNet detector", lambda _f: YunetDetector()),
    ("faiss", "FAISS watchlist index", _faiss_index),
]


@pytest.mark.parametrize(("module", "needed_for", "call"), CASES,
                         ids=[c[1] for c in CASES])
def test_a_missing_backend_is_named_with_how_to_install_it(
        monkeypatch: pytest.MonkeyPatch, figures: DeploymentFigures, module: str,
        needed_for: str, call: Callable[[DeploymentFigures], object]) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # importing it now fails
    with pytest.raises(ConfigError) as err:
        call(figures)
    message = str(err.value)
    assert needed_for in message and module in message and "pip install" in message
