"""Safeguard 2 (README, Safeguards): a scan with no match leaves nothing derived from a
face behind: no image, crop or embedding on disk, in the database or in the logs; only counters."""

from __future__ import annotations

import base64
import logging
import re

import numpy as np
import pytest
from sqlalchemy import create_engine, func, select

from openlfr.fleet.camera import open_governed
from openlfr.pipeline.scan import run_scan
from openlfr.pipeline.sources import Mode
from openlfr.settings import Settings

pytestmark = pytest.mark.shared_data

JPEG_HEADERS = (b"\xff\xd8\xff\xe0\x00\x10JFIF", b"\xff\xd8\xff\xdb", b"\xff\xd8\xff\xe1")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def engine():
    from openlfr.vision.engine import VisionEngine

    return VisionEngine.from_config()


def test_scan_without_match_leaves_only_counters(tmp_path, crowd_clip, shared_data, engine,
                                                 caplog, monkeypatch):
    from openlfr.api.demo import seed_demo
    from openlfr.governance.alerts import get_counters
    from openlfr.store.models import Alert as AlertRow

    performer = shared_data / "video" / "hamilton_references" / "lin-manuel-miranda.png"
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    settings = Settings(data_dir=data_dir, dev=True, cache_dir=tmp_path / "cache")
    seed = seed_demo(settings, video=crowd_clip, reference=performer,
                     subject_name="Performer", camera_id="cam", engine=engine)
    before = {p: p.stat().st_size for p in data_dir.rglob("*") if p.is_file()}

    seen: list[np.ndarray] = []  # every embedding the scan computes, kept by the test only
    embed = engine.embedder.embed_aligned

    def spy(crops):
        out = embed(crops)
        seen.extend(np.asarray(out, np.float32).copy())
        return out

    monkeypatch.setattr(engine.embedder, "embed_aligned", spy)
    caplog.set_level(logging.DEBUG)
    gov = open_governed(seed.deployment_id, engine, "cam", recorded=True, settings=settings)
    try:
        res = run_scan(str(crowd_clip), gov.index, gov.threshold, engine=engine,
                       camera_id="cam", mode=Mode.every_frame, guard=gov.guard,
                       on_alert=gov.on_alert, on_counters=gov.on_counters,
                       deployment_id=seed.deployment_id)
    finally:
        gov.close()
    st = res.stats
    assert st["alerts"] == 0 and st["faces"] > 300 and st["frames"] == 105
    assert len(seen) > 10  # faces were embedded (in memory) and compared

    # -- disk: no image, no crop, no embedding in any file of the data dir --------------
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert files
    needles = []
    for e in seen:
        needles.append(e[:4].tobytes())                      # float32
        needles.append(e[:4].astype(np.float64).tobytes())   # float64
        needles.append(e[:8].astype(np.float16).tobytes())   # float16
    for p in files:
        blob = p.read_bytes()
        assert not any(h in blob for h in JPEG_HEADERS), f"JPEG in {p}"
        assert PNG_MAGIC not in blob, f"PNG in {p}"
        assert not any(n in blob for n in needles), f"an embedding of a passer-by in {p}"
    new_files = {p.name for p in files} - {p.name for p in before}
    assert not any(n.endswith((".jpg", ".jpeg", ".png", ".npy", ".npz", ".mp4"))
                   for n in new_files), new_files

    # -- database: no alert, only counters --------------------------------------------
    db = create_engine(settings.resolved_database_url)
    try:
        from sqlalchemy.orm import Session

        with Session(db) as s:
            assert s.scalar(select(func.count()).select_from(AlertRow)) == 0
            total = get_counters(s, seed.deployment_id)[0]
            assert total.frames == 105 and total.faces == st["faces"]
            assert total.tracks == st["tracks"] and total.alerts == 0
    finally:
        db.dispose()

    # -- logs: no image bytes, no base64 blobs, no embedding values --------------------
    text = caplog.text
    assert "\xff\xd8" not in text and "JFIF" not in text
    assert not re.search(r"[A-Za-z0-9+/]{200,}={0,2}", text)
    for e in seen[:50]:
        for v in e[:3]:
            assert f"{v:.6f}" not in text and repr(float(v)) not in text
        assert base64.b64encode(e[:4].tobytes()).decode()[:12] not in text
