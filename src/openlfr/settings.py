"""Process-wide settings from the environment (prefix ``OPENLFR_``).

Settings are built explicitly (``Settings()``) and passed down; nothing is read at import.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "shared_data_dir"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENLFR_", extra="forbid",
                                      use_attribute_docstrings=True)

    data_dir: Path = Path("var")
    """Where the embedded store, keys and alert media live (relative to the working directory)."""
    database_url: str | None = None
    """SQLAlchemy URL; default: SQLite file openlfr.db inside data_dir. PostgreSQL:
    postgresql+psycopg://user@host:5432/db"""
    cache_dir: Path = Path.home() / ".cache" / "openlfr"
    """Cache for evaluation embeddings (never live faces)."""
    shared_data: Path | None = None
    """Evaluation data folder (default: ../shared/data beside the checkout, if present)."""
    calibration_file: Path | None = None
    """Calibrated thresholds written by `openlfr calibrate` and read by scans (default:
    data_dir/calibration.json, when present)."""
    # --- governance (encryption, audit, retention) ---
    key: SecretStr | None = None
    """Encryption key for biometric data at rest: base64 of 32 random bytes (OPENLFR_KEY)."""
    key_file: Path | None = None
    """File holding the base64 key (mode 0600); used when OPENLFR_KEY is unset."""
    dev: bool = False
    """Development mode: without a key, create one in data_dir/openlfr.key (0600). Never for
    real deployments."""
    audit_key: SecretStr | None = None
    """Optional HMAC key for the audit chain (any string); verification then needs it too."""
    # --- the fleet (camera nodes and the centre over NATS JetStream) ---
    nats_url: str | None = None
    """NATS server or cluster of the fleet (nats://host:4222); unset: `openlfr serve` starts an
    embedded nats-server on loopback."""
    fleet_key: SecretStr | None = None
    """Key sealing deployment bundles (snapshots, camera sources) on the bus: base64 of 32
    random bytes, the same on the centre and every node."""
    fleet_key_file: Path | None = None
    """File holding the fleet key; used when OPENLFR_FLEET_KEY is unset."""
    server_config: Path | None = None
    """The server's YAML config (camera settings, sinks, NATS, node): see docs/operations.md."""
    profile: Literal["uk-app", "eu-ai-act", "custom"] = "custom"
    """The rule profile deployments are authorised under (openlfr/governance/profiles/*.yaml;
    docs/compliance.md)."""
    retention_audit_days: float | None = Field(None, ge=183)
    """Audit entries are purged this many days after they were written; unset: kept forever.
    Never under the floor of 183 days (six months)."""
    retention_alert_days: float = Field(31, gt=0)
    """Alert records and images are purged this many days after the alert unless held."""
    retention_snapshot_hours: float = Field(24, ge=0, le=24)
    """A deployment's watchlist snapshot is deleted this long after the deployment ends (at most
    24 h)."""
    retention_subject_grace_days: float = Field(0, ge=0)
    """Expired watchlist subjects are removed this long after expiry."""

    @property
    def resolved_calibration_file(self) -> Path:
        return self.calibration_file or self.data_dir / "calibration.json"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'openlfr.db').resolve()}"


def shared_data_dir(explicit: Path | None = None) -> Path | None:
    """The evaluation data folder, or None when it is absent."""
    candidates = [explicit] if explicit else []
    if os.environ.get("OPENLFR_SHARED_DATA"):
        candidates.append(Path(os.environ["OPENLFR_SHARED_DATA"]))
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidates.append(parent.parent / "shared" / "data")
        if (parent / "pyproject.toml").exists():
            break
    candidates.append(Path.cwd().parent / "shared" / "data")
    for c in candidates:
        if c is not None and c.is_dir():
            return c
    return None
