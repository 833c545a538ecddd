"""Fakes of OpenLFR's own interfaces, for tests and integrators: no models, no camera.

:class:`FakeEngine` is a :class:`~openlfr.vision.engine.VisionEngine` (the same
``analyse`` and stages) whose three parts play a script instead of running models:

* the detector returns the :class:`ScriptedFace` of the n-th frame it analyses (a list per
  frame, or a function of n), down to the confidence asked for, and records each call's
  ``min_score`` (``fake.detector.calls``);
* the quality gates pass the faces the script marks ``usable`` (with the script's
  ``quality``), under the engine's real gate rule;
* the embedder gives each scripted ``identity`` one fixed unit vector, :meth:`FakeEngine.vector`,
  so a watchlist built from ``fake.vector("alice")`` matches the scripted ``"alice"``.

:class:`RecordingSink` is an alert sink that keeps what it is sent (it can fail on demand)
and, passed as ``on_counters``, the counters.

    fake = FakeEngine([[ScriptedFace((20, 40, 60, 80), identity="alice")]] * 10)
    index = WatchlistIndex(["alice"], ["Alice"], fake.vector("alice")[None])
    sink = RecordingSink()
    worker = CameraWorker(FolderSourceConfig(path=frames), fake, index,
                          WorkerConfig(camera_id="c", threshold=0.5, mode=Mode.every_frame),
                          sinks=[sink], on_counters=sink.record_counters)
    worker.run()
    [a.subject_id for a in sink.alerts]    # ["alice"], once per track
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from openlfr.alerts.model import AlertEvent
from openlfr.faces import Faces
from openlfr.vision.align import CROP_SIZE
from openlfr.vision.detectors import ScrfdConfig
from openlfr.vision.embedders import l2_normalise
from openlfr.vision.engine import VisionConfig, VisionEngine
from openlfr.vision.quality import QualityAssessor, QualityConfig
from openlfr.vision.thresholds import Threshold

__all__ = ["ScriptedFace", "FakeEngine", "RecordingSink", "identity_vector"]

#: Five landmarks of a frontal face as fractions of its box (eyes, nose, mouth corners).
_FRONTAL = np.array([[0.33, 0.4], [0.67, 0.4], [0.5, 0.58], [0.37, 0.76], [0.63, 0.76]],
                    np.float32)
_SHARP = 100.0  # the sharpness of a usable scripted face (0 for one that is not)


@dataclass(frozen=True)
class ScriptedFace:
    """One face of a scripted frame: where it is, how sure the detector is, who it is,
    and whether it passes the quality gates."""

    box: tuple[float, float, float, float]  # x1 y1 x2 y2, image pixels
    score: float = 0.9
    identity: str = "passer-by"
    quality: float = 0.8
    usable: bool = True


def identity_vector(identity: str, dim: int = 512) -> np.ndarray:
    """The fixed unit vector of ``identity`` (seeded by its name): two names give nearly
    orthogonal vectors at the default dimension."""
    seed = int.from_bytes(hashlib.sha256(identity.encode()).digest()[:8], "big")
    return l2_normalise(np.random.default_rng(seed).standard_normal(dim))


class _Script:
    """The frames to play, and the faces of the frame played last (the other parts read
    who is who from it, by box)."""

    def __init__(self, script: Sequence[Sequence[ScriptedFace]]
                 | Callable[[int], Sequence[ScriptedFace]]) -> None:
        self._script = script
        self.last: list[ScriptedFace] = []
        self.identities: list[str] = []

    def frame(self, n: int) -> list[ScriptedFace]:
        if callable(self._script):
            return list(self._script(n))
        return list(self._script[n]) if n < len(self._script) else []

    def who(self, faces: Faces) -> list[ScriptedFace]:
        out = []
        for box in faces.boxes:
            found = [f for f in self.last if np.allclose(f.box, box, atol=1e-3)]
            if not found:
                raise ValueError(f"FakeEngine: no scripted face at box {box.tolist()}")
            out.append(found[0])
        return out

    def code(self, identity: str) -> int:
        if identity not in self.identities:
            self.identities.append(identity)
        return self.identities.index(identity) + 1


class _ScriptedDetector:
    name = "scripted"
    model_sha256 = "scripted"

    def __init__(self, script: _Script, score_threshold: float) -> None:
        self._script = script
        self._threshold = score_threshold
        self.calls: list[float | None] = []  # min_score of each call

    def detect(self, image: np.ndarray, min_score: float | None = None) -> Faces:
        faces = self._script.frame(len(self.calls))
        self.calls.append(min_score)
        floor = self._threshold if min_score is None else min_score
        kept = [f for f in faces if f.score >= floor]
        self._script.last = kept
        if not kept:
            return Faces.empty()
        boxes = np.array([f.box for f in kept], np.float32)
        size = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1)
        landmarks = boxes[:, None, :2] + _FRONTAL[None] * size[:, None]
        return Faces(boxes, np.array([f.score for f in kept], np.float32), landmarks)


class _ScriptedQuality(QualityAssessor):
    """The real gate rule (:meth:`passes`) on the script's measurements."""

    def __init__(self, script: _Script, cfg: QualityConfig) -> None:
        super().__init__(cfg)
        self._script = script

    def assess(self, image: np.ndarray, faces: Faces, crops: np.ndarray | None = None
               ) -> Faces:
        """The script's measurements; the faces' aligned ``crops``, when given, are marked
        with each face's identity (for the fake embedder)."""
        who = self._script.who(faces)
        if crops is not None:
            self._mark(crops, who)
        parts = {"size": np.minimum(faces.widths, faces.heights),
                 "sharpness": np.array([_SHARP if f.usable else 0.0 for f in who]),
                 "frontality": np.ones(len(faces)), "detector": faces.scores}
        return faces.with_quality(np.array([f.quality for f in who]), parts)

    def assess_gated(self, image: np.ndarray, faces: Faces) -> tuple[Faces, np.ndarray]:
        """The faces assessed, and crops that carry each face's identity (for the fake
        embedder)."""
        crops = np.zeros((len(faces), CROP_SIZE, CROP_SIZE, 3), np.uint8)
        return self.assess(image, faces, crops), crops

    def _mark(self, crops: np.ndarray, who: list[ScriptedFace]) -> None:
        for i, f in enumerate(who):
            crops[i, 0, 0] = np.frombuffer(self._script.code(f.identity).to_bytes(3, "big"),
                                           np.uint8)


