"""The real service process with the real models: the same faces, scores and embeddings as
the local engine on real frames (batched across cameras too), a dead service gives a clear
error and comes back, the provider config goes through the service, and nothing is left in
/dev/shm. The GPU code path is the same service with ``runtime.provider: cuda|tensorrt``; no
GPU was available for these tests, so no GPU figures exist yet (docs/inference.md)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from openlfr.inference import (
    InferenceConfig,
    InferenceFailed,
    InferenceService,
    InferenceUnavailable,
    ServiceClient,
    ServiceDetector,
    service_engine,
)
from openlfr.vision.align import align
from openlfr.vision.detectors import ScrfdConfig
from openlfr.vision.engine import VisionConfig, VisionEngine

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def frames(shared_data: Path) -> list[np.ndarray]:
    """The group photo and three 1080p frames of the crowd clip."""
    out = [cv2.imread(str(shared_data / "images" / "group_six_people.jpg"))]
    cap = cv2.VideoCapture(str(shared_data / "video" / "crowd_royal_opera_house_1080p.mp4"))
    for i in range(90):
        ok, frame = cap.read()
        if ok and i % 30 == 0:
            out.append(frame)
    cap.release()
    assert len(out) == 4 and all(f is not None for f in out)
    return out


@pytest.fixture(scope="module")
def local() -> VisionEngine:
    return VisionEngine.from_config(VisionConfig())


def _started(**settings: object) -> InferenceService:
    return InferenceService(InferenceConfig(mode="shared", threads=2, timeout_s=30,
                                            **settings)).start()


@pytest.fixture
def service() -> InferenceService:
    svc = _started(max_batch=1)
    yield svc
    svc.stop()


@pytest.fixture
def batching() -> InferenceService:
    """Two requests a call, the first waiting up to 1 s for the second."""
    svc = _started(max_batch=2, max_wait_ms=1000)
    yield svc
    svc.stop()


def _client(svc: InferenceService) -> ServiceClient:
    return ServiceClient.from_spec(svc.client_spec(svc.new_segment()))


def _same(engine: VisionEngine, local: VisionEngine, image: np.ndarray) -> int:
    got, want = engine.detector.detect(image), local.detector.detect(image)
    assert len(got) == len(want)
    np.testing.assert_allclose(got.boxes, want.boxes, atol=1e-3)
    np.testing.assert_allclose(got.scores, want.scores, atol=1e-5)
    np.testing.assert_allclose(got.landmarks, want.landmarks, atol=1e-3)
    crops = align(image, want.landmarks)
    np.testing.assert_allclose(engine.embedder.embed_aligned(crops),
                               local.embedder.embed_aligned(crops), atol=1e-5)
    return len(got)


def test_the_service_finds_and_embeds_what_the_local_engine_does(
        service: InferenceService, local: VisionEngine, frames: list[np.ndarray]) -> None:
    engine = service_engine(VisionConfig(), _client(service))
    assert engine.embedder.model_sha256 == local.embedder.model_sha256
    faces = [_same(engine, local, f) for f in frames]
    assert faces[0] == 6 and sum(faces[1:]) > 10


def test_frames_of_two_cameras_batched_together_give_each_its_own_faces(
        batching: InferenceService, local: VisionEngine, frames: list[np.ndarray]) -> None:
    engines = [service_engine(VisionConfig(), _client(batching)) for _ in range(2)]
    errors: list[BaseException] = []

    def camera(k: int) -> None:
        try:
            for image in frames[1:][k::2] * 2:  # 1080p frames: one input shape
                _same(engines[k], local, image)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=camera, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    sizes = {n: c for m, n, c in engines[0].detector.session.client.stats()["batches"]
             if m.startswith("scrfd")}
    assert sizes.get(2, 0) >= 1  # a batch of both cameras' frames ran


def test_a_dead_service_is_a_clear_error_and_a_restart_resumes(
        service: InferenceService, local: VisionEngine, frames: list[np.ndarray]) -> None:
    engine = service_engine(VisionConfig(), _client(service))
    _same(engine, local, frames[0])
    service.kill()
    with pytest.raises(InferenceUnavailable, match="inference service"):
        engine.detector.detect(frames[0])
    assert service.check() and service.restarts == 1
    _same(engine, local, frames[0])  # reconnected: the models opened again, same results


def test_the_provider_config_goes_through_the_service(service: InferenceService) -> None:
    client = _client(service)
    cuda = ScrfdConfig(runtime={"provider": "cuda"})
    if "CUDAExecutionProvider" in __import__("onnxruntime").get_available_providers():
        pytest.skip("a GPU build is installed: the refusal path needs a CPU-only build")
    with pytest.raises(InferenceFailed, match="ProviderUnavailable: provider 'cuda'"):
        ServiceDetector(cuda, client)
    fallback = ScrfdConfig(runtime={"provider": "cuda", "fallback": "cpu"})
    assert len(ServiceDetector(fallback, client).detect(np.zeros((64, 64, 3), np.uint8))) == 0


def test_stop_unlinks_every_segment_and_the_socket() -> None:
    svc = InferenceService(InferenceConfig(mode="shared")).start()
    names = [svc.new_segment() for _ in range(3)]
    assert all(os.path.exists(f"/dev/shm/{n}") for n in names)
    svc.release(names[0])  # a camera process that ended
    assert not os.path.exists(f"/dev/shm/{names[0]}")
    client = ServiceClient.from_spec(svc.client_spec(names[1]))  # attached, still open
    svc.stop()
    assert not any(os.path.exists(f"/dev/shm/{n}") for n in names)
    assert not os.path.exists(os.path.dirname(svc.address)) and not svc.alive
    client.close()
