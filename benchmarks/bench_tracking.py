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
``update`` per frame at 30 faces (noisy truth boxes, no detector; median of 3 runs; the
thread's CPU time, and the wall time beside it).
``--write-reference`` records the new tracker's pooled tracks-per-person under its
settings' fingerprint in src/openlfr/evaluation/data/tracking-reference.json, the figure
the reports show beside "1 in N tracks". Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from baseline_tracker import IoUTracker  # noqa: E402  (benchmarks/ is not a package)

from openlfr.evaluation.tracking.frontend import EngineFrontEnd  # noqa: E402
from openlfr.evaluation.tracking.suite import (  # noqa: E402
    cost_per_frame,
    issue15_checks,
    reference_suite,
    run_suite,
)
from openlfr.pipeline.tracker import make_tracker  # noqa: E402


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class CachedDetector:
    """The engine's detector, run once per distinct frame at the lowest floor asked for;
    later calls filter the cached faces (the faces above a floor are the same either way)."""

    def __init__(self, detector, floor: float, threshold: float) -> None:  # type: ignore[no-untyped-def]
        self._detector, self._floor, self._cache = detector, floor, {}
        self.name, self._threshold = detector.name, threshold

    def detect(self, image, min_score=None):  # type: ignore[no-untyped-def]
        key = hashlib.blake2b(image.tobytes(), digest_size=16).digest()
        if key not in self._cache:
            self._cache[key] = self._detector.detect(image, min_score=self._floor)
        found = self._cache[key]
        return found[found.scores >= (self._threshold if min_score is None else min_score)]


def measure(name: str, factory, clips, frontend) -> dict:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = run_suite(clips, factory, frontend=frontend, progress=lambda m: say(f"{name}: {m}"))
    say(f"{name}: cost per frame at 30 faces")
    out["update_ms_per_frame_30_faces"] = round(cost_per_frame(factory), 3)  # CPU time
    out["update_ms_per_frame_30_faces_wall"] = round(
        cost_per_frame(factory, clock=time.perf_counter), 3)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sprites", choices=["package", "lfw"], default="package")
    ap.add_argument("--no-demo", action="store_true", help="Leave out the demo pass.")
    ap.add_argument("--write-reference", action="store_true",
                    help="Record the new tracker's tracks per person for the reports.")
    args = ap.parse_args()

    from openlfr.evaluation.tracking.reference import (
        ReferenceFragmentation,
        record_reference,
        tracker_fingerprint,
    )
    from openlfr.settings import shared_data_dir
    from openlfr.vision.engine import VisionEngine

    engine = VisionEngine.from_config()
    new_config = make_tracker(None).config
    floor = getattr(new_config, "low_score", None) or engine.score_threshold
    cached = CachedDetector(engine.detector, floor, engine.score_threshold)
    frontend = EngineFrontEnd(VisionEngine(cached, engine.quality, engine.embedder,
                                           engine.config))
    data = shared_data_dir()
    lfw = None if data is None else data / "lfw" / "images"
    clips = reference_suite(engine.detector, sprites=args.sprites, demo=not args.no_demo,
                            lfw_folder=lfw)
    result = {
        "clips": [{"name": c.name, "frames": len(c), "dropped": c.dropped,
                   "appearances": c.appearances, "people": c.people,
                   "description": c.description} for c in clips],
        "detector": f"{engine.detector.name} (max_size {engine.config.detector.max_size})",
        "sprites": args.sprites,
        "old": measure("old", IoUTracker, clips, frontend),
        "new": measure("new", lambda: make_tracker(None), clips, frontend),
        "new_settings": {"fingerprint": tracker_fingerprint(new_config),
                         **new_config.model_dump(mode="json")},
    }
    result["must_show"] = issue15_checks(result["new"])
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
