"""openlfr.vision: faces in images.

Modules (import what you need; nothing heavy is imported here):

- ``image``: ``load_image`` (safe decoding, clear ImageError) and ``as_bgr``
- ``detectors``: SCRFD (ONNX) and YuNet (yuface) behind ``Detector.detect(image) -> Faces``
- ``align``: 5-point Umeyama similarity to the 112x112 ArcFace template
- ``embedders``: ArcFace (ONNX) and dlib behind ``Embedder.embed(image, faces, mask) -> Faces``
- ``quality``: size, sharpness, frontality, detector score; gates
- ``engine``: ``VisionConfig`` and ``VisionEngine`` composing the stages
- ``thresholds``: the one place for similarity thresholds per model
- ``runtime``: onnxruntime sessions (threads, no spinning)
- ``models``: model files located on disk and verified by sha256
- ``draw``, ``demo``, ``cli``: drawing faces, the demo, the commands
"""
