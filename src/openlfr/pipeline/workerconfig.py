"""The configuration of one camera's worker (:class:`openlfr.pipeline.worker.CameraWorker`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from openlfr.pipeline.sources import Mode
from openlfr.pipeline.tracker import TrackerConfig

__all__ = ["WorkerConfig"]


class WorkerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    camera_id: str = Field(min_length=1, max_length=200)
    threshold: float = Field(ge=-1.0, le=1.0, description="Similarity threshold (calibrated).")
    min_hits: int = Field(1, ge=1, le=100, description="See openlfr.pipeline.matcher.")
    mode: Mode = Field(Mode.live, description="live: latest frame, drops counted; "
                       "every_frame: every frame, as fast as possible (old spelling: evaluation).")
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    preview: bool = Field(False, description="Keep a blurred JPEG of the latest frame.")
    preview_max_width: int = Field(960, ge=64, le=4096)
    preview_blur_score: float | None = Field(
        0.2, ge=0.0, le=1.0,
        description="The preview also blurs detections down to this confidence, below the "
                    "detector's threshold: such faces are not counted, tracked or matched, but a "
                    "face the detector is unsure of is still hidden. Lower hides more (and "
                    "blurs some non-faces); None blurs only the faces that are analysed.")
    preview_every: int = Field(1, ge=1, le=1000, description="Encode the live preview every "
                               "N analysed frames (JPEG encoding costs a few ms).")
    counters_every_s: float = Field(5.0, gt=0, description="How often on_counters is called "
                                    "with the counts since the last call (frames, dropped, "
                                    "faces, tracks; in every-frame mode also frame_index and "
                                    "next_track_id, the resume point: not deltas).")
    scene_cut: float | None = Field(0.4, ge=0.0, le=1.0, description="End every track when "
                                    "consecutive frames differ this much (Bhattacharyya "
                                    "distance of colour histograms; edited footage, a moved "
                                    "camera). Lower catches softer cuts but may end tracks on "
                                    "sudden lighting changes; None disables it.")
    evaluation: bool = Field(False, description="Alerts are from a test run on recorded "
                             "footage (deployment kind evaluation).")
    deployment_id: int | None = None
    stable_alert_ids: bool = Field(False, description="Derive each alert's id from "
                                   "(deployment, camera, frame, track, subject) instead of "
                                   "drawing one at random, so replaying recorded footage "
                                   "raises the same ids (the store keeps each once).")
    first_track_id: int = Field(1, ge=1, lt=2**62, description="The id of the first new "
                                "track: a recorded clip resumed part-way goes on numbering "
                                "where its last run stood at the resume point, so its "
                                "replayed alerts keep their ids.")
    max_consecutive_errors: int = Field(25, ge=1, le=100_000, description="A frame whose "
                                        "analysis fails is skipped and counted; this many "
                                        "failures in a row stop the worker with the error.")
