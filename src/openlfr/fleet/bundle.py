"""A deployment's bundle: what a node needs to run its cameras, sealed for the bus.

The bundle holds the approved watchlist snapshot (subject ids, labels, categories, templates),
the cameras' sources (credentials included) and the deployment's threshold and kind. It travels
through the bus's object store encrypted (AES-256-GCM) under a key of its own deployment,
derived from the fleet key (``OPENLFR_FLEET_KEY``, shared by the centre and the nodes) with
HKDF, so a bundle opened for one deployment opens no other. The object store keeps it in
memory only; the centre deletes it when the deployment ends, and a node keeps the opened bundle
in memory only while it holds a lease of that deployment.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from openlfr.errors import ConfigError
from openlfr.governance.crypto import DecryptionError, Keyring
from openlfr.watchlist.index import WatchlistIndex

__all__ = ["Bundle", "seal", "unseal", "load_fleet_key", "bundle_name", "FLEET_KEY_NAME"]

FLEET_KEY_NAME = "fleet.key"


def bundle_name(deployment_id: int) -> str:
    return f"deployment.{deployment_id}"


@dataclass(frozen=True, eq=False)
class Bundle:
    deployment_id: int
    kind: str
    threshold: float
    embedder_key: str
    cameras: dict[str, str]  # camera id -> source URL (may hold credentials)
    subject_ids: list[str]
    labels: list[str]
    categories: list[str]
    embeddings: np.ndarray  # (n, d) float32, L2-normalised
    digest: str = ""  # sha256 of the plaintext, set by seal/unseal

    def __repr__(self) -> str:  # never sources or templates
        return (f"Bundle(deployment={self.deployment_id}, subjects={len(self.subject_ids)}, "
                f"cameras={sorted(self.cameras)})")

    def index(self) -> WatchlistIndex:
        return WatchlistIndex(list(self.subject_ids), list(self.labels), self.embeddings,
                              categories=list(self.categories),
                              image_refs=[f"snapshot:{self.deployment_id}/subject:{s}"
                                          for s in self.subject_ids])

    def _plain(self) -> bytes:
        emb = np.ascontiguousarray(self.embeddings, np.float32)
        return json.dumps({
            "deployment_id": self.deployment_id, "kind": self.kind,
            "threshold": self.threshold, "embedder_key": self.embedder_key,
            "cameras": self.cameras, "subject_ids": self.subject_ids, "labels": self.labels,
            "categories": self.categories, "shape": list(emb.shape),
            "embeddings": base64.b64encode(emb.tobytes()).decode("ascii")},
            sort_keys=True).encode()


def _keyring(fleet_key: bytes, deployment_id: int) -> Keyring:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"openlfr-fleet-bundle",
               info=f"deployment:{deployment_id}".encode()).derive(fleet_key)
    return Keyring(key)


def _aad(deployment_id: int) -> bytes:
    return f"openlfr bundle deployment:{deployment_id}".encode()


def seal(bundle: Bundle, fleet_key: bytes) -> tuple[bytes, str]:
    """(ciphertext, digest of the plaintext)."""
    plain = bundle._plain()
    digest = hashlib.sha256(plain).hexdigest()
    return _keyring(fleet_key, bundle.deployment_id).encrypt(
        plain, _aad(bundle.deployment_id)), digest


def unseal(blob: bytes, fleet_key: bytes, deployment_id: int) -> Bundle:
    """The bundle of ``deployment_id``; ConfigError if it was sealed under another key or for
    another deployment, or altered."""
    try:
        plain = _keyring(fleet_key, deployment_id).decrypt(blob, _aad(deployment_id))
    except DecryptionError as exc:
        raise ConfigError(f"bundle of deployment {deployment_id} cannot be opened with this "
                          f"fleet key ({exc})") from None
    d: dict[str, Any] = json.loads(plain)
    emb = np.frombuffer(base64.b64decode(d["embeddings"]), np.float32).reshape(d["shape"])
    return Bundle(deployment_id=int(d["deployment_id"]), kind=d["kind"],
                  threshold=float(d["threshold"]), embedder_key=d["embedder_key"],
                  cameras=dict(d["cameras"]), subject_ids=list(d["subject_ids"]),
                  labels=list(d["labels"]), categories=list(d["categories"]),
                  embeddings=emb.copy(), digest=hashlib.sha256(plain).hexdigest())


def load_fleet_key(value: str | None, path: Path | None, *, dev_dir: Path | None = None
                   ) -> bytes:
    """The fleet key from its base64 ``value``, or the file ``path``; in development
    (``dev_dir``) a key file is created there if neither is given. Refuses otherwise."""
    if value:
        return _decode(value, "OPENLFR_FLEET_KEY")
    if path is not None:
        try:
            return _decode(Path(path).read_text().strip(), str(path))
        except OSError as exc:
            raise ConfigError(f"cannot read the fleet key file {path}: {exc.strerror}") from None
    if dev_dir is None:
        raise ConfigError("no fleet key: set OPENLFR_FLEET_KEY (base64 of 32 random bytes) or "
                          "OPENLFR_FLEET_KEY_FILE, the same on the centre and every node")
    f = Path(dev_dir) / FLEET_KEY_NAME
    if not f.exists():
        f.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(base64.b64encode(os.urandom(32)).decode() + "\n")
    return _decode(f.read_text().strip(), str(f))


def _decode(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text, validate=True)
    except ValueError:
        raise ConfigError(f"fleet key in {where} is not base64") from None
    if len(key) != 32:
        raise ConfigError(f"fleet key in {where} must be 32 bytes, got {len(key)}")
    return key
