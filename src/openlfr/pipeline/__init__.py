"""openlfr.pipeline: from a video source to alerts, per camera.

Modules: ``sources`` (file, stream, webcam, folder; decoder thread, live/evaluation modes),
``tracker`` (IoU + constant velocity, per-track evidence), ``matcher`` (the per-track
decision rule), ``privacy`` (redaction of non-alert faces, probe crops), ``worker``
(:class:`~openlfr.pipeline.worker.CameraWorker`, the embeddable per-camera scanner),
``scan`` (one scan as ``openlfr scan`` runs it; scans inside governed deployments), ``cli``.
"""
