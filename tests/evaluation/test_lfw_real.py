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


def test_watchlist_cli_json_on_a_small_folder(lfw_dir: Path, cache_dir: Path,
                                              tmp_path: Path) -> None:
    # a folder of symlinks: 10 people with 2+ images (up to 3 each), 8 with one image
    people = read_people(lfw_dir / "images")
    multi = [n for n in sorted(people) if len(people[n]) >= 2][:10]
    single = [n for n in sorted(people) if len(people[n]) == 1][:8]
    folder = tmp_path / "faces"
    for n in multi + single:
        (folder / n).mkdir(parents=True)
        for f in people[n][:3]:
            (folder / n / f.name).symlink_to(f)
    split = watchlist_split(read_people(folder), seed=0)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "openlfr.cli", "evaluate", "watchlist", "--folder", str(folder),
         "--no-flip", "--threads", "1", "--cache-dir", str(cache_dir), "--out", str(out),
         "--json"], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)  # exactly one JSON object on stdout
    counts = split.counts()
    assert res["watchlist_size"] == counts["watchlist_size"] == 5
    assert res["mated_searches"] == counts["mated_searches"]
    assert res["non_mated_searches"] == counts["non_mated_searches"]
    assert res["rank1"]["of"] == counts["mated_searches"]
    assert res["rank1"]["rate"] >= 0.8
    assert [a["target_fpir"] for a in res["at_fpir"]] == [0.01, 0.001]
    assert (out / "watchlist-arcface-noflip.json").is_file()
    assert (out / "watchlist-arcface-noflip.png").stat().st_size > 10_000
