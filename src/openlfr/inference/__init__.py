"""One inference service per node: the cameras' model calls batched in one process.

- :mod:`~openlfr.inference.config`: the node's ``inference`` settings;
- :mod:`~openlfr.inference.supervisor`: the node's side (start, restart, stop, segments);
- :mod:`~openlfr.inference.service`: the service process and its batching;
- :mod:`~openlfr.inference.client`: the camera's side, behind the Detector and Embedder
  protocols.
"""

from openlfr.inference.client import (
    InferenceFailed,
    InferenceUnavailable,
    ServiceClient,
    ServiceDetector,
    ServiceEmbedder,
    engine_for,
    service_engine,
)
from openlfr.inference.config import InferenceConfig, InferenceMode
from openlfr.inference.supervisor import InferenceService

__all__ = ["InferenceConfig", "InferenceMode", "InferenceService", "ServiceClient",
           "ServiceDetector", "ServiceEmbedder", "InferenceUnavailable", "InferenceFailed",
           "service_engine", "engine_for"]
