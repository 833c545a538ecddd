"""Committed LFW results are baselines (STYLE.md item 13): they must meet the accuracy floors,
README must quote them, and the shipped thresholds must be the calibrated ones.

The result files come from the commands quoted in README "Accuracy (LFW)"; re-running those
commands regenerates them. LFW is mostly adult, male and white and tests 1:1 verification.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "docs" / "results"
#: Result names: embedder, "-noflip" without flip fusion (the default is flip fusion on).
EMBEDDERS = ("arcface", "arcface-noflip", "dlib", "dlib-noflip")
#: Accuracy floors (published: ArcFace MBF ~99.5%, dlib ResNet 99.38% with its own pipeline).
#: The no-flip dlib floor pins today's 98.72% as a regression guard; it is below the 99.0%
#: asked of the default dlib setting (flip), and README says so.
VERIFICATION_FLOOR = {"arcface": 0.995, "arcface-noflip": 0.995, "dlib": 0.990,
                      "dlib-noflip": 0.985}
#: DESIGN section 9: the naive pipeline's figures that the default must beat.
NAIVE = {"verification": 0.9963, "rank1": 0.9966, "tpir_1e-2": 0.9898, "tpir_1e-3": 0.9728}


def load(name: str) -> dict[str, Any]:
    path = RESULTS / f"{name}.json"
    assert path.is_file(), f"{path} missing: run the command quoted in README"
    return json.loads(path.read_text())


def readme_section() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index("## Accuracy (LFW)")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def at(res: dict[str, Any], target: float) -> dict[str, Any]:
    (a,) = [a for a in res["at_fpir"] if a["target_fpir"] == target]
    return a


def frac(p: dict[str, Any]) -> str:
    return f"{p['count']:,}/{p['of']:,}"


@pytest.mark.parametrize("emb", EMBEDDERS)
def test_verification_baseline(emb: str) -> None:
    res = load(f"lfw-verification-{emb}")
    assert res["pairs"] == 6000 and res["fold_count"] == 10
    assert res["mean_accuracy"] >= VERIFICATION_FLOOR[emb]
    assert len(res["thresholds"]) == 10
    section = readme_section()
    assert f"{100 * res['mean_accuracy']:.2f}% ± {100 * res['std_accuracy']:.2f}" in section
    assert frac(res["fallbacks"]) in section


@pytest.mark.parametrize("emb", EMBEDDERS)
def test_watchlist_baseline(emb: str) -> None:
    res = load(f"lfw-watchlist-{emb}")
    assert res["watchlist_size"] == 840 and res["eligible_identities"] == 1680
    assert res["watchlist_size"] + res["mated_searches"] + res["non_mated_searches"] == 13233
    section = readme_section()
    assert frac(res["rank1"]) in section
    for target in (1e-2, 1e-3):
        a = at(res, target)
        assert a["fpir"]["rate"] <= target
        assert frac(a["tpir"]) in section and f"{a['threshold']:.3f}" in section
    if emb.startswith("arcface"):
        assert at(res, 1e-3)["tpir"]["rate"] >= 0.97


def test_default_against_the_naive_reference() -> None:
    ver, wl = load("lfw-verification-arcface"), load("lfw-watchlist-arcface")
    assert ver["mean_accuracy"] > NAIVE["verification"]
    assert at(wl, 1e-2)["tpir"]["rate"] > NAIVE["tpir_1e-2"]
    assert at(wl, 1e-3)["tpir"]["rate"] > NAIVE["tpir_1e-3"]
    # rank-1 is one search short of the reference (3,808 vs 3,809 of 3,822; README says so);
    # the remaining misses are mostly LFW labelling errors. Guard against losing more.
    assert wl["rank1"]["count"] >= 3808 and wl["mated_searches"] == 3822
    section = readme_section()
    assert "one search short" in section


def test_split_sensitivity_is_reported() -> None:
    wl = load("lfw-watchlist-arcface")
    sens = wl["split_sensitivity"]
    assert sens["seeds"] == list(range(10))
    assert sens["per_seed"][0]["tpir_at_fpir_0.001"] == at(wl, 1e-3)["tpir"]["rate"]
    low = sens["summary"]["tpir_at_fpir_0.001"]["min"]
    assert f"{100 * low:.2f}%" in readme_section()


@pytest.mark.parametrize("emb", EMBEDDERS)
def test_calibration_is_shipped_and_quoted(emb: str) -> None:
    from openlfr.vision.thresholds import THRESHOLDS

    res = load(f"calibration-{emb}")
    rec = res["record"]
    assert rec["target_fpir"] == 1e-3 and rec["watchlist_size"] == 840
    shipped = THRESHOLDS[(rec["model_sha256"], rec["options"]["flip"])]
    assert shipped.calibrated and shipped.value == rec["threshold"]
    section = readme_section()
    assert f"{rec['threshold']:.4f}" in section
    assert frac(rec["held_out_fpir"]) in section
