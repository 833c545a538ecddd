"""The old tracker against the new one on the same clips with exact ground truth.

    .venv/bin/python benchmarks/bench_tracking.py                    # JSON on stdout
    .venv/bin/python benchmarks/bench_tracking.py --write-reference  # and record the figure

Clips (openlfr.evaluation.tracking): the four generated reference clips (30 people from
the photographs in installed packages walking, crossing, hiding each other, approaching
the camera, motion-blurred, with dropped frames; ``--sprites lfw`` takes the faces from
LFW in ../shared instead) and the demo camera's pass (600 frames, truth from its scene
geometry). Faces come from the real vision engine (SCRFD-500M at 640, and ArcFace for the
new tracker's re-association), as in a camera worker; the detections of each frame are
computed once and given to both trackers.

Printed per tracker: IDF1, ID switches (and per person), tracks against the truth's
appearances (tracks per person), recall, per clip and pooled; and the cost of
``update`` per frame at 30 faces (noisy truth boxes, no detector; median of 3 runs).
``--write-reference`` records the new tracker's pooled tracks-per-person under its
settings' fingerprint in src/openlfr/evaluation/data/tracking-reference.json, the figure
the reports show beside "1 in N tracks". Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from baseline_tracker import IoUTracker  # noqa: E402  (benchmarks/ is not a package)

from openlfr.evaluation.tracking import NoisyTruth, evaluate_many, track_clip  # noqa: E402
from openlfr.evaluation.tracking.frontend import EngineFrontEnd  # noqa: E402
from openlfr.evaluation.tracking.synth import Scenario, Walker, make_clip  # noqa: E402
from openlfr.pipeline.tracker import make_tracker  # noqa: E402


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class CachedDetector:
    """The engine's detector, run once per distinct frame at the lowest floor asked for;
    later calls filter the cached faces (the faces above a floor are the same either way)."""

    def __init__(self, detector, floor: float) -> None:  # type: ignore[no-untyped-def]
        self._detector, self._floor, self._cache = detector, floor, {}
        self.cfg = detector.cfg

    def detect(self, image, min_score=None):  # type: ignore[no-untyped-def]
        key = hashlib.blake2b(image.tobytes(), digest_size=16).digest()
        if key not in self._cache:
            self._cache[key] = self._detector.detect(image, min_score=self._floor)
        found = self._cache[key]
        return found[found.scores >= (self.cfg.score_threshold if min_score is None
                                      else min_score)]


def _clips(args: argparse.Namespace, detector) -> list:  # type: ignore[no-untyped-def]
    from openlfr.evaluation.tracking.demo import demo_clip
    from openlfr.evaluation.tracking.synth import lfw_sprites, package_sprites, reference_clips

    if args.sprites == "lfw":
        from openlfr.settings import shared_data_dir

        data = shared_data_dir()
        if data is None or not (data / "lfw" / "images").is_dir():
            sys.exit("--sprites lfw: no ../shared/data/lfw/images")
        sprites = lfw_sprites(data / "lfw" / "images", detector, n=30)
    else:
        sprites = package_sprites(detector)
    clips = reference_clips(sprites)
    if not args.no_demo:
        clips.append(demo_clip())
    return clips


def _grid_clip(faces: int = 30, frames: int = 300):  # type: ignore[no-untyped-def]
    """Truth only: ``faces`` people in a grid, all in view, drifting slowly."""
    cols = 6
    walkers = []
    for i in range(faces):
        r, c = divmod(i, cols)
        x, y = 120 + 280 * c, 110 + 190 * r
        dx = 60 if (r + c) % 2 else -60
        walkers.append(Walker(i, 0, frames - 1, (x, y), (x + dx, y + 10), 70, 80))
    return make_clip(Scenario("grid30", (1920, 1080), frames, tuple(walkers)))


def cost_per_frame(factory, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    clip = _grid_clip()
    runs = [track_clip(clip, factory(), noise=NoisyTruth(jitter=0.02, miss_rate=0.02,
                                                         seed=5)).ms_per_frame
            for _ in range(repeat)]
    return statistics.median(runs)


def measure(name: str, factory, clips, frontend) -> dict:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    runs = []
    for clip in clips:
        say(f"{name}: {clip.name} ({len(clip)} frames)")
        runs.append(track_clip(clip, factory(), frontend=frontend))
    generated = [r for r in runs if r.clip.name != "demo-pass"]
    per_clip = evaluate_many([r.evaluation() for r in runs])
    pooled_generated = evaluate_many([r.evaluation() for r in generated])[-1]
    say(f"{name}: cost per frame at 30 faces")
    return {"per_clip": [m.as_dict() for m in per_clip[:len(runs)]],
            "generated": pooled_generated.as_dict(),
            "all": per_clip[-1].as_dict(),
            "update_ms_per_frame_on_clips": round(
                1000 * sum(r.update_seconds for r in runs) / sum(len(r.tracks) for r in runs), 3),
            "update_ms_per_frame_30_faces": round(cost_per_frame(factory), 3),
            "seconds": round(time.perf_counter() - t0, 1)}


def must_show(new: dict) -> dict:
    g = new["generated"]
    demo = next((c for c in new["per_clip"] if c["clip"] == "demo-pass"), None)
    out = {"generated_tracks_per_person_le_1.1": g["tracks_per_person"] <= 1.1,
           "generated_idf1_ge_0.9": g["idf1"] >= 0.9,
           "generated_switches_per_person_le_0.05": g["switches_per_person"] <= 0.05,
           "update_le_1ms_at_30_faces": new["update_ms_per_frame_30_faces"] <= 1.0}
    if demo is not None:
        out["demo_tracks_within_10pct_of_appearances"] = (
            abs(demo["tracks"] - demo["appearances"]) <= 0.1 * demo["appearances"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sprites", choices=["package", "lfw"], default="package")
    ap.add_argument("--no-demo", action="store_true", help="Leave out the demo pass.")
    ap.add_argument("--write-reference", action="store_true",
                    help="Record the new tracker's tracks per person for the reports.")
    args = ap.parse_args()

    from openlfr.evaluation.tracking.reference import (ReferenceFragmentation,
                                                        record_reference, tracker_fingerprint)
    from openlfr.vision.engine import VisionEngine

    engine = VisionEngine.from_config()
    new_config = make_tracker(None).config
    floor = getattr(new_config, "low_score", None) or engine.detector.cfg.score_threshold
    cached = CachedDetector(engine.detector, floor)
    frontend = EngineFrontEnd(SimpleNamespace(detector=cached, quality=engine.quality,
                                              embedder=engine.embedder))
    clips = _clips(args, engine.detector)
    result = {
        "clips": [{"name": c.name, "frames": len(c), "dropped": c.dropped,
                   "appearances": c.appearances, "people": c.people,
                   "description": c.description} for c in clips],
        "detector": f"{engine.detector.name} (max_size {engine.detector.cfg.max_size})",
        "sprites": args.sprites,
        "old": measure("old", IoUTracker, clips, frontend),
        "new": measure("new", lambda: make_tracker(None), clips, frontend),
        "new_settings": {"fingerprint": tracker_fingerprint(new_config),
                         **new_config.model_dump(mode="json")},
    }
    result["must_show"] = must_show(result["new"])
    if args.write_reference:
        pooled = result["new"]["all"]
        entry = ReferenceFragmentation(
            fingerprint=tracker_fingerprint(new_config), tracker=str(new_config.type),
            tracks_per_person=pooled["tracks_per_person"], tracks=pooled["tracks"],
            appearances=pooled["appearances"], idf1=pooled["idf1"],
            clips=tuple(c.name for c in clips), detector=result["detector"],
            measured_on=datetime.now(UTC).date().isoformat(),
            settings=new_config.model_dump(mode="json"))
        result["reference_written"] = str(record_reference(entry).relative_to(ROOT))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
