"""Camera source URLs, encrypted at rest: a URL with a password is stored AES-GCM-encrypted
(bound to its row) and shown redacted; :func:`camera_source` is the one way to read it.
Re-exported by :mod:`openlfr.governance.deployments`."""

from __future__ import annotations

from sqlalchemy.orm import Session

from openlfr.errors import ConfigError
from openlfr.governance.crypto import Keyring, aad_for
from openlfr.governance.schemas import redact_url
from openlfr.store.models import Deployment, DeploymentCamera

__all__ = ["camera_source", "camera_sources", "seal_camera_source"]


def _camera_aad(cam: DeploymentCamera) -> bytes:
    return aad_for("deployment_cameras", cam.id, "source_secret")


def _keyring(session: Session, keyring: Keyring | None) -> Keyring | None:
    return keyring if keyring is not None else session.info.get("keyring")


def _seal_camera_source(session: Session, cam: DeploymentCamera, url: str,
                        keyring: Keyring | None = None) -> None:
    """Store ``url`` encrypted (the row must have its id), keeping only its redacted form in
    the clear. A URL without a password may stay plain when no key is at hand; one with a
    password is refused then, never stored in the clear."""
    kr = _keyring(session, keyring)
    if kr is None:
        if redact_url(url) != url:
            raise ConfigError("camera credentials are stored encrypted: open the store with "
                              "the encryption key (OPENLFR_KEY or OPENLFR_KEY_FILE)")
        cam.source_url, cam.source_secret = url, None
        return
    cam.source_secret = kr.encrypt(url.encode(), _camera_aad(cam))
    cam.source_url = redact_url(url)
    session.flush()


def camera_source(session: Session, cam: DeploymentCamera,
                  keyring: Keyring | None = None) -> str:
    """The one way to read a camera's source URL (with its credentials): decrypted with the
    store's keyring. A row written before encryption (revision 0003 could not encrypt it
    without the key) is encrypted here, on its first read with the key, and its displayed URL
    redacted (the caller's transaction commits it)."""
    if cam.source_secret is not None:
        kr = _keyring(session, keyring)
        if kr is None:
            raise ConfigError(f"camera {cam.camera_id!r}: its source URL is encrypted and this "
                              "session has no encryption key")
        return kr.decrypt(cam.source_secret, _camera_aad(cam)).decode()
    url = cam.source_url  # plain: credential-free, or from before encryption
    if _keyring(session, keyring) is not None:
        _seal_camera_source(session, cam, url, keyring)
    return url


def camera_sources(session: Session, dep: Deployment,
                   keyring: Keyring | None = None) -> dict[str, str]:
    """Camera id -> source URL (decrypted) of every camera of ``dep``."""
    return {c.camera_id: camera_source(session, c, keyring) for c in dep.cameras}


seal_camera_source = _seal_camera_source
