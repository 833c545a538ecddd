"""The camera's side of the inference service, behind the Detector and Embedder protocols.

:class:`ServiceDetector` is the SCRFD detector and :class:`ServiceEmbedder` the ArcFace
embedder of :mod:`openlfr.vision`, with their session replaced by a :class:`RemoteSession`:
preprocessing (resize, normalise), decoding, NMS, alignment and L2-normalisation stay in the
camera process, exactly as in a local engine; only ``session.run`` goes to the service. So
the :class:`~openlfr.pipeline.worker.CameraWorker` and the
:class:`~openlfr.vision.engine.VisionEngine` see the same objects as ever, and the results
are the local engine's (up to the float rounding of a batched call).

A request the service cannot answer raises :class:`InferenceUnavailable` (no answer within
``timeout_s``, or the connection lost because the service died): the worker skips the frame
as for any failing stage. The next request reconnects, waiting up to ``timeout_s`` for a
restarted service.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Client, Connection
from typing import Any

import numpy as np

from openlfr.errors import OpenLFRError
from openlfr.inference.shm import Segment, SegmentTooSmall
from openlfr.priority import lower_this_thread
from openlfr.vision.align import CROP_SIZE
from openlfr.vision.detectors import ScrfdConfig, ScrfdDetector, build_detector
from openlfr.vision.embedders import ArcFaceConfig, ArcFaceEmbedder, build_embedder
from openlfr.vision.engine import VisionConfig, VisionEngine
from openlfr.vision.quality import QualityAssessor

__all__ = ["InferenceUnavailable", "InferenceFailed", "ServiceClient", "RemoteSession",
           "ServiceDetector", "ServiceEmbedder", "service_engine", "engine_for"]


class InferenceUnavailable(OpenLFRError):
    """The inference service did not answer (not running, died, or too slow)."""


class InferenceFailed(OpenLFRError):
    """The service answered this request with an error (the model call failed)."""


class ServiceClient:
    """One camera's connection to its node's service and its shared-memory segment.
    Thread-safe: one request at a time, so each camera's results come back in order."""

    def __init__(self, address: str, authkey: bytes, segment: str, *,
                 timeout_s: float = 10.0, nice: int = 0) -> None:
        """``nice``: each thread that runs a model through the service (the camera's
        analysis) lowers its CPU priority to this, so on a saturated node the service's
        model calls go first; the camera's other threads (its decoder) keep theirs."""
        self.address, self.timeout_s, self.nice = address, timeout_s, nice
        self._authkey = authkey
        self.segment = Segment.attach(segment)
        self._conn: Connection | None = None
        self._lock = threading.Lock()
        self._seq = 0
        self._models: dict[str, dict[str, Any]] = {}  # what to open again after a restart

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> ServiceClient:
        """From the node's ``InferenceService.client_spec``."""
        return cls(str(spec["address"]), bytes.fromhex(spec["authkey"]), str(spec["segment"]),
                   timeout_s=float(spec["timeout_s"]), nice=int(spec.get("nice") or 0))

    # --- connection ---------------------------------------------------------------------
    def _connection(self) -> Connection:
        if self._conn is not None:
            return self._conn
        deadline, why = time.monotonic() + self.timeout_s, "no attempt"
        while True:
            try:
                conn = Client(self.address, family="AF_UNIX", authkey=self._authkey)
                break
            except (OSError, EOFError) as exc:  # not (yet, or again) listening
                why = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                raise InferenceUnavailable(
                    f"the node's inference service is not reachable at {self.address} "
                    f"(waited {self.timeout_s:g} s; {why})")
            time.sleep(0.05)
        self._conn = conn
        try:
            self._ask({"op": "hello", "segment": self.segment.name})
            for kind_config in self._models.values():
                self._ask({"op": "open", **kind_config})
        except BaseException:
            self._drop()
            raise
        return conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    def _ask(self, msg: dict[str, Any]) -> dict[str, Any]:
        conn = self._connection()
        try:
            conn.send_bytes(json.dumps(msg).encode())
            if not conn.poll(self.timeout_s):
                self._drop()  # a late answer must not be taken for the next request's
                raise InferenceUnavailable(f"the inference service did not answer a "
                                           f"{msg['op']} request within {self.timeout_s:g} s")
            reply = json.loads(conn.recv_bytes())
        except (OSError, EOFError) as exc:
            self._drop()
            raise InferenceUnavailable(f"lost the connection to the inference service "
                                       f"({type(exc).__name__}; did it stop or die?)") from None
        if "error" in reply:
            raise InferenceFailed(f"inference service: {reply['error']}")
        return reply

    # --- calls --------------------------------------------------------------------------
    def open(self, kind: str, config: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            reply = self._ask({"op": "open", "kind": kind, "config": config})
            self._models[reply["model"]] = {"kind": kind, "config": config}
            return reply

    def run(self, model: str, outputs: list[str], x: np.ndarray, *,
            chunk: int = 0) -> list[np.ndarray]:
        """``session.run(outputs, {input: x})`` in the service, in model calls of at most
        ``chunk`` items (0: as the service batches); copies of the outputs."""
        lower_this_thread(self.nice, who="a camera's analysis thread")
        with self._lock:
            try:
                placed = self.segment.write(0, np.ascontiguousarray(x))
            except SegmentTooSmall as exc:
                raise SegmentTooSmall(f"{exc}: raise node.inference.segment_mb") from None
            self._seq += 1
            reply = self._ask({"op": "run", "seq": self._seq, "model": model,
                               "outputs": list(outputs), "input": placed, "chunk": chunk})
            if reply.get("seq") != self._seq:
                self._drop()
                raise InferenceUnavailable("the inference service answered out of order")
            return [self.segment.array(o, tuple(s), d).copy() for o, s, d in reply["outputs"]]

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return self._ask({"op": "stats"})

    def close(self) -> None:
        with self._lock:
            self._drop()
            self.segment.close()


@dataclass(frozen=True)
class _Arg:
    name: str
    shape: list[Any]


class RemoteSession:
    """What the vision stages use of an onnxruntime session, run by the service."""

    def __init__(self, client: ServiceClient, kind: str, config: dict[str, Any], *,
                 chunk: int = 0) -> None:
        self.client, self.chunk = client, chunk
        meta = client.open(kind, config)
        self.model, self.model_sha256 = str(meta["model"]), str(meta["sha256"])
        self._inputs = [_Arg(n, s) for n, s in meta["inputs"]]
        self._outputs = [_Arg(n, s) for n, s in meta["outputs"]]

    def get_inputs(self) -> list[_Arg]:
        return self._inputs

    def get_outputs(self) -> list[_Arg]:
        return self._outputs

    def run(self, output_names: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        if len(feeds) != 1:
            raise ValueError("the inference service runs models with one input")
        (x,) = feeds.values()
        return self.client.run(self.model, output_names, x, chunk=self.chunk)


class ServiceDetector(ScrfdDetector):
    """SCRFD whose model call runs in the node's inference service."""

    def __init__(self, cfg: ScrfdConfig, client: ServiceClient) -> None:
        session = RemoteSession(client, "scrfd", cfg.model_dump(mode="json"))
        super().__init__(cfg, session=session, model_sha256=session.model_sha256)


#: Bytes of one aligned face in the segment: its float32 input and a 512-d output.
_FACE_BYTES = 3 * CROP_SIZE * CROP_SIZE * 4 + 512 * 4 + 128


class ServiceEmbedder(ArcFaceEmbedder):
    """ArcFace whose model call runs in the node's inference service. A frame's faces go
    in one request (as many as the camera's segment holds); the service runs them, with
    other cameras' faces, in model calls of the configured ``batch_size`` (on a small CPU
    batch 1 is the cheapest per face)."""

    def __init__(self, cfg: ArcFaceConfig, client: ServiceClient) -> None:
        per_face = _FACE_BYTES * (2 if cfg.flip else 1)
        session = RemoteSession(client, "arcface", cfg.model_dump(mode="json"),
                                chunk=cfg.batch_size)
        cfg = cfg.model_copy(update={"batch_size": max(1, min(
            1024, client.segment.size // per_face))})
        super().__init__(cfg, session=session, model_sha256=session.model_sha256)


def service_engine(cfg: VisionConfig, client: ServiceClient) -> VisionEngine:
    """The engine of ``cfg`` with its ONNX stages in the service (YuNet and dlib, which
    run no ONNX session, stay in the camera process)."""
    cfg = cfg.resolved()
    if cfg.opencv_threads is not None:
        import cv2

        cv2.setNumThreads(cfg.opencv_threads)
    detector = ServiceDetector(cfg.detector, client) if isinstance(
        cfg.detector, ScrfdConfig) else build_detector(cfg.detector)
    embedder = ServiceEmbedder(cfg.embedder, client) if isinstance(
        cfg.embedder, ArcFaceConfig) else build_embedder(cfg.embedder)
    return VisionEngine(detector, QualityAssessor(cfg.quality), embedder, cfg)


def engine_for(vision: dict[str, Any], inference: dict[str, Any] | None) -> VisionEngine:
    """A camera process's engine: its own models, or the node's service when
    ``inference`` (the node's client spec) is given; then the thread that runs the models
    (the analysis) gets the spec's ``nice`` (``inference.camera_nice``) at its first call."""
    cfg = VisionConfig.model_validate(vision or {})
    if inference is None:
        return VisionEngine.from_config(cfg)
    return service_engine(cfg, ServiceClient.from_spec(inference))
