"""What ``openlfr evaluate ...`` and ``openlfr calibrate`` share: the data, model and output
options, finding LFW, the face embedder under evaluation, the watchlist run and printing
the result (``--json``: one object on stdout, progress on stderr; ``--out DIR``: the JSON and
a PNG plot written there)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from openlfr.cli.options import DetectorChoice, EmbedderChoice, emit, json_option
from openlfr.errors import ConfigError
from openlfr.evaluation.embedcache import FaceEmbedder, build_face_embedder
from openlfr.evaluation.lfw import lfw_root
from openlfr.evaluation.protocols import WatchlistRun, watchlist_run
from openlfr.metrics import Proportion
from openlfr.settings import Settings, shared_data_dir

__all__ = ["Data", "Embedder", "Detector", "Flip", "Out", "AsJson", "CacheDir", "Threads",
           "Seed", "lfw_folder", "face_embedder", "result_name", "cache_folder", "show",
           "proportion", "watchlist"]

Data = Annotated[Path | None, typer.Option(
    "--data", help="LFW folder (pairs.txt, images/) or the shared data folder holding lfw/; "
                   "default: ../shared/data/lfw")]
Embedder = Annotated[EmbedderChoice, typer.Option("--embedder", help="Embedder to evaluate.")]
Detector = Annotated[DetectorChoice, typer.Option("--detector", help="Face detector.")]
Flip = Annotated[bool, typer.Option(
    "--flip/--no-flip", help="Flip fusion (embed the mirrored face too, add the vectors). On by "
                             "default for evaluation; thresholds are calibrated per setting.")]
Out = Annotated[Path | None, typer.Option("--out", help="Write <name>.json and <name>.png "
                                                        "into this folder.")]
AsJson = json_option("Print exactly one JSON object.")
CacheDir = Annotated[Path | None, typer.Option(
    "--cache-dir", help="Embedding cache (default: Settings.cache_dir, ~/.cache/openlfr).")]
Threads = Annotated[int, typer.Option("--threads", min=1, max=64,
                                      help="onnxruntime intra-op threads.")]
Seed = Annotated[int, typer.Option("--seed", help="Seed of the watchlist split.")]


def lfw_folder(data: Path | None) -> Path:
    """The LFW folder given with ``--data``, else the shared data folder's."""
    if data is None:
        shared = shared_data_dir()
        if shared is None:
            raise ConfigError("no --data given and ../shared/data is absent; pass --data "
                              "/path/to/lfw")
        data = shared / "lfw"
    return lfw_root(data)


def face_embedder(embedder: EmbedderChoice, flip: bool, detector: DetectorChoice,
                  threads: int) -> FaceEmbedder:
    return build_face_embedder(embedder.value, flip=flip, detector=detector.value,
                               threads=threads)


def result_name(prefix: str, embedder: EmbedderChoice, flip: bool) -> str:
    """Result file name: e.g. lfw-watchlist-arcface, lfw-watchlist-arcface-noflip."""
    return f"{prefix}-{embedder.value}" + ("" if flip else "-noflip")


def cache_folder(cache_dir: Path | None) -> Path:
    return cache_dir or Settings().cache_dir


def show(result: dict[str, Any], as_json: bool, human: list[str]) -> None:
    """:func:`~openlfr.cli.options.emit` of a result that names the command that made it."""
    result.setdefault("command", "openlfr " + " ".join(sys.argv[1:]))
    emit(result, as_json, human)


def proportion(d: dict[str, Any]) -> str:
    """A Proportion dict as 'k/n = r% (95% CI lo-hi%)'."""
    return str(Proportion(d["count"], d["of"]))


def watchlist(images: Path, embedder: EmbedderChoice, detector: DetectorChoice, flip: bool,
              threads: int, cache_dir: Path | None, seed: int) -> WatchlistRun:
    """The open-set watchlist searches on a folder of Name/<images> (LFW's split rule)."""
    return watchlist_run(images, face_embedder(embedder, flip, detector, threads),
                         cache_folder(cache_dir), seed, progress=True)