class _ScriptedEmbedder:
    name = "scripted"
    model_sha256 = "scripted"
    flip = False
    uses_crops = True

    def __init__(self, script: _Script, dim: int) -> None:
        self._script = script
        self.dim = dim

    def embed_aligned(self, crops: np.ndarray) -> np.ndarray:
        codes = [int.from_bytes(bytes(c[0, 0]), "big") for c in crops]
        return np.array([identity_vector(self._script.identities[k - 1], self.dim)
                         for k in codes], np.float32).reshape(len(crops), self.dim)

    def embed(self, image: np.ndarray, faces: Faces, mask: np.ndarray | None = None) -> Faces:
        mask = np.ones(len(faces), bool) if mask is None else mask
        out = np.full((len(faces), self.dim), np.nan, np.float32)
        for i, f in enumerate(self._script.who(faces)):
            if mask[i]:
                out[i] = identity_vector(f.identity, self.dim)
        return faces.with_embeddings(out)


class FakeEngine(VisionEngine):
    """A vision engine that plays a script (module docstring). ``threshold`` is what
    :attr:`threshold` reports (not calibrated); ``quality`` the gate rule."""

    def __init__(self, script: Sequence[Sequence[ScriptedFace]]
                 | Callable[[int], Sequence[ScriptedFace]], *, score_threshold: float = 0.5,
                 dim: int = 512, threshold: float = 0.5,
                 quality: QualityConfig | None = None) -> None:
        play = _Script(script)
        cfg = VisionConfig(detector=ScrfdConfig(score_threshold=score_threshold),
                           quality=quality or QualityConfig())
        self.detector_script = _ScriptedDetector(play, score_threshold)
        super().__init__(self.detector_script, _ScriptedQuality(play, cfg.quality),
                         _ScriptedEmbedder(play, dim), cfg)
        self._threshold = Threshold(threshold, "FakeEngine (scripted, not calibrated)", False)

    def threshold_for(self, calibration_file: Path | None = None) -> Threshold:
        return self._threshold

    def vector(self, identity: str) -> np.ndarray:
        """The embedding every face of ``identity`` gets."""
        return identity_vector(identity, self.embedder.dim)

    @property
    def detector_calls(self) -> list[float | None]:
        """The ``min_score`` of each detector call, in order (None: the threshold)."""
        return list(self.detector_script.calls)


class RecordingSink:
    """An alert sink that keeps what it is sent (the first ``fail_times`` sends raise
    ConnectionError), and the counters given to :meth:`record_counters`."""

    name = "recording"

    def __init__(self, fail_times: int = 0) -> None:
        self.alerts: list[AlertEvent] = []
        self.counters: list[dict[str, int]] = []
        self.fail_times = fail_times
        self.calls = 0

    def send(self, alert: AlertEvent) -> None:
        self.calls += 1
        if self.calls <= self.fail_times:
            raise ConnectionError("recording sink: planned failure")
        self.alerts.append(alert)

    def record_counters(self, delta: dict[str, int]) -> None:
        """Use as a worker's ``on_counters``."""
        self.counters.append(dict(delta))

    def close(self) -> None:
        pass
