"""LFW files and the two protocols' splits (docs/accuracy.md).

LFW (Huang et al. 2007) is a research benchmark for 1:1 *verification*. It is mostly adult,
male and white, and says so itself (``LFW_DISCLAIMER``): a figure measured on it is evidence
about that population and that task, nothing more.

Verification (``pairs.txt``)
    The first line gives the number of folds and the number of matched pairs per fold (equal
    to the number of mismatched pairs); each fold then lists its matched pairs
    (``name n1 n2``) followed by its mismatched pairs (``name1 n1 name2 n2``). The standard
    file has 10 folds x (300 matched + 300 mismatched). The View 1 files
    (``pairsDevTrain.txt``) have a single count on the first line: one fold.

Watchlist (open-set 1:N), the exact sampling procedure of :func:`watchlist_split`
    1. people = every folder of the image tree with its images sorted by image number;
    2. eligible = the names of people with two or more images, sorted with Python's
       ``sorted`` (code-point order); on LFW there are 1,680;
    3. ``chosen = numpy.random.default_rng(seed).choice(len(eligible), len(eligible) // 2,
       replace=False)`` with seed 0; the watchlist is ``eligible[i] for i in chosen`` (840 on
       LFW), kept in sorted-name order. (This is the draw behind the naive reference
       figures of docs/benchmarks.md: with the same model and no flip fusion it gives the
       same thresholds, 0.329 at FPIR 1e-2 and 0.380 at 1e-3.);
    4. each watchlisted person is enrolled from their lowest-numbered image; their other
       images are mated searches;
    5. every image of everyone else (the other 840 eligible people and the 4,069 people with a
       single image) is a non-mated search.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from openlfr.errors import ConfigError
from openlfr.vision.image import image_files

__all__ = ["Pair", "parse_pairs", "read_people", "image_path", "WatchlistSplit",
           "watchlist_split", "pair_images", "LFW_NOTE", "lfw_root"]

#: The caveat printed beside every figure measured on LFW.
LFW_NOTE = ("LFW is a 1:1 verification benchmark of mostly adult, male and white public figures "
            "(see its disclaimer); figures on it say nothing about other populations or about "
            "live 1:N use on CCTV.")

_NUMBER = re.compile(r"_(\d+)$")


@dataclass(frozen=True)
class Pair:
    """One verification pair: images ``n1`` of ``name1`` and ``n2`` of ``name2``."""

    fold: int
    name1: str
    n1: int
    name2: str
    n2: int

    @property
    def same(self) -> bool:
        return self.name1 == self.name2


def lfw_root(data: Path) -> Path:
    """Accept the LFW folder itself or a shared-data folder holding ``lfw/``."""
    data = Path(data)
    for cand in (data, data / "lfw"):
        if (cand / "pairs.txt").is_file() and (cand / "images").is_dir():
            return cand
    raise ConfigError(f"{data} is not an LFW folder: expected pairs.txt and images/ in it "
                      f"(or in {data / 'lfw'})")


def image_path(images: Path, name: str, number: int) -> Path:
    """``images/Name/Name_000N.jpg``."""
    return Path(images) / name / f"{name}_{number:04d}.jpg"


def parse_pairs(path: Path) -> list[Pair]:
    """Parse an LFW pairs file into pairs tagged with their fold (0-based).

    Raises :class:`ConfigError` with the offending line when the file does not follow the
    format (wrong field count, a matched line among mismatched ones, a short fold).
    """
    lines = [ln.split() for ln in Path(path).read_text().splitlines() if ln.strip()]
    if not lines:
        raise ConfigError(f"{path}: empty pairs file")
    header = lines[0]
    try:
        if len(header) == 2:
            folds, per = int(header[0]), int(header[1])
        elif len(header) == 1:
            folds, per = 1, int(header[0])
        else:
            raise ValueError
    except ValueError:
        raise ConfigError(f"{path}:1: expected 'folds pairs_per_fold' or 'pairs', "
                          f"got {' '.join(header)!r}") from None
    body = lines[1:]
    if len(body) != folds * 2 * per:
        raise ConfigError(f"{path}: header announces {folds} fold(s) x 2 x {per} = "
                          f"{folds * 2 * per} pairs, file has {len(body)}")
    pairs: list[Pair] = []
    for i, fields in enumerate(body):
        fold, within = divmod(i, 2 * per)
        matched = within < per
        lineno = i + 2
        try:
            if matched:
                if len(fields) != 3:
                    raise ValueError("expected 'name n1 n2' (a matched pair)")
                pairs.append(Pair(fold, fields[0], int(fields[1]), fields[0], int(fields[2])))
            else:
                if len(fields) != 4:
                    raise ValueError("expected 'name1 n1 name2 n2' (a mismatched pair)")
                if fields[0] == fields[2]:
                    raise ValueError("a mismatched pair names the same person twice")
                pairs.append(Pair(fold, fields[0], int(fields[1]), fields[2], int(fields[3])))
        except ValueError as exc:
            raise ConfigError(f"{path}:{lineno}: {exc}: {' '.join(fields)!r}") from None
    return pairs


def read_people(images: Path, pattern: str | None = None) -> dict[str, list[Path]]:
    """Every person folder under ``images`` -> its image files, sorted by image number.

    Image files are those of any format OpenCV reads (``vision.image.IMAGE_SUFFIXES``), or
    those matching ``pattern`` (e.g. ``"*.jpg"``). Files are numbered by the digits after
    their last underscore (``Name_0003.jpg``); files without such a number sort after numbered
    ones, by name. Folders without images are left out. Works for any folder of
    ``Name/<images>``.
    """
    images = Path(images)
    if not images.is_dir():
        raise ConfigError(f"{images}: not a folder of person folders (Name/<images>)")
    people: dict[str, list[Path]] = {}
    for d in sorted(p for p in images.iterdir() if p.is_dir()):
        files = (image_files(d) if pattern is None
                 else [f for f in d.glob(pattern) if f.is_file()])
        if files:
            people[d.name] = sorted(files, key=_image_sort_key)
    if not people:
        what = pattern or "image"
        raise ConfigError(f"{images}: no person folders with {what} files found")
    return people


def _image_sort_key(path: Path) -> tuple[int, int, str]:
    m = _NUMBER.search(path.stem)
    return (0, int(m.group(1)), path.name) if m else (1, 0, path.name)


@dataclass(frozen=True)
class WatchlistSplit:
    """Open-set split: enrolled images (one per watchlisted identity), mated and non-mated
    searches. Identities are names; ``mated`` carries the probe's true identity."""

    watchlist: tuple[str, ...]
    enrol: tuple[Path, ...]            # enrol[i] is watchlist[i]'s enrolment image
    mated: tuple[tuple[Path, str], ...]  # (image, identity on the watchlist)
    non_mated: tuple[tuple[Path, str], ...]  # (image, identity not on the watchlist)
    eligible: int
    seed: int

    def images(self) -> list[Path]:
        """Every image the protocol needs, each once."""
        return list(self.enrol) + [p for p, _ in self.mated] + [p for p, _ in self.non_mated]

    def counts(self) -> dict[str, int]:
        return {"eligible_identities": self.eligible, "watchlist_size": len(self.watchlist),
                "mated_searches": len(self.mated), "non_mated_searches": len(self.non_mated),
                "non_mated_identities": len({n for _, n in self.non_mated})}


def watchlist_split(people: dict[str, list[Path]], seed: int = 0) -> WatchlistSplit:
    """The seeded watchlist split described in the module docstring."""
    eligible = sorted(n for n, files in people.items() if len(files) >= 2)
    if len(eligible) < 2:
        raise ConfigError(f"need at least two people with two or more images for a watchlist, "
                          f"found {len(eligible)}")
    picked = np.random.default_rng(seed).choice(len(eligible), len(eligible) // 2, replace=False)
    chosen = sorted(eligible[i] for i in picked)
    on_list = set(chosen)
    enrol = tuple(people[n][0] for n in chosen)
    mated = tuple((f, n) for n in chosen for f in people[n][1:])
    non_mated = tuple((f, n) for n in sorted(people) if n not in on_list for f in people[n])
    return WatchlistSplit(tuple(chosen), enrol, mated, non_mated, len(eligible), seed)


def pair_images(images: Path, pairs: Iterable[Pair]) -> list[Path]:
    """The distinct image files the pairs use, in first-use order."""
    seen: dict[Path, None] = {}
    for p in pairs:
        seen.setdefault(image_path(images, p.name1, p.n1))
        seen.setdefault(image_path(images, p.name2, p.n2))
    return list(seen)
