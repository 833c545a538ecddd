"""The server's one configuration file (``openlfr serve --config server.yaml``).

Strict like every OpenLFR config: an unknown key is refused with its name, every value has
bounds, and :func:`load_server_config` names the offending key *and its line*::

    camera:                   # defaults for every camera (CameraSettings)
      detector: {type: scrfd, max_size: 640, score_threshold: 0.5}
      quality: {min_face_px: 40}
      tracker: {max_missed: 12}
      min_hits: 1
      preview: {enabled: true, every: 2}
    cameras:                  # per camera id: overrides, deep-merged over `camera`
      gate-1:
        quality: {min_face_px: 56}
        sinks: [control-room]
    sinks:                    # name -> spec, as `openlfr scan --sink`
      control-room: mqtt://10.0.0.5:1883/openlfr/alerts
      archive: jsonl:/var/lib/openlfr/alerts.jsonl
    default_sinks: [archive]
    nats: {url: null}         # null: the embedded server on loopback
    node: {max_cameras: 4, grace_s: 10, inference: {mode: shared, max_batch: 8}}

The camera knobs are the models that define them (``VisionConfig``'s detector and quality,
``IoUTrackerConfig``, the worker's and matcher's fields), not copies: their bounds and
descriptions live in one place. Merging: a mapping is merged key by key, anything else
(a number, a list such as ``sinks``) replaces the default; a ``detector`` of another
``type`` than the default's replaces the default detector whole (the backends have
different options).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from openlfr.alerts.sinks import sink_from_spec
from openlfr.configio import load_yaml_model, problem_lines
from openlfr.errors import ConfigError
from openlfr.governance.schemas import CameraSpec
from openlfr.inference.config import InferenceConfig
from openlfr.pipeline.matcher import MatcherConfig
from openlfr.pipeline.tracker import IoUTrackerConfig
from openlfr.pipeline.worker import WorkerConfig
from openlfr.vision.detectors import DetectorConfig
from openlfr.vision.engine import VisionConfig
from openlfr.vision.quality import QualityConfig

__all__ = ["PreviewConfig", "CameraSettings", "NatsConfig", "NodeConfig", "ServerConfig",
           "load_server_config", "with_cli_sinks", "deep_merge", "SINK_SPEC_FORMS"]


def _knob(model: type[BaseModel], name: str, **override: Any) -> Any:
    """The field ``name`` of ``model`` (type bounds, default, description), optionally with
    some attributes replaced: the server's knobs are defined where they are used."""
    field = model.model_fields[name]
    return FieldInfo.merge_field_infos(field, **override) if override else copy.copy(field)


_STRICT = ConfigDict(extra="forbid")

#: Camera ids as a deployment names them (governance's CameraSpec).
CameraId = Annotated[str, _knob(CameraSpec, "camera_id")]
#: A sink's name in this file: letters, digits, ``_ . -``.
SinkName = Annotated[str, StringConstraints(min_length=1, max_length=64,
                                            pattern=r"^[A-Za-z0-9_.-]+$")]
#: What ``openlfr.alerts.sinks.sink_from_spec`` accepts.
SINK_SPEC_FORMS = "jsonl:-, jsonl:PATH, webhook:http(s)://URL or mqtt://HOST[:PORT]/TOPIC"


class PreviewConfig(BaseModel):
    """The blurred live view a camera keeps for the console."""

    model_config = _STRICT

    enabled: bool = _knob(WorkerConfig, "preview", default=True,
                          description="Keep a blurred JPEG of the latest frame for the "
                                      "console's live view.")
    max_width: int = _knob(WorkerConfig, "preview_max_width",
                           description="Previews are scaled down to at most this width in "
                                       "pixels.")
    blur_score: float | None = _knob(WorkerConfig, "preview_blur_score")
    every: int = _knob(WorkerConfig, "preview_every", default=2)


