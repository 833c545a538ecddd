"""Per-group FPIR/FNIR and the plain-language conclusion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from openlfr.errors import ConfigError
from openlfr.evaluation.bias import (
    bias_report,
    conclusion,
    per_group,
    random_groups,
    read_groups,
    write_groups,
)
from openlfr.evaluation.openset import OpenSetScores
from openlfr.metrics import Proportion


def scores() -> OpenSetScores:
    # mated: A hit 0.9, A hit 0.4, B miss (wrong top-1) 0.8, B hit 0.7
    # non-mated: X 0.6, X 0.2, Y 0.55, Z 0.9
    return OpenSetScores(
        watchlist_size=2,
        mated_top=np.array([0.9, 0.4, 0.8, 0.7]), mated_hit=np.array([1, 1, 0, 1], bool),
        mated_ids=("A", "A", "B", "B"),
        non_mated_top=np.array([0.6, 0.2, 0.55, 0.9]), non_mated_ids=("X", "X", "Y", "Z"))


def test_per_group_counts() -> None:
    table = per_group(scores(), {"A": "g1", "X": "g1", "B": "g2", "Y": "g2"}, threshold=0.5)
    assert (table["g1"]["fnir"].successes, table["g1"]["fnir"].total) == (1, 2)  # A at 0.4
    assert (table["g2"]["fnir"].successes, table["g2"]["fnir"].total) == (1, 2)  # B wrong
    assert (table["g1"]["fpir"].successes, table["g1"]["fpir"].total) == (1, 2)  # X at 0.6
    assert (table["g2"]["fpir"].successes, table["g2"]["fpir"].total) == (1, 1)  # Y at 0.55
    assert (table["(no group)"]["fpir"].successes, table["(no group)"]["fpir"].total) == (1, 1)


def test_too_small_groups_are_said_so() -> None:
    rep = bias_report(scores(), {"A": "g1", "X": "g1", "B": "g2", "Y": "g2"}, 0.5)
    assert rep["fpir"]["verdict"] == "too_small"
    assert "too few searches" in rep["fpir"]["statement"]
    assert rep["fpir"]["max_min_ratio"] == pytest.approx(2.0)  # 1/1 vs 1/2


@pytest.mark.parametrize("a, b, verdict, ratio", [
    ((10, 1000), (12, 1000), "intervals_overlap", 1.2),
    ((10, 1000), (80, 1000), "difference", 8.0),
    ((0, 1000), (5, 1000), "intervals_overlap", None),  # ratio undefined with a zero rate
    ((1, 50), (30, 1000), "too_small", 1.5),
])
def test_conclusion(a: tuple[int, int], b: tuple[int, int], verdict: str,
                    ratio: float | None) -> None:
    c = conclusion({"g1": Proportion(*a), "g2": Proportion(*b)}, "FPIR", min_searches=100)
    assert c["verdict"] == verdict
    assert c["max_min_ratio"] == (None if ratio is None else pytest.approx(ratio))
    if verdict == "difference":
        assert "g1 lower than g2" in c["statement"]


def test_groups_csv_round_trip(tmp_path: Path) -> None:
    groups = random_groups([f"P{i}" for i in range(200)], k=3, seed=1)
    assert set(groups.values()) == {"g0", "g1", "g2"}
    path = tmp_path / "groups.csv"
    write_groups(path, groups)
    assert read_groups(path) == groups


@pytest.mark.parametrize("text, message", [
    ("name,group\nA,g\n", "identity,group"),
    ("identity,group\nA,\n", "empty"),
    ("identity,group\nA,g1\nA,g2\n", "two groups"),
])
def test_groups_csv_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "g.csv"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_groups(path)
