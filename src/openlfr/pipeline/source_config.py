"""Source configurations: a tagged union on ``type`` (:data:`SourceConfig`), the delivery
:class:`Mode`, and :func:`source_config`, which turns a command-line string (path, folder,
URL or webcam index) into a configuration. Re-exported by :mod:`openlfr.pipeline.sources`.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from openlfr.configio import validation_lines
from openlfr.errors import ConfigError

__all__ = [
    "Mode", "FileSourceConfig", "StreamSourceConfig", "WebcamSourceConfig",
    "FolderSourceConfig", "SourceConfig", "source_config",
]


class Mode(StrEnum):
    """How frames reach the analysis stage. ``"evaluation"``, the old spelling of
    ``every_frame``, is still read (configs, options) and means ``every_frame``."""

    live = "live"                # latest frame only; drops counted; files paced at their fps
    every_frame = "every_frame"  # every frame, as fast as analysis goes; no drops

    @classmethod
    def _missing_(cls, value: object) -> Mode | None:
        return cls.every_frame if value == "evaluation" else None


def _decoder_threads() -> int:
    """The ``decoder_threads`` field of the sources FFmpeg decodes (file and stream)."""
    return Field(1, ge=0, le=64, description="FFmpeg decoding threads for this source. One "
                 "keeps up with 1080p at 25-30 frames/s (about 9 CPU-ms a frame) and holds "
                 "fewer frames in memory than frame-parallel decoding (about 8 MB less per "
                 "1080p camera); a node runs one decoder per camera, so its cameras already "
                 "use the cores side by side. Raise it for 4K or high frame rates; 0: "
                 "FFmpeg's choice (one per core).")


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileSourceConfig(_Base):
    type: Literal["file"] = "file"
    path: Path = Field(description="A video file readable by FFmpeg.")
    loop: bool = Field(False, description="Start again at the end (demo cameras); "
                       "never in every-frame mode.")
    decoder_threads: int = _decoder_threads()


class StreamSourceConfig(_Base):
    type: Literal["stream"] = "stream"
    url: str = Field(description="rtsp://, rtsps://, http:// or https:// stream URL.")
    reconnect_initial_s: float = Field(0.5, gt=0, le=60, description="First wait before "
                                       "reconnecting; doubles after each failed attempt.")
    reconnect_max_s: float = Field(30.0, gt=0, le=3600, description="Longest wait between "
                                   "reconnection attempts.")
    max_reconnects: int | None = Field(None, ge=0, description="Give up after this many "
                                       "failed attempts in a row (None: never give up).")
    fps: float | None = Field(None, gt=0, le=240, description="Frame rate if the stream "
                              "does not report one (used for timestamps only).")
    open_timeout_s: float = Field(10.0, gt=0, le=300, description="Give up opening (or "
                                  "reopening) the stream after this long.")
    read_timeout_s: float = Field(5.0, gt=0, le=300, description="A stream that sends no "
                                  "frame for this long counts as broken and is reconnected "
                                  "(shorter: faster recovery; too short: false reconnects "
                                  "on slow links).")
    decoder_threads: int = _decoder_threads()


class WebcamSourceConfig(_Base):
    type: Literal["webcam"] = "webcam"
    index: int = Field(0, ge=0, description="Device index (/dev/videoN).")
    reconnect_initial_s: float = Field(0.5, gt=0, le=60)
    reconnect_max_s: float = Field(10.0, gt=0, le=3600)
    max_reconnects: int | None = Field(None, ge=0)


class FolderSourceConfig(_Base):
    type: Literal["folder"] = "folder"
    path: Path = Field(description="Folder of images, read in sorted name order.")
    fps: float = Field(1.0, gt=0, le=240, description="Frame rate the images stand for "
                       "(pacing in live mode and timestamps).")


SourceConfig = Annotated[
    FileSourceConfig | StreamSourceConfig | WebcamSourceConfig | FolderSourceConfig,
    Field(discriminator="type"),
]
_SOURCE_ADAPTER: TypeAdapter[SourceConfig] = TypeAdapter(SourceConfig)


def source_config(spec: str | dict | BaseModel) -> SourceConfig:
    """A source configuration from a CLI string, a dict (``type`` key) or a config object.

    Strings: ``rtsp://...``/``http(s)://...`` -> stream; a plain integer -> webcam;
    an existing folder -> image folder; ``file:///path.mp4?loop=1`` -> a video file played
    in a loop (demo cameras); anything else -> video file.
    """
    if isinstance(spec, BaseModel | dict):
        data = spec.model_dump() if isinstance(spec, BaseModel) else spec
        try:
            return _SOURCE_ADAPTER.validate_python(data)
        except ValidationError as exc:
            raise ConfigError("invalid source config:\n  "
                              + "\n  ".join(validation_lines(exc))) from None
    s = str(spec).strip()
    if s.lower().startswith("file://"):
        parts = urlsplit(s)
        query = parse_qs(parts.query)
        unknown = set(query) - {"loop"}
        if unknown:
            raise ConfigError(f"file source {s!r}: unknown option(s) {', '.join(sorted(unknown))}"
                              " (known: loop)")
        loop = query.get("loop", ["0"])[-1].lower() in ("1", "true", "yes")
        return FileSourceConfig(path=Path(unquote(parts.path)), loop=loop)
    if s.split("://", 1)[0].lower() in ("rtsp", "rtsps", "http", "https", "rtmp", "udp", "tcp"):
        return StreamSourceConfig(url=s)
    if s.isdigit():
        return WebcamSourceConfig(index=int(s))
    p = Path(s)
    if p.is_dir():
        return FolderSourceConfig(path=p)
    return FileSourceConfig(path=p)
