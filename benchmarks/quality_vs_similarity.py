"""Does the quality score predict how well a face matches? Checked on LFW matched pairs.

    .venv/bin/python benchmarks/quality_vs_similarity.py [--pairs 600] [--json]

For the first ``--pairs`` matched pairs of LFW's ``pairs.txt`` (same person, two photos), each
image's most central face is detected, assessed and embedded (SCRFD-500M + ArcFace MBF, no
flip). Reported: the Spearman rank correlation between a pair's lower quality and its cosine
similarity; genuine similarity and the false non-match rate at the default threshold for pairs
where both faces pass the default quality gates vs pairs where at least one fails; the same
split by each gate. LFW faces are mostly large, sharp and frontal, so few fail; LFW is mostly
adult, male and white (see its disclaimer).
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=600, help="matched pairs to use")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()

    from tqdm import tqdm

    from openlfr.errors import ImageError
    from openlfr.evaluation.lfw import image_path, parse_pairs
    from openlfr.metrics import Proportion
    from openlfr.settings import shared_data_dir
    from openlfr.vision.engine import VisionEngine, central_face
    from openlfr.vision.image import load_image

    shared = shared_data_dir()
    if shared is None or not (shared / "lfw" / "pairs.txt").is_file():
        raise SystemExit("LFW is not available (set OPENLFR_SHARED_DATA)")
    lfw = shared / "lfw"
    matched = [p for p in parse_pairs(lfw / "pairs.txt") if p.same]
    # pairs.txt alternates 300 matched and 300 mismatched per fold; take matched across folds
    step = max(1, len(matched) // args.pairs)
    matched = matched[::step][:args.pairs]

    engine = VisionEngine.from_config()
    threshold = engine.threshold.value
    gates = engine.quality.cfg

    def face(name: str, num: int):
        img = load_image(image_path(lfw / "images", name, num))
        faces = engine.detector.detect(img)
        if len(faces) == 0:
            raise ImageError("no face")
        f = faces[central_face(faces, img.shape[1], img.shape[0])]
        f = engine.quality.assess(img, f)
        return engine.embedder.embed(img, f)

    rows = []
    for p in tqdm(matched, file=sys.stderr, desc="pairs"):
        try:
            a, b = face(p.name1, p.n1), face(p.name2, p.n2)
        except ImageError:
            continue
        sim = float(a.embeddings[0] @ b.embeddings[0])
        passes = bool(engine.quality.passes(a)[0] and engine.quality.passes(b)[0])
        parts = {k: min(float(a.quality_parts[k][0]), float(b.quality_parts[k][0]))
                 for k in a.quality_parts}
        rows.append({"sim": sim, "q": min(float(a.quality[0]), float(b.quality[0])),
                     "passes": passes, **parts})

    sims = np.array([r["sim"] for r in rows])
    q = np.array([r["q"] for r in rows])
    ok = np.array([r["passes"] for r in rows])

    def group(mask: np.ndarray) -> dict[str, object]:
        n = int(mask.sum())
        misses = int((sims[mask] < threshold).sum())
        return {"pairs": n, "mean_similarity": round(float(sims[mask].mean()), 4) if n else None,
                "false_non_match": Proportion(misses, n).as_dict() if n else None,
                "false_non_match_text": str(Proportion(misses, n)) if n else "-"}

    gate_fields = {"size": gates.min_face_px, "sharpness": gates.min_sharpness,
                   "frontality": gates.min_frontality, "detector": gates.min_score}
    by_gate = {}
    for k, limit in gate_fields.items():
        below = np.array([r[k] < limit for r in rows])
        by_gate[k] = {"limit": limit, "below": group(below), "at_or_above": group(~below)}
    quart = np.quantile(q, [0.25, 0.75])
    result = {
        "pairs_used": len(rows), "pairs_asked": len(matched), "threshold": threshold,
        "spearman_quality_vs_similarity": round(_spearman(q, sims), 4),
        "spearman_part_vs_similarity": {
            k: round(_spearman(np.array([r[k] for r in rows]), sims), 4) for k in gate_fields},
        "both_pass_gates": group(ok), "one_fails_gates": group(~ok),
        "lowest_quality_quarter": group(q <= quart[0]),
        "highest_quality_quarter": group(q >= quart[1]),
        "by_gate": by_gate,
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"LFW matched pairs: {len(rows)} of {len(matched)} with a face in both images; "
          f"threshold {threshold}")
    print(f"Spearman(lower quality of the pair, similarity) = "
          f"{result['spearman_quality_vs_similarity']}; by part (lower of the pair): "
          + ", ".join(f"{k} {v}" for k, v in result["spearman_part_vs_similarity"].items()))
    print("| pairs | n | mean similarity | false non-match (95% CI) |")
    print("|---|---|---|---|")
    for label, key in [("both pass the gates", "both_pass_gates"),
                       ("one fails a gate", "one_fails_gates"),
                       ("lowest quality quarter", "lowest_quality_quarter"),
                       ("highest quality quarter", "highest_quality_quarter")]:
        g = result[key]
        print(f"| {label} | {g['pairs']} | {g['mean_similarity']} | "
              f"{g['false_non_match_text']} |")
    for k, g in by_gate.items():
        lo, hi = g["below"], g["at_or_above"]
        print(f"| {k} below {g['limit']} | {lo['pairs']} | {lo['mean_similarity']} | "
              f"{lo['false_non_match_text']} |")
        print(f"| {k} at or above {g['limit']} | {hi['pairs']} | {hi['mean_similarity']} | "
              f"{hi['false_non_match_text']} |")


if __name__ == "__main__":
    main()