class CameraSettings(BaseModel):
    """What one camera runs with: detector, quality gates, tracker, matching, preview."""

    model_config = _STRICT

    detector: DetectorConfig = _knob(VisionConfig, "detector")
    quality: QualityConfig = _knob(VisionConfig, "quality")
    provider: Literal["cpu", "cuda", "tensorrt"] | None = _knob(VisionConfig, "provider")
    fallback: Literal["none", "cpu"] | None = _knob(VisionConfig, "fallback")
    precision: Literal["fp32", "fp16"] | None = _knob(VisionConfig, "precision")
    tracker: IoUTrackerConfig = _knob(WorkerConfig, "tracker",
                                      description="Face tracking across frames (type: iou).")
    min_hits: int = _knob(MatcherConfig, "min_hits")
    scene_cut: float | None = _knob(WorkerConfig, "scene_cut")
    max_consecutive_errors: int = _knob(WorkerConfig, "max_consecutive_errors")
    preview: PreviewConfig = Field(default_factory=PreviewConfig,
                                   description="The console's blurred live view.")
    sinks: list[SinkName] | None = Field(
        None, max_length=16,
        description="Names of the sinks (under `sinks`) that this camera's alerts go to; "
                    "null: `default_sinks`.")

    @field_validator("detector", mode="before")
    @classmethod
    def _default_type(cls, v: Any) -> Any:
        """A detector mapping without ``type`` means the default backend's options."""
        if isinstance(v, Mapping) and "type" not in v:
            return {"type": "scrfd", **v}
        return v

    def vision_config(self, base: VisionConfig | None = None) -> VisionConfig:
        """``base`` (default: ``VisionConfig()``) with this camera's detector and quality."""
        return (base or VisionConfig()).model_copy(update={
            "detector": self.detector, "quality": self.quality, "provider": self.provider,
            "fallback": self.fallback, "precision": self.precision})

    def worker_options(self) -> dict[str, Any]:
        """Keyword arguments for :class:`~openlfr.pipeline.worker.WorkerConfig`."""
        p = self.preview
        return {"tracker": self.tracker, "min_hits": self.min_hits,
                "scene_cut": self.scene_cut, "preview": p.enabled,
                "preview_max_width": p.max_width, "preview_blur_score": p.blur_score,
                "preview_every": p.every, "max_consecutive_errors": self.max_consecutive_errors}


class NatsConfig(BaseModel):
    """Where the bus is. Without a URL, ``openlfr serve`` runs its own NATS server on
    loopback (JetStream on, storage under the data directory)."""

    model_config = _STRICT

    url: str | None = Field(
        None, min_length=1, max_length=2000,
        description="nats://HOST:PORT (or tls://, ws://, wss://) of an existing server; "
                    "several, comma-separated, for a cluster. null: the embedded server.")
    credentials: Path | None = Field(None, description="NATS credentials file (.creds: "
                                     "user JWT and NKey seed).")
    tls_cert: Path | None = Field(None, description="Client certificate (PEM) for mutual "
                                  "TLS; needs tls_key.")
    tls_key: Path | None = Field(None, description="Private key (PEM) of tls_cert.")
    tls_ca: Path | None = Field(None, description="CA bundle (PEM) that the server's "
                                "certificate must chain to (default: the system's).")
    connect_timeout_s: float = Field(5.0, gt=0, le=120, description="Seconds to wait for "
                                     "the bus at start before giving up.")

    @field_validator("url")
    @classmethod
    def _urls(cls, v: str | None) -> str | None:
        if v is None:
            return v
        for part in v.split(","):
            scheme, sep, rest = part.strip().partition("://")
            if not sep or scheme not in ("nats", "tls", "ws", "wss") or not rest.strip("/"):
                raise ValueError("expected nats://HOST:PORT (or tls://, ws://, wss://), "
                                 "comma-separated for several")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> NatsConfig:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together (mutual TLS)")
        if self.url is None and any(x is not None for x in (self.credentials, self.tls_cert,
                                                            self.tls_ca)):
            raise ValueError("credentials and TLS apply to a configured server: set url "
                             "(the embedded server listens on loopback only)")
        return self

    @property
    def servers(self) -> list[str]:
        """The configured server URLs (empty: the embedded server)."""
        return [] if self.url is None else [p.strip() for p in self.url.split(",")]


