"""Scan configuration from a YAML file (``openlfr scan --config scan.yaml``).

Every key is optional and strict (unknown keys are errors that name the key)::

    vision:                 # openlfr.vision.engine.VisionConfig
      detector: {type: scrfd, max_size: 640}
      quality: {min_face_px: 40}
    tracker:                # openlfr.pipeline.tracker.TrackerConfig (docs/tracking.md)
      type: byte            # "iou", the old name, is read as "byte"
      max_missed: 30
      refresh_every: 50
    min_hits: 1             # openlfr.pipeline.matcher
    scene_cut: 0.4          # null: never end tracks on a cut
    threshold: null         # null: the embedder's calibrated value

The knobs and their trade-offs are documented where they are defined, in docs/live-scanning.md
and, for the tracker, in docs/tracking.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from openlfr.configio import load_yaml_model
from openlfr.pipeline.tracker import TrackerConfig
from openlfr.vision.engine import VisionConfig

__all__ = ["ScanConfig"]


class ScanConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vision: VisionConfig = Field(default_factory=VisionConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    min_hits: int = Field(1, ge=1, le=100)
    scene_cut: float | None = Field(0.4, ge=0.0, le=1.0)
    threshold: float | None = Field(None, gt=0.0, lt=1.0, description="Overrides the "
                                    "calibrated threshold (say why in your records).")

    @classmethod
    def from_yaml(cls, path: str | Path) -> ScanConfig:
        return load_yaml_model(cls, path, "scan config")

    def worker_options(self) -> dict[str, Any]:
        return {"tracker": self.tracker, "min_hits": self.min_hits, "scene_cut": self.scene_cut}
