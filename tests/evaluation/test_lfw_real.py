"""Real models on a small part of LFW (skips when ../shared/data is absent). < 60 s.

LFW is mostly adult, male and white and tests 1:1 verification: these tests check that the
pipeline works, not how well it serves anyone else.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from openlfr.evaluation.embedcache import build_face_embedder
from openlfr.evaluation.lfw import read_people, watchlist_split
from openlfr.evaluation.protocols import verification_run

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("embcache")


def test_verification_on_200_pairs(lfw_dir: Path, cache_dir: Path) -> None:
    fe = build_face_embedder("arcface", flip=False, threads=1)
    res, arrays = verification_run(lfw_dir, fe, cache_dir, folds=2, per_fold=50,
                                   progress=False)
    assert (res["pairs"], res["matched_pairs"], res["fold_count"]) == (200, 100, 2)
    assert len(res["thresholds"]) == 2
    # the default model separates these pairs almost perfectly (published: ~99.5% on all 6,000)
    assert res["mean_accuracy"] >= 0.97
    assert res["pooled_accuracy"]["of"] == 200
    assert res["fallbacks"]["count"] <= 3
    assert arrays["scores"].shape == (200,)


@pytest.fixture(scope="module")
def small_folder(lfw_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of symlinks: 10 people with 2+ images (up to 3 each), 8 with one image."""
    people = read_people(lfw_dir / "images")
    multi = [n for n in sorted(people) if len(people[n]) >= 2][:10]
    single = [n for n in sorted(people) if len(people[n]) == 1][:8]
    folder = tmp_path_factory.mktemp("small") / "faces"
    for n in multi + single:
        (folder / n).mkdir(parents=True)
        for f in people[n][:3]:
            (folder / n / f.name).symlink_to(f)
    return folder


def cli(*args: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "openlfr.cli", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # exactly one JSON object on stdout


def test_watchlist_cli_json_on_a_small_folder(small_folder: Path, cache_dir: Path,
                                              tmp_path: Path) -> None:
    folder = small_folder
    split = watchlist_split(read_people(folder), seed=0)
    out = tmp_path / "out"
    res = cli("evaluate", "watchlist", "--folder", str(folder), "--no-flip", "--threads", "1",
              "--cache-dir", str(cache_dir), "--out", str(out), "--json")
    counts = split.counts()
    assert res["watchlist_size"] == counts["watchlist_size"] == 5
    assert res["mated_searches"] == counts["mated_searches"]
    assert res["non_mated_searches"] == counts["non_mated_searches"]
    assert res["rank1"]["of"] == counts["mated_searches"]
    assert res["rank1"]["rate"] >= 0.8
    assert [a["target_fpir"] for a in res["at_fpir"]] == [0.01, 0.001]
    assert (out / "watchlist-arcface-noflip.json").is_file()
    assert (out / "watchlist-arcface-noflip.png").stat().st_size > 10_000


def test_calibrate_and_bias_cli(small_folder: Path, cache_dir: Path, tmp_path: Path) -> None:
    common = ["--folder", str(small_folder), "--no-flip", "--threads", "1", "--cache-dir",
              str(cache_dir), "--json"]
    cal_file = tmp_path / "calibration.json"
    cal = cli("calibrate", "--target-fpir", "0.05", "--write", str(cal_file), *common)
    rec = cal["record"]
    assert rec["watchlist_size"] == 5 and rec["options"] == {"flip": False}
    assert cal["calibration"]["fpir_pooled"]["rate"] <= 0.05
    stored = json.loads(cal_file.read_text())["models"][rec["model_sha256"]]
    assert stored[0]["threshold"] == rec["threshold"]
    groups = tmp_path / "groups.csv"
    subprocess.run([sys.executable, "-m", "openlfr.cli", "evaluate", "random-groups",
                    "--folder", str(small_folder), "--csv", str(groups)], check=True,
                   capture_output=True, timeout=60)
    rep = cli("evaluate", "bias", "--groups", str(groups), "--threshold",
              str(rec["threshold"]), *common)
    counts = watchlist_split(read_people(small_folder)).counts()
    assert sum(g["fnir"]["of"] for g in rep["groups"].values()) == counts["mated_searches"]
    assert sum(g["fpir"]["of"] for g in rep["groups"].values()) == counts["non_mated_searches"]
    assert rep["fpir"]["verdict"] == "too_small"  # a few dozen searches: nothing to conclude
