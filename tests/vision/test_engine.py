"""VisionEngine: composition, config, single-face embedding for enrolment and evaluation."""

from __future__ import annotations

import importlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from openlfr.errors import ConfigError, ImageError
from openlfr.vision.engine import VisionConfig, VisionEngine, central_face


def test_analyse_fills_every_field(engine: VisionEngine, players: np.ndarray) -> None:
    faces = engine.analyse(players).faces
    assert len(faces) >= 15
    assert faces.quality is not None and faces.embeddings is not None
    assert faces.embedded.all()
    # Same embeddings as the stage-by-stage route (shared aligned crops give identical input).
    direct = engine.embedder.embed(players, engine.detect(players))
    np.testing.assert_allclose(faces.embeddings, direct.embeddings, atol=1e-4)


def test_analyse_with_gate_embeds_only_passing_faces(engine, players: np.ndarray) -> None:
    faces = engine.analyse(players, gate=True).faces
    passed = engine.quality.passes(faces)
    assert 0 < passed.sum() < len(faces)
    assert faces.embedded.tolist() == passed.tolist()


def test_no_faces(engine) -> None:
    faces = engine.analyse(np.full((240, 320, 3), 40, np.uint8)).faces
    assert len(faces) == 0 and faces.embeddings.shape == (0, 512)
    with pytest.raises(ImageError, match="no face"):
        engine.embed_single(np.full((240, 320, 3), 40, np.uint8))


def test_embed_single_picks_the_central_face(engine, players: np.ndarray) -> None:
    faces = engine.detect(players)
    i = central_face(faces, players.shape[1], players.shape[0])
    cx = (faces.boxes[i, 0] + faces.boxes[i, 2]) / 2
    assert abs(cx - players.shape[1] / 2) < 0.2 * players.shape[1]
    single = engine.embed_single(players)
    np.testing.assert_allclose(single, engine.embedder.embed(players, faces[i]).embeddings[0],
                               atol=1e-5)


def test_embed_paths_marks_images_without_faces(engine, astronaut, tmp_path: Path) -> None:
    a, blank = tmp_path / "a.png", tmp_path / "blank.png"
    cv2.imwrite(str(a), astronaut)
    cv2.imwrite(str(blank), np.zeros((64, 64, 3), np.uint8))
    vecs, found = engine.embed_paths([a, blank, a])
    assert found.tolist() == [True, False, True]
    assert np.isnan(vecs[1]).all()
    np.testing.assert_allclose(vecs[0], vecs[2])
    with pytest.raises(ImageError, match="no such file"):
        engine.embed_paths([tmp_path / "missing.jpg"])
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(ImageError, match="corrupt.jpg"):
        engine.embed_paths([a, corrupt])


def test_from_config_builds_each_backend_pair() -> None:
    cfg = VisionConfig.model_validate({"detector": {"type": "yunet"},
                                       "embedder": {"type": "dlib"}, "threads": 1})
    engine = VisionEngine.from_config(cfg)
    assert (engine.detector.name, engine.embedder.name, engine.embedder.dim) == \
        ("yunet", "dlib", 128)
    cfg = VisionConfig(threads=1).resolved()
    assert cfg.detector.runtime.intra_op_threads == 1
    assert cfg.embedder.runtime.intra_op_threads == 1


def test_engine_threshold_is_recorded_for_default_models(engine) -> None:
    t = engine.threshold
    assert 0 < t.value < 1 and t.provenance


def test_yaml_config(tmp_path: Path) -> None:
    good = tmp_path / "v.yaml"
    good.write_text("detector: {type: scrfd, max_size: 960}\nembedder: {type: arcface, "
                    "flip: true}\nquality: {min_face_px: 48}\n")
    cfg = VisionConfig.from_yaml(good)
    assert cfg.detector.max_size == 960 and cfg.embedder.flip and cfg.quality.min_face_px == 48
    bad = tmp_path / "bad.yaml"
    bad.write_text("embedder: {type: facenet}\n")
    with pytest.raises(ConfigError, match="embedder"):
        VisionConfig.from_yaml(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        VisionConfig.from_yaml(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("detector: [\n")
    with pytest.raises(ConfigError, match="YAML"):
        VisionConfig.from_yaml(broken)


MODULES = ["align", "detectors", "embedders", "engine", "image", "quality", "runtime",
           "thresholds", "draw", "demo"]


@pytest.mark.parametrize("name", MODULES)
def test_public_names_match_all(name: str) -> None:
    """Every name in __all__ exists, and every public class or function defined in the module
    is listed."""
    mod = importlib.import_module(f"openlfr.vision.{name}")
    for n in mod.__all__:
        assert hasattr(mod, n), n
    defined = {n for n, v in vars(mod).items() if not n.startswith("_")
               and getattr(v, "__module__", None) == mod.__name__
               and (isinstance(v, type) or callable(v))}
    assert defined <= set(mod.__all__), defined - set(mod.__all__)
