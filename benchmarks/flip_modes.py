"""Similarity with flip fusion on one side only: enrol with flip, probe live without it.

    .venv/bin/python benchmarks/flip_modes.py [--pairs 300] [--json]

Uses every 6th matched and mismatched pair of LFW's ``pairs.txt`` (up to ``--pairs`` of each),
the most central face of each image (SCRFD-500M + ArcFace MBF), and reports genuine and
impostor similarity for flip/flip, flip/plain and plain/plain, with the false non-match count
and impostors at or above the calibrated flip threshold.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=300)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()

    from openlfr.evaluation.lfw import image_path, parse_pairs
    from openlfr.metrics import Proportion
    from openlfr.settings import shared_data_dir
    from openlfr.vision.align import align
    from openlfr.vision.embedders import ArcFaceConfig, ArcFaceEmbedder
    from openlfr.vision.engine import VisionEngine, central_face
    from openlfr.vision.image import load_image
    from openlfr.vision.thresholds import default_threshold

    shared = shared_data_dir()
    if shared is None or not (shared / "lfw" / "pairs.txt").is_file():
        raise SystemExit("LFW is not available (set OPENLFR_SHARED_DATA)")
    lfw = shared / "lfw"
    pairs = parse_pairs(lfw / "pairs.txt")
    matched = [p for p in pairs if p.same][::6][:args.pairs]
    mismatched = [p for p in pairs if not p.same][::6][:args.pairs]

    engine = VisionEngine.from_config()
    plain = engine.embedder
    assert isinstance(plain, ArcFaceEmbedder)
    flip = ArcFaceEmbedder(ArcFaceConfig(flip=True), session=plain.session,
                           model_sha256=plain.model_sha256)
    threshold = default_threshold(flip.model_sha256, True).value

    def crop(name: str, num: int) -> np.ndarray:
        img = load_image(image_path(lfw / "images", name, num))
        faces = engine.detector.detect(img)
        if len(faces) == 0:
            raise LookupError
        k = central_face(faces, img.shape[1], img.shape[0])
        return align(img, faces.landmarks[k:k + 1])

    modes = {"flip/flip": (flip, flip), "flip/plain": (flip, plain),
             "plain/plain": (plain, plain)}
    sims: dict[str, dict[str, list[float]]] = {m: {"genuine": [], "impostor": []}
                                               for m in modes}
    for kind, chosen in (("genuine", matched), ("impostor", mismatched)):
        for p in chosen:
            try:
                a, b = crop(p.name1, p.n1), crop(p.name2, p.n2)
            except LookupError:
                print(f"no face in a pair {p}", file=sys.stderr)
                continue
            for m, (ea, eb) in modes.items():
                sims[m][kind].append(float(ea.embed_aligned(a)[0] @ eb.embed_aligned(b)[0]))

    result: dict[str, object] = {"threshold": threshold, "modes": {}}
    for m, d in sims.items():
        g, i = np.array(d["genuine"]), np.array(d["impostor"])
        result["modes"][m] = {  # type: ignore[index]
            "genuine_mean": round(float(g.mean()), 4),
            "impostor_mean": round(float(i.mean()), 4), "impostor_max": round(float(i.max()), 4),
            "false_non_match": Proportion(int((g < threshold).sum()), len(g)).as_dict(),
            "impostors_at_or_above": Proportion(int((i >= threshold).sum()), len(i)).as_dict(),
            "fnm_text": str(Proportion(int((g < threshold).sum()), len(g))),
            "fm_text": str(Proportion(int((i >= threshold).sum()), len(i)))}
    if args.json:
        print(json.dumps(result))
        return
    print(f"threshold {threshold} (ArcFace MBF + flip, calibrated)")
    print("| enrol/probe | genuine mean | impostor mean | impostor max | false non-match | "
          "false match |")
    print("|---|---|---|---|---|---|")
    for m, r in result["modes"].items():  # type: ignore[attr-defined]
        print(f"| {m} | {r['genuine_mean']} | {r['impostor_mean']} | {r['impostor_max']} | "
              f"{r['fnm_text']} | {r['fm_text']} |")


if __name__ == "__main__":
    main()
