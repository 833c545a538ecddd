"""What every camera process of a node needs, imported once in the node's fork server.

A node starts its camera processes from a ``multiprocessing`` fork server
(:func:`openlfr.fleet.process.camera_context`) that imports this module first. Each camera is
then a fork of a process that already holds the imported code, the numpy and OpenCV
libraries and the vision, tracking, governance and bus modules, instead of a fresh
interpreter importing them again. The pages those imports filled stay shared between the
cameras, copy-on-write, for as long as no camera writes to them, so a node with N cameras
holds them about once rather than N times; and a camera starts without importing anything.

:func:`gc.freeze` at the end moves every object imported here out of the garbage
collector's reach: a collection in a camera then never writes to their headers, which would
copy those pages into the camera one by one. The node process itself imports none of this
(it starts cameras; it does not analyse), and neither does this module load onnxruntime or
open a model: a camera opens its own models, or reaches the node's inference service.
"""

from __future__ import annotations

import gc

import cv2  # noqa: F401  the decoder and image operations
import numpy  # noqa: F401

import openlfr.fleet.camera  # noqa: F401  the governed camera, its worker and sources
import openlfr.fleet.process  # noqa: F401  camera_main and the bus recorder
import openlfr.inference.client  # noqa: F401  the engine: local or the node's service
import openlfr.pipeline.tracker  # noqa: F401
import openlfr.vision.engine  # noqa: F401
import openlfr.watchlist.enrol  # noqa: F401
import openlfr.watchlist.index  # noqa: F401

__all__: list[str] = []

gc.freeze()
