"""Test helpers for the pipeline tests: a local MJPEG-over-HTTP camera and a local HTTP
server recording webhook posts. Real sockets on 127.0.0.1 only. (The scripted engine and
the recording alert sink ship in the package: openlfr.pipeline.testing.)"""

from __future__ import annotations

import http.server
import json
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import cv2
import numpy as np


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextmanager
def mjpeg_camera(frames_per_connection: int = 10, connections_served: int = 2,
                 interval_s: float = 0.01, stall_s: float = 0.0,
                 stall_until: threading.Event | None = None,
                 images: list[np.ndarray] | None = None) -> Iterator[dict]:
    """An HTTP camera serving multipart MJPEG. Each connection gets a few frames and then
    drops (or, with ``stall_s``, stops sending but keeps the connection open that long; with
    ``stall_until``, until that event is set);
    after ``connections_served`` connections it answers 503 (camera down). ``images``:
    what to send (cycled), else flat grey frames."""
    state = {"connections": 0, "url": ""}

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            state["connections"] += 1
            if state["connections"] > connections_served:
                self.send_error(503)
                return
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            for i in range(frames_per_connection):
                img = (images[i % len(images)] if images
                       else np.full((96, 128, 3), (i * 23) % 255, np.uint8))
                buf = cv2.imencode(".jpg", img)[1].tobytes()
                try:
                    self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\n"
                                     b"Content-Length: %d\r\n\r\n" % len(buf) + buf + b"\r\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    return
                time.sleep(interval_s)
            if stall_until is not None:
                stall_until.wait()
            else:
                time.sleep(stall_s)

        def log_message(self, *args: object) -> None:
            pass

    srv = _Server(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    state["url"] = f"http://127.0.0.1:{srv.server_address[1]}/cam.mjpg"
    try:
        yield state
    finally:
        srv.shutdown()
        srv.server_close()


@contextmanager
def webhook_server(fail_first: int = 0, status: int = 500) -> Iterator[dict]:
    """A local HTTP endpoint recording JSON posts; the first ``fail_first`` answer
    ``status``."""
    state: dict = {"posts": [], "attempts": 0, "url": ""}
    lock = threading.Lock()

    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                state["attempts"] += 1
                fail = state["attempts"] <= fail_first
                if not fail:
                    state["posts"].append(json.loads(body))
            self.send_response(status if fail else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    srv = _Server(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    state["url"] = f"http://127.0.0.1:{srv.server_address[1]}/hook"
    try:
        yield state
    finally:
        srv.shutdown()
        srv.server_close()


def write_video(path, frames, fps: float = 25.0) -> None:
    """Write BGR frames as an MJPG AVI (decodable by FFmpeg)."""
    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for f in frames:
        vw.write(f)
    vw.release()