class NodeConfig(BaseModel):
    """This machine's camera node."""

    model_config = _STRICT

    name: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                             description="The node's name on the bus (letters, digits, _ -; "
                                         "no dots: it is a subject token). null: the host "
                                         "name.")
    max_cameras: int = Field(4, ge=1, le=64, description="Cameras this node runs at most "
                             "(each in its own process; about one per 1-2 cores).")
    grace_s: float = Field(10.0, ge=1.0, le=120.0, description="Seconds a node goes on "
                           "analysing without confirming with the centre that the deployment "
                           "is still active; then it stops and forgets the snapshot.")
    lease_s: float = Field(6.0, ge=2.0, le=120.0, description="Seconds a camera's lease "
                           "lasts unless renewed: a dead node's cameras move to a live node "
                           "once it has run out (failover takes about this plus a camera's "
                           "start). The node measures it on its own clock and stops the "
                           "camera at its end, so a cut-off node has stopped before another "
                           "node takes the camera, whatever grace_s is.")
    inference: InferenceConfig = Field(default_factory=InferenceConfig, description="Each "
                                       "camera its own models, or one shared service.")


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``: mappings merge key by key, other values replace; a
    mapping whose ``type`` differs from the base's replaces it whole."""
    out = dict(base)
    for key, value in override.items():
        old = out.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping) and \
                value.get("type", old.get("type")) == old.get("type"):
            out[key] = deep_merge(old, value)
        else:
            out[key] = value
    return out


def _raw(value: Any, *, only_set: bool) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_unset=only_set)
    return value


class ServerConfig(BaseModel):
    """The server's settings file: camera defaults and overrides, sinks, bus and node."""

    model_config = _STRICT

    sinks: dict[SinkName, str] = Field(
        default_factory=dict, max_length=64,
        description=f"Alert sinks by name; each a spec: {SINK_SPEC_FORMS}.")
    default_sinks: list[SinkName] = Field(
        default_factory=list, max_length=16,
        description="Sinks for cameras that name none (names under `sinks`).")
    camera: CameraSettings = Field(default_factory=CameraSettings,
                                   description="Defaults for every camera.")
    cameras: dict[CameraId, CameraSettings] = Field(
        default_factory=dict, max_length=1024,
        description="Per camera id: overrides deep-merged over `camera`.")
    nats: NatsConfig = Field(default_factory=NatsConfig, description="The bus (NATS "
                             "JetStream).")
    node: NodeConfig = Field(default_factory=NodeConfig, description="This machine's camera "
                             "node.")

    @model_validator(mode="before")
    @classmethod
    def _merge_overrides(cls, data: Any) -> Any:
        """Turn each camera's overrides into its full settings, before validation, so an
        error is reported at the camera's own key (``cameras.gate-1.quality...``)."""
        if not isinstance(data, Mapping) or not isinstance(data.get("cameras"), Mapping):
            return data
        defaults = _raw(data.get("camera"), only_set=False)
        defaults = {} if defaults is None else defaults
        if not isinstance(defaults, Mapping):
            return data
        try:  # wrong defaults are reported once, at `camera`; overrides then stand alone
            CameraSettings.model_validate(defaults)
        except ValidationError:
            defaults = {}
        base = CameraSettings.model_validate(defaults).model_dump() if defaults else {}
        cameras = {}
        for cam, override in data["cameras"].items():
            override = _raw(override, only_set=True)
            override = {} if override is None else override
            cameras[cam] = deep_merge(base, override) if isinstance(override, Mapping) \
                else override
        return {**data, "cameras": cameras}

    @field_validator("sinks")
    @classmethod
    def _specs(cls, v: dict[str, str]) -> dict[str, str]:
        for name, spec in v.items():
            problem = _spec_problem(spec)
            if problem:
                raise PydanticCustomError("sink_spec", "sink {name}: {problem}",
                                          {"name": name, "problem": problem, "at": (name,)})
        return v

    @field_validator("default_sinks")
    @classmethod
    def _defaults_exist(cls, v: list[str], info: ValidationInfo) -> list[str]:
        _check_names(v, info, ())
        if len(set(v)) != len(v):
            raise ValueError("a sink is named twice")
        return v

    @field_validator("camera")
    @classmethod
    def _camera_sinks_exist(cls, v: CameraSettings, info: ValidationInfo) -> CameraSettings:
        _check_names(v.sinks or [], info, ("sinks",))
        return v

    @field_validator("cameras")
    @classmethod
    def _cameras_sinks_exist(cls, v: dict[str, CameraSettings],
                             info: ValidationInfo) -> dict[str, CameraSettings]:
        for cam, settings in v.items():
            _check_names(settings.sinks or [], info, (cam, "sinks"))
        return v

    def camera_settings(self, camera_id: str) -> CameraSettings:
        """The settings camera ``camera_id`` runs with: its overrides merged over the
        defaults (the defaults for a camera without overrides); ``sinks`` resolved."""
        settings = self.cameras.get(camera_id, self.camera)
        sinks = settings.sinks if settings.sinks is not None else list(self.default_sinks)
        return settings.model_copy(update={"sinks": sinks})

    def build_sinks(self, names: Sequence[str], *, include_probe: bool = False) -> list[Any]:
        """The named sinks, opened (``openlfr.alerts.sinks.sink_from_spec``)."""
        return [sink_from_spec(self.sinks[n], include_probe=include_probe) for n in names]

    @classmethod
    def from_yaml(cls, path: str | Path) -> ServerConfig:
        return load_server_config(path)


