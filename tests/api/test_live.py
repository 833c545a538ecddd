"""Live channels: alert hub, SSE framing, MJPEG parts, and /metrics. (How cameras follow a
deployment's state is tested with the fleet, tests/fleet.)"""

from __future__ import annotations

import asyncio
import threading

from openlfr.api.live import MJPEG_BOUNDARY, AlertHub, mjpeg_stream, sse_stream
from openlfr.store.models import Role

from .conftest import Api


async def _never() -> bool:
    return False


def test_hub_fans_out_from_threads_and_drops_oldest_when_full() -> None:
    async def main() -> tuple[list[dict], list[dict], int]:
        hub = AlertHub(queue_size=3)
        hub.bind(asyncio.get_running_loop())
        everyone = hub.subscribe()
        only_dep2 = hub.subscribe(lambda e: e["deployment_id"] == 2)
        t = threading.Thread(target=lambda: [hub.publish({"id": i, "deployment_id": i % 3})
                                             for i in range(5)])
        t.start()
        t.join()
        await asyncio.sleep(0.05)
        got_all = [everyone.queue.get_nowait() for _ in range(everyone.queue.qsize())]
        got_two = [only_dep2.queue.get_nowait() for _ in range(only_dep2.queue.qsize())]
        hub.unsubscribe(everyone)
        hub.unsubscribe(only_dep2)
        return got_all, got_two, everyone.dropped

    got_all, got_two, dropped = asyncio.run(main())
    assert [e["id"] for e in got_all] == [2, 3, 4] and dropped == 2
    assert [e["id"] for e in got_two] == [2]


def test_sse_frames_events_and_unsubscribes() -> None:
    async def main() -> tuple[list[str], int]:
        hub = AlertHub()
        hub.bind(asyncio.get_running_loop())
        sub = hub.subscribe()
        gen = sse_stream(hub, sub, is_disconnected=_never, keepalive_s=0.05)
        first = await gen.__anext__()
        hub.publish({"type": "alert", "id": 7, "score": 0.5})
        second = await gen.__anext__()
        third = await gen.__anext__()  # nothing new: a keep-alive comment
        await gen.aclose()
        return [first, second, third], hub.subscribers

    chunks, left = asyncio.run(main())
    assert chunks[0].startswith("retry: 3000")
    assert chunks[1] == 'event: alert\ndata: {"type":"alert","id":7,"score":0.5}\n\n'
    assert chunks[2] == ": keep-alive\n\n"
    assert left == 0


def test_mjpeg_sends_each_new_frame_once() -> None:
    frames = [b"\xff\xd8A\xff\xd9", b"\xff\xd8B\xff\xd9"]
    calls = {"n": 0}

    def latest() -> bytes | None:
        calls["n"] += 1
        return None if calls["n"] == 1 else frames[0] if calls["n"] < 4 else frames[1]

    async def main() -> list[bytes]:
        return [p async for p in mjpeg_stream(latest, is_disconnected=_never, max_fps=200,
                                              max_frames=2)]

    parts = asyncio.run(main())
    assert len(parts) == 2
    assert parts[0].startswith(f"--{MJPEG_BOUNDARY}\r\nContent-Type: image/jpeg\r\n".encode())
    assert parts[0].endswith(frames[0] + b"\r\n") and parts[1].endswith(frames[1] + b"\r\n")


def test_metrics_endpoint_uses_its_own_registry(api: Api) -> None:
    resp = api.client.get("/metrics", headers=api.auth(Role.AUDITOR))
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    assert "openlfr_http_requests_total" in resp.text
    assert "python_gc_objects_collected_total" not in resp.text  # not the global registry


def test_hub_close_ends_streams_for_shutdown() -> None:
    async def main() -> list[str]:
        hub = AlertHub()
        hub.bind(asyncio.get_running_loop())
        sub = hub.subscribe()
        gen = sse_stream(hub, sub, is_disconnected=_never, keepalive_s=30)
        chunks = [await gen.__anext__()]
        threading.Thread(target=hub.close).start()
        chunks += [c async for c in gen]  # ends without waiting for a keep-alive
        late = hub.subscribe()  # a stream opened while shutting down ends at once
        chunks += [c async for c in sse_stream(hub, late, is_disconnected=_never)]
        return chunks

    chunks = asyncio.run(asyncio.wait_for(main(), timeout=5))
    assert chunks == ["retry: 3000\n: connected\n\n", "retry: 3000\n: connected\n\n"]
