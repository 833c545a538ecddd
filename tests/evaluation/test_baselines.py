"""Accuracy baselines that code changes can break (STYLE.md item 13).

The protocols run, from the images, on a small pinned subset of LFW: 40 pairs of
``pairs.txt`` (10 matched and 10 mismatched from each of the first two folds) for 1:1
verification, and 22 named people (12 with two or three images, 10 with one) for the open-set
watchlist. Every stage runs (SCRFD-500M detection, face choice, alignment, ArcFace MBF with
flip fusion, scoring, k-fold thresholds, the seeded split, top-1 search), with an empty
embedding cache, and the results must equal the committed ``baseline_subset.json``: scores to
within 2e-3, counts exactly. A change to any stage that moves a score or a decision fails here.

To regenerate the expected values after a deliberate change (say why in the commit):
``OPENLFR_WRITE_BASELINES=1 .venv/bin/python -m pytest tests/evaluation/test_baselines.py``.

The full-LFW figures (docs/accuracy.md) come from ``openlfr evaluate`` and ``openlfr
calibrate`` (about an hour on two cores); the last tests check that the committed result
files are the ones the docs quote and thresholds.py ships. LFW is mostly adult, male and white
and tests 1:1 verification: these figures say nothing about live 1:N use on CCTV.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from openlfr.evaluation.embedcache import build_face_embedder
from openlfr.evaluation.lfw import lfw_root
from openlfr.evaluation.protocols import verification_run, watchlist_run
from openlfr.vision.thresholds import THRESHOLDS

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "docs" / "results"
EXPECTED = Path(__file__).with_name("baseline_subset.json")
SCORE_TOLERANCE = 2e-3
#: The watchlist subset: people with two or three images (the split enrols half of them) and
#: people with one image (non-mated searches only), spread over the alphabet.
WATCHLIST_PEOPLE = (
    "Aaron_Sorkin", "Bernard_Lord", "Christian_Wulff", "Edwin_Edwards", "Gordon_Campbell",
    "Jay_Leno", "Joseph_Blatter", "Liam_Neeson", "Mesut_Yilmaz", "Patrick_Roy",
    "Robert_Blackwill", "Steven_Hatfill",
    "AJ_Cook", "Bing_Crosby", "Daniel_Osorno", "Felix_Sanchez", "Jacky_Cheung",
    "Josh_Kronfeld", "Manuel_Llorente", "Natanaela_Barnova", "Richard_Langille",
    "Suh_Chung-won",
)


def _rounded(values: Any) -> list[float]:
    return [round(float(v), 4) for v in values]


@pytest.fixture(scope="module")
def subset(lfw_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The subset's figures, computed from the images with an empty cache."""
    cache = tmp_path_factory.mktemp("embeddings")
    fe = build_face_embedder("arcface", flip=True)
    ver, arrays = verification_run(lfw_dir, fe, cache, folds=2, per_fold=10, progress=False)
    images = tmp_path_factory.mktemp("lfw-subset")
    for name in WATCHLIST_PEOPLE:
        (images / name).symlink_to(lfw_root(lfw_dir) / "images" / name, target_is_directory=True)
    run = watchlist_run(images, fe, cache, seed=0, progress=False)
    res = run.open_set()
    t = THRESHOLDS[(fe.spec["embedder_sha256"], True)].value
    return {
        "verification": {
            "pairs": ver["pairs"], "fold_count": ver["fold_count"],
            "scores": _rounded(arrays["scores"]),
            "same": [bool(s) for s in arrays["same"]],
            "fold_thresholds": _rounded(ver["thresholds"]),
            "pooled_correct": ver["pooled_accuracy"]["count"],
            "fallbacks": ver["fallbacks"]["count"],
        },
        "watchlist": {
            **run.split.counts(), "enrolled": list(run.gallery_ids),
            "rank1": res.rank1().successes,
            "mated_top": _rounded(res.mated_top), "non_mated_top": _rounded(res.non_mated_top),
            "threshold": t, "tpir": res.tpir(t).successes, "fpir": res.fpir(t).successes,
            "fallbacks": run.fallbacks["fallbacks"]["count"],
        },
    }


@pytest.fixture(scope="module")
def expected(subset: dict[str, Any]) -> dict[str, Any]:
    if os.environ.get("OPENLFR_WRITE_BASELINES"):
        EXPECTED.write_text(json.dumps(subset, indent=1) + "\n")
    return json.loads(EXPECTED.read_text())


@pytest.mark.parametrize("protocol", ["verification", "watchlist"])
def test_subset_matches_the_committed_baseline(subset: dict[str, Any],
                                                expected: dict[str, Any], protocol: str) -> None:
    got, want = subset[protocol], expected[protocol]
    assert got.keys() == want.keys()
    for key, value in want.items():
        if isinstance(value, list) and value and isinstance(value[0], float):
            np.testing.assert_allclose(got[key], value, atol=SCORE_TOLERANCE, err_msg=key)
        else:
            assert got[key] == value, key


def test_subset_decisions_are_right(subset: dict[str, Any]) -> None:
    """What the subset must show whatever the exact scores: every matched pair scores above
    every mismatched one by a margin, and no stranger reaches the shipped threshold."""
    ver = subset["verification"]
    scores = np.array(ver["scores"])
    same = np.array(ver["same"])
    assert same.sum() == 20 and ver["fold_count"] == 2
    assert scores[same].min() > scores[~same].max() + 0.05
    assert ver["pooled_correct"] == ver["pairs"] and ver["fallbacks"] == 0
    wl = subset["watchlist"]
    assert wl["watchlist_size"] == 6 and wl["non_mated_identities"] == 16
    assert wl["fpir"] == 0 and wl["rank1"] == wl["mated_searches"]


# -- the committed full-LFW results, the docs that quote them, the thresholds that ship -------

def _load(name: str) -> dict[str, Any]:
    path = RESULTS / f"{name}.json"
    assert path.is_file(), f"{path} missing: run the command quoted in docs/accuracy.md"
    return json.loads(path.read_text())


def _frac(p: dict[str, Any]) -> str:
    return f"{p['count']:,}/{p['of']:,}"


@pytest.mark.parametrize("emb", ["arcface", "arcface-noflip", "dlib", "dlib-noflip"])
def test_committed_results_are_the_quoted_and_shipped_ones(emb: str) -> None:
    page = (REPO / "docs" / "accuracy.md").read_text()
    ver = _load(f"lfw-verification-{emb}")
    assert f"{100 * ver['mean_accuracy']:.2f}% ± {100 * ver['std_accuracy']:.2f}" in page
    wl = _load(f"lfw-watchlist-{emb}")
    assert _frac(wl["rank1"]) in page
    for a in wl["at_fpir"]:
        assert a["fpir"]["rate"] <= a["target_fpir"]
        assert _frac(a["tpir"]) in page and f"{a['threshold']:.3f}" in page
    rec = _load(f"calibration-{emb}")["record"]
    shipped = THRESHOLDS[(rec["model_sha256"], rec["options"]["flip"])]
    assert shipped.calibrated and shipped.value == rec["threshold"]
    assert f"{rec['threshold']:.4f}" in page and _frac(rec["held_out_fpir"]) in page