def with_cli_sinks(config: ServerConfig | None, specs: Sequence[str]) -> ServerConfig:
    """``config`` (default: an empty one) with the command line's ``--sink`` specs added as
    sinks ``cli-1``, ``cli-2``, ... that every alert goes to: appended to ``default_sinks``
    and to every camera's own ``sinks`` list. Validated like the file (ConfigError naming
    the option for a bad spec)."""
    config = config if config is not None else ServerConfig()
    if not specs:
        return config
    names = [f"cli-{i}" for i in range(1, len(specs) + 1)]
    clash = sorted(set(names) & set(config.sinks))
    if clash:
        raise ConfigError(f"--sink: the config file already defines sinks named {clash}")
    data = config.model_dump(mode="json", exclude_unset=True)
    data["sinks"] = {**config.sinks, **dict(zip(names, specs, strict=True))}
    data["default_sinks"] = [*config.default_sinks, *names]
    for section in (data.get("camera") or {}, *(data.get("cameras") or {}).values()):
        if section.get("sinks") is not None:
            section["sinks"] = [*section["sinks"], *names]
    try:
        return ServerConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("invalid --sink (sinks.cli-N is the Nth):\n  " +
                          "\n  ".join(problem_lines(exc))) from None


def _spec_problem(spec: str) -> str | None:
    """Why ``spec`` is not something ``sink_from_spec`` opens (None if it is); checked
    without opening anything."""
    if spec.startswith("jsonl:"):
        return None
    if spec.startswith("webhook:"):
        u = urlsplit(spec[len("webhook:"):])
        return None if u.scheme in ("http", "https") and u.hostname else \
            "webhook: expects an http(s) URL"
    if spec.startswith("mqtt://"):
        u = urlsplit(spec)
        try:
            u.port  # noqa: B018 -- raises on a bad port
        except ValueError:
            return "mqtt: invalid port"
        topic = spec[len("mqtt://"):].partition("/")[2]
        if not u.hostname:
            return "mqtt: expects mqtt://HOST[:PORT]/TOPIC"
        if any(c in topic for c in "#+"):
            return "mqtt: no wildcards in the topic"
        return None
    return f"unknown kind; use {SINK_SPEC_FORMS}"


def _check_names(names: Sequence[str], info: ValidationInfo, at: tuple[Any, ...]) -> None:
    known = info.data.get("sinks")
    if known is None:  # `sinks` itself is invalid: reported there
        return
    for i, name in enumerate(names):
        if name not in known:
            defined = ", ".join(sorted(known)) or "none"
            raise PydanticCustomError(
                "unknown_sink", "unknown sink '{name}' (defined under sinks: {defined})",
                {"name": name, "defined": defined, "at": (*at, i)})


def load_server_config(path: str | Path) -> ServerConfig:
    """Read and validate the server config file at ``path``.

    Raises :class:`~openlfr.errors.ConfigError` naming the file and, for each problem, the
    key path and its line (``cameras.gate-1.quality.min_face_px (line 12): ...``); never the
    values, which may be secrets (a webhook's token, say)."""
    return load_yaml_model(ServerConfig, path, "server config")
