"""LFW file parsing and the watchlist split, on small synthetic files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from openlfr.errors import ConfigError
from openlfr.evaluation.lfw import (
    image_path,
    pair_images,
    parse_pairs,
    read_people,
    watchlist_split,
)


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "pairs.txt"
    p.write_text(text)
    return p


def test_parse_pairs_two_folds(tmp_path: Path) -> None:
    p = _write(tmp_path, "2\t2\nA\t1\t2\nB\t1\t3\nA\t1\tB\t2\nC\t1\tD\t1\n"
                         "E\t2\t4\nF\t1\t2\nE\t1\tF\t2\nG\t1\tH\t3\n")
    pairs = parse_pairs(p)
    assert [x.fold for x in pairs] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert [x.same for x in pairs] == [True, True, False, False] * 2
    assert (pairs[4].name1, pairs[4].n1, pairs[4].name2, pairs[4].n2) == ("E", 2, "E", 4)
    assert (pairs[7].name1, pairs[7].n1, pairs[7].name2, pairs[7].n2) == ("G", 1, "H", 3)


def test_parse_pairs_view1_single_count(tmp_path: Path) -> None:
    pairs = parse_pairs(_write(tmp_path, "1\nA 1 2\nA 1 B 1\n"))
    assert [(x.fold, x.same) for x in pairs] == [(0, True), (0, False)]


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("2 x\nA 1 2\n", "expected 'folds pairs_per_fold'"),
    ("1 1\nA 1 2\n", "announces"),
    ("1 1\nA 1 B 2\nA 1 B 2\n", ":2: expected 'name n1 n2'"),
    ("1 1\nA 1 2\nA 1 2\n", ":3: expected 'name1 n1 name2 n2'"),
    ("1 1\nA 1 2\nA 1 A 2\n", "same person twice"),
    ("1 1\nA one 2\nA 1 B 2\n", ":2:"),
])
def test_parse_pairs_rejects_malformed(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_pairs(_write(tmp_path, text))


def _tree(tmp_path: Path, counts: dict[str, int]) -> Path:
    root = tmp_path / "images"
    for name, n in counts.items():
        (root / name).mkdir(parents=True)
        for i in range(1, n + 1):
            (root / name / f"{name}_{i:04d}.jpg").write_bytes(b"")
    return root


def test_read_people_sorts_by_number(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"Ann": 12})
    (root / "Empty").mkdir()
    people = read_people(root)
    assert list(people) == ["Ann"]  # folders without images are left out
    assert [p.name for p in people["Ann"][:3]] == ["Ann_0001.jpg", "Ann_0002.jpg", "Ann_0003.jpg"]
    assert people["Ann"][-1].name == "Ann_0012.jpg"  # 12 after 2 (numeric, not text order)
    assert image_path(root, "Ann", 12) == people["Ann"][-1]


def test_watchlist_split_counts_and_rule(tmp_path: Path) -> None:
    counts = {"P0": 2, "P1": 3, "P2": 4, "P3": 2, "P4": 5, "P5": 2, "S0": 1, "S1": 1, "S2": 1}
    split = watchlist_split(read_people(_tree(tmp_path, counts)), seed=0)
    eligible = sorted(n for n, c in counts.items() if c >= 2)
    picked = np.random.default_rng(0).choice(len(eligible), 3, replace=False)
    expected = sorted(eligible[i] for i in picked)
    assert list(split.watchlist) == expected
    assert [p.name for p in split.enrol] == [f"{n}_0001.jpg" for n in expected]
    assert len(split.mated) == sum(counts[n] - 1 for n in expected)
    assert {n for _, n in split.mated} == set(expected)
    others = set(counts) - set(expected)
    assert len(split.non_mated) == sum(counts[n] for n in others)
    assert {n for _, n in split.non_mated} == others
    assert split.counts()["eligible_identities"] == 6
    # every image used exactly once
    assert len(split.images()) == len(set(split.images())) == sum(counts.values())


def test_watchlist_split_depends_on_seed_only(tmp_path: Path) -> None:
    people = read_people(_tree(tmp_path, {f"P{i:02d}": 2 for i in range(20)}))
    a, b = watchlist_split(people, 0), watchlist_split(dict(reversed(people.items())), 0)
    assert a.watchlist == b.watchlist
    assert watchlist_split(people, 1).watchlist != a.watchlist


def test_watchlist_split_needs_two_eligible(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="two or more images"):
        watchlist_split(read_people(_tree(tmp_path, {"A": 2, "B": 1})))


def test_pair_images_distinct(tmp_path: Path) -> None:
    pairs = parse_pairs(_write(tmp_path, "1 2\nA 1 2\nA 2 3\nA 1 B 1\nB 1 C 1\n"))
    names = [p.name for p in pair_images(tmp_path, pairs)]
    assert names == ["A_0001.jpg", "A_0002.jpg", "A_0003.jpg", "B_0001.jpg", "C_0001.jpg"]


def test_read_people_takes_every_image_format(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"Ann": 1})
    for name in ("Ann_0002.png", "Ann_0003.TIF", "notes.txt"):
        (root / "Ann" / name).write_bytes(b"")
    assert [p.name for p in read_people(root)["Ann"]] == ["Ann_0001.jpg", "Ann_0002.png",
                                                          "Ann_0003.TIF"]
    assert [p.name for p in read_people(root, "*.jpg")["Ann"]] == ["Ann_0001.jpg"]
