"""openlfr.pipeline: from a video source to alerts, per camera.

Modules: ``sources`` (file, stream, webcam, folder; decoder thread, live/every-frame modes),
``tracker`` (Kalman + two-stage association, re-joins of lost tracks; ``kalman``),
``trackstate`` (per-track evidence, embedding policy and match state), ``matcher`` (the
per-track decision rule), ``privacy`` (redaction of non-alert faces, probe crops), ``worker``
(:class:`~openlfr.pipeline.worker.CameraWorker`, the embeddable per-camera scanner),
``scan`` (one scan as ``openlfr scan`` runs it; scans inside governed deployments), ``cli``.
"""
