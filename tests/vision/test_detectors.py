"""Detectors on real photographs: counts, shapes, coordinates, and no faces in noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from openlfr.errors import ImageError
from openlfr.faces import Faces
from openlfr.vision.detectors import (
    ScrfdConfig,
    ScrfdDetector,
    YunetConfig,
    build_detector,
    nms,
)
from openlfr.vision.image import load_image

BACKENDS = ["scrfd", "yunet"]


@pytest.fixture(params=BACKENDS)
def detector(request, scrfd, yunet):
    return {"scrfd": scrfd, "yunet": yunet}[request.param]


def _check_faces(faces: Faces, image: np.ndarray) -> None:
    h, w = image.shape[:2]
    n = len(faces)
    assert faces.boxes.shape == (n, 4) and faces.boxes.dtype == np.float32
    assert faces.scores.shape == (n,) and faces.landmarks.shape == (n, 5, 2)
    assert ((faces.scores > 0) & (faces.scores <= 1)).all()
    assert (faces.boxes[:, 0] >= 0).all() and (faces.boxes[:, 2] <= w).all()
    assert (faces.boxes[:, 1] >= 0).all() and (faces.boxes[:, 3] <= h).all()
    assert (faces.widths > 0).all() and (faces.heights > 0).all()


@pytest.mark.shared_data
def test_group_photo_has_six_faces(detector, group_photo: Path) -> None:
    image = load_image(group_photo)
    faces = detector.detect(image)
    _check_faces(faces, image)
    assert len(faces) == 6
    # Landmarks lie inside their box, eyes above mouth, left eye left of right eye.
    lm = faces.landmarks
    b = faces.boxes
    assert ((lm[..., 0] >= b[:, None, 0] - 2) & (lm[..., 0] <= b[:, None, 2] + 2)).all()
    assert (lm[:, 0, 0] < lm[:, 1, 0]).all() and (lm[:, 3, 0] < lm[:, 4, 0]).all()
    assert (lm[:, :2, 1].mean(1) < lm[:, 3:, 1].mean(1)).all()


@pytest.mark.shared_data
def test_scrfd_and_yunet_agree_on_the_group_photo(scrfd, yunet, group_photo: Path) -> None:
    image = load_image(group_photo)
    a, b = scrfd.detect(image), yunet.detect(image)
    ca = (a.boxes[:, :2] + a.boxes[:, 2:]) / 2
    cb = (b.boxes[:, :2] + b.boxes[:, 2:]) / 2
    dist = np.linalg.norm(ca[:, None] - cb[None], axis=2).min(axis=1)
    assert (dist < 0.25 * a.widths).all()


def test_packaged_team_photo(detector, players: np.ndarray) -> None:
    faces = detector.detect(players)
    _check_faces(faces, players)
    confident = faces[faces.scores >= 0.75]
    assert 15 <= len(confident) <= 30  # 13 players and staff in front of a crowd


@pytest.mark.parametrize("kind", ["blank", "noise", "tiny"])
def test_no_faces_in_blank_or_noise(detector, kind: str) -> None:
    rng = np.random.default_rng(1)
    image = {"blank": np.full((480, 640, 3), 128, np.uint8),
             "noise": rng.integers(0, 256, (480, 640, 3), dtype=np.uint8),
             "tiny": rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)}[kind]
    faces = detector.detect(image)
    assert len(faces) == 0
    assert faces.boxes.shape == (0, 4) and faces.landmarks.shape == (0, 5, 2)


def test_coordinates_are_in_original_pixels(scrfd, players: np.ndarray) -> None:
    """Detecting on an upscaled copy with max_size raised gives boxes scaled by the same."""
    import cv2

    big = cv2.resize(players, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR)
    wide = ScrfdDetector(ScrfdConfig(max_size=2 * max(players.shape[:2])),
                         session=scrfd.session)
    small = ScrfdDetector(ScrfdConfig(max_size=max(players.shape[:2])), session=scrfd.session)
    a, b = small.detect(players), wide.detect(big)
    a = a[a.scores > 0.8]
    for box in a.boxes:
        iou = _iou(box * 2, b.boxes)
        assert iou.max() > 0.6


def test_non_multiple_of_32_sizes_and_aspect(scrfd, players: np.ndarray) -> None:
    crop = players[13:13 + 417, 101:101 + 999]  # odd size, wide aspect
    blob, scale = scrfd.prepare(crop)
    assert blob.shape[2] % 32 == 0 and blob.shape[3] % 32 == 0
    assert blob.shape[3] == 640 and blob.shape[2] == 288  # 999x417 -> 640x267 -> pad to 288
    assert scale == pytest.approx(640 / 999)
    assert len(scrfd.detect(crop)) > 5


def test_grey_and_bgra_inputs_are_accepted(scrfd, astronaut: np.ndarray) -> None:
    import cv2

    grey = cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(astronaut, cv2.COLOR_BGR2BGRA)
    assert len(scrfd.detect(grey)) == 1 and len(scrfd.detect(bgra)) == 1


@pytest.mark.parametrize("bad", [np.zeros((10, 10, 3), np.float32), "image.jpg",
                                 np.zeros((0, 10, 3), np.uint8), np.zeros((4, 4, 2), np.uint8)])
def test_bad_arrays_raise_image_error(scrfd, bad) -> None:
    with pytest.raises(ImageError):
        scrfd.detect(bad)


def test_build_detector_from_tagged_config() -> None:
    from pydantic import TypeAdapter, ValidationError

    from openlfr.vision.detectors import DetectorConfig

    ta = TypeAdapter(DetectorConfig)
    assert isinstance(ta.validate_python({"type": "yunet"}), YunetConfig)
    assert build_detector(ta.validate_python({"type": "yunet"})).name == "yunet"
    with pytest.raises(ValidationError):
        ta.validate_python({"type": "scrfd", "max_sise": 640})  # typo: extra key refused
    with pytest.raises(ValidationError):
        ta.validate_python({"type": "scrfd", "model_path": "/tmp/x.onnx"})  # no sha256


def test_nms_keeps_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10]], float)
    scores = np.array([0.6, 0.9, 0.5, 0.1])
    assert nms(boxes, scores, 0.4).tolist() == [1, 2]
    assert nms(boxes, scores, 0.99).tolist() == [1, 0, 2]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.4).tolist() == []


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / (area + areas - inter)


class _FakeScrfdSession:
    """Stands in for onnxruntime: fixed raw outputs for one 64x96 (HxW) input."""

    def __init__(self, outputs: dict[str, np.ndarray]) -> None:
        self.outputs = outputs

    class _Node:
        def __init__(self, name: str) -> None:
            self.name = name

    def get_inputs(self):
        return [self._Node("input.1")]

    def get_outputs(self):
        return [self._Node(n) for n in self.outputs]

    def run(self, names, feeds):
        assert feeds["input.1"].shape == (1, 3, 64, 96)
        return [self.outputs[n] for n in names]


def test_scrfd_decoding_of_known_raw_outputs() -> None:
    """One anchor fires at stride 16, row 1, column 2, second anchor: centre (32, 16).
    Distances (1, 0.5, 2, 1.5) strides and keypoint offsets map to known pixels."""
    h, w = 64, 96
    outputs = {}
    for stride in (8, 16, 32):
        k = (h // stride) * (w // stride) * 2
        outputs[f"score_{stride}"] = np.zeros((1, k, 1), np.float32)
        outputs[f"bbox_{stride}"] = np.zeros((1, k, 4), np.float32)
        outputs[f"kps_{stride}"] = np.zeros((1, k, 10), np.float32)
    idx = (1 * (w // 16) + 2) * 2 + 1
    outputs["score_16"][0, idx, 0] = 0.9
    outputs["bbox_16"][0, idx] = [1, 0.5, 2, 1.5]
    outputs["kps_16"][0, idx] = [-0.5, -0.5, 0.5, -0.5, 0, 0, -0.4, 0.5, 0.4, 0.5]
    det = ScrfdDetector(ScrfdConfig(), session=_FakeScrfdSession(outputs))
    faces = det.detect(np.zeros((h, w, 3), np.uint8))
    assert len(faces) == 1 and faces.scores[0] == pytest.approx(0.9)
    np.testing.assert_allclose(faces.boxes[0], [32 - 16, 16 - 8, 32 + 32, 16 + 24])
    np.testing.assert_allclose(faces.landmarks[0], [[24, 8], [40, 8], [32, 16], [25.6, 24],
                                                    [38.4, 24]], atol=1e-4)
    # the same frame at twice the size, detected at max_size 96: coordinates double
    det2 = ScrfdDetector(ScrfdConfig(max_size=96), session=_FakeScrfdSession(outputs))
    faces2 = det2.detect(np.zeros((2 * h, 2 * w, 3), np.uint8))
    np.testing.assert_allclose(faces2.boxes[0], 2 * faces.boxes[0])


def test_lower_min_score_adds_detections_and_keeps_the_confident_ones(detector,
                                                                      players: np.ndarray
                                                                      ) -> None:
    """``min_score`` (used to blur unsure faces in the live view) only adds detections: the
    faces at or above the configured threshold are the same as a normal call's."""
    normal = detector.detect(players)
    wide = detector.detect(players, min_score=0.1)
    threshold = detector.cfg.score_threshold
    assert len(wide) >= len(normal) > 0
    sure = wide[wide.scores >= threshold]
    assert len(sure) == len(normal)
    order_n, order_w = np.argsort(normal.boxes[:, 0]), np.argsort(sure.boxes[:, 0])
    np.testing.assert_allclose(sure.boxes[order_w], normal.boxes[order_n], atol=1e-3)
    assert (wide.scores >= 0.1 - 1e-6).all()
